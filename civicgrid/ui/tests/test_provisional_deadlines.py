"""A deadline reckoned on a provisional calendar year (holidays not yet announced, DOMAIN §3) says so: on the case
page, in the case list, in the API's clocks and in the 新任务 notice; a natural-hours deadline, or one in a year the
administrator confirmed, does not."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import auth, loop, report  # noqa: F401
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla import services as sla

pytestmark = pytest.mark.django_db
NOTE = "按临时日历推算"


def _dispatched(loop, days: str, mode: str = "working_days") -> Case:
    loop.sibling.time_limit_amount, loop.sibling.time_limit_mode = Decimal(days), mode
    loop.sibling.save()
    case = report(loop, category=loop.sibling.pk)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _beyond_the_statutory_table(case: Case) -> None:
    if case.deadline.date() <= sla.get_calendar().covered_until():
        pytest.skip("chinese_calendar already covers the year of a 250-working-day deadline")


def test_a_deadline_in_a_provisional_year_is_marked_everywhere(loop, client_for, fresh_calendar):
    far = _dispatched(loop, "250")  # about a year ahead: past the last announced year
    _beyond_the_statutory_table(far)
    near = _dispatched(loop, "1")
    notice = Notification.objects.get(user=loop.handler, kind="new_task", target_id=str(far.pk))
    assert NOTE in notice.body and "provisional calendar" in notice.body_en
    assert NOTE not in Notification.objects.get(user=loop.handler, kind="new_task", target_id=str(near.pk)).body

    page = client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[far.number])).content.decode()
    assert page.count("data-deadline-provisional") == 2 and NOTE in page  # 处置期限 and the handling clock
    page = client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[near.number])).content.decode()
    assert "data-deadline-provisional" not in page

    listing = client_for(loop.dispatcher).get(reverse("ui:case_list")).content.decode()
    row = listing.split(f'data-oid="{far.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "data-deadline-provisional" in row and NOTE in row
    row = listing.split(f'data-oid="{near.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "data-deadline-provisional" not in row

    body = client_for(loop.dispatcher).get(f"/api/v1/cases/{far.number}", **auth(loop.dispatcher)).json()
    handle = next(c for c in body["clocks"] if c["kind"] == "case.handle")
    assert handle["provisional"] is True
    body = client_for(loop.dispatcher).get(f"/api/v1/cases/{near.number}", **auth(loop.dispatcher)).json()
    assert all(c["provisional"] is False for c in body["clocks"])

    # once the administrator has entered and confirmed the year, the deadline is final
    sla.confirm_year(actor=None, year=far.deadline.year, confirmed=True)
    page = client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[far.number])).content.decode()
    assert "data-deadline-provisional" not in page


def test_a_natural_hours_deadline_is_never_provisional(loop, client_for, fresh_calendar):
    case = _dispatched(loop, "8760", "natural_hours")  # a year of natural hours: no calendar is counted
    assert NOTE not in Notification.objects.get(user=loop.handler, kind="new_task", target_id=str(case.pk)).body
    assert "data-deadline-provisional" not in client_for(loop.dispatcher).get(
        reverse("ui:case_detail", args=[case.number])).content.decode()


def test_the_list_reads_the_calendar_once_whatever_the_page_length(loop, client_for, fresh_calendar):
    client = client_for(loop.dispatcher)
    _dispatched(loop, "250")
    client.get(reverse("ui:case_list"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("ui:case_list"))
    for _ in range(3):
        _dispatched(loop, "250")
    with CaptureQueriesContext(connection) as four:
        client.get(reverse("ui:case_list"))
    assert len(four) == len(one)

"""12345 ticket numbers: one ticket, one case, whatever width its digits were typed in; the case list finds a
case by its ticket number; a ticket registered twice links the case it already became; the hotline form says
truly when the caller is texted."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    OTHER_STREET_POINT,
    POINT,
    loop,
    report,
    world_counts,
)
from civicgrid.foundation.core.errors import Conflict

pytestmark = pytest.mark.django_db

TICKET = "12345-20261201-0001"
FULL_WIDTH = "１２３４５－２０２６１２０１－０００１"  # as a Chinese input method types it


def hotline(loop, ticket: str, **kw):
    return report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket=ticket, **kw)


def form(loop, ticket: str) -> dict:
    return {"hotline_ticket": ticket, "caller_name": "张先生", "callback_phone": "13812345678",
            "title": "路灯不亮", "description": "小区门口路灯坏了", "address": "", "lng": str(POINT[0]),
            "lat": str(POINT[1]), "crs": "wgs84", "category": str(loop.cat.pk), "idempotency_key": uuid.uuid4().hex}


def test_a_full_width_ticket_is_the_same_ticket(loop):
    first = hotline(loop, TICKET)
    before = world_counts()
    with pytest.raises(Conflict, match=f"热线工单号 {TICKET} 已登记为案卷 {first.number}"):
        hotline(loop, FULL_WIDTH)
    assert world_counts() == before
    # a ticket typed full width is stored as the ASCII one (and so found again)
    Case.objects.filter(pk=first.pk).update(status="voided")
    again = hotline(loop, f" {FULL_WIDTH} ")
    assert again.hotline_ticket == TICKET


def test_the_case_list_finds_a_case_by_its_ticket_number_in_as_many_queries(loop, client_for):
    case = hotline(loop, TICKET)
    other = hotline(loop, "12345-20261201-0002", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    c = client_for(loop.dispatcher)
    url = reverse("ui:case_list")

    def found(q):
        html = c.get(url, {"q": q}).content.decode()
        return {int(x) for x in re.findall(r'<tr data-oid="(\d+)"', html)}

    assert found(TICKET) == {case.pk}
    assert found(FULL_WIDTH) == {case.pk}  # normalised as intake stores it
    assert found("12345-20261201-0002") == {other.pk}
    assert found("12345-2026") == set()  # exactly: not a fragment
    assert found(case.number) == {case.pk}
    # out of the user's scope the ticket finds nothing
    assert client_for(loop.street_dispatcher).get(url, {"q": "12345-20261201-0002"}).content.decode().count(
        "<tr data-oid=") == 0
    page = c.get(url).content.decode()
    assert "案卷号、热线工单号或标题" in page

    def queries(q):
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url, {"q": q}).status_code == 200
        return len(ctx.captured_queries)

    assert queries(TICKET) == queries(case.number) == queries("路边")  # a row found, whichever way


def test_a_ticket_registered_again_links_the_case_it_became(loop, client_for):
    first = hotline(loop, TICKET)
    before = world_counts()
    response = client_for(loop.dispatcher).post(reverse("ui:case_hotline"), form(loop, FULL_WIDTH))
    html = response.content.decode()
    assert response.status_code == 400 and f"已登记为案卷 {first.number}" in html
    link = reverse("ui:case_detail", args=[first.number])
    assert f'href="{link}" data-existing-case' in html
    assert world_counts() == before

def test_a_ticket_registered_outside_the_users_area_is_not_named(loop, client_for):
    """A dispatcher who cannot open the case a ticket became is told it is registered elsewhere in the district
    and whom to ask: neither its number nor a link to a page that is 404 for them."""
    far = hotline(loop, "12345-20261130-0317", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    before = world_counts()
    c = client_for(loop.street_dispatcher)
    response = c.post(reverse("ui:case_hotline"), form(loop, "12345-20261130-0317"))
    html = response.content.decode()
    assert response.status_code == 400 and far.number not in html and "data-existing-case" not in html
    assert "热线工单号 12345-20261130-0317 已在区内其他辖区登记为案卷，不能重复登记；如需了解办理情况，请联系区指挥中心" in html
    assert world_counts() == before
    assert c.get(reverse("ui:case_detail", args=[far.number])).status_code == 404
    # in English, the English half
    c.cookies["django_language"] = "en"
    html = c.post(reverse("ui:case_hotline"), form(loop, "12345-20261130-0317")).content.decode()
    assert "is already registered as a case elsewhere in the district: ask the district command centre" in html
    assert far.number not in html and world_counts() == before


def test_the_hotline_form_says_the_caller_is_texted_at_each_step(loop, client_for):
    html = client_for(loop.dispatcher).get(reverse("ui:case_hotline")).content.decode()
    assert "结案后短信告知来电人" not in html
    assert "手机号码会收到登记（附查询链接）、立案、派遣、办结（附评价链接）等各环节的进度短信" in html


def test_the_migration_normalises_the_tickets_stored_before_intake_did(loop, client_for):
    """0014: tickets typed full width (or with spaces) before intake normalised them are written as intake writes
    them now, so the list's search finds them; ASCII tickets and cases without one are left as they are."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("civicgrid.apps.cases.migrations.0014_normalise_hotline_tickets")
    old = hotline(loop, TICKET)
    plain = hotline(loop, "12345-20261201-0002")
    walk_in = report(loop)
    Case.objects.filter(pk=old.pk).update(hotline_ticket=f" {FULL_WIDTH}")  # as it was stored before
    stamps = dict(Case.objects.values_list("pk", "updated_at"))
    url = reverse("ui:case_list")
    assert "<tr data-oid=" not in client_for(loop.dispatcher).get(url, {"q": TICKET}).content.decode()

    migration.normalise_tickets(apps, None)
    migration.normalise_tickets(apps, None)  # again: nothing left to change

    tickets = dict(Case.objects.values_list("pk", "hotline_ticket"))
    assert tickets[old.pk] == TICKET and tickets[plain.pk] == "12345-20261201-0002" and tickets[walk_in.pk] == ""
    assert dict(Case.objects.values_list("pk", "updated_at")) == stamps
    html = client_for(loop.dispatcher).get(url, {"q": TICKET}).content.decode()
    assert set(re.findall(r'<tr data-oid="(\d+)"', html)) == {str(old.pk)}


def test_the_other_report_forms_never_store_a_ticket(loop, client_for):
    """Only the hotline form has a ticket field: a ticket added to the phone report page's or the staff web
    form's post is not read, so neither a resident nor staff can claim one there."""
    ticket = "12345-20261201-9998"
    for user, url, data in (
        (loop.resident, "ui:case_submit", {"category": "", "description": "小区门口垃圾堆放", "address": ""}),
        (loop.dispatcher, "ui:case_new", {"title": "路灯不亮", "source": "public"}),
    ):
        client_for(user).post(reverse(url), {"idempotency_key": uuid.uuid4().hex, "lng": str(POINT[0]),
                                             "lat": str(POINT[1]), "crs": "wgs84", "hotline_ticket": ticket, **data})
    assert Case.objects.count() == 2 and not Case.objects.exclude(hotline_ticket="").exists()
    assert hotline(loop, ticket).hotline_ticket == ticket  # the hotline registers it

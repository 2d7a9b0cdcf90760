"""A 自行处置 case a resident reopens through the link the grid worker forwarded: the worker who handled it on the
spot is told in their inbox (with the reason), the case list and page mark it as reopened rather than as handled on
the spot, and the ledger keeps the rating of the closing reopened beside how many times it was reopened."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.apps.cases.services import act, rate, reopen_by_token
from civicgrid.apps.cases.tests.conftest import jpeg, loop, report  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.notify.models import Notification
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def self_handled_and_rated(loop):
    """The worker's 自行处置 report, rated 4 by the resident through the link the worker forwarded."""
    case = report(loop, self_handled=True, photos=[("after", jpeg())])
    token = CaseReporter.objects.get(original_case=case).follow_token
    rate(follow_token=token, score=4)
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.is_self_handled and case.satisfaction == 4
    return case, token


def test_the_self_handler_is_told_when_the_resident_reopens_through_the_forwarded_link(loop):
    case, token = self_handled_and_rated(loop)
    before = Notification.objects.filter(user=loop.worker).count()
    reopen_by_token(follow_token=token, reason="垃圾又堆起来了")
    told = Notification.objects.filter(user=loop.worker).order_by("pk")[before:]
    assert [(n.kind, n.title) for n in told] == [("self_handled_reopened", f"重新办理：{case.number}")]
    assert "您自行处置的问题被申请重新办理" in told[0].body and "垃圾又堆起来了" in told[0].body
    assert "reopened" in told[0].body_en
    step = case.steps.get(action="reopen")
    assert step.data["self_handled"] is True and step.data["satisfaction"] == 4


def test_a_self_handler_told_as_a_reporter_is_not_told_twice(loop):
    """Reopened by a dispatcher: the worker hears of it once (as the reporter, 案卷进展), not a second time."""
    case, _ = self_handled_and_rated(loop)
    before = Notification.objects.filter(user=loop.worker).count()
    act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="reopen", reason="群众来电反映未处理好")
    told = list(Notification.objects.filter(user=loop.worker).order_by("pk")[before:])
    assert [n.title for n in told] == [f"案卷进展：{case.number}"]


def test_the_list_and_page_mark_it_reopened_and_the_ledger_keeps_the_earlier_rating(loop, client):
    case, token = self_handled_and_rated(loop)
    plain, _ = self_handled_and_rated(loop)  # another, not reopened
    reopen_by_token(follow_token=token, reason="垃圾又堆起来了")
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_list")).content.decode()
    rows = {pk: html.split(f'<tr data-oid="{pk}">', 1)[1].split("</tr>", 1)[0] for pk in (case.pk, plain.pk)}
    assert "自行处置后重新办理" in rows[case.pk] and ">自行处置<" not in rows[case.pk]
    assert "自行处置后重新办理" not in rows[plain.pk] and ">自行处置<" in rows[plain.pk]
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "自行处置后重新办理" in page.split("</h1>")[0]
    # the ledger: reopened once, no rating of the new round yet, the reopened closing's 4 kept
    street = user_with(Role.STREET_DISPATCHER, region=loop.tree["140213050"], username="sdx")
    client.force_login(street)
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert (lines[case.number]["自行处置"], lines[case.number]["重新办理次数"]) == ("是", 1)
    assert (lines[case.number]["满意度"], lines[case.number]["重新办理前满意度"]) == (None, 4)
    assert (lines[plain.number]["重新办理次数"], lines[plain.number]["满意度"]) == (0, 4)
    assert lines[plain.number]["重新办理前满意度"] is None

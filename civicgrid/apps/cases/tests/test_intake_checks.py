"""Intake's checks of what a report is before it becomes a case: a 12345 ticket in its canonical form and of the
form of one, and required on a hotline report; a desk's hand-over located in its own area; a self-handled report
under a category. And the reporters invited to rate are those who can: not staff who reported."""

from __future__ import annotations

import importlib
import logging

import pytest
from django.apps import apps

from civicgrid.apps.cases.models import Case, CaseReporter, normalise_ticket, valid_ticket
from civicgrid.apps.cases.services.intake import TicketUsed
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.notify.models import Notification, OutgoingMessage

from .conftest import OTHER_STREET_POINT, POINT, auth, close_loop, jpeg, report, world_counts

pytestmark = pytest.mark.django_db

TICKET = "12345-20261201-0001"


def hotline(loop, ticket, actor=None, **kw):
    return report(loop, actor=actor or loop.dispatcher, source="hotline", hotline_ticket=ticket, **kw)


def _post(client, user, **body):
    data = {"title": "路边暴露垃圾", "lng": POINT[0], "lat": POINT[1], **body}
    return client.post("/api/v1/cases", data, content_type="application/json", **auth(user))


# ---- 1. the canonical ticket ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [
    (" 12345 20261201 0001 ", TICKET),
    ("12345--20261201//0001", TICKET),
    ("１２３４５－２０２６１２０１／０００１", TICKET),  # full width, as a Chinese input method types it
    ("12345_20261201.0001", TICKET),
    ("12345—20261201 · 0001", TICKET),  # an em dash and a middle dot
    ("gd 2026-0001", "GD-2026-0001"),
])
def test_a_ticket_is_stored_in_its_canonical_form(loop, typed, stored):
    assert normalise_ticket(typed) == stored and valid_ticket(stored)
    assert hotline(loop, typed).hotline_ticket == stored


@pytest.mark.parametrize("typed", ["工单12345", "12345#0001", "T1", "ABCD", "1" * 41, "12345-2026-0001" * 3])
def test_a_malformed_ticket_is_refused_and_nothing_is_written(loop, typed):
    before = world_counts()
    with pytest.raises(ValidationFailed, match="热线工单号(格式不正确|不能超过)") as caught:
        hotline(loop, typed)
    assert caught.value.field == "hotline_ticket"
    assert world_counts() == before


def test_the_api_refuses_a_malformed_ticket_in_both_languages(loop, api_client):
    before = world_counts()
    response = _post(api_client, loop.dispatcher, source="hotline", hotline_ticket="工单#1")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == "hotline_ticket"
    assert "热线工单号格式不正确" in body["detail"] and "the hotline ticket number is malformed" in body["detail"]
    assert world_counts() == before


def test_a_ticket_spelt_otherwise_is_the_same_ticket_for_the_repeat_check(loop):
    first = hotline(loop, TICKET)
    before = world_counts()
    for spelt in ("12345 20261201 0001", "12345/20261201/0001", " 12345_20261201_0001"):
        with pytest.raises(TicketUsed, match=f"热线工单号 {TICKET} 已登记为案卷 {first.number}"):
            hotline(loop, spelt)
    assert world_counts() == before
    lower = hotline(loop, "gd-2026-0002")
    with pytest.raises(TicketUsed):
        hotline(loop, "GD 2026 0002")
    assert lower.hotline_ticket == "GD-2026-0002"


def test_the_case_list_search_finds_a_ticket_typed_otherwise(loop, client):
    import re

    case = hotline(loop, TICKET)
    client.force_login(loop.dispatcher)
    html = client.get("/cases/", {"q": "12345 20261201 0001"}).content.decode()
    assert set(re.findall(r'<tr data-oid="(\d+)"', html)) == {str(case.pk)}


# ---- the migration -------------------------------------------------------------------------------------------

MIGRATION = "civicgrid.apps.cases.migrations.0028_canonical_hotline_tickets"


def test_the_migration_writes_stored_tickets_in_their_canonical_form(loop):
    migration = importlib.import_module(MIGRATION)
    typed = hotline(loop, TICKET)
    other = hotline(loop, "12345-20261201-0002")
    walk_in = report(loop)
    refused = hotline(loop, "12345-20261201-0003")
    Case.objects.filter(pk=refused.pk).update(status="refused")
    Case.objects.filter(pk=typed.pk).update(hotline_ticket="12345 20261201/0001")  # as it was stored before
    Case.objects.filter(pk=refused.pk).update(hotline_ticket="12345_20261201_0003")
    stamps = dict(Case.objects.values_list("pk", "updated_at"))

    migration.canonicalise_tickets(apps, None)
    migration.canonicalise_tickets(apps, None)  # again: nothing left to change

    tickets = dict(Case.objects.values_list("pk", "hotline_ticket"))
    assert tickets == {typed.pk: TICKET, other.pk: "12345-20261201-0002", walk_in.pk: "",
                       refused.pk: "12345-20261201-0003"}
    assert dict(Case.objects.values_list("pk", "updated_at")) == stamps


def test_the_migration_keeps_two_cases_of_one_ticket_and_says_so(loop, caplog):
    """Two held cases whose tickets become one (the same ticket registered twice, typed two ways): the migration
    does not fail on the unique index; the case already holding the canonical ticket keeps it, the other keeps
    its ticket as typed, and the log names both. A refused case of the same ticket is re-spelt (no index holds
    it); of two held cases typed otherwise, the earlier is re-spelt."""
    migration = importlib.import_module(MIGRATION)
    holder = hotline(loop, TICKET)
    twice = hotline(loop, "12345-20261201-0009")
    Case.objects.filter(pk=twice.pk).update(hotline_ticket="12345 20261201 0001")
    refused = hotline(loop, "12345-20261201-0008")
    Case.objects.filter(pk=refused.pk).update(status="refused", hotline_ticket="12345/20261201/0001")
    first_typed = hotline(loop, "12345-20261201-0005")
    second_typed = hotline(loop, "12345-20261201-0006")
    Case.objects.filter(pk=first_typed.pk).update(hotline_ticket="12345 20261201 0007")
    Case.objects.filter(pk=second_typed.pk).update(hotline_ticket="12345_20261201_0007")

    with caplog.at_level(logging.WARNING, logger="civicgrid.migrations"):
        migration.canonicalise_tickets(apps, None)

    tickets = dict(Case.objects.values_list("pk", "hotline_ticket"))
    assert tickets[holder.pk] == TICKET and tickets[twice.pk] == "12345 20261201 0001"
    assert tickets[refused.pk] == TICKET
    assert tickets[first_typed.pk] == "12345-20261201-0007" and tickets[second_typed.pk] == "12345_20261201_0007"
    said = caplog.text
    assert f"{twice.number} ('12345 20261201 0001' → {TICKET}, held by {holder.number})" in said
    assert f"{second_typed.number} ('12345_20261201_0007' → 12345-20261201-0007, held by {first_typed.number})" in said
    assert "2 hotline case(s) kept their ticket as typed" in said
    # the repeat check still holds the ticket
    with pytest.raises(TicketUsed, match=holder.number):
        hotline(loop, TICKET)


# ---- 2. a hotline report carries its ticket --------------------------------------------------------------------


@pytest.mark.parametrize("ticket", ["", "   ", " - / "])
def test_a_hotline_report_without_a_ticket_is_refused(loop, ticket):
    before = world_counts()
    with pytest.raises(ValidationFailed, match="12345 热线转办须填写热线工单号") as caught:
        hotline(loop, ticket)
    assert caught.value.field == "hotline_ticket"
    assert world_counts() == before


def test_the_api_refuses_a_hotline_report_without_a_ticket(loop, api_client):
    before = world_counts()
    for body in ({"source": "hotline"}, {"source": "hotline", "hotline_ticket": ""}):
        response = _post(api_client, loop.dispatcher, **body)
        assert response.status_code == 400, response.content
        assert response.json()["field"] == "hotline_ticket"
        assert response.json()["detail"] == ("12345 热线转办须填写热线工单号 / a 12345 hotline report needs the hotline "
                                             "ticket number")
    assert world_counts() == before


# ---- 3. a desk registers the hand-overs of its own area ------------------------------------------------------


def test_a_street_dispatcher_cannot_register_a_hotline_case_in_another_street(loop):
    before = world_counts()
    with pytest.raises(PermissionDenied, match="该位置属于古城街道") as caught:
        hotline(loop, TICKET, actor=loop.street_dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    assert caught.value.status == 403 and caught.value.field == "location"
    assert world_counts() == before
    # their own street, the other street's own desk, and the district's command centre do
    assert hotline(loop, TICKET, actor=loop.street_dispatcher).region_code.startswith("140213050")
    far = hotline(loop, "12345-20261201-0002", actor=loop.other_street_dispatcher, lng=OTHER_STREET_POINT[0],
                  lat=OTHER_STREET_POINT[1])
    assert far.region_code.startswith("140213051")
    assert hotline(loop, "12345-20261201-0003", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]).pk


def test_the_api_answers_403_naming_the_street(loop, api_client):
    before = world_counts()
    for body in ({"source": "hotline", "hotline_ticket": TICKET}, {"source": "video"}):
        response = _post(api_client, loop.street_dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1],
                         **body)
        assert response.status_code == 403, response.content
        detail = response.json()["detail"]
        assert "该位置属于古城街道" in detail and "the location lies in 古城街道" in detail
    assert world_counts() == before
    # a field report of theirs may be made anywhere
    response = _post(api_client, loop.street_dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1],
                     source="grid_worker")
    assert response.status_code == 201, response.content


# ---- 4. a self-handled report has a category -------------------------------------------------------------------


def test_a_self_handled_report_without_a_category_is_refused(loop, api_client):
    before = world_counts()
    with pytest.raises(ValidationFailed, match="自行处置须选择事件分类") as caught:
        report(loop, category=None, self_handled=True, photos=[("after", jpeg())])
    assert caught.value.field == "category"
    response = _post(api_client, loop.worker, self_handled=True, source="self_handled")
    assert response.status_code == 400 and response.json()["field"] == "category", response.content
    assert "a self-handled report needs a category" in response.json()["detail"]
    assert world_counts() == before
    assert report(loop, self_handled=True, photos=[("after", jpeg())]).is_self_handled  # with one it goes


# ---- 5. only reporters who can rate are invited to -------------------------------------------------------------


def _status_bodies(user) -> list[str]:
    return list(Notification.objects.filter(user=user, kind="status").order_by("pk").values_list("body", flat=True))


def test_staff_who_reported_are_told_of_the_closing_without_an_invitation_to_rate(loop):
    """The grid worker's own report, closed: their inbox says it is closed, with the link to follow it, not
    欢迎评价 with the link to rate (they would be refused). A resident's report, closed: the invitation stays, and
    so it does in the SMS to the contact the worker's report left (the resident who showed them the problem)."""
    worker_case = close_loop(loop, report(loop, reporter_phone="13811111111"))
    resident_case = close_loop(loop, report(loop, actor=loop.resident, source="public"))

    told = Notification.objects.filter(user=loop.worker, kind="status").order_by("pk")
    assert all(worker_case.number in n.body and "评价" not in n.body and "rate" not in n.body_en for n in told)
    closing = told.last()
    token = CaseReporter.objects.get(original_case=worker_case).follow_token
    assert "已办结。当前状态：已结案。" in closing.body and f"查询进度：/follow/{token}/" in closing.body
    assert "is closed. Current status: Closed." in closing.body_en and f"Follow it: /follow/{token}/" in closing.body_en

    closing = _status_bodies(loop.resident)[-1]
    assert resident_case.number in closing and "已办结，欢迎评价" in closing and "查询与评价：" in closing
    sms = OutgoingMessage.objects.filter(channel="sms", to_masked="138****1111").order_by("pk").last().body
    assert worker_case.number in sms and "已办结，欢迎评价" in sms and "查询与评价：" in sms

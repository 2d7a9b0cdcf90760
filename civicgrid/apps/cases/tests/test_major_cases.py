"""重大事件: 督办 covers "an overdue or major case" (GLOSSARY). A case a dispatcher marks major at report reaches
the leaders who supervise it (an inbox message, as 超期自动督办 does), their home page's lane, and the list, the
API and the ledger filter it (`is_major`)."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from civicgrid.apps.cases import selectors
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.events import bus
from civicgrid.foundation.notify.models import Notification
from civicgrid.testing.builders import user_with

from .conftest import OTHER_STREET_POINT, auth, report

pytestmark = pytest.mark.django_db


def _major_messages(user) -> list[tuple]:
    return list(Notification.objects.filter(user=user, kind="major").values_list("title", "target_id"))


def test_a_major_report_tells_the_leaders_of_its_region_once(loop):
    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld-street")
    other_leader = user_with(Role.LEADER, region=loop.tree["140213051"], username="ld-other")
    major = report(loop, actor=loop.dispatcher, source="video", is_major=True)
    plain = report(loop, actor=loop.dispatcher, source="video")
    bus.dispatch_pending()
    for leader in (loop.leader, street_leader):
        assert _major_messages(leader) == [(f"重大事件：{major.number}", str(major.pk))]
    assert _major_messages(other_leader) == []  # another street's leader: not their case
    # the command centre and the reporter do not supervise: only the leaders are told
    assert not Notification.objects.filter(kind="major").exclude(user__in=[loop.leader, street_leader]).exists()
    assert not Notification.objects.filter(kind="major", target_id=str(plain.pk)).exists()
    # a redelivered event tells nobody twice
    from civicgrid.apps.cases.handlers import on_marked_major
    from civicgrid.foundation.events.models import OutboxEvent

    on_marked_major(OutboxEvent.objects.get(topic="case.marked_major"))
    assert Notification.objects.filter(kind="major").count() == 2
    # the inbox gives its title in English too (a registered title)
    from civicgrid.foundation.notify.api import NotificationOut

    out = NotificationOut.from_orm(Notification.objects.get(user=loop.leader, kind="major"))
    assert out.title_en == f"Major case: {major.number}"


def test_leaders_find_major_cases_in_the_list_the_api_the_ledger_and_their_lane(loop):
    major = report(loop, actor=loop.dispatcher, source="video", is_major=True)
    elsewhere = report(loop, actor=loop.dispatcher, source="video", is_major=True, lng=OTHER_STREET_POINT[0],
                       lat=OTHER_STREET_POINT[1])
    plain = report(loop, actor=loop.dispatcher, source="video")
    c = Client()
    c.force_login(loop.leader)
    page = c.get("/cases/", {"is_major": "1"}).content.decode()
    assert major.number in page and elsewhere.number in page and plain.number not in page
    api = c.get("/api/v1/cases", {"is_major": "true"}, **auth(loop.leader))
    assert api.status_code == 200
    assert {i["number"] for i in api.json()["items"]} == {major.number, elsewhere.number}
    assert {i["number"] for i in c.get("/api/v1/cases", {"is_major": "false"}, **auth(loop.leader)).json()["items"]
            } == {plain.number}
    sheet = load_workbook(io.BytesIO(c.get("/documents/cases/ledger.xlsx", {"is_major": "1"}).content)).active
    assert {r[0] for r in sheet.iter_rows(min_row=2, values_only=True)} == {major.number, elsewhere.number}
    # the home page's lane: the open major cases of the leader's region, linked to the list
    home = c.get("/").content.decode()
    assert 'data-lane="major" data-count="2"' in home and "办理中的重大事件" in home
    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld-street")
    assert {lane["key"]: lane["count"] for lane in selectors.my_work(street_leader)}["major"] == 1
    listed = c.get("/cases/", {"work": "major"}).content.decode()
    assert major.number in listed and plain.number not in listed
    work = c.get("/api/v1/cases/work", **auth(loop.leader)).json()["lanes"]
    assert ("major", 2) in [(w["key"], w["count"]) for w in work]
    # a closed or refused major case leaves the lane
    from civicgrid.apps.cases.services import act

    act(actor=loop.dispatcher, case=elsewhere, action="refuse", reason="重复上报")
    assert {lane["key"]: lane["count"] for lane in selectors.my_work(loop.leader)}["major"] == 1
    # the dispatcher (no 督办) has no such lane
    assert "major" not in {lane["key"] for lane in selectors.my_work(loop.dispatcher)}

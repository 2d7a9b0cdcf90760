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


# ---- 标记重大事件 / 取消重大事件 after the report --------------------------------------------------------------------

def _page(user, case) -> str:
    c = Client()
    c.force_login(user)
    response = c.get(f"/cases/{case.number}/")
    assert response.status_code == 200
    return response.content.decode()


def _buttons(html: str) -> set[str]:
    from civicgrid.ui.tests.test_cases_pages import buttons

    return set(buttons(html))


def test_a_dispatcher_marks_an_open_case_major_and_the_leaders_are_told_as_at_report(loop):
    """Nothing marked a case major after its report: a dispatcher (or shift lead, or leader) in scope now does,
    with the reason, through the services (step, audit, `case.marked_major`), and the leaders who supervise get
    the notice a major report gives them; the mark can be taken back the same way."""
    from civicgrid.apps.cases.handlers import on_marked_major
    from civicgrid.apps.cases.models import Case, CaseStep
    from civicgrid.apps.cases.services import act
    from civicgrid.foundation.audit.models import AuditEntry
    from civicgrid.foundation.events.models import OutboxEvent

    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld-street")
    other_leader = user_with(Role.LEADER, region=loop.tree["140213051"], username="ld-other")
    case = report(loop)
    act(actor=loop.street_dispatcher, case=case, action="accept")
    assert "major" not in {n.kind for n in Notification.objects.all()}

    case = act(actor=loop.street_dispatcher, case=Case.objects.get(pk=case.pk), action="mark_major",
               reason="涉及三十余户居民用水安全")
    case.refresh_from_db()
    assert case.is_major and case.status == "accepted"  # the mark, not a status change
    step = CaseStep.objects.get(case=case, action="mark_major")
    assert (step.note, step.actor_id, step.to_status) == ("涉及三十余户居民用水安全", loop.street_dispatcher.pk, "")
    entry = AuditEntry.objects.get(action="cases.mark_major", target_id=str(case.pk))
    assert entry.actor_id == loop.street_dispatcher.pk
    assert (entry.before["is_major"], entry.after["is_major"]) == (False, True)
    event = OutboxEvent.objects.get(topic="case.marked_major", aggregate_id=str(case.pk))
    assert (event.payload["action"], event.payload["step_id"]) == ("mark_major", step.pk)

    bus.dispatch_pending()
    for leader in (loop.leader, street_leader):
        assert _major_messages(leader) == [(f"重大事件：{case.number}", str(case.pk))]
        body = Notification.objects.get(user=leader, kind="major").body
        assert "涉及三十余户居民用水安全" in body and case.title in body
    assert _major_messages(other_leader) == []
    on_marked_major(event)  # redelivered: nobody told twice
    assert Notification.objects.filter(kind="major").count() == 2
    assert {lane["key"]: lane["count"] for lane in selectors.my_work(loop.leader)}["major"] == 1

    # a leader takes the mark back, with the reason: the lane and the filter follow
    case = act(actor=loop.leader, case=case, action="unmark_major", reason="核实后影响范围有限")
    case.refresh_from_db()
    assert not case.is_major
    assert CaseStep.objects.get(case=case, action="unmark_major").note == "核实后影响范围有限"
    unmarked = AuditEntry.objects.get(action="cases.unmark_major", target_id=str(case.pk))
    assert (unmarked.actor_id, unmarked.before["is_major"], unmarked.after["is_major"]) == (loop.leader.pk, True, False)
    assert OutboxEvent.objects.filter(topic="case.unmarked_major", aggregate_id=str(case.pk)).count() == 1
    assert {lane["key"]: lane["count"] for lane in selectors.my_work(loop.leader)}["major"] == 0
    bus.dispatch_pending()
    assert Notification.objects.filter(kind="major").count() == 2  # unmarking tells nobody

    # marked again (by the district leader): news again for the street's leader, not for the one who marked it
    act(actor=loop.leader, case=case, action="mark_major", reason="再次出现供水中断")
    bus.dispatch_pending()
    assert len(_major_messages(street_leader)) == 2 and len(_major_messages(loop.leader)) == 1
    assert Case.objects.get(pk=case.pk).is_major


def test_marking_major_is_refused_with_the_reason_and_changes_nothing(loop):
    """Wrong role, out of scope, a case out of the loop, a case already major (or not major, for unmarking), no
    reason: each refused with a Chinese message, and nothing changed (case, steps, audit, outbox, inbox)."""
    from civicgrid.apps.cases.models import Case, Status
    from civicgrid.apps.cases.services import act
    from civicgrid.foundation.core.errors import CivicgridError

    from .conftest import world_counts

    plain = report(loop)
    act(actor=loop.dispatcher, case=plain, action="accept")
    act(actor=loop.dispatcher, case=Case.objects.get(pk=plain.pk), action="dispatch", department=loop.dept.pk)
    major = report(loop, actor=loop.dispatcher, source="video", is_major=True)
    refused = report(loop)
    act(actor=loop.dispatcher, case=refused, action="refuse", reason="重复上报")
    closed = report(loop, actor=loop.dispatcher, source="video", is_major=True)
    Case.objects.filter(pk=closed.pk).update(status=Status.CLOSED)  # as after 结案
    bus.dispatch_pending()

    attempts = [
        (loop.worker, plain, "mark_major", 403, "您无权执行「标记重大事件」"),  # a grid worker sees it, may not
        (loop.handler, plain, "mark_major", 403, "您无权执行「标记重大事件」"),  # the department handling it
        (loop.other_street_dispatcher, plain, "mark_major", 404, "未找到该事件，或不在您的权限范围内"),
        (loop.other_street_dispatcher, major, "unmark_major", 404, "未找到该事件，或不在您的权限范围内"),
        (loop.dispatcher, refused, "mark_major", 409, "当前状态「不予受理」不能执行「标记重大事件」"),
        (loop.leader, closed, "unmark_major", 409, "当前状态「已结案」不能执行「取消重大事件」"),
        (loop.street_dispatcher, major, "mark_major", 409, "该事件已是重大事件"),
        (loop.leader, plain, "unmark_major", 409, "该事件不是重大事件"),
    ]
    for actor, case, action, status, words in attempts:
        before = world_counts()
        with pytest.raises(CivicgridError) as exc:
            act(actor=actor, case=Case.objects.get(pk=case.pk), action=action, reason="原因")
        assert (exc.value.status, words in exc.value.message) == (status, True), (actor, action, exc.value.message)
        assert world_counts() == before, (actor, action)
    before = world_counts()
    with pytest.raises(CivicgridError) as exc:
        act(actor=loop.dispatcher, case=Case.objects.get(pk=plain.pk), action="mark_major", reason="  ")
    assert exc.value.status == 422 and "「标记重大事件」须填写" in exc.value.message
    assert world_counts() == before
    assert Case.objects.get(pk=closed.pk).is_major and not Case.objects.get(pk=plain.pk).is_major


def test_the_buttons_and_the_api_offer_the_mark_to_whom_may_take_it(loop):
    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.cases.services import act

    from .conftest import world_counts

    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    for user in (loop.dispatcher, loop.street_dispatcher, loop.leader):
        assert "mark_major" in _buttons(_page(user, case)) and "unmark_major" not in _buttons(_page(user, case))
    assert not {"mark_major", "unmark_major"} & _buttons(_page(loop.worker, case))

    c = Client()
    url = f"/api/v1/cases/{case.number}/actions/mark_major"
    names = [a["name"] for a in c.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()["allowed_actions"]]
    assert "mark_major" in names and "unmark_major" not in names
    offered = {a["name"]: a for a in
               c.get(f"/api/v1/cases/{case.number}", **auth(loop.leader)).json()["allowed_actions"]}
    assert offered["mark_major"]["requires"] == ["reason"]
    assert "mark_major" not in [a["name"] for a in
                                c.get(f"/api/v1/cases/{case.number}", **auth(loop.worker)).json()["allowed_actions"]]

    before = world_counts()
    refused = c.post(url, {"reason": "原因"}, content_type="application/json", **auth(loop.worker))
    assert refused.status_code == 403 and "您无权执行「标记重大事件」" in refused.json()["detail"]
    missing = c.post(url, {}, content_type="application/json", **auth(loop.dispatcher))
    assert missing.status_code == 422
    assert world_counts() == before

    done = c.post(url, {"reason": "涉及燃气泄漏"}, content_type="application/json", **auth(loop.dispatcher))
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["is_major"] is True
    assert ("mark_major", "标记重大事件", "涉及燃气泄漏") in [(s["action"], s["label"], s["note"]) for s in body["timeline"]]
    names = [a["name"] for a in body["allowed_actions"]]
    assert "unmark_major" in names and "mark_major" not in names
    again = c.post(url, {"reason": "再标一次"}, content_type="application/json", **auth(loop.dispatcher))
    assert again.status_code == 409 and "该事件已是重大事件" in again.json()["detail"]

    # the page: the tag, the step in the timeline with its reason, and now the button that takes the mark back
    html = _page(loop.leader, Case.objects.get(pk=case.pk))
    assert "unmark_major" in _buttons(html) and "mark_major" not in _buttons(html)
    assert 'data-step="mark_major"' in html and "涉及燃气泄漏" in html
    leader = Client()
    leader.force_login(loop.leader)
    posted = leader.post(f"/cases/{case.number}/act/unmark_major/", {"reason": "已排除燃气泄漏"})
    assert posted.status_code == 302
    assert not Case.objects.get(pk=case.pk).is_major

"""改派: a dispatcher who sent a case to the wrong department takes it back and sends it to another, with the
reason, until the department reports back. The old department's handling clock stops without a verdict, its task
messages are settled and it is told (to stop, if it had started); the new department gets the case as at 派遣: a
fresh handling clock, a 新任务. Refusals (role 403, scope 404, state 409, same or unstaffed department 400, no
reason or department 422) change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civicgrid.apps.cases import clocks
from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import allowed_actions
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.testing.builders import department, user_with

from .conftest import auth, report, world_counts

pytestmark = pytest.mark.django_db


def _dispatched(loop, **kw) -> Case:
    case = report(loop, **kw)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _messages(case, kind: str) -> dict[int, tuple[str, bool]]:
    """Each reader's message of `kind` about `case`: (resolution, settled)."""
    return {u: (r, at is not None) for u, r, at in Notification.objects.filter(
        target_type="cases.case", target_id=str(case.pk), kind=kind).values_list("user_id", "resolution",
                                                                                 "resolved_at")}


def _waiting_tasks(case) -> list[int]:
    """Who has a 新任务 about `case` still waiting (one entry per message)."""
    return sorted(Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="new_task",
                                              resolved_at__isnull=True).values_list("user_id", flat=True))


def _handle_clocks(case):
    return list(SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=clocks.HANDLE)
                .order_by("pk"))


def test_a_redirect_sends_the_case_to_another_department_with_a_fresh_clock(loop):
    case = _dispatched(loop, reporter_phone="13600000000")
    first_deadline = case.deadline
    assert _messages(case, "new_task") == {loop.handler.pk: ("", False)}
    assert "redirect" in {t.name for t in allowed_actions(case, loop.dispatcher)}
    assert "redirect" not in {t.name for t in allowed_actions(case, loop.handler)}
    reporters_told = Notification.objects.filter(kind="status").count()
    outgoing = CaseReporter.objects.filter(case=case).count()

    case = act(actor=loop.dispatcher, case=case, action="redirect", department=loop.other_dept.pk,
               reason="供水井盖归住建，误派城管")

    case.refresh_from_db()
    assert (case.status, case.department, case.redirect_count, case.send_back_count) == \
        (Status.DISPATCHED, loop.other_dept, 1, 0)
    assert case.dispatched_by == loop.dispatcher and case.handled_on_time is None
    # the old department's clock stopped without a verdict; a fresh one runs for the new department
    old, new = _handle_clocks(case)
    assert old.state == "stopped" and new.state == "running"
    assert new.started_at == old.stopped_at and case.deadline == new.due_at and case.deadline >= first_deadline
    # the old department's 新任务 is settled (已改派) and it is told; the new department's 新任务 waits
    assert _messages(case, "new_task") == {loop.handler.pk: ("已改派", True), loop.other_handler.pk: ("", False)}
    told = Notification.objects.get(user=loop.handler, kind="redirected")
    assert told.title == f"改派：{case.number}"
    assert told.body == "已改派至「区住建局」，本部门的处置时限已停止，无需再办理。原因：供水井盖归住建，误派城管"
    assert "nothing more to do" in told.body_en
    # the step, the audit entry and the event
    step = CaseStep.objects.filter(case=case).order_by("-pk").first()
    assert (step.action, step.from_status, step.to_status, step.department_id, step.note) == \
        ("redirect", Status.DISPATCHED, "", loop.other_dept.pk, "供水井盖归住建，误派城管")
    assert step.data["from_department"] == loop.dept.pk and step.data["department"] == loop.other_dept.pk
    assert step.data["started"] is False
    assert AuditEntry.objects.filter(action="cases.redirect", target_id=str(case.pk)).count() == 1
    event = OutboxEvent.objects.filter(topic="case.redirected").get()
    assert event.payload["from_department_id"] == loop.dept.pk
    # reporters are not told of an internal correction
    assert Notification.objects.filter(kind="status").count() == reporters_told
    assert CaseReporter.objects.filter(case=case).count() == outgoing
    # the case is the new department's now, not the old one's
    assert not Case.objects.visible_to(loop.handler).filter(pk=case.pk).exists()
    assert {t.name for t in allowed_actions(case, loop.other_handler)} >= {"start", "report_back", "send_back"}
    act(actor=loop.other_handler, case=case, action="report_back", note="已更换")
    assert _messages(case, "new_task")[loop.other_handler.pk] == ("已处理", True)


def test_a_redirect_after_the_department_started_tells_it_to_stop(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.handler, case=case, action="request_extension", reason="需要吊车", hours=4)
    assert _messages(case, "extension_request")  # waits with the approvers
    case = act(actor=loop.street_dispatcher, case=Case.objects.get(pk=case.pk), action="redirect",
               department=loop.other_dept.pk, reason="应由住建处置")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and not case.extension_pending
    step = CaseStep.objects.filter(case=case, action="redirect").get()
    assert step.from_status == Status.HANDLING and step.to_status == Status.DISPATCHED and step.data["started"]
    body = Notification.objects.get(user=loop.handler, kind="redirected").body
    assert "本部门已开始处置，请停止并将已掌握的情况移交新部门" in body
    # the department's extension request lapsed with the handling it was asked for
    assert {r for r, _settled in _messages(case, "extension_request").values()} == {"已撤销"}


def test_an_extension_approved_for_the_old_department_does_not_lengthen_the_new_ones_limit(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需要吊车", hours=4)
    act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="decide_extension", decision="approve")
    assert clocks.approved_extension_hours(case) == 4
    act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="redirect", department=loop.other_dept.pk,
        reason="误派")
    assert clocks.approved_extension_hours(case) == 0


def test_a_redirect_corrects_the_routing_rule_when_asked(loop):
    case = _dispatched(loop)
    act(actor=loop.dispatcher, case=case, action="redirect", department=loop.other_dept.pk, reason="误派",
        correct_rule=True)
    step = CaseStep.objects.get(case=case, action="redirect")
    rule = RoutingRule.objects.get(pk=step.data["rule_corrected"]["rule"])
    assert rule.department == loop.other_dept and rule.region_code == case.region_code[:9]
    assert report(loop).suggested_department == loop.other_dept


def test_a_redirect_clears_the_overdue_mark_of_the_old_departments_round(loop):
    case = _dispatched(loop)
    SlaClock.objects.filter(target_id=str(case.pk), kind=clocks.HANDLE).update(
        due_at=case.reported_at - timedelta(hours=1))
    Case.objects.filter(pk=case.pk).update(is_overdue=True)
    act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="redirect", department=loop.other_dept.pk,
        reason="误派")
    case.refresh_from_db()
    assert not case.is_overdue and case.handled_on_time is None


@pytest.fixture
def unstaffed():
    return department("区水务局")


REFUSALS = [
    # (who, state, body, status, code)
    ("handler", "dispatched", {"department": "other", "reason": "误派"}, 403, "forbidden"),
    ("leader", "dispatched", {"department": "other", "reason": "误派"}, 403, "forbidden"),
    ("worker", "dispatched", {"department": "other", "reason": "误派"}, 403, "forbidden"),
    ("other_street_dispatcher", "dispatched", {"department": "other", "reason": "误派"}, 404, "not_found"),
    ("other_handler", "dispatched", {"department": "other", "reason": "误派"}, 404, "not_found"),
    ("dispatcher", "accepted", {"department": "other", "reason": "误派"}, 409, "conflict"),
    ("dispatcher", "handled", {"department": "other", "reason": "误派"}, 409, "conflict"),
    ("dispatcher", "suspended", {"department": "other", "reason": "误派"}, 409, "conflict"),
    ("dispatcher", "dispatched", {"department": "other"}, 422, "missing"),
    ("dispatcher", "dispatched", {"department": "other", "reason": "  "}, 422, "missing"),
    ("dispatcher", "dispatched", {"reason": "误派"}, 422, "missing"),
    # the values refused as at 派遣 (a department that is not one: 400 `invalid`)
    ("dispatcher", "dispatched", {"department": "same", "reason": "误派"}, 400, "invalid"),
    ("dispatcher", "dispatched", {"department": "unstaffed", "reason": "误派"}, 400, "invalid"),
    ("dispatcher", "dispatched", {"department": 987654, "reason": "误派"}, 400, "invalid"),
    ("street_dispatcher", "dispatched", {"department": "other", "reason": "误派", "correct_rule": True}, 403,
     "forbidden"),  # may dispatch, not manage rules: the whole redirect is refused
]


def test_every_refused_redirect_answers_clearly_and_changes_nothing(loop, unstaffed, api_client):
    cases = {"dispatched": _dispatched(loop)}
    cases["accepted"] = report(loop, title="待派遣")
    act(actor=loop.dispatcher, case=cases["accepted"], action="accept")
    cases["handled"] = _dispatched(loop, title="待核查")
    act(actor=loop.handler, case=cases["handled"], action="report_back", note="已处理")
    cases["suspended"] = _dispatched(loop, title="挂账")
    act(actor=loop.dispatcher, case=cases["suspended"], action="suspend", reason="等预算")
    departments = {"other": loop.other_dept.pk, "same": loop.dept.pk, "unstaffed": unstaffed.pk}
    before = world_counts()
    rules = RoutingRule.objects.count()
    for who, state, body, status, code in REFUSALS:
        body = {k: departments.get(v, v) if k == "department" else v for k, v in body.items()}
        response = api_client.post(f"/api/v1/cases/{cases[state].number}/actions/redirect", body,
                                   content_type="application/json", **auth(getattr(loop, who)))
        where = f"{who} redirect on a {state} case with {body}"
        assert response.status_code == status, f"{where}: {response.content.decode()}"
        assert response.json()["code"] == code and response.json()["detail"], where
        assert world_counts() == before, f"{where} changed something"
        assert RoutingRule.objects.count() == rules
    assert Case.objects.get(pk=cases["dispatched"].pk).department == loop.dept


def test_the_api_lists_and_takes_the_redirect(loop, api_client):
    case = _dispatched(loop)
    shown = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()
    redirect = next(a for a in shown["allowed_actions"] if a["name"] == "redirect")
    assert set(redirect["requires"]) == {"department", "reason"}
    handler_view = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.handler)).json()
    assert "redirect" not in {a["name"] for a in handler_view["allowed_actions"]}
    body = api_client.post(f"/api/v1/cases/{case.number}/actions/redirect",
                           {"department": loop.other_dept.pk, "reason": "误派"}, content_type="application/json",
                           **auth(loop.dispatcher)).json()
    assert body["department"]["id"] == loop.other_dept.pk and body["timeline"][-1]["action"] == "redirect"
    assert body["redirect_count"] == 1 and body["send_back_count"] == 0


def test_a_second_redirect_and_a_handler_of_both_departments(loop):
    """Redirected twice: each old department is told and settled once; a handler of both departments keeps the
    new 新任务 (settling happens before the new department is told)."""
    both = user_with(Role.DEPARTMENT_HANDLER, department=loop.other_dept, username="h-both")
    from civicgrid.foundation.access.models import Grant

    Grant.objects.create(user=both, role=Role.DEPARTMENT_HANDLER, department=loop.dept)
    third = department("区水务局")
    third_handler = user_with(Role.DEPARTMENT_HANDLER, department=third, username="h3")
    case = _dispatched(loop)
    act(actor=loop.dispatcher, case=case, action="redirect", department=loop.other_dept.pk, reason="误派")
    assert _waiting_tasks(case) == [loop.other_handler.pk, both.pk]
    act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="redirect", department=third.pk,
        reason="应归水务")
    assert _waiting_tasks(case) == [third_handler.pk]
    assert Case.objects.get(pk=case.pk).redirect_count == 2
    assert set(Notification.objects.filter(kind="redirected").values_list("user_id", flat=True)) == \
        {loop.handler.pk, loop.other_handler.pk, both.pk}

"""挂账督办: a leader supervises a case on hold (挂账) to press for the problem to be solved. The button is offered,
the approvers who may resume it (leaders aside) and its department are asked, settled by 恢复办理; the case joins
the 督办中的案件 lane; its clocks stay paused, so nothing escalates it while it waits, and they run on as before
once it resumes. Refusals (another role, no note, a case whose loop ended) change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import allowed_actions
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep

from .conftest import auth, close_loop, report, world_counts

pytestmark = pytest.mark.django_db

NOTE = "请协调专项资金，尽快解决"


def _suspended(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.dispatcher, case=case, action="suspend", reason="等待专项资金")


def _clocks(case: Case) -> list[tuple]:
    return list(SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk)).order_by("pk")
                .values_list("pk", "kind", "state", "due_at", "consumed"))


def _asked(case: Case):
    return Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="supervise_suspended")


def _lane(user) -> int:
    return {lane["key"]: lane["count"] for lane in selectors.my_work(user)}["supervised"]


def test_a_leader_supervises_a_case_on_hold(loop, api_client):
    case = _suspended(loop)
    assert "supervise" in [t.name for t in allowed_actions(case, loop.leader)]
    page = Client()
    page.force_login(loop.leader)
    assert 'data-action="supervise"' in page.get(f"/cases/{case.number}/").content.decode()
    clocks = _clocks(case)
    assert {state for _pk, _kind, state, *_ in clocks} == {"stopped", "paused"}

    posted = page.post(f"/cases/{case.number}/act/supervise/", {"note": NOTE, "idempotency_key": "sup-1"})
    assert posted.status_code == 302  # was 409 「当前状态「挂账」不能执行「督办」」

    case.refresh_from_db()
    assert case.is_supervised and case.status == Status.SUSPENDED and case.suspended_from == Status.DISPATCHED
    step = CaseStep.objects.get(case=case, action="supervise")
    assert step.note == NOTE and step.actor_id == loop.leader.pk and step.to_status == ""
    assert AuditEntry.objects.filter(action="cases.supervise", target_id=str(case.pk)).count() == 1
    event = OutboxEvent.objects.get(topic="case.supervised")
    assert event.payload["status"] == Status.SUSPENDED
    assert _clocks(case) == clocks  # 督办 pauses, resumes and restarts nothing
    # who may resume it (the command dispatcher; not a peer leader) and its department are asked
    asked = _asked(case)
    assert set(asked.values_list("user_id", flat=True)) == {loop.dispatcher.pk, loop.handler.pk}
    assert {m.body for m in asked} == {f"挂账中，请推动解决并恢复办理：{NOTE}"}
    assert {m.title for m in asked} == {f"督办：{case.number}"} and all(m.body_en for m in asked)
    assert not Notification.objects.filter(kind="supervise", target_id=str(case.pk)).exists()

    # the 督办中的案件 lane and the list's 督办 filter count it, on hold as it is
    assert _lane(loop.leader) == 1
    listed = api_client.get("/api/v1/cases", {"supervised": "true", "status": "suspended"},
                            **auth(loop.leader)).json()
    assert [i["number"] for i in listed["items"]] == [case.number]

    # 恢复办理 settles the request; the case stays supervised and its clocks run on from where they stopped
    act(actor=loop.dispatcher, case=case, action="unsuspend")
    assert set(asked.values_list("resolution", flat=True)) == {"已处理"}
    case.refresh_from_db()
    assert case.is_supervised and case.status == Status.DISPATCHED and _lane(loop.leader) == 1
    handle = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")
    assert handle.state == "running"
    assert not case.is_overdue


def test_no_escalation_while_a_supervised_case_is_on_hold(loop):
    """The paused clocks have no deadline in force: however long the case waits, the sweep finds nothing to
    warn of or to escalate (no 超期, no 超期自动督办, no message)."""
    case = _suspended(loop)
    act(actor=loop.leader, case=case, action="supervise", note=NOTE)
    bus.dispatch_pending()
    before, clocks = world_counts(), _clocks(case)
    far = timezone.now() + timedelta(days=400)
    sweep(now=far)
    bus.dispatch_pending()
    case.refresh_from_db()
    assert not case.is_overdue and case.is_supervised
    assert not CaseStep.objects.filter(case=case, action="auto_supervise").exists()
    assert world_counts() == before and _clocks(case) == clocks


@pytest.mark.parametrize(("who", "inputs", "status", "words"), [
    ("dispatcher", {"note": NOTE}, 403, "督办"),  # 督办 is a leader's
    ("handler", {"note": NOTE}, 403, "督办"),
    ("leader", {}, 422, "note"),  # the words are required
    ("leader", {"note": "   "}, 422, "note"),
])
def test_refused_supervision_of_a_case_on_hold_changes_nothing(loop, api_client, who, inputs, status, words):
    case = _suspended(loop)
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/supervise", inputs,
                               content_type="application/json", **auth(getattr(loop, who)))
    assert response.status_code == status and words in str(response.json())
    assert world_counts() == before
    assert not Case.objects.get(pk=case.pk).is_supervised


def test_a_case_whose_loop_ended_is_still_not_supervised(loop, api_client):
    case = close_loop(loop, report(loop))
    assert case.status == Status.CLOSED
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/supervise", {"note": NOTE},
                               content_type="application/json", **auth(loop.leader))
    assert response.status_code == 409 and "不能执行「督办」" in response.json()["detail"]
    assert world_counts() == before
    assert "supervise" not in [t.name for t in allowed_actions(case, loop.leader)]

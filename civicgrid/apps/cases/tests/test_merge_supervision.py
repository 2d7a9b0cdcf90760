"""A leader's 督办 goes on with the case a supervised duplicate is merged into: the main case is put under
supervision (or, already supervised, keeps its own and records the other's words), with a step, its audit entry
and event; the supervising leader hears where the 督办 went, and the merge forms say so beforehand.

The tester's steps: the grid worker reports 暴露垃圾 twice at one point (A, B); the leader supervises B with
"群众反映强烈，务必今日处理"; the dispatcher merges B into A, which B's page offers as 疑似重复."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from civicgrid.apps.cases import duplicates, selectors
from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.builders import user_with

from .conftest import auth, report, world_counts

pytestmark = pytest.mark.django_db

PRESSING = "群众反映强烈，务必今日处理"


def _messages(case: Case, kind: str):
    return Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=kind)


def _post(client, user, case: Case, action: str, expect: int = 200, **body) -> dict:
    response = client.post(f"/api/v1/cases/{case.number}/actions/{action}", body, content_type="application/json",
                           **auth(user))
    assert response.status_code == expect, response.content.decode()
    return response.json()


def _lane(user) -> int:
    return {lane["key"]: lane["count"] for lane in selectors.my_work(user)}["supervised"]


def _page(user, case: Case) -> str:
    c = Client()
    c.force_login(user)
    return c.get(f"/cases/{case.number}/").content.decode()


def test_the_testers_steps_the_supervision_moves_to_the_main_case(loop, api_client):
    main = report(loop)
    merged = report(loop, description="小区门口又有垃圾")
    assert [c.case.pk for c in duplicates.candidates(merged)] == [main.pk]  # offered as 疑似重复
    _post(api_client, loop.leader, merged, "supervise", note=PRESSING)
    assert _lane(loop.leader) == 1
    asked = _messages(merged, "supervise")
    assert asked.exists() and not asked.filter(resolved_at__isnull=False).exists()

    body = _post(api_client, loop.dispatcher, merged, "merge", parent=main.number)
    assert body["status"] == Status.MERGED and body["timeline"][-1]["data"]["supervisions_carried"] == 1

    main.refresh_from_db()
    assert main.is_supervised and main.status == Status.REPORTED
    shown = api_client.get(f"/api/v1/cases/{main.number}", **auth(loop.dispatcher)).json()
    assert shown["is_supervised"] is True
    steps = [s for s in shown["timeline"] if s["action"] in ("merged_in", "merged_supervision")]
    assert [s["action"] for s in steps] == ["merged_in", "merged_supervision"]
    carried = steps[1]
    assert carried["label"] == "并入案卷的督办" and carried["actor_name"] == loop.dispatcher.display_name
    assert PRESSING in carried["note"] and merged.number in carried["note"]
    assert carried["data"]["child"] == merged.number and carried["data"]["moved"] is True
    (supervision,) = carried["data"]["supervisions"]
    original = CaseStep.objects.get(case=merged, action="supervise")
    assert supervision["case"] == merged.number and supervision["step"] == original.pk
    assert supervision["by"] == loop.leader.pk and supervision["note"] == PRESSING and supervision["at"]

    # audited and published as every other step is
    audit = AuditEntry.objects.get(action="cases.merged_supervision", target_id=str(main.pk))
    assert audit.before["is_supervised"] is False and audit.after["is_supervised"] is True
    assert audit.data == {"child": merged.number, "moved": True, "step": carried["id"],
                          "supervisions": [original.pk]}
    assert PRESSING not in str(audit.data)  # the leader's words stay on the step
    event = OutboxEvent.objects.get(topic="case.supervision_merged")
    assert event.aggregate_id == str(main.pk)
    assert event.payload["child"] == merged.number and event.payload["moved"] is True
    assert event.payload["step_id"] == carried["id"]

    # the leader hears where the 督办 went; the main case's intake is asked (not the dispatcher who merged)
    (notice,) = Notification.objects.filter(user=loop.leader, kind="supervision_merged")
    assert notice.title == f"督办案卷已合并：{main.number}" and notice.target_id == str(main.pk)
    assert merged.number in notice.body and "督办随之转入本案卷" in notice.body and notice.body_en
    assert set(_messages(main, "supervise").values_list("user_id", flat=True)) == {loop.street_dispatcher.pk}
    assert PRESSING in _messages(main, "supervise").get().body
    assert set(asked.values_list("resolution", flat=True)) == {"已合并"}  # the merged case's own are settled

    # back in the 督办中的案件 lane (now as the main case), and flagged on its page
    assert _lane(loop.leader) == 1
    c = Client()
    c.force_login(loop.leader)
    listed = c.get("/cases/", {"work": "supervised"}).content.decode()
    assert f"/cases/{main.number}/" in listed and f"/cases/{merged.number}/" not in listed
    assert 'data-step="merged_supervision"' in _page(loop.leader, main)


def test_a_main_case_already_supervised_keeps_its_own_and_records_the_others_words(loop):
    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld2")
    main = report(loop)
    merged = report(loop)
    act(actor=loop.leader, case=main, action="supervise", note="本周内办结")
    act(actor=street_leader, case=merged, action="supervise", note=PRESSING)
    asked_before = list(_messages(main, "supervise").values_list("pk", flat=True))

    act(actor=loop.dispatcher, case=merged, action="merge", parent=main.number)

    main.refresh_from_db()
    assert main.is_supervised
    step = CaseStep.objects.get(case=main, action="merged_supervision")
    assert step.data["moved"] is False and "保留原督办" in step.note and PRESSING in step.note
    assert [(s["by"], s["note"]) for s in step.data["supervisions"]] == [(street_leader.pk, PRESSING)]
    # the main case's own 督办 is as it was: its step, and no second request to the same people
    assert CaseStep.objects.filter(case=main, action="supervise").get().note == "本周内办结"
    assert list(_messages(main, "supervise").values_list("pk", flat=True)) == asked_before
    audit = AuditEntry.objects.get(action="cases.merged_supervision")
    assert audit.before["is_supervised"] is True and audit.after["is_supervised"] is True
    assert OutboxEvent.objects.get(topic="case.supervision_merged").payload["moved"] is False
    (notice,) = Notification.objects.filter(kind="supervision_merged")
    assert notice.user_id == street_leader.pk and "本案卷已在督办中，您的督办意见已记入本案卷" in notice.body


def test_supervision_carried_twice_keeps_where_it_came_from(loop):
    """C (supervised) joins B, which then joins A: A carries C's 督办, named as C's, and its leader hears of both
    merges."""
    first, second, third = report(loop), report(loop), report(loop)
    act(actor=loop.leader, case=third, action="supervise", note=PRESSING)
    act(actor=loop.dispatcher, case=third, action="merge", parent=second.number)
    second.refresh_from_db()
    assert second.is_supervised
    act(actor=loop.dispatcher, case=second, action="merge", parent=first.number)
    first.refresh_from_db()
    assert first.is_supervised
    step = CaseStep.objects.get(case=first, action="merged_supervision")
    assert [(s["case"], s["by"], s["note"]) for s in step.data["supervisions"]] == [(third.number, loop.leader.pk,
                                                                                     PRESSING)]
    assert Notification.objects.filter(user=loop.leader, kind="supervision_merged").count() == 2


def _suspended(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.dispatcher, case=case, action="suspend", reason="纳入明年改造计划")


def test_a_supervised_duplicate_joining_a_case_on_hold_supervises_it_there(loop):
    """The main case is 挂账: it is put under supervision as a leader's 挂账督办 would put it, and its approvers
    and department are asked to press for it (settled by 恢复办理)."""
    main = _suspended(loop)
    merged = report(loop)
    act(actor=loop.leader, case=merged, action="supervise", note=PRESSING)
    act(actor=loop.dispatcher, case=merged, action="merge", parent=main.number)
    main.refresh_from_db()
    assert main.is_supervised and main.status == Status.SUSPENDED
    asked = _messages(main, "supervise_suspended")
    # the command dispatcher merged it; the leader who supervised hears of the merge instead
    assert set(asked.values_list("user_id", flat=True)) == {loop.handler.pk}
    assert asked.get().body == f"挂账中，请推动解决并恢复办理：由合并案卷 {merged.number} 转入：{loop.leader.display_name}：{PRESSING}"
    assert Notification.objects.filter(user=loop.leader, kind="supervision_merged").count() == 1
    assert not _messages(main, "supervise").exists()


def test_a_case_only_overdue_carries_no_supervision(loop):
    """超期自动督办 marks the merged case's own step as late, which stays on its record: the main case is escalated
    by its own clocks, not by another case's lateness."""
    main = _suspended(loop)  # its clocks paused: nothing of its own escalates it meanwhile
    late = report(loop)
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(late.pk), kind="case.intake")
    bus.dispatch_pending()
    sweep(now=clock.due_at + timedelta(seconds=1))
    bus.dispatch_pending()
    late.refresh_from_db()
    assert late.is_supervised and late.is_overdue
    assert CaseStep.objects.filter(case=late, action="auto_supervise").exists()
    act(actor=loop.dispatcher, case=late, action="merge", parent=main.number)
    assert not Case.objects.get(pk=main.pk).is_supervised
    assert not CaseStep.objects.filter(action="merged_supervision").exists()
    assert not Notification.objects.filter(kind="supervision_merged").exists()


def test_a_merge_without_supervision_writes_nothing_of_it(loop):
    main, merged = report(loop), report(loop)
    act(actor=loop.dispatcher, case=merged, action="merge", parent=main.number)
    assert not Case.objects.get(pk=main.pk).is_supervised
    assert not CaseStep.objects.filter(action="merged_supervision").exists()
    assert not AuditEntry.objects.filter(action="cases.merged_supervision").exists()
    assert not OutboxEvent.objects.filter(topic="case.supervision_merged").exists()
    assert "supervisions_carried" not in CaseStep.objects.get(case=merged, action="merge").data


def test_the_same_merge_sent_again_carries_the_supervision_once(loop):
    main, merged = report(loop), report(loop)
    act(actor=loop.leader, case=merged, action="supervise", note=PRESSING)
    for _ in range(2):
        act(actor=loop.dispatcher, case=merged, action="merge", parent=main.number, idempotency_key="merge-once")
    assert CaseStep.objects.filter(case=main, action="merged_supervision").count() == 1
    assert Notification.objects.filter(kind="supervision_merged").count() == 1


def test_a_refused_merge_of_a_supervised_case_changes_nothing(loop, api_client):
    main, merged = report(loop), report(loop)
    act(actor=loop.leader, case=merged, action="supervise", note=PRESSING)
    ended = report(loop)
    act(actor=loop.dispatcher, case=ended, action="void", reason="重复录入")
    before = world_counts()
    with pytest.raises(ValidationFailed, match="已结案、不予受理、已作废或已合并的案卷不能再并入"):
        act(actor=loop.dispatcher, case=merged, action="merge", parent=ended.number)
    with pytest.raises(PermissionDenied):  # a leader supervises, does not merge
        act(actor=loop.leader, case=merged, action="merge", parent=main.number)
    _post(api_client, loop.dispatcher, merged, "merge", expect=400, parent="20990101999999")
    _post(api_client, loop.dispatcher, merged, "merge", expect=422)
    assert world_counts() == before
    assert not Case.objects.get(pk=main.pk).is_supervised and not Case.objects.get(pk=ended.pk).is_supervised
    assert Case.objects.get(pk=merged.pk).status == Status.REPORTED


def test_the_merge_forms_warn_that_the_case_is_under_supervision(loop):
    supervised_main, main = report(loop), report(loop)
    merged = report(loop)
    act(actor=loop.leader, case=supervised_main, action="supervise", note="本周内办结")
    html = _page(loop.dispatcher, merged)
    assert "data-merge-supervised" not in html  # nothing to carry yet

    act(actor=loop.leader, case=merged, action="supervise", note=PRESSING)
    html = _page(loop.dispatcher, merged)
    warnings = html.count("data-merge-supervised")
    assert warnings == 3  # the 合并到主案卷 form and both candidates' forms
    assert f"本案卷正在督办中</strong>：{loop.leader.display_name}：{PRESSING}" in html
    assert f"合并后督办转入 {main.number}" in html
    assert f"{supervised_main.number} 已在督办中：合并后保留其督办" in html
    assert "合并后督办转入主案卷（主案卷已在督办中的" in html
    assert "data-merge-supervised" not in _page(loop.leader, merged)  # only where a merge is offered

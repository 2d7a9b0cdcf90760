"""What may be merged into what: only a case at its first intake joins another (never one sent back or reopened),
and it may join a case still being handled or on hold (挂账), never one whose loop ended."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.apps.cases.services import act, follow_status
from civicgrid.apps.cases.workflow import allowed_actions
from civicgrid.foundation.core.errors import Conflict

from .conftest import auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def _closed(loop, **kw) -> Case:
    case = report(loop, **kw)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    return act(actor=loop.dispatcher, case=case, action="close")


def _sent_back(loop) -> Case:
    case = report(loop, title="门口垃圾没人清")
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.handler, case=case, action="send_back", reason="不属于本部门")


def _reopened(loop) -> Case:
    from civicgrid.apps.cases.services import rate

    case = _closed(loop, title="门口垃圾没人清", actor=loop.resident, source="public")
    rate(follow_token=CaseReporter.objects.get(case=case).follow_token, score=2, comment="没清干净")
    return act(actor=loop.dispatcher, case=case, action="reopen", reason="群众反映仍有垃圾")


def _reopened_self_handled(loop) -> Case:
    case = report(loop, self_handled=True, photos=[("before", jpeg()), ("after", jpeg(color=(9, 9, 9)))])
    return act(actor=loop.dispatcher, case=case, action="reopen", reason="又堆上了")


@pytest.mark.parametrize("history", [_sent_back, _reopened, _reopened_self_handled])
def test_a_case_back_at_dispatch_after_handling_is_not_merged(loop, history, api_client):
    """待派遣 after 退回 or 重新办理 is not intake: its reporters follow their own case's history (ratings, the
    reopen request), which merging into a 待受理 case would take from them. Refused, nothing changed, and not
    offered."""
    case = history(loop)
    parent = report(loop)
    assert case.status == Status.ACCEPTED
    assert "merge" not in [t.name for t in allowed_actions(case, loop.dispatcher)]
    token = CaseReporter.objects.get(original_case=case).follow_token
    before, page = world_counts(), follow_status(token)
    with pytest.raises(Conflict, match="只有尚未派遣过的案卷可以合并") as refused:
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    assert refused.value.status == 409
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/merge", {"parent": parent.number},
                               content_type="application/json", **auth(loop.dispatcher))
    assert response.status_code == 409 and "never dispatched" in response.json()["detail"]
    assert world_counts() == before and follow_status(token) == page
    assert Case.objects.get(pk=case.pk).parent_id is None


def test_a_case_accepted_but_never_dispatched_is_still_merged(loop):
    parent = report(loop)
    case = report(loop, title="门口垃圾没人清")
    act(actor=loop.dispatcher, case=case, action="check_request")
    act(actor=loop.worker, case=case, action="check_result", result="confirmed")
    act(actor=loop.dispatcher, case=case, action="accept")
    assert "merge" in [t.name for t in allowed_actions(case, loop.dispatcher)]
    merged = act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    assert merged.status == Status.MERGED and merged.parent_id == parent.pk


def _suspended(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.leader, case=case, action="suspend", reason="纳入明年改造计划")


def test_a_case_on_hold_is_offered_and_takes_a_duplicate(loop):
    """挂账 is not closed: the problem is known and waits for a budget. A new report of it is offered that case
    and joins it; the case stays on hold, and the newcomer follows it."""
    from civicgrid.apps.cases import duplicates

    parent = _suspended(loop)
    case = report(loop, title="门口垃圾没人清", actor=loop.resident, source="public")
    assert [c.case.pk for c in duplicates.candidates(case)] == [parent.pk]
    merged = act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    assert merged.status == Status.MERGED and merged.parent_id == parent.pk
    parent.refresh_from_db()
    assert parent.status == Status.SUSPENDED
    page = follow_status(CaseReporter.objects.get(original_case=case).follow_token)
    assert page["number"] == parent.number and page["status"] == Status.SUSPENDED and page["merged"]


@pytest.mark.parametrize("ended", ["close", "void", "merge"])
def test_a_case_whose_loop_ended_takes_no_duplicate(loop, ended):
    from civicgrid.foundation.core.errors import ValidationFailed

    if ended == "close":
        parent = _closed(loop)
    else:
        parent = report(loop)
        inputs = {"reason": "重复"} if ended == "void" else {"parent": report(loop).number}
        act(actor=loop.dispatcher, case=parent, action=ended, **inputs)
    case = report(loop, title="门口垃圾没人清")
    before = world_counts()
    with pytest.raises(ValidationFailed, match="已结案、不予受理、已作废或已合并的案卷不能再并入"):
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    assert world_counts() == before


def test_a_merged_reporter_follows_their_own_report_then_the_case_they_joined(loop, api_client):
    """The link of a merged report shows when that person reported (not the parent's report time), their report
    and the merge naming the case it joined, then that case's steps since; the parent's own reporter sees the
    parent's history, without the merge."""
    parent = report(loop)
    Case.objects.filter(pk=parent.pk).update(reported_at=parent.reported_at - timedelta(hours=3))
    parent.refresh_from_db()
    act(actor=loop.dispatcher, case=parent, action="accept")
    child = report(loop, title="门口垃圾没人清", actor=loop.resident, source="public")
    act(actor=loop.dispatcher, case=child, action="merge", parent=parent.number)
    act(actor=loop.dispatcher, case=parent, action="dispatch", department=loop.dept.pk)

    token = CaseReporter.objects.get(original_case=child).follow_token
    page = follow_status(token)
    assert page["number"] == parent.number and page["merged"] is True
    assert page["reported_at"] == child.reported_at != parent.reported_at
    assert [s["action"] for s in page["steps"]] == ["report", "merge", "dispatch"]
    assert page["steps"][0]["at"] == child.reported_at and page["steps"][1]["merged_into"] == parent.number
    body = api_client.get(f"/api/v1/follow/{token}").json()
    assert [s["action"] for s in body["steps"]] == ["report", "merge", "dispatch"]
    assert body["steps"][1]["merged_into"] == parent.number
    assert abs(datetime.fromisoformat(body["reported_at"]) - child.reported_at) < timedelta(milliseconds=1)

    own = follow_status(CaseReporter.objects.get(original_case=parent).follow_token)
    assert own["reported_at"] == parent.reported_at and own["merged"] is False
    assert [s["action"] for s in own["steps"]] == ["report", "accept", "dispatch"]
    assert all(s["merged_into"] is None for s in own["steps"])


def _merged_twice(loop):
    """A merged into B, then B into C; C is dispatched afterwards."""
    c = report(loop)
    act(actor=loop.dispatcher, case=c, action="accept")
    b = report(loop, title="路口垃圾堆放", actor=loop.resident, source="public")
    act(actor=loop.dispatcher, case=b, action="accept")
    a = report(loop, title="门口垃圾没人清", actor=loop.resident, source="public")
    act(actor=loop.dispatcher, case=a, action="merge", parent=b.number)
    act(actor=loop.dispatcher, case=b, action="merge", parent=c.number)
    act(actor=loop.dispatcher, case=c, action="dispatch", department=loop.dept.pk)
    return a, b, c


def test_a_report_merged_twice_leads_to_the_case_that_carries_it_with_both_merges(loop, api_client):
    a, b, c = _merged_twice(loop)
    token = CaseReporter.objects.get(original_case=a).follow_token
    page = follow_status(token)
    assert page["number"] == c.number and page["status"] == Status.DISPATCHED and page["merged"] is True
    assert page["reported_at"] == a.reported_at
    # A's report and its 合并 into B; B's 合并 into C (not B's own report or 受理 before A joined); C's 派遣
    assert [(s["action"], s["merged_into"]) for s in page["steps"]] == [
        ("report", None), ("merge", b.number), ("merge", c.number), ("dispatch", None)]
    body = api_client.get(f"/api/v1/follow/{token}").json()
    assert body["number"] == c.number and body["status"] == "dispatched"
    assert [(s["action"], s["merged_into"]) for s in body["steps"]] == [
        ("report", None), ("merge", b.number), ("merge", c.number), ("dispatch", None)]
    # B's own reporter: B's report, 受理, its 合并 into C, then C's 派遣
    own_b = follow_status(CaseReporter.objects.get(original_case=b).follow_token)
    assert own_b["number"] == c.number
    assert [(s["action"], s["merged_into"]) for s in own_b["steps"]] == [
        ("report", None), ("accept", None), ("merge", c.number), ("dispatch", None)]

"""Every transition of the loop through the API, with the steps, clocks, facts, audit, events and messages each
leaves behind."""

from __future__ import annotations

import base64

import pytest

from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock

from .conftest import auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Api:
    """Posts actions as different users (one token each)."""

    def __init__(self, client):
        self.client = client
        self.headers = {}

    def _h(self, user):
        if user.pk not in self.headers:
            self.headers[user.pk] = auth(user)
        return self.headers[user.pk]

    def act(self, user, case, action, expect=200, **body):
        response = self.client.post(f"/api/v1/cases/{case.number}/actions/{action}", body,
                                    content_type="application/json", **self._h(user))
        assert response.status_code == expect, response.content.decode()
        return response.json()

    def get(self, user, case):
        return self.client.get(f"/api/v1/cases/{case.number}", **self._h(user)).json()


def inbox(user, kind):
    return Notification.objects.filter(user=user, kind=kind).count()


def clock(case, kind):
    return SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=kind).order_by("-id").first()


def test_the_whole_loop_with_check_send_back_extension_rework_rating_and_reopen(loop, api_client):
    api = Api(api_client)
    case = report(loop, reporter_phone="13912345678")
    token = CaseReporter.objects.get(case=case).follow_token

    # 核实: dispatched to the grid worker, confirmed; intake waits meanwhile
    body = api.act(loop.dispatcher, case, "check_request")
    assert body["status"] == "checking" and inbox(loop.worker, "check_task") == 1
    assert clock(case, "case.intake").state == "paused"
    body = api.act(loop.worker, case, "check_result", result="confirmed", note="现场属实")
    assert body["status"] == "reported" and body["checked_on_time"] is True
    assert clock(case, "case.intake").state == "running"

    # 立案 and 派遣 to a department other than the suggested one: a correction for the router
    body = api.act(loop.dispatcher, case, "accept")
    assert body["status"] == "accepted" and body["accepted_on_time"] is True
    assert [a["name"] for a in body["allowed_actions"]][:1] == ["dispatch"]
    body = api.act(loop.dispatcher, case, "dispatch", department=loop.other_dept.pk)
    step = body["timeline"][-1]
    assert step["data"]["correction"] is True and step["data"]["suggested_department"] == loop.dept.pk
    assert body["dispatched_on_time"] is True and inbox(loop.other_handler, "new_task") == 1

    # 退回 with a routing-correction proposal; back to dispatch, the dispatchers are told
    body = api.act(loop.other_handler, case, "send_back", reason="不属本部门职责", correct_rule=True,
                   proposed_department=loop.dept.pk)
    assert body["status"] == "accepted" and body["department"] is None and body["send_back_count"] == 1
    assert body["timeline"][-1]["data"]["routing_correction"]["proposed_department"] == loop.dept.pk
    assert OutboxEvent.objects.filter(topic="case.routing_correction_proposed").count() == 1
    assert inbox(loop.dispatcher, "sent_back") == 1 and inbox(loop.street_dispatcher, "sent_back") == 1
    assert api.client.get(f"/api/v1/cases/{case.number}", **api._h(loop.other_handler)).status_code == 404

    body = api.act(loop.dispatcher, case, "dispatch", department=loop.dept.pk)
    first_deadline = body["deadline"]
    assert body["status"] == "dispatched" and first_deadline and inbox(loop.handler, "new_task") == 1

    # 处置: start, a progress note with a photo, an extension asked and approved
    assert api.act(loop.handler, case, "start")["status"] == "handling"
    body = api.act(loop.handler, case, "progress", note="已安排保洁", photos=[{"kind": "progress",
                                                                          "content_base64": b64(jpeg())}])
    assert body["status"] == "handling" and body["timeline"][-1]["attachments"]
    body = api.act(loop.handler, case, "request_extension", reason="需调度清运车", hours=8)
    assert body["extension_pending"] is True and inbox(loop.dispatcher, "extension_request") == 1
    assert "request_extension" not in [a["name"] for a in api.get(loop.handler, case)["allowed_actions"]]
    body = api.act(loop.dispatcher, case, "decide_extension", decision="approve")
    assert body["extension_pending"] is False and body["deadline"] > first_deadline
    assert clock(case, "case.handle").due_at.isoformat()[:16] == Case.objects.get(pk=case.pk).deadline.isoformat()[:16]

    # 反馈 → 核查 fails (返工) → 反馈 again → 核查 with a photo → 结案
    body = api.act(loop.handler, case, "report_back", note="已清理", photos=[{"kind": "after",
                                                                       "content_base64": b64(jpeg())}])
    assert body["status"] == "handled" and body["handled_on_time"] is True and inbox(loop.worker, "verify_task") == 1
    body = api.act(loop.worker, case, "rework", reason="仍有残留")
    assert body["status"] == "dispatched" and body["rework_count"] == 1 and body["department"]["id"] == loop.dept.pk
    assert clock(case, "case.handle").state == "running" and inbox(loop.handler, "rework") == 1
    api.act(loop.handler, case, "report_back", note="已彻底清理")
    body = api.act(loop.worker, case, "verify", photos=[{"kind": "verify", "content_base64": b64(jpeg())}])
    assert body["status"] == "verified" and body["verified_on_time"] is True
    body = api.act(loop.dispatcher, case, "close")
    assert body["status"] == "closed" and body["closed_on_time"] is True and body["closed_at"]
    assert not SlaClock.objects.filter(target_id=str(case.pk), state__in=["running", "paused"]).exists()

    # every action left a step, an audit entry and an event
    actions = [s["action"] for s in body["timeline"]]
    assert actions == ["report", "check_request", "check_result", "accept", "dispatch", "send_back", "dispatch",
                       "start", "progress", "request_extension", "decide_extension", "report_back", "rework",
                       "report_back", "verify", "close"]
    assert AuditEntry.objects.filter(target_type="cases.case", target_id=str(case.pk)).count() == len(actions)
    assert OutboxEvent.objects.filter(aggregate_id=str(case.pk), topic="case.closed").count() == 1
    # the reporter was told by SMS at each public milestone, the closing one with the link to rate
    sms = list(OutgoingMessage.objects.filter(channel="sms").order_by("id").values_list("body", flat=True))
    assert len(sms) >= 5 and token in sms[-1] and "已办结" in sms[-1]

    # the reporter's link: status without personal data, one rating, reopen
    status = api_client.get(f"/api/v1/follow/{token}")
    assert status.status_code == 200 and status.json()["can_rate"] and status.json()["status"] == "closed"
    assert "1391" not in status.content.decode() and case.title not in status.content.decode()
    rated = api_client.post(f"/api/v1/follow/{token}/rating", {"score": 5, "comment": "很及时"},
                            content_type="application/json")
    assert rated.status_code == 200 and rated.json()["rating"] == 5
    assert Case.objects.get(pk=case.pk).satisfaction == 5
    again = api_client.post(f"/api/v1/follow/{token}/rating", {"score": 1}, content_type="application/json")
    assert again.status_code == 409
    reopened = api_client.post(f"/api/v1/follow/{token}/reopen", {"reason": "又有人倾倒"},
                               content_type="application/json")
    assert reopened.status_code == 200 and reopened.json()["status"] == "accepted"
    case.refresh_from_db()
    assert case.reopen_count == 1 and case.closed_at is None and case.suggested_department == loop.dept
    # the dispatchers are asked to dispatch it again; the department hears of it once it is dispatched to them
    assert inbox(loop.dispatcher, "reopened") == 1 and inbox(loop.handler, "reopened") == 0
    assert case.steps.last().actor_name == "reporter"


def test_suspend_pauses_the_clocks_and_unsuspend_resumes_where_it_was(loop, api_client):
    api = Api(api_client)
    case = report(loop)
    api.act(loop.dispatcher, case, "accept")
    deadline = api.act(loop.dispatcher, case, "dispatch", department=loop.dept.pk)["deadline"]
    body = api.act(loop.leader, case, "suspend", reason="等待专项资金")
    assert body["status"] == "suspended" and clock(case, "case.handle").state == "paused"
    body = api.act(loop.dispatcher, case, "unsuspend")
    assert body["status"] == "dispatched" and clock(case, "case.handle").state == "running"
    assert body["deadline"] >= deadline


def test_supervision_by_a_leader_reaches_the_department(loop, api_client):
    api = Api(api_client)
    case = report(loop)
    api.act(loop.dispatcher, case, "accept")
    api.act(loop.dispatcher, case, "dispatch", department=loop.dept.pk)
    api.act(loop.leader, case, "supervise", expect=422)
    body = api.act(loop.leader, case, "supervise", note="请加快处置")
    assert body["is_supervised"] is True and inbox(loop.handler, "supervise") == 1
    listed = api_client.get("/api/v1/cases", {"supervised": "true"}, **api._h(loop.leader)).json()
    assert [i["number"] for i in listed["items"]] == [case.number]


def test_refuse_and_void_stop_the_clocks_and_tell_the_reporter(loop, api_client):
    api = Api(api_client)
    refused, voided = report(loop, reporter_phone="13700000001"), report(loop, title="重复上报")
    body = api.act(loop.dispatcher, refused, "refuse", reason="不属于受理范围")
    assert body["status"] == "refused"
    assert "不予受理" in OutgoingMessage.objects.order_by("-id").first().body
    api.act(loop.dispatcher, voided, "accept")
    assert api.act(loop.dispatcher, voided, "void", reason="误报")["status"] == "voided"
    assert not SlaClock.objects.filter(state__in=["running", "paused"]).exists()


def test_a_resident_reopens_their_own_case_by_its_link_within_the_window(loop, api_client, settings):
    """A resident reads no case file, so takes no action on one: their follow link reopens the case."""
    api = Api(api_client)
    case = report(loop, actor=loop.resident, source="public")
    token = CaseReporter.objects.get(case=case).follow_token
    for user, action, extra in [(loop.dispatcher, "accept", {}), (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                (loop.handler, "report_back", {"note": "已处理"}),
                                (loop.worker, "verify", {"photos": [{"content_base64": b64(jpeg())}]}),
                                (loop.dispatcher, "close", {})]:
        api.act(user, case, action, **extra)
    before = world_counts()
    api.act(loop.resident, case, "reopen", expect=403, reason="没修好")
    assert world_counts() == before

    def reopen():
        return api_client.post(f"/api/v1/follow/{token}/reopen", {"reason": "没修好"}, content_type="application/json")

    assert api_client.get(f"/api/v1/follow/{token}").json()["can_reopen"] is True
    settings.CIVICGRID_REOPEN_DAYS = 0
    Case.objects.filter(pk=case.pk).update(closed_at=Case.objects.get(pk=case.pk).closed_at.replace(year=2020))
    before = world_counts()
    assert reopen().status_code == 409
    assert world_counts() == before
    settings.CIVICGRID_REOPEN_DAYS = 7
    Case.objects.filter(pk=case.pk).update(closed_at=Case.objects.get(pk=case.pk).reported_at)
    answer = reopen()
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"


def test_dispatch_can_correct_the_routing_rule_for_the_next_cases(loop, api_client):
    from civicgrid.apps.categories.models import RoutingRule

    api = Api(api_client)
    case = report(loop)
    api.act(loop.dispatcher, case, "accept")
    body = api.act(loop.dispatcher, case, "dispatch", department=loop.other_dept.pk, correct_rule=True)
    rule = RoutingRule.objects.get(pk=body["timeline"][-1]["data"]["rule_corrected"]["rule"])
    assert rule.department == loop.other_dept and rule.region_code == case.region_code[:9]
    assert report(loop).suggested_department == loop.other_dept
    # a street dispatcher may dispatch but not manage rules: the whole dispatch is refused
    second = report(loop)
    api.act(loop.street_dispatcher, second, "accept")
    api.act(loop.street_dispatcher, second, "dispatch", expect=403, department=loop.dept.pk, correct_rule=True)
    assert Case.objects.get(pk=second.pk).status == Status.ACCEPTED


def test_a_rejected_extension_keeps_the_deadline_and_an_unconfirmed_check_goes_back_to_intake(loop, api_client):
    api = Api(api_client)
    case = report(loop)
    api.act(loop.dispatcher, case, "check_request")
    body = api.act(loop.worker, case, "check_result", result="unconfirmed")
    assert body["status"] == "reported" and body["timeline"][-1]["data"]["result"] == "unconfirmed"
    api.act(loop.worker, case, "check_result", expect=409, result="confirmed")
    api.act(loop.dispatcher, case, "accept")
    deadline = api.act(loop.dispatcher, case, "dispatch", department=loop.dept.pk)["deadline"]
    handler_buttons = [a["name"] for a in api.get(loop.handler, case)["allowed_actions"]]
    assert handler_buttons == ["start", "progress", "report_back", "request_extension", "send_back"]
    assert api.get(loop.worker, case)["allowed_actions"] == []
    api.act(loop.handler, case, "request_extension", reason="等待配件", hours=4)
    api.act(loop.dispatcher, case, "decide_extension", expect=400, decision="maybe")
    # a refusal says why: without the approver's opinion it is refused, a missing input (422) as any other
    # missing reason, and nothing changes
    before = world_counts()
    body = api.act(loop.dispatcher, case, "decide_extension", expect=422, decision="reject")
    assert body["field"] == "note" and body["code"] == "missing" and "不同意延期须填写审批意见" in body["detail"] and world_counts() == before
    body = api.act(loop.dispatcher, case, "decide_extension", decision="reject", note="可先行处置")
    assert body["deadline"] == deadline and body["extension_pending"] is False
    assert body["timeline"][-1]["note"] == "不同意延期 4 小时：可先行处置"
    assert body["timeline"][-1]["data"].items() >= {"decision": "reject", "requested_hours": 4,
                                                     "opinion": "可先行处置"}.items()
    # the approver's words follow the decision on the step (they were once dropped for the default text)
    api.act(loop.handler, case, "request_extension", reason="配件仍未到", hours=6)
    body = api.act(loop.dispatcher, case, "decide_extension", decision="reject", note="请先用临时配件修复")
    assert body["timeline"][-1]["note"] == "不同意延期 6 小时：请先用临时配件修复"
    assert body["deadline"] == deadline and inbox(loop.handler, "extension_decided") == 2
    told = Notification.objects.filter(user=loop.handler, kind="extension_decided").order_by("-id").first()
    assert "不同意延期 6 小时：请先用临时配件修复" in told.body  # the handler hears why


def test_a_rejection_takes_no_hours_whatever_the_client_sends(loop, api_client):
    """`hours` is the approval's: sent with a rejection (above those asked for, or no valid number at all) it is
    neither checked nor recorded, and the deadline stays."""
    api = Api(api_client)
    case = report(loop)
    api.act(loop.dispatcher, case, "accept")
    deadline = api.act(loop.dispatcher, case, "dispatch", department=loop.dept.pk)["deadline"]
    for hours in (5, 0):
        api.act(loop.handler, case, "request_extension", reason="等待配件", hours=3)
        body = api.act(loop.dispatcher, case, "decide_extension", decision="reject", hours=hours, note="可先行处置")
        step = body["timeline"][-1]
        assert body["deadline"] == deadline and body["extension_pending"] is False
        assert step["note"] == "不同意延期 3 小时：可先行处置"
        assert {k: v for k, v in step["data"].items() if k != "note_en"} == {
            "decision": "reject", "hours": 3, "requested_hours": 3, "opinion": "可先行处置"}

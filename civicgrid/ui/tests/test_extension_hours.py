"""延期 hours are hours of the clock's own time (working hours for a limit in working time): the form says so,
and a refused request (0, too many) says the real range and changes nothing."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases import clocks
from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report, world_counts  # noqa: F401
from civicgrid.apps.categories.models import LimitMode
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.notify.models import Notification

pytestmark = pytest.mark.django_db


def _handling(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.handler, case=case, action="start")


def _label(client, case) -> str:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'data-action-form="request_extension".*?</form>', html, re.S).group(0)
    return re.search(r'<label>([^<*]+?)(?: \*)?<input type="number" name="hours"', form).group(1)


def test_the_form_asks_for_working_hours_or_natural_hours_as_the_clock_runs(loop, client_for):
    case = _handling(loop)  # 暴露垃圾: 4 working hours
    assert _label(client_for(loop.handler), case) == "延期时长（工作小时）"
    loop.cat.time_limit_mode = LimitMode.NATURAL_HOURS
    loop.cat.save()
    assert _label(client_for(loop.handler), Case.objects.get(pk=case.pk)) == "延期时长（自然小时）"


@pytest.mark.parametrize("hours", ["0", "-1", "0.0001", "1.25", str(clocks.MAX_EXTENSION_HOURS + 1), "nan", "inf"])
def test_a_refused_request_states_the_real_range_and_changes_nothing(loop, client_for, hours):
    case = _handling(loop)
    before = world_counts()
    response = client_for(loop.handler).post(reverse("ui:case_act", args=[case.number, "request_extension"]),
                                             {"reason": "需调度清运车", "hours": hours})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"延期时长须为 0.5 小时的整数倍，且不超过 {clocks.MAX_EXTENSION_HOURS} 小时（工作小时" in html and "0–" not in html
    fresh = Case.objects.get(pk=case.pk)
    assert not fresh.extension_pending and fresh.extension_hours is None
    assert world_counts() == before and not Notification.objects.filter(kind="extension_request").exists()


def test_the_clock_refuses_a_zero_extension_with_the_same_words(loop):
    case = _handling(loop)
    deadline = case.deadline
    with pytest.raises(ValidationFailed) as refused:
        clocks.extend(case, clocks.HANDLE, 0, case.dispatched_at)
    assert refused.value.message == clocks.EXTENSION_RANGE and "0.5 小时的整数倍" in refused.value.message
    assert Case.objects.get(pk=case.pk).deadline == deadline


def _form(client, case, action: str) -> str | None:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    found = re.search(rf'data-action-form="{action}".*?</form>', html, re.S)
    return found.group(0) if found else None


def test_past_the_deadline_the_page_offers_no_extension_and_refuses_one(loop, client_for):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.foundation.sla.models import SlaClock

    case = _handling(loop)
    handler = client_for(loop.handler)
    assert _form(handler, case, "request_extension") is not None
    # the clock is the truth: its deadline passed a minute ago
    SlaClock.objects.filter(target_id=str(case.pk), kind=clocks.HANDLE).update(
        due_at=timezone.now() - timedelta(minutes=1), warn_at=timezone.now() - timedelta(minutes=2))
    assert _form(handler, case, "request_extension") is None and _form(handler, case, "report_back") is not None
    before = world_counts()
    response = handler.post(reverse("ui:case_act", args=[case.number, "request_extension"]),
                            {"reason": "需调度清运车", "hours": "8"})
    assert response.status_code == 409 and "延期须在处置期限内申请" in response.content.decode()
    assert world_counts() == before and not Case.objects.get(pk=case.pk).extension_pending


def test_the_decision_form_takes_the_hours_granted_and_the_opinion(loop, client_for):
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    leader = client_for(loop.leader)
    form = _form(leader, case, "decide_extension")
    assert re.search(r'<label>批准延期时长（工作小时，不填为按申请批准）<input type="number" name="hours"', form)
    assert re.search(r'<label>审批意见（不同意时必填）<textarea name="note"', form)
    url = reverse("ui:case_act", args=[case.number, "decide_extension"])
    before = world_counts()
    # hours beyond those asked for are invalid (400); a rejection without its opinion misses a required input,
    # answered 422 as every other missing reason (退回, 作废, 重新办理 …) and the missing decision itself are,
    # the page naming the input as it names any missing one
    for posted, words, status in (({"decision": "approve", "hours": "9"}, "不能超过申请的 8 小时", 400),
                                  ({"decision": "reject"}, "请填写「审批意见（不同意时必填）」", 422),
                                  ({"decision": "reject", "note": "  "}, "请填写「审批意见（不同意时必填）」", 422),
                                  ({"decision": ""}, "请填写「审批结果」", 422)):
        response = leader.post(url, posted)
        assert response.status_code == status and words in response.content.decode(), posted
        assert world_counts() == before
    from django.test import Client

    from civicgrid.apps.cases.tests.conftest import auth

    api = Client().post(f"/api/v1/cases/{case.number}/actions/decide_extension", {"decision": "reject"},
                        content_type="application/json", **auth(loop.leader))
    assert api.status_code == 422 and api.json()["code"] == "missing" and api.json()["field"] == "note"
    assert world_counts() == before
    deadline = Case.objects.get(pk=case.pk).deadline
    assert leader.post(url, {"decision": "approve", "hours": "2", "note": "先延 2 小时"}).status_code == 302
    fresh = Case.objects.get(pk=case.pk)
    step = fresh.steps.get(action="decide_extension")
    assert step.note == "同意延期 2 小时（申请 8 小时）：先延 2 小时" and step.data["hours"] == 2
    assert fresh.deadline > deadline and not fresh.extension_pending
    # the timeline shows the decision with the hours and the opinion
    assert "同意延期 2 小时（申请 8 小时）：先延 2 小时" in leader.get(
        reverse("ui:case_detail", args=[case.number])).content.decode()


def test_a_rejection_ignores_the_hours_box(loop, client_for):
    """不同意 sent from the form with hours still typed in (more than were asked for, as an approval would be
    refused): the hours are not the decision's, so the rejection goes through, moves nothing and keeps none."""
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=3)
    dispatcher = client_for(loop.dispatcher)
    form = _form(dispatcher, case, "decide_extension")
    assert re.search(r'<input type="number" name="hours"[^>]*aria-describedby="hint-decide_extension-hours"', form)
    assert '<p class="hint" id="hint-decide_extension-hours" data-field-hint="hours">仅在同意时使用；不同意时不计此项。' in form
    deadline = Case.objects.get(pk=case.pk).deadline
    response = dispatcher.post(reverse("ui:case_act", args=[case.number, "decide_extension"]),
                               {"decision": "reject", "hours": "5", "note": "请先行处置"})
    assert response.status_code == 302, response.content.decode()
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.deadline == deadline and not fresh.extension_pending and fresh.extension_hours is None
    step = fresh.steps.get(action="decide_extension")
    assert step.note == "不同意延期 3 小时：请先行处置"
    assert step.data["decision"] == "reject" and step.data["hours"] == 3 and step.data["requested_hours"] == 3
    assert 5 not in step.data.values() and "new_deadline" not in step.data
    told = Notification.objects.get(user=loop.handler, kind="extension_decided")
    assert told.body == "不同意延期 3 小时：请先行处置"


def test_an_approval_still_refuses_more_hours_than_asked_for(loop, client_for):
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=3)
    before = world_counts()
    response = client_for(loop.dispatcher).post(reverse("ui:case_act", args=[case.number, "decide_extension"]),
                                                {"decision": "approve", "hours": "5", "note": "同意"})
    assert response.status_code == 400 and "批准的延期时长不能超过申请的 3 小时" in response.content.decode()
    assert world_counts() == before and Case.objects.get(pk=case.pk).extension_pending


def _timeline_step(client, case, action: str) -> list[str]:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    return re.findall(rf'<li data-step="{action}">.*?</li>', html, re.S)


def test_the_request_step_shows_the_hours_asked_for_after_the_request_is_gone(loop, client_for):
    """申请延期's note is the reason only: the step names the hours asked for, which stay on the timeline when the
    request is then withdrawn by the handling itself (处置反馈) or granted in full (no 「申请 N 小时」 on the decision)."""
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=2.5)
    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    act(actor=loop.handler, case=case, action="request_extension", reason="设备故障", hours=3)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")  # withdraws the second request
    assert not Case.objects.get(pk=case.pk).extension_pending
    handler = client_for(loop.handler)
    granted, withdrawn = _timeline_step(handler, case, "request_extension")
    assert 'data-hours-asked="2.5">申请延期 2.5 小时</p>' in granted and "需调度清运车" in granted
    assert 'data-hours-asked="3">申请延期 3 小时</p>' in withdrawn and "设备故障" in withdrawn
    # the other steps say nothing of hours asked for
    assert "data-hours-asked" not in "".join(_timeline_step(handler, case, "report_back"))
    handler.cookies["django_language"] = "en"
    english = _timeline_step(handler, case, "request_extension")[1]
    assert "3 hours of extension asked for" in english


def test_a_request_longer_than_twice_the_categorys_limit_is_refused_naming_the_most(loop, client_for):
    """One 延期 is at most twice the category's handling limit (暴露垃圾: 4 working hours, so 8; a limit in working
    days counts the calendar's 7-hour days): the form says the most, and the page and the API refuse more with
    the maximum named, changing nothing."""
    from django.test import Client

    from civicgrid.apps.cases.tests.conftest import auth

    case = _handling(loop)
    assert clocks.extension_max_hours(case) == 8
    handler = client_for(loop.handler)
    form = _form(handler, case, "request_extension")
    assert 'max="8"' in form and "最多 8 小时（本类事件处置时限的两倍）" in form
    before = world_counts()
    response = handler.post(reverse("ui:case_act", args=[case.number, "request_extension"]),
                            {"reason": "需调度清运车", "hours": "8.5"})
    html = response.content.decode()
    assert response.status_code == 400 and "延期时长不能超过本类事件处置时限的两倍，最多 8 小时（工作小时）" in html
    api = Client().post(f"/api/v1/cases/{case.number}/actions/request_extension", {"reason": "需调度清运车", "hours": 40},
                        content_type="application/json", **auth(loop.handler))
    assert api.status_code == 400 and api.json()["field"] == "hours" and "最多 8 小时" in api.json()["detail"]
    fresh = Case.objects.get(pk=case.pk)
    assert not fresh.extension_pending and fresh.extension_hours is None
    assert world_counts() == before and not Notification.objects.filter(kind="extension_request").exists()
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)  # the most: taken
    loop.cat.time_limit_mode, loop.cat.time_limit_amount = LimitMode.WORKING_DAYS, 2
    loop.cat.save()
    assert clocks.extension_max_hours(Case.objects.get(pk=case.pk)) == 28  # 2 days of 7 working hours, twice
    loop.cat.time_limit_mode, loop.cat.time_limit_amount = LimitMode.NATURAL_HOURS, 2000
    loop.cat.save()
    assert clocks.extension_max_hours(Case.objects.get(pk=case.pk)) == clocks.MAX_EXTENSION_HOURS

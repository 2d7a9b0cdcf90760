"""Reporters' status messages link to the follow page people open (`/follow/<token>/`), not the JSON behind it."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases import recipients
from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.cases.services import act
from civicgrid.foundation.notify.models import Notification, OutgoingMessage

from .conftest import NEIGHBOUR_POINT, close_loop, jpeg, report

pytestmark = pytest.mark.django_db


def test_the_closing_message_links_to_the_follow_page(loop, client, settings):
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://grid.example.cn/"
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    token = CaseReporter.objects.get(original_case=case).follow_token
    for actor, action, inputs in ((loop.dispatcher, "accept", {}), (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.handler, "report_back", {"note": "已清理"}),
                                  (loop.worker, "verify", {"photos": [jpeg()]}), (loop.dispatcher, "close", {})):
        case = act(actor=actor, case=case, action=action, **inputs)
    link = f"https://grid.example.cn/follow/{token}/"
    assert recipients.follow_url(token) == link
    sms = OutgoingMessage.objects.filter(channel="sms").order_by("-id").first()
    inbox = Notification.objects.filter(user=loop.resident).order_by("-id").first()
    for body in (sms.body, inbox.body):
        assert link in body and "/api/" not in body
    # the link opens the human page
    page = client.get(f"/follow/{token}/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert case.number in page.content.decode()


def test_a_reopened_case_is_rated_again_once_closed_again_and_once_per_closing(loop):
    from civicgrid.apps.cases.services import follow_status, rate, reopen_by_token
    from civicgrid.foundation.core.errors import Conflict

    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    rate(follow_token=token, score=2, comment="不彻底")
    with pytest.raises(Conflict, match="您已评价过本次办结"):
        rate(follow_token=token, score=5)
    case = reopen_by_token(follow_token=token, reason="又堆满了")
    assert follow_status(token)["can_rate"] is False  # open again: nothing to rate yet
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = close_loop(loop, case)
    assert follow_status(token)["can_rate"] is True
    rate(follow_token=token, score=4, comment="这次清干净了")
    case.refresh_from_db()
    assert case.satisfaction == 4 and follow_status(token)["rating"] == 4


def test_staff_do_not_rate_their_own_reports_the_resident_they_forward_the_link_to_does(loop, client):
    """The grid worker's link (of a case fixed on the spot, say) is for the resident: signed in as the worker,
    the page offers no rating and the service refuses it; the same link opened by anyone else rates."""
    from civicgrid.apps.cases.services import follow_status, rate
    from civicgrid.foundation.core.errors import Conflict

    case = report(loop, self_handled=True, photos=[("after", jpeg())])
    token = CaseReporter.objects.get(original_case=case).follow_token
    assert follow_status(token, viewer=loop.worker)["can_rate"] is False
    with pytest.raises(Conflict, match="工作人员不能通过报告人的查询链接评价"):
        rate(follow_token=token, score=5, actor=loop.worker)
    client.force_login(loop.worker)
    assert 'id="rate"' not in client.get(f"/follow/{token}/").content.decode()
    case.refresh_from_db()
    assert case.satisfaction is None
    client.logout()
    assert 'id="rate"' in client.get(f"/follow/{token}/").content.decode()
    assert follow_status(token)["can_rate"] is True
    rate(follow_token=token, score=4)
    case.refresh_from_db()
    assert case.satisfaction == 4


def _hotline_closed(loop):
    """A 12345 ticket the dispatcher registered for a caller (no reporter account), taken to 结案."""
    case = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-20261201-0001",
                  caller_name="张先生", callback_phone="13812345678")
    return close_loop(loop, case), CaseReporter.objects.get(original_case=case).follow_token


def test_the_operator_who_registered_a_ticket_neither_rates_nor_reopens_through_the_callers_link(loop, client):
    """The hotline reporter row has no account (the operator is not the caller): signed in, the operator is
    refused anyway, nothing changes, and the caller's link still rates and reopens."""
    from civicgrid.apps.cases.services import follow_status, rate, reopen_by_token
    from civicgrid.foundation.core.errors import Conflict

    from .conftest import world_counts

    case, token = _hotline_closed(loop)
    assert CaseReporter.objects.get(follow_token=token).user_id is None
    assert follow_status(token, viewer=loop.dispatcher)["can_rate"] is False
    assert follow_status(token, viewer=loop.dispatcher)["can_reopen"] is False
    before = world_counts()
    for staff in (loop.dispatcher, loop.street_dispatcher, loop.leader):  # who registered it, and any staff
        with pytest.raises(Conflict, match="工作人员不能通过报告人的查询链接评价或申请重新办理"):
            rate(follow_token=token, score=5, comment="很满意", actor=staff)
        with pytest.raises(Conflict, match="工作人员不能通过报告人的查询链接"):
            reopen_by_token(follow_token=token, reason="再看看", actor=staff)
    assert world_counts() == before
    # the pages say so, offer no form, and a posted form changes nothing
    client.force_login(loop.dispatcher)
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'id="rate"' not in page and 'id="reopen"' not in page and "data-staff-viewer" in page
    refused = client.post(f"/follow/{token}/rate/", {"score": "5", "comment": "很满意"})
    assert refused.status_code == 409 and "工作人员不能通过报告人的查询链接" in refused.content.decode()
    assert client.post(f"/follow/{token}/reopen/", {"reason": "再看看"}).status_code == 409
    assert world_counts() == before
    # the API's session-signed calls too
    answer = client.post(f"/api/v1/follow/{token}/rating", {"score": 5}, content_type="application/json")
    assert answer.status_code == 409
    assert world_counts() == before
    # the caller (no account) still rates, as the reporter
    client.logout()
    assert 'id="rate"' in client.get(f"/follow/{token}/").content.decode()
    rate(follow_token=token, score=4, comment="修好了")
    case.refresh_from_db()
    assert case.satisfaction == 4
    assert case.steps.get(action="rate").actor_name == "reporter"


def test_a_resident_signed_in_rates_their_own_report_through_its_link(loop, client):
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    client.force_login(loop.resident)
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'id="rate"' in page and 'id="reopen"' in page and "data-staff-viewer" not in page
    assert client.post(f"/follow/{token}/rate/", {"score": "5"}).status_code == 302
    case.refresh_from_db()
    assert case.satisfaction == 5


def test_a_rating_without_a_score_keeps_the_comment_typed(loop, client):
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    response = client.post(f"/follow/{token}/rate/", {"comment": "处理得很及时，谢谢"})
    assert response.status_code == 400
    assert ">处理得很及时，谢谢</textarea>" in response.content.decode()
    case.refresh_from_db()
    assert case.satisfaction is None


def test_the_follow_page_states_the_reopen_deadline_and_when_it_has_passed(loop, client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.cases.models import Case

    settings.CIVICGRID_REOPEN_DAYS = 7
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    until = timezone.localtime(case.closed_at + timedelta(days=7))
    page = client.get(f"/follow/{token}/").content.decode()
    assert f"可在 {until:%Y-%m-%d %H:%M} 前申请重新办理" in page and 'id="reopen"' in page
    assert client.get(f"/api/v1/follow/{token}").json()["reopen_until"] is not None
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=8))
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'id="reopen"' not in page and "重新办理期限已过（结案后 7 天）" in page
    # open cases state nothing yet
    other = report(loop, actor=loop.resident, source="public", lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    other_token = CaseReporter.objects.get(original_case=other).follow_token
    page = client.get(f"/follow/{other_token}/").content.decode()
    assert "data-reopen-until" not in page and "data-reopen-expired" not in page


def test_the_case_page_offers_no_reopening_after_the_window_and_says_so(loop, client, settings):
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.cases.workflow import allowed_actions
    from civicgrid.foundation.core.errors import Conflict

    from .conftest import world_counts

    settings.CIVICGRID_REOPEN_DAYS = 7
    case = close_loop(loop, report(loop))
    url = reverse("ui:case_detail", args=[case.number])
    client.force_login(loop.dispatcher)
    html = client.get(url).content.decode()
    assert reverse("ui:case_act", args=[case.number, "reopen"]) in html and "data-reopen-until" in html
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=8))
    case.refresh_from_db()
    assert "reopen" not in {t.name for t in allowed_actions(case, loop.dispatcher)}
    html = client.get(url).content.decode()
    assert reverse("ui:case_act", args=[case.number, "reopen"]) not in html
    assert "重新办理期限已过（结案后 7 天）" in html
    before = world_counts()
    with pytest.raises(Conflict, match="已超过结案后 7 天"):
        act(actor=loop.dispatcher, case=case, action="reopen", reason="又坏了")
    assert world_counts() == before


REASON = "经核实该处井盖完好，联系人13811112222已告知"
REASON_MASKED = "经核实该处井盖完好，联系人138****2222已告知"


def test_the_reporter_is_told_the_note_written_for_them_masked_as_the_public_is(loop, client):
    """The public updates feed shows a refusal's note for the reporters (masked by `pii.scrub`); the reporter is
    told no less: on the follow page (and its JSON) and in the message, masked the same way. The internal reason
    goes nowhere but the staff's timeline."""
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    token = CaseReporter.objects.get(original_case=case).follow_token
    act(actor=loop.dispatcher, case=case, action="refuse", reason="坐席内部：重复来电", public_note=REASON)
    sms = OutgoingMessage.objects.filter(channel="sms").order_by("-id").first()
    inbox = Notification.objects.filter(user=loop.resident).order_by("-id").first()
    for body in (sms.body, inbox.body):
        assert f"不予受理，说明：{REASON_MASKED}。" in body and "13811112222" not in body and "坐席内部" not in body
    assert f"was not accepted, note: {REASON_MASKED}." in inbox.body_en
    page = client.get(f"/follow/{token}/").content.decode()
    assert f'<p class="note" data-step-note>{REASON_MASKED}</p>' in page and "13811112222" not in page
    assert "坐席内部" not in page
    steps = client.get(f"/api/v1/follow/{token}").json()["steps"]
    assert [(s["action"], s["note"]) for s in steps] == [("report", ""), ("refuse", REASON_MASKED)]


@pytest.mark.parametrize("score", ["٥", "５", " 5_0", "5.0", True, "0", 6])
def test_a_score_is_one_of_the_digits_one_to_five_nothing_int_happens_to_read(loop, score):
    """int() reads "٥" (an Arabic-Indic five), a full-width "５" and "5_0" as numbers; a score is typed as 1–5."""
    from civicgrid.apps.cases.services import follow_status, rate
    from civicgrid.foundation.core.errors import ValidationFailed

    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    with pytest.raises(ValidationFailed, match="评分须为 1–5"):
        rate(follow_token=token, score=score)
    case.refresh_from_db()
    assert case.satisfaction is None and follow_status(token)["rating"] is None
    rate(follow_token=token, score=" 5 ")
    assert follow_status(token)["rating"] == 5


@pytest.mark.parametrize("score", [None, "", "  "])
def test_no_score_chosen_asks_for_one(loop, score):
    """A rating sent with no star chosen says 请选择评分 (what to do), not the 1–5 range; nothing is recorded."""
    from civicgrid.apps.cases.services import follow_status, rate
    from civicgrid.foundation.core.errors import ValidationFailed

    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    with pytest.raises(ValidationFailed) as refused:
        rate(follow_token=token, score=score, comment="还行")
    assert refused.value.message == "请选择评分 / Please choose a rating" and refused.value.field == "score"
    case.refresh_from_db()
    assert case.satisfaction is None and follow_status(token)["rating"] is None


@pytest.mark.parametrize("body", [{}, {"comment": "还行"}, {"score": None, "comment": "还行"}])
def test_the_api_without_a_score_asks_for_one_as_the_page_does(loop, api_client, body):
    """The rating API answers a body without a score (or a null one) with the page's and the service's 请选择评分,
    as a 422 naming `score` like its other refusals, not pydantic's "field required"; nothing is recorded."""
    from civicgrid.apps.cases.services import follow_status

    from .conftest import world_counts

    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    before = world_counts()
    refused = api_client.post(f"/api/v1/follow/{token}/rating", body, content_type="application/json")
    assert refused.status_code == 422
    answer = refused.json()
    assert answer["code"] == "invalid" and answer["errors"] == [
        {"field": "score", "message": "请选择评分 / Please choose a rating", "type": "value_error"}]
    assert answer["detail"] == "请求参数有误：score 请选择评分 / invalid request: score: Please choose a rating"
    assert world_counts() == before and follow_status(token)["rating"] is None
    done = api_client.post(f"/api/v1/follow/{token}/rating", {**body, "score": 4}, content_type="application/json")
    assert done.status_code == 200 and follow_status(token)["rating"] == 4  # the same body with a score rates


def test_the_follow_page_shows_the_hold_and_the_resumption_the_reporter_was_told_of(loop, client):
    """挂账 and 恢复办理 are told to the reporters (text message, inbox): the page they open from that message names
    both steps in its timeline, without the reason written for staff, in the reader's language."""
    from civicgrid.apps.cases.services import follow_status

    case = report(loop, actor=loop.resident, source="public")
    token = CaseReporter.objects.get(original_case=case).follow_token
    case = act(actor=loop.dispatcher, case=case, action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.leader, case=case, action="suspend", reason="等待专项资金，内部预算编号 A-17")
    told = Notification.objects.filter(user=loop.resident).order_by("-id").first()
    assert "已挂账" in told.body
    steps = follow_status(token)["steps"]
    assert [s["action"] for s in steps][-1] == "suspend"
    assert steps[-1]["note"] == ""  # the reason is for staff
    case = act(actor=loop.leader, case=case, action="unsuspend")
    assert [s["action"] for s in follow_status(token)["steps"]][-2:] == ["suspend", "unsuspend"]
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'data-step="suspend"' in page and 'data-step="unsuspend"' in page and "A-17" not in page
    client.cookies["django_language"] = "en"
    page = client.get(f"/follow/{token}/").content.decode()
    assert "<strong>Suspended</strong>" in page and "<strong>Resumed</strong>" in page


@pytest.mark.parametrize("language, expired, again", [
    ("zh-hans", "重新办理期限已过（结案后 7 天）", "如问题仍存在，请重新上报"),
    ("en", "The time for reopening has passed", "if the problem is still there, please report it again"),
])
def test_after_the_reopen_window_the_reporter_is_told_to_report_again(loop, client, settings, language, expired,
                                                                       again):
    """Past the days after closing, the follow page offers no reopening: it says what the reporter can still do
    (report the problem again), and a reopening sent anyway (a page left open) is refused with the same advice in
    the reader's language, nothing changed. (The page's own advice is a new catalogue entry: its English is
    asserted once the catalogue has it; its place is marked `data-report-again` in either language.)"""
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.cases.models import Case, CaseStep

    settings.CIVICGRID_REOPEN_DAYS = 7
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=8))
    client.cookies["django_language"] = language
    page = client.get(f"/follow/{token}/").content.decode()
    assert expired in page and "data-report-again" in page and 'id="reopen"' not in page
    assert language != "zh-hans" or again in page
    steps = CaseStep.objects.filter(case=case).count()
    answer = client.post(f"/follow/{token}/reopen/", {"reason": "又堆满了"})
    assert answer.status_code == 409 and again in answer.content.decode()
    case.refresh_from_db()
    assert case.status == "closed" and case.reopen_count == 0 and CaseStep.objects.filter(case=case).count() == steps

"""The inbox page with its header badge, the public follow page (status, rating once, reopen) and the menu
entries of the case pages."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import CaseReporter, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import jpeg, loop, report, world_counts  # noqa: F401
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.notify.services import notify

pytestmark = pytest.mark.django_db


def oids(html: str, model: str) -> set[int]:
    tables = re.findall(rf'<table class="list[^"]*" data-model="{re.escape(model)}">(.*?)</table>', html, re.S)
    return {int(x) for t in tables for x in re.findall(r'<tr data-oid="(\d+)"', t)}


def badge(html: str) -> int:
    found = re.search(r'data-unread-badge="(\d+)"', html)
    return int(found.group(1)) if found else 0


def closed_case(loop):
    case = report(loop, reporter_phone="13912345678", reporter_name="李大爷")
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    act(actor=loop.dispatcher, case=case, action="close")
    return case


def test_inbox_shows_own_messages_with_a_badge_and_marks_them_read(loop, client_for):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)  # tells the handler
    other = notify(loop.worker, "note", "别人的消息")
    c = client_for(loop.handler)
    mine = list(Notification.objects.filter(user=loop.handler))
    assert mine
    html = c.get(reverse("ui:inbox")).content.decode()
    assert oids(html, "notify.notification") == {n.pk for n in mine} and "别人的消息" not in html
    assert badge(html) == len(mine)
    # 查看 marks the message read and opens the case
    message = mine[0]
    link = reverse("ui:case_detail", args=[case.number])
    assert f'value="{link}"' in html
    response = c.post(reverse("ui:inbox_read", args=[message.pk]), {"next": link})
    assert response.status_code == 302 and response["Location"] == link
    message.refresh_from_db()
    assert message.read_at is not None
    # somebody else's message is not found, and stays unread
    assert c.post(reverse("ui:inbox_read", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.read_at is None
    # an outside redirect target is ignored
    assert c.post(reverse("ui:inbox_read", args=[message.pk]), {"next": "https://evil.example/"})["Location"] \
        == reverse("ui:inbox")
    notify(loop.handler, "note", "再来一条")
    c.post(reverse("ui:inbox_read_all"))
    assert not Notification.objects.filter(user=loop.handler, read_at__isnull=True).exists()
    assert badge(c.get(reverse("ui:inbox")).content.decode()) == 0


def test_unread_filter_and_badge_on_other_pages(loop, client_for):
    notify(loop.worker, "note", "一条")
    read = notify(loop.worker, "note", "两条")
    Notification.objects.filter(pk=read.pk).update(read_at="2026-01-01T00:00:00+08:00")
    c = client_for(loop.worker)
    assert len(oids(c.get(reverse("ui:inbox"), {"unread": "1"}).content.decode(), "notify.notification")) == 1
    assert badge(c.get(reverse("ui:region_list")).content.decode()) == 1


def test_follow_page_shows_status_without_personal_data(loop):
    case = report(loop, reporter_phone="13912345678", reporter_name="李大爷", address="幸福路1号")
    token = CaseReporter.objects.get(case=case).follow_token
    response = Client().get(reverse("ui:follow", args=[token]))
    html = response.content.decode()
    assert response.status_code == 200 and case.number in html and "待受理" in html
    # Random values (CSRF tokens, the CSP nonce, the follow token itself) could contain a short username by
    # chance: look at the page without them.
    visible = re.sub(r'(csrfmiddlewaretoken" value="|name="csrf-token" content="|"X-CSRFToken": "|nonce=")[^"]*',
                     "", html).replace(token, "")
    for private in ("13912345678", "李大爷", "幸福路1号", case.title, loop.worker.username):
        assert private not in visible
    assert 'id="rate"' not in html and 'id="reopen"' not in html  # not closed yet
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    assert Client().get(reverse("ui:follow", args=["x" * 32])).status_code == 404
    assert Client().get(reverse("ui:follow", args=["short"])).status_code == 404


def test_rating_once_after_closing_and_reopening(loop):
    case = closed_case(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    html = c.get(reverse("ui:follow", args=[token])).content.decode()
    assert 'id="rate"' in html and 'id="reopen"' in html and "已结案" in html
    before = world_counts()
    bad = c.post(reverse("ui:follow_rate", args=[token]), {"score": "9"})
    assert bad.status_code == 400 and "评分须为 1–5" in bad.content.decode() and world_counts() == before
    unchosen = c.post(reverse("ui:follow_rate", args=[token]), {"comment": "处理及时"})
    html = unchosen.content.decode()
    assert unchosen.status_code == 400 and "请选择评分" in html and "评分须为" not in html and world_counts() == before
    assert "处理及时" in html  # the comment stays in the form
    response = c.post(reverse("ui:follow_rate", args=[token]), {"score": "4", "comment": "处理及时"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.satisfaction == 4
    html = c.get(reverse("ui:follow", args=[token])).content.decode()
    assert 'data-rating="4"' in html and 'id="rate"' not in html
    before = world_counts()
    again = c.post(reverse("ui:follow_rate", args=[token]), {"score": "1"})
    assert again.status_code == 409 and "您已评价过" in again.content.decode() and world_counts() == before
    # 重新办理 needs a reason, then sends the case back to dispatch
    assert c.post(reverse("ui:follow_reopen", args=[token]), {"reason": ""}).status_code == 422
    assert c.post(reverse("ui:follow_reopen", args=[token]), {"reason": "又堆满了"}).status_code == 302
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.reopen_count == 1


def test_follow_is_rate_limited_per_address(loop, settings):
    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 5
    case = report(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    codes = [c.get(reverse("ui:follow", args=[token])).status_code for _ in range(7)]
    assert codes[0] == 200 and codes[-1] == 429


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("worker", {"case_report", "cases", "inbox"}),
        ("dispatcher", {"case_report", "cases", "inbox"}),
        ("handler", {"cases", "inbox"}),
        ("resident", {"case_report", "inbox"}),
    ],
)
def test_menu_entries(loop, client_for, role, expected):
    html = client_for(getattr(loop, role)).get(reverse("ui:home")).content.decode()
    keys = set(re.findall(r'data-nav="([^"]+)"', html)) & {"case_report", "cases", "inbox"}
    assert keys == expected


def test_residents_inbox_links_their_own_case_to_its_follow_page_not_the_case_page(loop, client_for):
    """Given a resident's report and someone else's, each with a message in the resident's inbox, when the
    resident opens the inbox, then 查看 on their own case opens its follow page (the case page would answer 403
    without cases.view) and a case they did not report has no link at all."""
    from civicgrid.apps.cases.models import Case

    c = client_for(loop.resident)
    sent = c.post(reverse("ui:case_submit"), {"idempotency_key": "6f1c7e0a-2d7b-4a51-9d0e-3c1f8a2b4c5d",
                                              "description": "楼道堆放杂物", "lng": "113.21", "lat": "40.01"})
    assert sent.status_code == 201, sent.content
    own = Case.objects.get(number=sent.json()["number"])
    token = CaseReporter.objects.get(case=own, user=loop.resident).follow_token
    other = report(loop)
    notify(loop.resident, "case", "您反映的问题已受理", target=own)
    notify(loop.resident, "case", "别的案卷", target=other)

    html = c.get(reverse("ui:inbox")).content.decode()
    follow = reverse("ui:follow", args=[token])
    assert f'value="{follow}"' in html
    assert reverse("ui:case_detail", args=[own.number]) not in html
    assert reverse("ui:case_detail", args=[other.number]) not in html
    # the 已收到 receipt (with the follow link in its text) and the message above: both open the follow page
    assert html.count("data-open=") == 2 and html.count(f'value="{follow}"') == 2
    assert c.get(follow).status_code == 200


def test_inbox_titles_read_in_the_readers_language(loop, client_for):
    """Titles are stored in Chinese ("新任务：<number>"); the English inbox names the task in English and keeps
    the number; a title no app registered (a row from before its words were registered) is shown as it is."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    Notification.objects.create(user=loop.handler, kind="note", title="自定义标题：其他")
    c = client_for(loop.handler)
    html = c.get(reverse("ui:inbox")).content.decode()
    assert f"新任务：{case.number}" in html
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = c.get(reverse("ui:inbox")).content.decode()
    assert f"New task: {case.number}" in html and "新任务" not in html and "自定义标题：其他" in html


def test_inbox_says_a_request_was_decided_and_shows_bodies_in_the_readers_language(loop, client_for):
    """The leader was asked to decide an extension the dispatcher then approved: the message is no longer unread
    and says so; the body the system wrote reads in English, the handler's reason as written, and a message
    stored before bodies carried English shows its body as it is."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    old = Notification.objects.create(user=loop.leader, kind="supervise", title="督办：旧消息", body="旧的系统消息")
    c = client_for(loop.leader)
    html = c.get(reverse("ui:inbox")).content.decode()
    asked = Notification.objects.get(user=loop.leader, kind="extension_request")
    assert "申请延期 8 小时：需调度清运车" in html and f'data-read="{asked.pk}"' in html
    assert "data-resolved" not in html and badge(html) == 2

    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    html = c.get(reverse("ui:inbox")).content.decode()
    assert f'data-resolved="{asked.pk}">已同意</span>' in html and f'data-read="{asked.pk}"' not in html
    assert badge(html) == 1 and f'data-read="{old.pk}"' in html
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = c.get(reverse("ui:inbox")).content.decode()
    assert "extension of 8 h requested: 需调度清运车" in html and "申请延期" not in html
    assert f'data-resolved="{asked.pk}">Approved</span>' in html
    assert "旧的系统消息" in html  # no English stored: shown as written


def test_a_reporters_progress_messages_read_in_their_language(loop, client_for):
    """A resident's report is accepted and dispatched: their inbox says so under "案卷进展：<number>" in Chinese,
    and in English once they switch; the status and what happened are in English too."""
    case = report(loop, actor=loop.resident, source="public")
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    told = Notification.objects.filter(user=loop.resident, kind="status").order_by("pk")
    assert [n.title for n in told] == [f"案卷进展：{case.number}"] * 3  # 已收到, 已立案, 已派遣
    assert told[2].body == f"您反映的问题（案卷号 {case.number}）已派遣至处置部门。当前状态：待处置。"
    c = client_for(loop.resident)
    html = c.get(reverse("ui:inbox")).content.decode()
    assert "已立案" in html and "has been accepted" not in html
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = c.get(reverse("ui:inbox")).content.decode()
    assert f"Case update: {case.number}" in html and "案卷进展" not in html
    assert f"Your report (case {case.number}) has been sent to the department that handles it." in html
    assert "已派遣至处置部门" not in html and "当前状态" not in html


def test_every_thing_reporters_are_told_has_its_english():
    """Each `ctx.tell` a transition sets (and intake's confirmations) is in `recipients.TELLS_EN`: one missing
    would reach an English reader's inbox in Chinese."""
    import pathlib

    from civicgrid.apps.cases import recipients

    services = pathlib.Path(recipients.__file__).parent / "services"
    source = "\n".join(p.read_text(encoding="utf-8") for p in services.glob("*.py"))
    told = set(re.findall(r'ctx\.tell(?:, ctx\.milestone)? = "([^"]+)"', source))
    told |= {"已收到", "已自行处置并结案"}
    assert len(told) >= 10
    assert told <= set(recipients.TELLS_EN), told - set(recipients.TELLS_EN)


def test_a_task_sent_back_reads_as_settled_in_the_handlers_inbox(loop, client_for):
    """The handler sends a case back: their 新任务 no longer waits (the case left their scope, so there is no 查看
    either) and says 已退回; the dispatchers' 退回 waits until one of them dispatches it again, then reads 已处理
    in both inboxes."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="send_back", reason="不属于本部门")
    task = Notification.objects.get(user=loop.handler, kind="new_task")
    html = client_for(loop.handler).get(reverse("ui:inbox")).content.decode()
    assert f'data-resolved="{task.pk}">已退回</span>' in html
    assert f'data-read="{task.pk}"' not in html and f'data-open="{task.pk}"' not in html and badge(html) == 0

    sent_back = {m.user_id: m for m in Notification.objects.filter(kind="sent_back", target_id=str(case.pk))}
    street = client_for(loop.street_dispatcher)
    html = street.get(reverse("ui:inbox")).content.decode()
    mine = sent_back[loop.street_dispatcher.pk]
    assert f'data-read="{mine.pk}"' in html and f'data-open="{mine.pk}"' in html
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    html = street.get(reverse("ui:inbox")).content.decode()
    assert f'data-resolved="{mine.pk}">已处理</span>' in html and f'data-read="{mine.pk}"' not in html
    assert f'data-open="{mine.pk}"' in html  # the case is still theirs to look at


def test_a_long_reopen_reason_on_the_follow_page_is_kept_whole_or_refused_never_cut(loop):
    """The page cut the reason to 1,000 characters without a word; the service keeps up to the step note's
    length and refuses more, and the page now lets the service decide."""
    from civicgrid.apps.cases.models import CaseStep
    from civicgrid.foundation.workflow.steps import MAX_NOTE

    case = closed_case(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    html = c.get(reverse("ui:follow", args=[token])).content.decode()
    assert f'name="reason" rows="3" maxlength="{MAX_NOTE}"' in html
    before = world_counts()
    refused = c.post(reverse("ui:follow_reopen", args=[token]), {"reason": "满" * (MAX_NOTE + 1)})
    assert refused.status_code in (400, 422) and f"{MAX_NOTE}" in refused.content.decode()
    assert world_counts() == before
    long_reason = "垃圾又堆满了，" * 200  # 1,400 characters
    assert c.post(reverse("ui:follow_reopen", args=[token]), {"reason": long_reason}).status_code == 302
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED
    assert CaseStep.objects.filter(case=case).order_by("-pk").values_list("note", flat=True)[0] == long_reason


def test_a_grid_workers_report_merged_into_a_case_outside_their_grid_is_opened_by_its_follow_link(loop, client_for):
    """Given the grid worker's report in the neighbouring grid, merged into the neighbour's own report of the same
    problem, when the case it joined is dispatched, then the worker's 案卷进展 about that case (whose page answers
    them 404: it is outside their grid and not theirs) opens their follow page, as 我的上报 does."""
    from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT

    parent = report(loop, actor=loop.neighbour_worker, lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    own = report(loop, lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    act(actor=loop.dispatcher, case=parent, action="accept")
    act(actor=loop.dispatcher, case=own, action="merge", parent=parent.number)
    act(actor=loop.dispatcher, case=parent, action="dispatch", department=loop.dept.pk)
    told = Notification.objects.filter(user=loop.worker, kind="status", target_id=str(parent.pk))
    assert told.exists()
    token = CaseReporter.objects.get(original_case=own, user=loop.worker).follow_token

    c = client_for(loop.worker)
    html = c.get(reverse("ui:inbox")).content.decode()

    follow = reverse("ui:follow", args=[token])
    for message in told:
        assert re.search(rf'value="{re.escape(follow)}"><button type="submit" class="small" '
                         rf'data-open="{message.pk}"', html)
    assert reverse("ui:case_detail", args=[parent.number]) not in html
    assert c.get(reverse("ui:case_detail", args=[parent.number])).status_code == 404
    assert c.get(follow).status_code == 200


def test_a_grid_workers_merged_report_keeps_its_follow_link_and_qr_code_on_its_page(loop, client_for):
    """Given the grid worker's report merged into another case of their grid, when they open their report's page
    to hand the link over, then it still offers the link and its QR code (the follow page shows the report and the
    case it joined), as the case file does."""
    parent = report(loop, actor=loop.neighbour_worker)
    own = report(loop)
    token = CaseReporter.objects.get(original_case=own).follow_token
    act(actor=loop.dispatcher, case=parent, action="accept")
    act(actor=loop.dispatcher, case=own, action="merge", parent=parent.number)

    c = client_for(loop.worker)
    html = c.get(reverse("ui:case_detail", args=[own.number])).content.decode()

    follow = reverse("ui:follow", args=[token])
    assert 'id="follow-link"' in html and f'href="http://testserver{follow}"' in html
    assert reverse("ui:follow_qr", args=[token, "svg"]) in html
    assert c.get(follow).status_code == 200
    # the case it joined is not their report: no link there
    assert 'id="follow-link"' not in c.get(reverse("ui:case_detail", args=[parent.number])).content.decode()


def test_the_follow_link_staff_hand_over_is_the_public_address_the_qr_code_and_sms_carry(loop, client_for, settings):
    """Behind the site's public address (`CIVICGRID_PUBLIC_BASE_URL`), the report's success answer and the case
    page showed the link with the host staff reached the site by (an office address a resident cannot open),
    while its QR code and the SMS carry the public one: the link to copy is the public one too."""
    import uuid

    settings.CIVICGRID_PUBLIC_BASE_URL = "https://wangge.example.gov.cn"
    c = client_for(loop.worker)
    sent = c.post(reverse("ui:case_submit"), {"idempotency_key": str(uuid.uuid4()), "description": "楼道堆放杂物",
                                              "lng": "113.21", "lat": "40.01", "category": str(loop.cat.pk)})
    assert sent.status_code == 201, sent.content
    number = sent.json()["number"]
    token = CaseReporter.objects.get(original_case__number=number).follow_token
    public = f"https://wangge.example.gov.cn{reverse('ui:follow', args=[token])}"

    assert sent.json()["follow_url"] == public
    html = c.get(reverse("ui:case_detail", args=[number])).content.decode()
    assert f'<a href="{public}">{public}</a>' in html and "http://testserver/follow/" not in html

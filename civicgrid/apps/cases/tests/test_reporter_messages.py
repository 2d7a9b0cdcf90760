"""What a reporter is told over a loop with 退回 and 返工 (the cases README, 「告知上报人」): each milestone once per
round (received, accepted, dispatched, handled, closed with the rating link, reopened), not the loop's inner back
and forth; reporters of a merged case the same way as the carrier's; SMS and email through the console sender.
Also the staff's 已超期 notice, with its deadline like the 即将超期 one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from civicgrid.apps.cases import handlers
from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.cases.services import act
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.testing.clock import clock_at

from .conftest import POINT, jpeg, report

pytestmark = pytest.mark.django_db

def _tuesday_morning() -> datetime:
    """A Tuesday morning in the district a week or two ahead (after the grants began): working hours, whatever
    time of day the suite runs at."""
    day = timezone.localdate() + timedelta(days=7)
    day += timedelta(days=(1 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


MORNING = _tuesday_morning()
TOLD = re.compile(r"^您反映的问题（案卷号 \d+）(.*?)。当前状态")


def _north(metres: float) -> float:
    return POINT[1] + metres / 111_320


def _told(channel: str, masked: str) -> list[str]:
    """What was written to one address, in order: the text of each message (without case number and status)."""
    bodies = OutgoingMessage.objects.filter(channel=channel, to_masked=masked).order_by("pk")
    return [TOLD.match(body).group(1) for body in bodies.values_list("body", flat=True)]


def _inbox(user) -> list[str]:
    bodies = Notification.objects.filter(user=user, kind="status").order_by("pk").values_list("body", flat=True)
    return [TOLD.match(body).group(1) for body in bodies]


def _loop_with_send_back_and_rework(loop, case):
    """From 待派遣 to 结案 by way of a 退回 (and a dispatch to another department) and a failed 核查 (返工)."""
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.handler, case=case, action="send_back", reason="不属本部门职责")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    case = act(actor=loop.other_handler, case=case, action="report_back", note="已清理")
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    case = act(actor=loop.other_handler, case=case, action="report_back", note="已清理干净")
    case = act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    return act(actor=loop.dispatcher, case=case, action="close")


ROUND = ["已派遣至处置部门", "已处置完毕，待现场核查", "已办结，欢迎评价"]


def test_a_reporter_hears_each_milestone_once_over_send_back_and_rework(loop, capsys):
    with clock_at(MORNING):
        carrier = report(loop, actor=loop.resident, source="public", reporter_phone="13811111111",
                         reporter_email="a@example.org")
        duplicate = report(loop, lat=_north(30), reporter_phone="13922222222", reporter_email="b@example.org")
        act(actor=loop.dispatcher, case=duplicate, action="accept")
        act(actor=loop.dispatcher, case=duplicate, action="merge", parent=carrier.number)
        carrier = act(actor=loop.dispatcher, case=carrier, action="accept")
        _loop_with_send_back_and_rework(loop, carrier)

    own = ["已收到", "已立案", *ROUND]
    merged = ["已收到", "已立案", f"已与同一问题的案卷合并办理（原案卷号 {duplicate.number}）", *ROUND]
    assert _told("sms", "138****1111") == _told("email", "a***@example.org") == own
    assert _told("sms", "139****2222") == _told("email", "b***@example.org") == merged
    assert _inbox(loop.resident) == own  # a resident's own report leaves its receipt (with the link) in the inbox
    # the closing carries the rating link; nothing else was written
    assert "查询与评价" in OutgoingMessage.objects.filter(to_masked="138****1111").last().body
    assert OutgoingMessage.objects.count() == 2 * len(own) + 2 * len(merged)
    # the console sender writes each of them once, to the masked address
    capsys.readouterr()
    assert notify.deliver_pending() == OutgoingMessage.objects.count()
    lines = capsys.readouterr().out.splitlines()
    assert set(OutgoingMessage.objects.values_list("sender", flat=True)) == {"console"}
    assert sum("→ 138****1111:" in line for line in lines) == len(own)
    assert sum("→ 139****2222:" in line for line in lines) == len(merged)
    assert sum("已派遣至处置部门" in line for line in lines) == 4  # two reporters, SMS and email, once each


def test_a_reopened_case_is_a_new_round_told_once_again(loop):
    with clock_at(MORNING):
        case = report(loop, reporter_phone="13811111111")
        case = act(actor=loop.dispatcher, case=case, action="accept")
        case = _loop_with_send_back_and_rework(loop, case)
        act(actor=loop.dispatcher, case=case, action="reopen", reason="又堆满了")
        _loop_with_send_back_and_rework(loop, case)
    assert _told("sms", "138****1111") == ["已收到", "已立案", *ROUND, "已重新办理", *ROUND]
    reporter = CaseReporter.objects.get(original_case=case)
    assert reporter.told == {"accepted": True, "dispatched": f"{case.pk}:1", "handled": f"{case.pk}:1"}


def test_a_reporter_merged_between_two_dispatches_hears_of_the_dispatch_once(loop):
    """The carrier was dispatched and sent back; then a duplicate joins it: its reporter has not heard of a
    dispatch and hears of the next one, the carrier's reporter does not hear of it again, and someone who was
    told through another report of theirs (the same phone) is not told twice."""
    with clock_at(MORNING):
        carrier = report(loop, reporter_phone="13811111111")
        carrier = act(actor=loop.dispatcher, case=carrier, action="accept")
        carrier = act(actor=loop.dispatcher, case=carrier, action="dispatch", department=loop.dept.pk)
        carrier = act(actor=loop.handler, case=carrier, action="send_back", reason="不属本部门职责")
        newcomer = report(loop, lat=_north(30), reporter_phone="13922222222")
        again = report(loop, lat=_north(40), reporter_phone="13811111111")  # the carrier's reporter, again
        for duplicate in (newcomer, again):
            act(actor=loop.dispatcher, case=duplicate, action="merge", parent=carrier.number)
        OutgoingMessage.objects.all().delete()
        act(actor=loop.dispatcher, case=carrier, action="dispatch", department=loop.other_dept.pk)
    assert list(OutgoingMessage.objects.values_list("to_masked", "body")) == [
        ("139****2222", f"您反映的问题（案卷号 {carrier.number}）已派遣至处置部门。当前状态：待处置。")]


def test_the_overdue_notice_names_its_deadline_like_the_warning(loop):
    with clock_at(MORNING):
        case = report(loop)
        act(actor=loop.dispatcher, case=case, action="accept")
        case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
        bus.dispatch_pending()
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")
    from civicgrid.foundation.sla.sweep import sweep

    with clock_at(clock.due_at + timedelta(minutes=1)):
        assert sweep(now=timezone.now())[1] == 1
        bus.dispatch_pending()
    due = f"{timezone.localtime(clock.due_at):%Y-%m-%d %H:%M}"
    overdue = Notification.objects.get(user=loop.handler, kind="overdue")
    assert (overdue.title, overdue.body, overdue.body_en) == (
        f"处置已超期：{case.number}", f"路边暴露垃圾（期限 {due}）", f"路边暴露垃圾 (due {due})")
    # delivered again, nothing more
    with clock_at(clock.due_at + timedelta(minutes=2)):
        handlers.on_sla_breached(OutboxEvent.objects.get(topic="sla.breached", aggregate_id=str(case.pk)))
    assert Notification.objects.filter(kind="overdue").count() == 1


def test_a_milestone_is_named_by_the_action_not_read_from_the_words_told(loop):
    """The words told may change (or carry a note); what marks a milestone is the name the action gives it. A
    message without one is told every time; with one, once; a name that is not a milestone is a programming
    error, refused before anyone is told."""
    from civicgrid.apps.cases import recipients

    with clock_at(MORNING):
        case = report(loop, reporter_phone="13811111111")
    before = OutgoingMessage.objects.count()
    told = recipients.tell_reporters(case, "已派遣至处置部门")  # no milestone named: told, and again
    assert told >= 1
    assert recipients.tell_reporters(case, "已派遣至处置部门") == told
    assert recipients.tell_reporters(case, "已派遣（新措辞）", milestone="dispatched") == told
    assert recipients.tell_reporters(case, "已派遣至处置部门", milestone="dispatched") == 0
    assert CaseReporter.objects.get(original_case=case).told == {"dispatched": f"{case.pk}:0"}
    with pytest.raises(ValueError):
        recipients.tell_reporters(case, "已派遣至处置部门", milestone="sent")
    assert OutgoingMessage.objects.count() == before + 3  # the SMS: three times, not four
    assert _told("sms", "138****1111")[-3:] == ["已派遣至处置部门", "已派遣至处置部门", "已派遣（新措辞）"]
    assert CaseReporter.objects.get(original_case=case).told == {"dispatched": f"{case.pk}:0"}

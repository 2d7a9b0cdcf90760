"""What the loop leaves in staff inboxes: a decided extension request stops waiting in every approver's inbox,
and the bodies the system writes carry their English (people's own words stay as written)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.notify.services import inbox, notify
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep

from .conftest import report, world_counts

pytestmark = pytest.mark.django_db

FIELDS = ("pk", "kind", "title", "body", "body_en", "read_at", "resolved_at", "resolution")


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _rows(user, **filters) -> list[tuple]:
    return list(Notification.objects.filter(user=user, **filters).order_by("pk").values_list(*FIELDS))


def test_one_approvers_decision_closes_the_request_for_every_approver_and_nothing_else(loop):
    case = _dispatched(loop)
    # Two approvers of the case's region: the command dispatcher and the leader. The leader has other
    # messages too, one unread and one read, which the decision must leave alone.
    unrelated = notify(loop.leader, "note", "另一条消息")
    read = notify(loop.leader, "note", "已读的消息")
    Notification.objects.filter(pk=read.pk).update(read_at=timezone.now() - timedelta(days=1))
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    # Another case's request, to the same approvers, is other work: it keeps waiting.
    other = _dispatched(loop)
    act(actor=loop.handler, case=other, action="request_extension", reason="另一处", hours=2)
    other_asked = _rows(loop.leader, kind="extension_request", target_id=str(other.pk))
    asked = Notification.objects.filter(kind="extension_request", target_id=str(case.pk))
    first_ids = list(asked.values_list("pk", flat=True))
    assert set(asked.values_list("user_id", flat=True)) == {loop.dispatcher.pk, loop.leader.pk}
    assert not asked.filter(read_at__isnull=False).exists()
    leader_unread = inbox(loop.leader, unread_only=True).count()
    leader_others = _rows(loop.leader, pk__in=[unrelated.pk, read.pk])
    handler_before = _rows(loop.handler)

    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")

    assert inbox(loop.leader, unread_only=True).count() == leader_unread - 1
    assert _rows(loop.leader, pk__in=[unrelated.pk, read.pk]) == leader_others
    assert _rows(loop.leader, kind="extension_request", target_id=str(other.pk)) == other_asked
    assert other_asked[0][FIELDS.index("read_at")] is None
    for message in asked:  # the decider's own message too: the request is no one's work any more
        assert message.read_at is not None and message.resolved_at is not None and message.resolution == "已同意"
    # The handlers' messages are not the approvers' request: only the decision was added for them.
    after = _rows(loop.handler)
    assert after[:len(handler_before)] == handler_before
    assert [row[1] for row in after[len(handler_before):]] == ["extension_decided"]

    # A later request waits again, and its rejection closes it the same way.
    act(actor=loop.handler, case=case, action="request_extension", reason="配件未到", hours=4)
    second = Notification.objects.filter(kind="extension_request", target_id=str(case.pk), resolved_at__isnull=True)
    assert second.count() == 2 and inbox(loop.leader, unread_only=True).count() == leader_unread
    first_closed = list(Notification.objects.filter(pk__in=first_ids).values_list("pk", "resolved_at"))
    act(actor=loop.leader, case=case, action="decide_extension", decision="reject", note="先用临时配件")
    assert inbox(loop.leader, unread_only=True).count() == leader_unread - 1
    assert set(Notification.objects.filter(kind="extension_request", target_id=str(case.pk))
               .values_list("resolution", flat=True)) == {"已同意", "已不同意"}
    assert list(Notification.objects.filter(pk__in=first_ids)
                .values_list("pk", "resolved_at")) == first_closed  # the first ones keep their own outcome


def test_an_approver_who_read_the_request_keeps_the_time_they_read_it(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    earlier = timezone.now() - timedelta(hours=1)
    Notification.objects.filter(user=loop.leader, kind="extension_request").update(read_at=earlier)
    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="reject", note="先用临时配件")
    message = Notification.objects.get(user=loop.leader, kind="extension_request")
    assert message.read_at == earlier and message.resolution == "已不同意"


def test_a_refused_decision_leaves_every_request_message_waiting(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    before, rows = world_counts(), _rows(loop.leader) + _rows(loop.dispatcher)
    with pytest.raises(ValidationFailed):
        act(actor=loop.dispatcher, case=case, action="decide_extension", decision="maybe")
    assert world_counts() == before and _rows(loop.leader) + _rows(loop.dispatcher) == rows
    assert Notification.objects.filter(kind="extension_request", resolved_at__isnull=True).count() == 2


def test_system_written_bodies_carry_their_english_and_peoples_words_stay_as_written(loop):
    case = _dispatched(loop)
    due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    new_task = Notification.objects.get(user=loop.handler, kind="new_task")
    assert new_task.body == f"路边暴露垃圾（处置期限 {due}）"
    assert new_task.body_en == f"路边暴露垃圾 (handling deadline {due})"  # the case's title is data

    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    asked = Notification.objects.get(user=loop.leader, kind="extension_request")
    assert (asked.body, asked.body_en) == ("申请延期 8 小时：需调度清运车", "extension of 8 h requested: 需调度清运车")
    case = act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve", note="抓紧")
    decided = Notification.objects.get(user=loop.handler, kind="extension_decided")
    new_due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    assert decided.body == f"同意延期 8 小时：抓紧，新的处置期限 {new_due}"
    assert decided.body_en == f"extension of 8 h approved: 抓紧, new handling deadline {new_due}"

    act(actor=loop.handler, case=case, action="send_back", reason="不属于本部门")
    sent_back = Notification.objects.get(user=loop.dispatcher, kind="sent_back")
    assert (sent_back.body, sent_back.body_en) == ("区城管局：不属于本部门", "sent back by 区城管局: 不属于本部门")

    # People's own words are the whole body: nothing to translate, the body is shown as written.
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.leader, case=case, action="supervise", note="今天必须处理")
    supervised = Notification.objects.get(user=loop.handler, kind="supervise")
    assert (supervised.body, supervised.body_en) == ("今天必须处理", "")


def test_the_rework_message_gives_the_new_handling_deadline(loop):
    """返工 starts a new handling clock: the department hears the reason and the deadline it now reports back by,
    written as the 延期 and 恢复办理 messages write it (the reason is the verifier's words, kept as written)."""
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle", state="running")
    due = f"{timezone.localtime(clock.due_at):%Y-%m-%d %H:%M}"
    told = Notification.objects.get(user=loop.handler, kind="rework")
    assert (told.body, told.body_en) == (f"仍有残留，新的处置期限 {due}", f"仍有残留, new handling deadline {due}")
    # A second round, after an approved 延期, names its own new deadline (the clock that carries those hours).
    act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=2)
    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    case = act(actor=loop.worker, case=case, action="rework", reason="还有残留")
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle", state="running")
    due = f"{timezone.localtime(clock.due_at):%Y-%m-%d %H:%M}"
    latest = Notification.objects.filter(user=loop.handler, kind="rework").latest("pk")
    assert latest.body == f"还有残留，新的处置期限 {due}"


def test_a_warning_body_carries_its_english(loop):
    case = _dispatched(loop)
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")
    bus.dispatch_pending()
    sweep(now=clock.warn_at + timedelta(seconds=1))
    bus.dispatch_pending()
    warning = Notification.objects.get(user=loop.handler, kind="warning")
    due = f"{timezone.localtime(clock.due_at):%Y-%m-%d %H:%M}"
    assert (warning.body, warning.body_en) == (f"路边暴露垃圾（期限 {due}）", f"路边暴露垃圾 (due {due})")
    assert warning.title == f"处置即将超期：{case.number}"


def test_the_inbox_api_gives_each_title_in_english_too(loop):
    """A client reading the inbox API in English gets the title's English beside the stored Chinese."""
    from civicgrid.foundation.notify.api import NotificationOut

    case = _dispatched(loop)
    message = Notification.objects.get(user=loop.handler, kind="new_task", target_id=str(case.pk))
    out = NotificationOut.from_orm(message)
    assert out.title == f"新任务：{case.number}" and out.title_en == f"New task: {case.number}"
    assert NotificationOut.from_orm(notify(loop.handler, "note", "无冒号的标题")).title_en == "无冒号的标题"

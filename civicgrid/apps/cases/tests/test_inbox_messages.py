"""What the loop leaves in staff inboxes: a decided extension request stops waiting in every approver's inbox, and
nothing else of theirs changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.notify.services import inbox, notify

from .conftest import report, world_counts

pytestmark = pytest.mark.django_db

FIELDS = ("pk", "kind", "title", "body", "read_at", "resolved_at", "resolution")


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
    act(actor=loop.leader, case=case, action="decide_extension", decision="reject")
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
    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="reject")
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

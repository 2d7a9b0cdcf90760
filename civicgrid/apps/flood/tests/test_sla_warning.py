"""防汛任务即将超时 is not sent once the task's deadline has passed as the worker delivers it (the worker was away,
or a late sweep queued the warning with the breach): the 已超时 notice tells the same people. The instants are the
test's own, moved with `clock_at`, so the time of day does not decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.flood import handlers, services
from civicgrid.apps.flood.models import ResponseTask
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.clock import clock_at

from .conftest import IN_A, ago

pytestmark = pytest.mark.django_db


def _one_task(flood, warn_at, due_at) -> ResponseTask:
    """An orange reading issues street A's tasks; the street-level IV task's ack clock gets the given instants,
    every other clock is moved a day away so that the sweeps below touch this one only."""
    services.record_rainfall(actor=flood["staff_a"], station="RG-A1", observed_at=ago(10), window_hours=3,
                             rain_mm=60, **IN_A)
    bus.dispatch_pending()  # the reading's own events first
    task = ResponseTask.objects.get(level="IV", target="street")
    far = timezone.now() + timedelta(days=1)
    clocks = SlaClock.objects.filter(target_type="flood.responsetask")
    clocks.update(warn_at=far, due_at=far + timedelta(hours=1))
    clocks.filter(target_id=str(task.pk), kind="flood.task.ack").update(warn_at=warn_at, due_at=due_at)
    return task


def _messages(task, kind):
    return Notification.objects.filter(target_type="flood.responsetask", target_id=str(task.pk), kind=kind)


def test_a_warning_delivered_after_its_deadline_is_not_sent(flood):
    now = timezone.now()
    task = _one_task(flood, now + timedelta(hours=1), now + timedelta(hours=2))
    with clock_at(now + timedelta(hours=1, minutes=1)):
        assert sweep(now=timezone.now()) == (1, 0)
    late = now + timedelta(hours=3)
    with clock_at(late):
        bus.dispatch_pending()
        assert not _messages(task, "warning").exists()
        assert sweep(now=late) == (0, 1)
        bus.dispatch_pending()
    assert _messages(task, "overdue").filter(user=flood["staff_a"]).count() == 1  # the overdue notice covers it
    with clock_at(late):  # redelivered: still nothing
        handlers.on_warning(OutboxEvent.objects.get(topic="sla.warning", aggregate_id=str(task.pk)))
    assert not _messages(task, "warning").exists() and _messages(task, "overdue").count() == 1


def test_a_late_sweep_queues_warning_and_breach_and_only_the_overdue_is_sent(flood):
    now = timezone.now()
    task = _one_task(flood, now - timedelta(hours=2), now - timedelta(minutes=1))
    assert sweep(now=now) == (1, 1)
    bus.dispatch_pending()
    assert not _messages(task, "warning").exists()
    assert _messages(task, "overdue").filter(user=flood["staff_a"]).count() == 1


def test_a_warning_delivered_before_its_deadline_is_sent(flood):
    now = timezone.now()
    task = _one_task(flood, now - timedelta(minutes=1), now + timedelta(hours=1))
    assert sweep(now=now) == (1, 0)
    with clock_at(now + timedelta(minutes=59)):
        bus.dispatch_pending()
    assert _messages(task, "warning").filter(user=flood["staff_a"]).count() == 1
    assert not _messages(task, "overdue").exists()

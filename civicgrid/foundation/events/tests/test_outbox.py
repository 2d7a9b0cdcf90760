"""Transactional outbox: an event exists iff its transaction commits; delivery is at-least-once with
idempotent handlers, retries with backoff, and no re-run after a crash."""

import threading
from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from civicgrid.foundation.events import bus
from civicgrid.foundation.events import tasks as outbox_tasks
from civicgrid.foundation.events.models import HandlerRun, OutboxEvent
from civicgrid.foundation.sla.models import CalendarDay

# Transactional tests flush only these apps' tables: the audit table refuses TRUNCATE on PostgreSQL.
REAL_COMMITS = pytest.mark.django_db(
    transaction=True, available_apps=["civicgrid.foundation.events", "civicgrid.foundation.sla"]
)


@pytest.fixture
def registry(monkeypatch):
    """An empty handler registry for the test (apps' real handlers stay out of the way)."""
    monkeypatch.setattr(bus, "_HANDLERS", {})
    return bus


# ---- publish ----------------------------------------------------------------------------------------


@REAL_COMMITS
def test_event_exists_only_if_the_transaction_commits():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            bus.publish("test.created", payload={"n": 1})
            assert OutboxEvent.objects.count() == 1  # visible inside its own transaction
            raise RuntimeError("business rule failed after publishing")
    assert OutboxEvent.objects.count() == 0

    with transaction.atomic():
        event = bus.publish("test.created", payload={"n": 2}, region_code="140213050")
    stored = OutboxEvent.objects.get()
    assert stored.pk == event.pk and stored.payload == {"n": 2} and stored.region_code == "140213050"
    assert stored.dispatched_at is None and stored.attempts == 0 and stored.request_id


@pytest.mark.django_db
def test_publish_takes_the_aggregate_and_its_region():
    day = CalendarDay.objects.create(date=date(2027, 2, 1), is_workday=False)
    day.region_code = "140213051"  # any model with a region_code attribute
    event = bus.publish("test.changed", aggregate=day)
    assert (event.aggregate_type, event.aggregate_id, event.region_code) == (
        "sla.calendarday",
        str(day.pk),
        "140213051",
    )


@REAL_COMMITS
def test_uncommitted_event_is_invisible_to_the_worker(registry):
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory SQLite test database locks whole tables across connections")
    seen = []
    registry.handler("test.*", name="seen")(lambda e: seen.append(e.pk))

    def worker():
        seen.append(("dispatched", bus.dispatch_pending()))
        connection.close()

    with transaction.atomic():
        bus.publish("test.created")
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [("dispatched", 0)]
    assert bus.dispatch_pending() == 1
    assert len(seen) == 2


# ---- dispatch -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatch_delivers_once_to_each_matching_handler(registry):
    calls = []
    registry.handler("case.*", name="any-case")(lambda e: calls.append(("any-case", e.topic)))
    registry.handler("case.closed", name="closed")(lambda e: calls.append(("closed", e.topic)))
    registry.handler("hazard.*", name="hazards")(lambda e: calls.append(("hazards", e.topic)))
    bus.publish("case.closed")
    bus.publish("case.opened")

    assert bus.dispatch_pending() == 2
    assert sorted(calls) == [
        ("any-case", "case.closed"),
        ("any-case", "case.opened"),
        ("closed", "case.closed"),
    ]
    assert HandlerRun.objects.count() == 3
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()

    assert bus.dispatch_pending() == 0  # delivered events are not delivered again
    assert len(calls) == 3


@pytest.mark.django_db
def test_event_without_handlers_is_marked_dispatched(registry):
    bus.publish("nobody.listens")
    assert bus.dispatch_pending() == 1
    assert OutboxEvent.objects.get().dispatched_at is not None


@pytest.mark.django_db
def test_failing_handler_is_retried_with_backoff_and_does_not_block_others(registry):
    calls = {"ok": 0, "flaky": 0}

    def ok(event):
        calls["ok"] += 1

    def flaky(event):
        calls["flaky"] += 1
        # The handler's writes roll back with its failure: never half-applied.
        CalendarDay.objects.create(date=date(2030, 1, calls["flaky"]), is_workday=False)
        if calls["flaky"] < 3:
            raise ConnectionError("webhook down")

    registry.handler("test.*", name="ok")(ok)
    registry.handler("test.*", name="flaky")(flaky)
    event = bus.publish("test.created")
    later = bus.publish("test.other")

    assert bus.dispatch_pending() == 0  # both events have a failed handler
    event.refresh_from_db()
    assert event.dispatched_at is None and event.attempts == 1
    assert "webhook down" in event.last_error
    assert event.available_at > timezone.now()  # backoff: not due again at once
    assert calls == {"ok": 2, "flaky": 2}  # the failing handler did not stop the other one
    assert not CalendarDay.objects.exists()
    assert set(HandlerRun.objects.values_list("handler", flat=True)) == {"ok"}

    assert bus.dispatch_pending() == 0  # still backing off: nothing is attempted
    assert calls["flaky"] == 2

    OutboxEvent.objects.update(available_at=timezone.now() - timedelta(seconds=1))  # backoff elapsed
    assert bus.dispatch_pending() == 2  # the webhook is back: both events complete
    event.refresh_from_db()
    later.refresh_from_db()
    assert event.dispatched_at and later.dispatched_at and event.attempts == 2
    assert calls == {"ok": 2, "flaky": 4}  # the handler that had succeeded was not run again
    assert HandlerRun.objects.filter(handler="flaky").count() == 2
    assert CalendarDay.objects.count() == 2  # exactly the two successful runs' writes


@pytest.mark.django_db
def test_backoff_grows_and_gives_up_after_max_attempts(registry):
    registry.handler("test.*", name="broken")(lambda e: 1 / 0)
    event = bus.publish("test.created")
    delays = []
    for _ in range(bus.MAX_ATTEMPTS + 2):
        before = timezone.now()
        bus.dispatch_pending()
        event.refresh_from_db()
        delays.append((event.available_at - before).total_seconds())
        OutboxEvent.objects.update(available_at=timezone.now())
    assert event.attempts == bus.MAX_ATTEMPTS  # no attempt beyond the maximum
    assert delays[0] < delays[3] < delays[8]
    assert list(outbox_tasks.failed_events()) == [event]
    assert outbox_tasks.retry_failed() == 1
    event.refresh_from_db()
    assert event.attempts == 0


@pytest.mark.django_db
def test_redelivery_after_a_crash_does_not_rerun_a_handler(registry):
    calls = []
    registry.handler("test.*", name="first")(lambda e: calls.append("first"))
    registry.handler("test.*", name="second")(lambda e: calls.append("second"))
    event = bus.publish("test.created")
    # A worker ran "first" (its effect and HandlerRun committed together) and died before "second"
    # and before marking the event dispatched.
    HandlerRun.objects.create(event=event, handler="first")

    assert bus.dispatch_pending() == 1
    assert calls == ["second"]
    # Redelivering an already-complete event (e.g. a second worker picked it up) runs nothing.
    assert bus.deliver(event) is True
    assert calls == ["second"]


@pytest.mark.django_db
def test_prune_deletes_old_delivered_events_only(registry):
    old = bus.publish("test.old")
    recent = bus.publish("test.recent")
    pending = bus.publish("test.pending")
    bus.dispatch_pending()
    OutboxEvent.objects.filter(pk=pending.pk).update(dispatched_at=None)
    OutboxEvent.objects.filter(pk=old.pk).update(dispatched_at=timezone.now() - timedelta(days=40))
    assert outbox_tasks.prune_dispatched(30, batch=1) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert outbox_tasks.prune_dispatched(0) == 0  # 0 keeps everything


# ---- the worker's poll --------------------------------------------------------------------------------


def _plan(queryset) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [row[3] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_due_events_are_the_undelivered_due_ones_with_attempts_left_oldest_first():
    now = timezone.now()
    first, second = bus.publish("test.a"), bus.publish("test.b")
    OutboxEvent.objects.create(topic="test.delivered", dispatched_at=now)
    OutboxEvent.objects.create(topic="test.later", available_at=now + timedelta(minutes=5))
    OutboxEvent.objects.create(topic="test.gave_up", attempts=bus.MAX_ATTEMPTS)
    assert list(bus.due_events(now + timedelta(seconds=1)).values_list("pk", flat=True)) == [first.pk, second.pk]


@pytest.mark.django_db
def test_the_poll_reads_the_pending_events_through_their_partial_index():
    """The poll must not walk the table: thousands of delivered events are kept for 30 days. On SQLite the
    statistics below (taken while every kept event was delivered in one instant) made the planner walk the
    whole table in id order before `outbox_due` existed."""
    from civicgrid.foundation.core import dbstats

    at = timezone.now() - timedelta(hours=1)
    OutboxEvent.objects.bulk_create(
        [OutboxEvent(topic="test.old", created_at=at, available_at=at, dispatched_at=at, attempts=1)
         for _ in range(300)]
    )
    pending = bus.publish("test.pending")
    dbstats.refresh_statistics([OutboxEvent])
    poll = bus.due_events().values_list("id", flat=True)[:500]
    assert list(poll) == [pending.pk]
    if connection.vendor == "sqlite":
        plan = _plan(poll)
        assert any("USING INDEX outbox_due" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan  # read in order, not sorted
    else:  # PostgreSQL picks by size and statistics; the index it can pick must be the partial one
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_due'")
            (definition,) = cursor.fetchone()
        assert "WHERE (dispatched_at IS NULL)" in definition
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = _plan(poll)
        assert any("outbox_due" in step for step in plan), plan


@pytest.mark.django_db
def test_prune_reads_old_delivered_events_by_their_delivery_time():
    cutoff = timezone.now() - timedelta(days=30)
    old = [OutboxEvent.objects.create(topic="test.old", dispatched_at=cutoff - timedelta(days=d)) for d in (3, 1, 2)]
    kept = OutboxEvent.objects.create(topic="test.kept", dispatched_at=timezone.now())
    assert outbox_tasks.prune_dispatched(30, batch=2) == 3
    assert not OutboxEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert OutboxEvent.objects.filter(pk=kept.pk).exists()
    if connection.vendor == "sqlite":
        plan = _plan(outbox_tasks.delivered_before(cutoff).values_list("id", flat=True)[:5000])
        assert not any(step.startswith("SCAN events_outboxevent") and "INDEX" not in step for step in plan), plan

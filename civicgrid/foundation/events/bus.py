"""Publish events inside the business transaction; dispatch them to handlers after commit.

`publish` only inserts an outbox row, so an event exists if and only if its transaction committed. The
worker (and, for the embedded demo, an after-commit nudge) calls `dispatch_pending`, which delivers each
event at least once to every matching handler; a handler's own writes and its `HandlerRun` row commit
together, so a handler never applies twice.
"""

from __future__ import annotations

import fnmatch
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..core import context
from .models import HandlerRun, OutboxEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handler:
    name: str
    pattern: str
    func: Callable[[OutboxEvent], None]


_HANDLERS: dict[str, Handler] = {}
MAX_ATTEMPTS = 12


def handler(pattern: str, *, name: str | None = None):
    """Register a function to receive events whose topic matches `pattern` (shell-style, e.g. "case.*")."""

    def register(func):
        key = name or f"{func.__module__}.{func.__qualname__}"
        _HANDLERS[key] = Handler(key, pattern, func)
        return func

    return register


def handlers_for(topic: str) -> list[Handler]:
    return [h for h in _HANDLERS.values() if fnmatch.fnmatchcase(topic, h.pattern)]


def publish(topic: str, *, payload: dict | None = None, aggregate=None, region_code: str = "") -> OutboxEvent:
    """Write an event to the outbox in the caller's transaction."""
    aggregate_type = aggregate_id = ""
    if aggregate is not None:
        aggregate_type = aggregate._meta.label_lower
        aggregate_id = str(aggregate.pk)
        region_code = region_code or getattr(aggregate, "region_code", "") or ""
    return OutboxEvent.objects.create(
        topic=topic,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        region_code=region_code,
        payload=payload or {},
        request_id=context.current().request_id,
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


def deliver(event: OutboxEvent) -> bool:
    """Run every matching handler that has not yet processed the event; True when all have."""
    matching = handlers_for(event.topic)
    if not matching:  # most topics have no handler here: nothing to look up
        return True
    done = set(HandlerRun.objects.filter(event=event).values_list("handler", flat=True))
    ok = True
    for h in matching:
        if h.name in done:
            continue
        try:
            with transaction.atomic():
                h.func(event)
                HandlerRun.objects.create(event=event, handler=h.name)
        except IntegrityError:
            # Another worker ran it concurrently and committed first: that is a delivery, not a failure.
            if not HandlerRun.objects.filter(event=event, handler=h.name).exists():
                ok = False
                event.last_error = traceback.format_exc()[-2000:]
        except Exception:  # a failing handler must not stop the others; it is retried with backoff
            ok = False
            log.exception("event handler %s failed on %s", h.name, event)
            event.last_error = f"{h.name}: " + traceback.format_exc()[-2000:]
    return ok


def due_events(now=None):
    """Undelivered events whose time has come and that have attempts left, oldest first: the worker's poll,
    read through the partial index `outbox_due`, so its cost follows the pending events, not the table."""
    now = timezone.now() if now is None else now
    return OutboxEvent.objects.filter(
        dispatched_at__isnull=True, available_at__lte=now, attempts__lt=MAX_ATTEMPTS
    ).order_by("id")


def dispatch_pending(limit: int = 500) -> int:
    """Deliver due events (oldest first); returns how many were completed."""
    ids = list(due_events().values_list("id", flat=True)[:limit])
    completed = 0
    with context.acting(channel="worker"):
        for event in OutboxEvent.objects.filter(id__in=ids).order_by("id"):
            event.attempts += 1
            if deliver(event):
                event.dispatched_at = timezone.now()
                completed += 1
            else:
                event.available_at = timezone.now() + _backoff(event.attempts)
            event.save(update_fields=["attempts", "dispatched_at", "available_at", "last_error"])
    return completed

"""Housekeeping of the outbox, run by the worker (and available as ``django.tasks`` tasks).

Delivered events are only needed for a while (to inspect a delivery, to replay to a webhook added
later); without pruning the outbox grows with every write. Events that exhausted their attempts are kept
for an administrator to look at and ``retry_failed``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from ..core.retries import retry_chosen
from .bus import MAX_ATTEMPTS
from .models import OutboxEvent

log = logging.getLogger(__name__)


def keep_days() -> int:
    """How long delivered events are kept (``CIVICGRID_OUTBOX_KEEP_DAYS``, default 30; 0 keeps all)."""
    return int(getattr(settings, "CIVICGRID_OUTBOX_KEEP_DAYS", 30))


def delivered_before(cutoff):
    """Events delivered before `cutoff`, in delivery order: a range of the index `outbox_pending`, so the
    last, empty batch of a prune reads no rows (in id order, SQLite would walk the whole table for it)."""
    return OutboxEvent.objects.filter(dispatched_at__lt=cutoff).order_by("dispatched_at", "id")


def prune_dispatched(days: int | None = None, batch: int = 5000) -> int:
    """Delete events delivered more than ``days`` ago, in batches so a big backlog never holds a long
    write lock (SQLite); returns how many were deleted. Their ``HandlerRun`` rows go with them."""
    days = keep_days() if days is None else days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(delivered_before(cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            OutboxEvent.objects.filter(id__in=ids).delete()
        deleted += len(ids)


def failed_events():
    """Events that gave up after ``MAX_ATTEMPTS`` failed deliveries (for an administrator's list)."""
    return OutboxEvent.objects.filter(dispatched_at__isnull=True, attempts__gte=MAX_ATTEMPTS).order_by("id")


def retry_failed(ids=None, *, actor=None) -> int:
    """Give failed events (all, or those in ``ids``) a fresh set of attempts, due now; audited. Every id must
    still name a failed event, or nothing changes (``core.retries``)."""
    from civicgrid.foundation.audit import verbs

    return retry_chosen(failed_events(), ids, actor=actor, action=verbs.Ops.EVENTS_RETRIED,
                        reset={"attempts": 0, "available_at": timezone.now()}, what="领域事件")


@task(queue_name="default")
def prune_outbox(days: int | None = None) -> int:
    """Background-task form of ``prune_dispatched``."""
    n = prune_dispatched(days)
    if n:
        log.info("pruned %d delivered events", n)
    return n

"""Whether the background worker is running, as the pages can tell: each worker process keeps a row
(`WorkerBeat`) that it writes when it starts, at most every `BEAT_EVERY` seconds while it works, and when it
stops. Without a running worker nothing is lost, but nothing moves either: no SLA warning or breach, no
automatic escalation or dispatch, no SMS retry, no queued Open311 report made into a case. So the operations
page shows each process, and the command board warns when none has been seen for `stale_after()` seconds.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from .models import WorkerBeat

BEAT_EVERY = 15.0  # seconds between two writes of a working process's row
KEEP_STOPPED = timedelta(days=7)  # a stopped (or long lost) process's row is kept this long, then forgotten
# A process silent this long was killed (`kill -9`, a host gone): no longer listed one by one, only counted.
LOST_AFTER = timedelta(days=1)


ONCE = "once:"  # the id prefix of `worker --once` runs (from cron, say): one row per host, not one per run


def once_id() -> str:
    """The row `worker --once` keeps on this host."""
    return f"{ONCE}{socket.gethostname()}"[:64]


def _state(row: WorkerBeat, fresh: datetime) -> str:
    if row.seen_at < fresh:
        return "stopped" if row.stopped_at else "silent"
    # A long-running process counts while it has not stopped; a `--once` run counts for a while after its
    # pass, as the next one is due (cron).
    return "running" if row.stopped_at is None or row.worker_id.startswith(ONCE) else "stopped"


def stale_after() -> int:
    """Seconds without a beat after which a process counts as not responding
    (`CIVICGRID_WORKER_STALE_SECONDS`, default 90: six missed beats)."""
    return int(getattr(settings, "CIVICGRID_WORKER_STALE_SECONDS", 90))


def started(worker_id: str) -> None:
    """Record a process that starts, with its public address setting (and forget processes stopped, or last
    seen, more than `KEEP_STOPPED` ago)."""
    now = timezone.now()
    WorkerBeat.objects.filter(seen_at__lt=now - KEEP_STOPPED).delete()
    WorkerBeat.objects.update_or_create(worker_id=worker_id, defaults={
        "host": socket.gethostname()[:100], "pid": os.getpid(), "started_at": now, "seen_at": now,
        "stopped_at": None, "last_error": "", "last_error_at": None,
        "public_base_url": (getattr(settings, "CIVICGRID_PUBLIC_BASE_URL", "") or "")[:200]})


def beat(worker_id: str, *, error: str = "") -> None:
    """The process is at work (a pass began, or a long one goes on); `error` records a pass that failed."""
    now = timezone.now()
    fields = {"seen_at": now, "stopped_at": None}
    if error:
        fields.update(last_error=error[:300], last_error_at=now)
    if not WorkerBeat.objects.filter(worker_id=worker_id).update(**fields):
        started(worker_id)
        if error:
            WorkerBeat.objects.filter(worker_id=worker_id).update(last_error=error[:300], last_error_at=now)


def stopped(worker_id: str) -> None:
    """The process stops (a signal, or the end of `--once`)."""
    now = timezone.now()
    WorkerBeat.objects.filter(worker_id=worker_id).update(seen_at=now, stopped_at=now)


@dataclass(frozen=True)
class Process:
    """One worker process as a page shows it."""

    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    state: str  # running | silent (no beat for stale_after()) | stopped
    once: bool  # `worker --once` runs on this host
    last_error: str
    last_error_at: datetime | None
    public_base_url: str  # the process's CIVICGRID_PUBLIC_BASE_URL ("" : its links are bare paths)


@dataclass(frozen=True)
class Status:
    processes: list[Process]
    running: int  # processes seen within stale_after()
    last_seen: datetime | None  # the latest beat of any process
    lost: int = 0  # processes silent for more than LOST_AFTER without stopping: counted, not listed

    @property
    def without_public_url(self) -> list[Process]:
        """Running processes whose SMS and email links are bare paths (no CIVICGRID_PUBLIC_BASE_URL)."""
        return [p for p in self.processes if p.state == "running" and not p.public_base_url]

    @property
    def ok(self) -> bool:
        return self.running > 0


def status(now: datetime | None = None, limit: int = 20) -> Status:
    """The worker processes, running ones first, newest first (at most `limit` rows); processes silent for
    more than `LOST_AFTER` (killed without stopping) are only counted."""
    now = timezone.now() if now is None else now
    fresh = now - timedelta(seconds=stale_after())
    lost = Q(stopped_at__isnull=True, seen_at__lt=now - LOST_AFTER)
    rows = list(WorkerBeat.objects.exclude(lost).order_by(F("stopped_at").asc(nulls_first=True), "-seen_at")[:limit])
    processes = [
        Process(host=r.host, pid=r.pid, started_at=r.started_at, seen_at=r.seen_at, stopped_at=r.stopped_at,
                state=_state(r, fresh), once=r.worker_id.startswith(ONCE), last_error=r.last_error,
                last_error_at=r.last_error_at, public_base_url=r.public_base_url)
        for r in rows
    ]
    processes.sort(key=lambda p: ({"running": 0, "silent": 1, "stopped": 2}[p.state], -p.seen_at.timestamp()))
    totals = WorkerBeat.objects.aggregate(last_seen=Max("seen_at"), lost=Count("pk", filter=lost))
    return Status(processes=processes, running=sum(p.state == "running" for p in processes),
                  last_seen=totals["last_seen"], lost=totals["lost"])

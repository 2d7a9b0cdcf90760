"""Whether the background worker is running, as the pages can tell: each worker process keeps a row
(`WorkerBeat`) that it writes when it starts, at most every `BEAT_EVERY` seconds while it works, and when it
stops. Without a running worker nothing is lost, but nothing moves either: no SLA warning or breach, no
automatic escalation or dispatch, no SMS retry, no queued Open311 report made into a case. So the operations
page shows each process, and the command board warns when none has been seen for `stale_after()` seconds.

Each web server process keeps a row of its own (`kind` "web", `WebBeat`): a thread writes it when the process
starts and then every `WEB_BEAT_EVERY` seconds, busy or idle, never per request. `civicgrid restore` refuses
while one was seen within `WEB_STALE_AFTER` (`running_web`). Web rows are not workers: `status` leaves them out.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.crypto import get_random_string

from .models import WorkerBeat

log = logging.getLogger(__name__)

BEAT_EVERY = 15.0  # seconds between two writes of a working process's row
WEB_BEAT_EVERY = 60.0  # seconds between two writes of a web server process's row
WEB_STALE_AFTER = 150  # seconds without a beat after which a web process counts as gone (two and a half beats)
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


def started(worker_id: str, *, kind: str = WorkerBeat.WORKER) -> None:
    """Record a process that starts, with its public address setting (and forget processes stopped, or last
    seen, more than `KEEP_STOPPED` ago)."""
    now = timezone.now()
    WorkerBeat.objects.filter(seen_at__lt=now - KEEP_STOPPED).delete()
    WorkerBeat.objects.update_or_create(worker_id=worker_id, defaults={
        "kind": kind, "host": socket.gethostname()[:100], "pid": os.getpid(), "started_at": now, "seen_at": now,
        "stopped_at": None, "last_error": "", "last_error_at": None,
        "public_base_url": (getattr(settings, "CIVICGRID_PUBLIC_BASE_URL", "") or "")[:200]})


def beat(worker_id: str, *, error: str = "", kind: str = WorkerBeat.WORKER) -> None:
    """The process is at work (a pass began, or a long one goes on); `error` records a pass that failed."""
    now = timezone.now()
    fields = {"seen_at": now, "stopped_at": None}
    if error:
        fields.update(last_error=error[:300], last_error_at=now)
    if not WorkerBeat.objects.filter(worker_id=worker_id).update(**fields):
        started(worker_id, kind=kind)
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
    workers = WorkerBeat.objects.filter(kind=WorkerBeat.WORKER)
    rows = list(workers.exclude(lost).order_by(F("stopped_at").asc(nulls_first=True), "-seen_at")[:limit])
    processes = [
        Process(host=r.host, pid=r.pid, started_at=r.started_at, seen_at=r.seen_at, stopped_at=r.stopped_at,
                state=_state(r, fresh), once=r.worker_id.startswith(ONCE), last_error=r.last_error,
                last_error_at=r.last_error_at, public_base_url=r.public_base_url)
        for r in rows
    ]
    processes.sort(key=lambda p: ({"running": 0, "silent": 1, "stopped": 2}[p.state], -p.seen_at.timestamp()))
    totals = workers.aggregate(last_seen=Max("seen_at"), lost=Count("pk", filter=lost))
    return Status(processes=processes, running=sum(p.state == "running" for p in processes),
                  last_seen=totals["last_seen"], lost=totals["lost"])


# ---- web server processes ---------------------------------------------------------------------------------------


def running_web(now: datetime | None = None) -> list[Process]:
    """The web server processes seen within `WEB_STALE_AFTER` seconds that have not said they stopped."""
    now = timezone.now() if now is None else now
    rows = WorkerBeat.objects.filter(kind=WorkerBeat.WEB, stopped_at__isnull=True,
                                     seen_at__gte=now - timedelta(seconds=WEB_STALE_AFTER)).order_by("-seen_at")
    return [Process(host=r.host, pid=r.pid, started_at=r.started_at, seen_at=r.seen_at, stopped_at=None,
                    state="running", once=False, last_error=r.last_error, last_error_at=r.last_error_at,
                    public_base_url=r.public_base_url) for r in rows]


class WebBeat:
    """The heartbeat of one web server process: a daemon thread writes the process's row at start, then every
    `every` seconds (busy or idle: a request costs nothing), and marks it stopped when the process exits
    normally. The thread's database connection is closed after each write. A write that fails (the database
    away) is logged once, and once when writing works again; the web answers its requests all the same."""

    def __init__(self, every: float = WEB_BEAT_EVERY):
        self.every = every
        self.beat_id = f"web:{socket.gethostname()}-{os.getpid()}-{get_random_string(6)}"[:64]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="civicgrid-web-heartbeat", daemon=True)
        self._failing = False

    def start(self) -> WebBeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and mark the row stopped (at exit, or in tests)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._write(stopped)

    def _run(self) -> None:
        self._write(started, kind=WorkerBeat.WEB)
        while not self._stop.wait(self.every):
            self._write(beat, kind=WorkerBeat.WEB)

    def _write(self, what, **kwargs) -> None:
        try:
            what(self.beat_id, **kwargs)
        except Exception as exc:
            if not self._failing:
                self._failing = True
                log.warning("web heartbeat not recorded (restore cannot see this process): %s: %s",
                            type(exc).__name__, " ".join(str(exc).split())[:300])
        else:
            if self._failing:
                self._failing = False
                log.info("web heartbeat recorded again")
        finally:
            connection.close()


_web: WebBeat | None = None


def start_web_beat() -> WebBeat:
    """Start this web process's heartbeat (config/wsgi.py), once per process; a child forked from it (a
    server's worker processes) starts its own."""
    global _web
    if _web is None:
        _web = WebBeat().start()
        atexit.register(_stop_web_beat)
        os.register_at_fork(after_in_child=_forked)
    return _web


def _stop_web_beat() -> None:
    if _web is not None:
        _web.stop()


def _forked() -> None:
    global _web
    _web = WebBeat().start()

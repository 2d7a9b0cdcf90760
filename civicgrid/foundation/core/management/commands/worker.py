"""`civicgrid worker`: the one background process of a deployment.

Every ``--interval`` seconds (``CIVICGRID_WORKER_INTERVAL``, default 1) the main loop
  1. sweeps SLA clocks (``sla.sweep.sweep``: warnings and breaches, as outbox events),
  2. runs the jobs the apps registered (``core.jobs``: Open311's queued reports made into cases, email
     or SMS a sender failed to hand over, tried again, and case ledgers past their hours removed),
  3. delivers pending outbox events to their handlers (``events.bus.dispatch_pending``),
  4. once an hour prunes old delivered events and blanks personal data past its retention period
     (``core.retention``).
Queued ``django.tasks`` tasks (django-tasks-db backend) run in a second thread, claimed and run with
django-tasks-db's own worker code, so a long task (an import) never delays a warning or a breach.

Everything is polled from the database, so any number of workers may run (PostgreSQL: row locks with
SKIP LOCKED keep them apart; SQLite: write transactions serialise) and a restarted worker resumes where
the last one stopped. SIGTERM/SIGINT finish the current tick and the current task, then exit; a second
signal exits at once (open transactions roll back). ``--once`` runs one pass (sweep, all ready tasks,
delivery) and exits: for tests and cron.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, close_old_connections, connection
from django.db.backends.signals import connection_created
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django.utils.crypto import get_random_string

from civicgrid.foundation.core import context, heartbeat, jobs, keys, retention
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.tasks import prune_dispatched
from civicgrid.foundation.sla.sweep import sweep

log = logging.getLogger("civicgrid.worker")

PRUNE_EVERY = 3600.0  # seconds between outbox prunes
MAX_BACKOFF = 60.0  # the longest wait between two failing passes (a database that is down)
REMIND_EVERY = 600.0  # seconds between two log lines about the same run of failures
DISPATCH_BATCH = 500
SQLITE_CACHE_KIB = 65536


def tune_sqlite(sender=None, connection=None, **kwargs) -> None:
    """Give the worker's SQLite connections a 64 MB page cache.

    A sweep batch rewrites thousands of rows scattered over the table; with SQLite's default 2 MB the
    cache spills to the WAL in the middle of the transaction (measured: a 10,000-breach burst over 1 M
    clocks took 1.7 times as long). Web processes keep the default.
    """
    if connection is not None and connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def yield_cpu(niceness: int) -> None:
    """Add ``niceness`` to this process's (POSIX; nothing elsewhere or for 0): deferred work waits for requests."""
    if niceness > 0 and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError:
            log.warning("could not lower the worker's priority by %d", niceness)


class Failures:
    """A run of failing passes of one loop (a database down or restarting). The first failure is logged (one
    line when the database cannot be reached, else with its traceback), then one reminder line every
    `REMIND_EVERY` seconds, and one line when a pass works again; the wait before the next pass doubles from
    the interval up to `MAX_BACKOFF`."""

    def __init__(self, what: str, interval: float):
        self.what, self.interval = what, interval
        self.count = 0
        self.since = self.logged = 0.0

    @property
    def failing(self) -> bool:
        return self.count > 0

    def failed(self, exc: BaseException) -> float:
        """Note one failure; returns the seconds to wait before the next try."""
        self.count += 1
        now = time.monotonic()
        wait = min(MAX_BACKOFF, max(self.interval, 1.0) * 2 ** min(self.count - 1, 16))
        if self.count == 1:
            self.since = self.logged = now
            if isinstance(exc, OperationalError):
                log.error("%s failed, database unavailable: %s; retrying with growing waits (at most %.0fs)",
                          self.what, _one_line(exc), MAX_BACKOFF)
            else:
                log.exception("%s failed; retrying with growing waits (at most %.0fs)", self.what, MAX_BACKOFF)
        elif now - self.logged >= REMIND_EVERY:
            self.logged = now
            log.error("%s still failing: %d tries in %.0fs, last: %s", self.what, self.count, now - self.since,
                      _one_line(exc))
        return wait

    def succeeded(self) -> None:
        if self.count:
            log.info("%s works again after %d failed tries in %.0fs", self.what, self.count,
                     time.monotonic() - self.since)
        self.count = 0


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


class TaskRunner:
    """Claims and runs ready tasks of one django-tasks-db backend, one at a time.

    Claiming copies django-tasks-db's worker (ready → locked → claimed, in an exclusive transaction);
    running reuses its ``Worker.run_task``, which sends the task signals and records success or failure.
    """

    def __init__(self, alias: str = DEFAULT_TASK_BACKEND_ALIAS, worker_id: str | None = None, enabled=True):
        self.alias = alias
        self.enabled = False
        self.queues: list[str] = []
        self.worker_id = ""
        if not enabled:
            return
        try:
            from django_tasks_db.backend import DatabaseBackend

            backend = task_backends[alias]
        except Exception:  # no such alias, or django-tasks-db not installed: nothing to run here
            return
        if not isinstance(backend, DatabaseBackend):
            return  # e.g. the immediate backend in tests, or a Redis backend with its own workers
        from django_tasks_db.management.commands.db_worker import Worker

        self.enabled = True
        self.queues = sorted(backend.queues)
        self.worker_id = worker_id or f"civicgrid-{get_random_string(12)}"
        self._worker = Worker(
            queue_names=self.queues,
            interval=0,
            batch=True,
            backend_name=alias,
            startup_delay=False,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )

    def claim(self):
        """The next ready task, marked as claimed by this worker; None when there is none (or the
        SQLite database is momentarily locked by another writer: try again next time)."""
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

        tasks = DBTaskResult.objects.ready().filter(backend_name=self.alias, queue_name__in=self.queues)
        try:
            with exclusive_transaction(tasks.db):
                result = tasks.get_locked()
                if result is not None:
                    result.claim(self.worker_id)
                return result
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run_ready(self, stop: threading.Event | None = None, limit: int = 1000) -> int:
        """Run ready tasks until none is left, ``limit`` have run, or ``stop`` is set; returns the count."""
        if not self.enabled:
            return 0
        ran = 0
        while ran < limit and not (stop and stop.is_set()):
            result = self.claim()
            if result is None:
                break
            started = time.monotonic()
            with context.acting(channel="worker"):
                self._worker.run_task(result)
            # django.tasks logs each task's start and outcome itself; add only the duration.
            log.debug("task %s took %.2fs", result.task_path, time.monotonic() - started)
            ran += 1
        return ran


class TaskThread(threading.Thread):
    """Runs tasks beside the main loop; stops after the current task when ``stop`` is set."""

    def __init__(self, runner: TaskRunner, interval: float, stop: threading.Event):
        # Daemon: a second signal exits at once without waiting for a task that may never end.
        super().__init__(name="civicgrid-tasks", daemon=True)
        self.runner, self.interval, self.stop = runner, interval, stop

    def run(self) -> None:
        failures = Failures("task runner", self.interval)
        try:
            while not self.stop.is_set():
                try:
                    close_old_connections()  # drop a connection the database has closed meanwhile
                    ran = self.runner.run_ready(self.stop, limit=100)
                    failures.succeeded()
                except Exception as exc:
                    wait = failures.failed(exc)
                    connection.close()
                    ran = 0
                    self.stop.wait(wait)
                if not ran:
                    self.stop.wait(self.interval)
        finally:
            connection.close()  # this thread's own connection


class Command(BaseCommand):
    help = (
        "Run the background worker: SLA sweep, event delivery and queued tasks (Ctrl-C or SIGTERM stops it)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="one pass (sweep, ready tasks, delivery), then exit"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between passes (default: settings.CIVICGRID_WORKER_INTERVAL)",
        )
        parser.add_argument("--no-tasks", action="store_true", help="do not run queued django.tasks tasks")
        parser.add_argument(
            "--backend", default=DEFAULT_TASK_BACKEND_ALIAS, help="django.tasks backend alias"
        )
        parser.add_argument("--sweep-batch", type=int, default=5000, help="SLA clocks marked per transaction")
        parser.add_argument(
            "--nice", type=int, default=None,
            help="niceness to add, so web requests come first (default: settings.CIVICGRID_WORKER_NICE, 5)",
        )

    def handle(
        self, *args, once=False, interval=None, no_tasks=False, backend="default", sweep_batch=5000, nice=None,
        **options
    ):
        try:
            keys.encryptor()  # no key file over encrypted data: refuse to start, naming the file to restore
        except keys.KeyFileMissing as exc:
            raise CommandError(str(exc)) from None
        if not once:
            yield_cpu(settings.CIVICGRID_WORKER_NICE if nice is None else nice)
        self.interval = max(
            0.05, float(interval if interval is not None else settings.CIVICGRID_WORKER_INTERVAL)
        )
        self.sweep_batch = sweep_batch
        self.stop = threading.Event()
        self.last_prune = float("-inf")
        runner = TaskRunner(backend, enabled=not no_tasks)
        connection_created.connect(tune_sqlite)
        if connection.connection is not None:
            tune_sqlite(connection=connection)
        self.failures = Failures("worker pass", self.interval)
        self.beat_id = heartbeat.once_id() if once else f"{socket.gethostname()}-{os.getpid()}-{get_random_string(6)}"[:64]
        self.last_beat = float("-inf")
        try:
            if once:
                summary = self.tick(runner=runner)
                if any(summary.values()):
                    self.stdout.write(self.describe(summary))
                self.record(heartbeat.stopped)
                return
            self.loop(runner)
        finally:
            connection_created.disconnect(tune_sqlite)

    # ---- the heartbeat (core.heartbeat): what the pages know of this process ---------------------------

    def record(self, func, **kwargs) -> None:
        """Write this process's row; a database that fails here fails the pass, not the process."""
        try:
            func(self.beat_id, **kwargs)
        except Exception as exc:
            if isinstance(exc, OperationalError):  # the database is away: the pass says so, once
                if not self.failures.failing:
                    log.warning("worker heartbeat not written: %s", _one_line(exc))
            else:
                log.exception("worker heartbeat not written")
            if not connection.in_atomic_block:  # (a caller's transaction, as in tests, is left alone)
                connection.close_if_unusable_or_obsolete()

    def maybe_beat(self) -> None:
        """Beat at most every `heartbeat.BEAT_EVERY` seconds: at the start of a pass and during long ones."""
        if time.monotonic() - self.last_beat >= heartbeat.BEAT_EVERY:
            self.last_beat = time.monotonic()
            self.record(heartbeat.beat)

    # ---- one pass --------------------------------------------------------------------------------------

    def tick(self, runner: TaskRunner | None = None) -> dict:
        """One pass: sweep, deliver (until drained), tasks (only when no task thread), deliver again."""
        summary = {"warned": 0, "breached": 0, "jobs": 0, "delivered": 0, "tasks": 0, "pruned": 0}
        self.maybe_beat()
        with context.acting(channel="worker"):
            summary["warned"], summary["breached"] = sweep(batch=self.sweep_batch)
            summary["jobs"] = self.run_jobs()
        summary["delivered"] += self.deliver()
        if runner is not None and runner.enabled:
            summary["tasks"] = runner.run_ready(self.stop)
            if summary["tasks"]:
                summary["delivered"] += self.deliver()  # events the tasks published
        if time.monotonic() - self.last_prune >= PRUNE_EVERY:
            self.last_prune = time.monotonic()
            summary["pruned"] = prune_dispatched()
            # Personal data past its retention period is blanked (core.retention; audited per batch).
            with context.acting(channel="worker"):
                retention.apply()
            # Failed imports keep their upload (clear personal numbers) only while someone fixes the file.
            from civicgrid.foundation.imports.services import purge_stale_uploads

            purge_stale_uploads()
        return summary

    def run_jobs(self) -> int:
        """Every registered job once; a failing job is logged and the others still run."""
        done = 0
        for name, job in jobs.registered().items():
            if self.stop.is_set():
                break
            try:
                done += int(job() or 0)
            except Exception:
                log.exception("worker job %s failed; retrying next pass", name)
                if not connection.in_atomic_block:  # (a caller's transaction, as in tests, is left alone)
                    connection.close_if_unusable_or_obsolete()  # a broken connection is replaced next time
        return done

    def deliver(self) -> int:
        delivered = 0
        while not self.stop.is_set():
            n = bus.dispatch_pending(limit=DISPATCH_BATCH)
            delivered += n
            self.maybe_beat()  # a backlog may take minutes: still alive
            if n < DISPATCH_BATCH:  # drained (failures wait for their backoff)
                return delivered
        return delivered

    @staticmethod
    def describe(summary: dict) -> str:
        return (
            f"worker: {summary['warned']} warnings, {summary['breached']} breaches, "
            f"{summary['delivered']} events delivered, {summary['tasks']} tasks, {summary['pruned']} pruned"
            + f", {summary['jobs']} job items"
        )

    # ---- the long-running loop -------------------------------------------------------------------------

    def loop(self, runner: TaskRunner) -> None:
        thread = None
        if runner.enabled:
            thread = TaskThread(runner, self.interval, self.stop)
        previous = self.install_signals()
        log.info(
            "worker started: every %.2fs; tasks %s",
            self.interval,
            f"from queues {','.join(runner.queues)} ({runner.worker_id})"
            if runner.enabled
            else "not run here",
        )
        self.warn_without_public_url()
        self.record(heartbeat.started)
        self.last_beat = time.monotonic()
        try:
            if thread:
                thread.start()
            while not self.stop.is_set():
                started = time.monotonic()
                wait = None
                try:
                    close_old_connections()
                    summary = self.tick(runner=None)
                    self.failures.succeeded()
                    if any(summary.values()):
                        log.info(self.describe(summary))
                except Exception as exc:
                    # The database may be restarting or locked: keep the process, retry after a growing wait.
                    wait = self.failures.failed(exc)
                    if not connection.in_atomic_block:  # (a caller's transaction, as in tests, is left alone)
                        connection.close()
                    self.record(heartbeat.beat, error=_one_line(exc))
                if wait is None:
                    wait = max(0.0, self.interval - (time.monotonic() - started))
                self.stop.wait(wait)
        finally:
            self.stop.set()
            if thread and thread.is_alive():
                log.info("waiting for the task thread to finish its current task")
                thread.join()
            self.restore_signals(previous)
            self.record(heartbeat.stopped)
            connection.close()
            log.info("worker stopped")

    def warn_without_public_url(self) -> None:
        """The SMS and email this process sends carry follow links: without CIVICGRID_PUBLIC_BASE_URL they are
        bare paths no phone can open. Said at start (the heartbeat row keeps the setting for 运行监控)."""
        if settings.CIVICGRID_PUBLIC_BASE_URL:
            return
        text = ("未设置 CIVICGRID_PUBLIC_BASE_URL：本进程发出的短信、邮件中的查询链接只有路径，群众在手机上无法打开；"
                "请设置为本系统对外的网址（如 https://wangge.example.gov.cn）后重启 / CIVICGRID_PUBLIC_BASE_URL is not "
                "set: the follow links in the SMS and email this worker sends are bare paths no phone can open; set it "
                "to the site's public address and restart")
        log.warning(text)

    def install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self.on_signal)
        return previous

    def restore_signals(self, previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def on_signal(self, signum, frame) -> None:
        if self.stop.is_set():
            log.warning("%s again: exiting now", signal.strsignal(signum))
            raise SystemExit(1)
        log.info("%s: finishing the current pass and task, then exiting", signal.strsignal(signum))
        self.stop.set()

"""`civicgrid worker`: one pass (`--once`) sweeps SLA clocks, runs queued tasks and delivers events; the
long-running loop stops cleanly on SIGTERM."""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.tasks import task
from django.test import override_settings
from django.utils import timezone

from civicgrid.foundation.core import heartbeat
from civicgrid.foundation.core.models import WorkerBeat
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import SlaClock

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "imports"]}}
# Transactional: the worker commits like the real process. Only these apps' tables are flushed afterwards
# (the audit table refuses TRUNCATE on PostgreSQL).
REAL_COMMITS = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "civicgrid.foundation.core",
        "civicgrid.foundation.events",
        "civicgrid.foundation.sla",
        "django_tasks_db",
    ],
)


@task(queue_name="imports")
def publish_from_a_task(value: int) -> int:
    """A queued task that publishes an event, as an import finishing would."""
    bus.publish("test.task_ran", payload={"value": value})
    return value * 2


@pytest.fixture
def seen(monkeypatch):
    monkeypatch.setattr(bus, "_HANDLERS", {})
    topics: list[str] = []
    bus.handler("*", name="test-recorder")(lambda event: topics.append(event.topic))
    return topics


@REAL_COMMITS
def test_once_sweeps_runs_queued_tasks_and_delivers_events(seen):
    sla.start_clock(
        target=("cases.case", "1"),
        kind="case.handle",
        limit=("natural_hours", 1),
        at=timezone.now() - timedelta(hours=2),
        region_code="140213050",
    )
    bus.publish("test.before")
    with override_settings(TASKS=DB_TASKS):
        from django_tasks_db.models import DBTaskResult

        result = publish_from_a_task.enqueue(21)
        assert DBTaskResult.objects.get().status == "READY"
        out = io.StringIO()
        call_command("worker", "--once", stdout=out)
        result.refresh()
    assert result.status == "SUCCESSFUL" and result.return_value == 42
    clock = SlaClock.objects.get()
    assert clock.warned(timezone.now()) and clock.breached(timezone.now())
    assert OutboxEvent.objects.filter(topic__in=["sla.warning", "sla.breached"]).count() == 2
    assert sorted(seen) == sorted(
        ["sla.started", "test.before", "sla.warning", "sla.breached", "test.task_ran"]
    )
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert "1 warnings, 1 breaches, 5 events delivered, 1 tasks" in out.getvalue()

    out = io.StringIO()
    call_command("worker", "--once", stdout=out)  # nothing left: silent, emits nothing twice
    assert out.getvalue() == "" and len(seen) == 5


@REAL_COMMITS
def test_once_without_a_database_task_backend_still_sweeps_and_delivers(seen):
    assert "immediate" in settings.TASKS["default"]["BACKEND"].lower()
    bus.publish("test.alone")
    call_command("worker", "--once", stdout=io.StringIO())
    assert seen == ["test.alone"]


@pytest.mark.django_db
def test_registered_jobs_run_on_each_pass_and_a_failing_one_does_not_stop_the_others(seen, monkeypatch, caplog):
    from civicgrid.foundation.core import jobs

    ran = []

    def broken():
        raise RuntimeError("job broke")

    monkeypatch.setattr(jobs, "_jobs", {})
    jobs.register("test.broken", broken)
    jobs.register("test.counting", lambda: ran.append(1) or 3)
    out = io.StringIO()
    call_command("worker", "--once", "--no-tasks", stdout=out)
    assert ran == [1] and out.getvalue().rstrip().endswith("3 job items")
    assert "worker job test.broken failed" in caplog.text
    bus.publish("test.after_jobs")
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    assert ran == [1, 1] and "test.after_jobs" in seen  # the pass went on to deliver


def test_the_worker_lowers_its_own_priority(monkeypatch):
    from civicgrid.foundation.core.management.commands import worker

    asked = []
    monkeypatch.setattr(os, "nice", lambda n: asked.append(n) or n)
    worker.yield_cpu(5)
    worker.yield_cpu(0)
    assert asked == [5]


@REAL_COMMITS
def test_loop_stops_gracefully_on_sigterm(seen):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are only delivered to the main thread")
    bus.publish("test.in_loop")
    previous = signal.getsignal(signal.SIGTERM)

    def stop_when_delivered():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            handler = signal.getsignal(signal.SIGTERM)
            if seen and handler is not previous:  # the worker's handler is installed and it has worked
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=stop_when_delivered, daemon=True)
    killer.start()
    call_command("worker", "--interval", "0.05", "--no-tasks", stdout=io.StringIO())
    killer.join(5)
    assert seen == ["test.in_loop"]
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    # The process recorded itself, and its stop: the pages no longer count it as running.
    (row,) = WorkerBeat.objects.all()
    assert row.pid == os.getpid() and row.stopped_at is not None and row.started_at <= row.seen_at
    assert heartbeat.status().running == 0 and heartbeat.status().processes[0].state == "stopped"


@pytest.mark.slow
def test_worker_process_end_to_end(tmp_path):
    """The real process on a fresh SQLite file: task thread, sweep, delivery, SIGTERM → exit 0."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("uses its own SQLite file whatever the database: run once, in the SQLite pass")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CIVICGRID_SQLITE_PATH"}}
    env.update(CIVICGRID_DATA_DIR=str(tmp_path), CIVICGRID_TESTING="0", CIVICGRID_LOG_LEVEL="INFO")
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    setup = (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from civicgrid.foundation.events import bus\n"
        "from civicgrid.foundation.events.tasks import prune_outbox\n"
        "from civicgrid.foundation.sla import services as sla\n"
        "sla.start_clock(target=('cases.case', '9'), kind='case.handle', limit=('natural_hours', 1),"
        " at=timezone.now() - timedelta(hours=2))\n"
        "bus.publish('test.process')\n"
        "prune_outbox.enqueue(30)\n"
    )
    subprocess.run([*manage, "shell", "-c", setup], env=env, check=True, timeout=60)
    worker = subprocess.Popen(
        [*manage, "worker", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = sqlite3.connect(tmp_path / "civicgrid.sqlite3", timeout=10)
    try:
        deadline = time.monotonic() + 30
        done = False
        beating = None
        while time.monotonic() < deadline and not (done and beating):
            time.sleep(0.2)
            task_done = db.execute(
                "select count(*) from django_tasks_database_dbtaskresult where status='SUCCESSFUL'"
            ).fetchone()
            pending = db.execute(
                "select count(*) from events_outboxevent where dispatched_at is null"
            ).fetchone()
            breached = db.execute(
                "select count(*) from events_outboxevent where topic = 'sla.breached'"
            ).fetchone()
            done = task_done == (1,) and pending == (0,) and breached == (1,)
            beating = beating or db.execute("select pid from core_workerbeat where stopped_at is null").fetchone()
        assert done, "the worker did not run the task, sweep the clock and deliver the events in time"
    finally:
        db.close()
        worker.send_signal(signal.SIGTERM)
        try:
            _, err = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert worker.returncode == 0, err
    assert "worker started" in err and "1 warnings, 1 breaches" in err and "worker stopped" in err
    assert beating == (worker.pid,)  # while it ran, its row said so
    db = sqlite3.connect(tmp_path / "civicgrid.sqlite3", timeout=10)
    try:
        assert db.execute("select count(*) from core_workerbeat where stopped_at is not null").fetchone() == (1,)
    finally:
        db.close()

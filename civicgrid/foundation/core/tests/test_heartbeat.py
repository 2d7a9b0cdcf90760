"""The worker's heartbeat: what the pages know of the background processes (`core.heartbeat`)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from civicgrid.foundation.core import heartbeat
from civicgrid.foundation.core.management.commands import worker
from civicgrid.foundation.core.models import WorkerBeat

pytestmark = pytest.mark.django_db


def test_a_process_is_running_while_it_beats_then_silent_then_stopped(settings):
    settings.CIVICGRID_WORKER_STALE_SECONDS = 90
    heartbeat.started("w1")
    now = timezone.now()
    status = heartbeat.status(now)
    assert status.ok and status.running == 1 and status.processes[0].state == "running"
    assert heartbeat.status(now + timedelta(seconds=89)).ok
    later = heartbeat.status(now + timedelta(seconds=91))
    assert not later.ok and later.processes[0].state == "silent"  # no beat: not responding
    heartbeat.beat("w1", error="OperationalError: database is locked")
    row = WorkerBeat.objects.get(worker_id="w1")
    assert row.last_error.startswith("OperationalError") and row.last_error_at is not None
    heartbeat.beat("w1")
    assert WorkerBeat.objects.get(worker_id="w1").last_error  # the last error stays until the next one
    heartbeat.stopped("w1")
    status = heartbeat.status()
    assert not status.ok and status.processes[0].state == "stopped"


def test_running_processes_come_first_and_old_stopped_ones_are_forgotten():
    now = timezone.now()
    WorkerBeat.objects.create(worker_id="old", host="h", pid=1, started_at=now - timedelta(days=9),
                              seen_at=now - timedelta(days=8), stopped_at=now - timedelta(days=8))
    WorkerBeat.objects.create(worker_id="gone", host="h", pid=2, started_at=now - timedelta(hours=2),
                              seen_at=now - timedelta(hours=1), stopped_at=now - timedelta(hours=1))
    WorkerBeat.objects.create(worker_id="hung", host="h", pid=3, started_at=now - timedelta(hours=2),
                              seen_at=now - timedelta(minutes=10))
    heartbeat.started("new")
    assert not WorkerBeat.objects.filter(worker_id="old").exists()
    assert [p.state for p in heartbeat.status().processes] == ["running", "silent", "stopped"]


def test_a_once_run_counts_until_its_next_run_is_due():
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    (row,) = WorkerBeat.objects.all()  # one row per host, not one per run
    assert row.worker_id == heartbeat.once_id() and row.stopped_at is not None
    assert heartbeat.status().ok and heartbeat.status().processes[0].once
    assert not heartbeat.status(timezone.now() + timedelta(seconds=heartbeat.stale_after() + 1)).ok


def test_a_heartbeat_that_cannot_be_written_does_not_stop_the_pass(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(heartbeat, "beat", broken)
    monkeypatch.setattr(heartbeat, "stopped", broken)
    ran = []
    monkeypatch.setattr(worker.jobs, "_jobs", {"test.job": lambda: ran.append(1) or 1})
    out = io.StringIO()
    call_command("worker", "--once", "--no-tasks", stdout=out)
    assert ran == [1] and "1 job items" in out.getvalue()
    assert "worker heartbeat not written" in caplog.text and not WorkerBeat.objects.exists()

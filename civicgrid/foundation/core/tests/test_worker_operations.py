"""The worker as an operator meets it: a database that is down is logged once per run of failures (with a
growing wait, not a traceback a second), a missing public address is said at start and kept in the heartbeat
for 运行监控, and processes killed long ago are counted, not listed."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from civicgrid.foundation.core.management.commands import worker
from civicgrid.foundation.core.models import WorkerBeat

pytestmark = pytest.mark.django_db


class _KeepOpen:
    """The database connection, but `close()` does nothing."""

    def __getattr__(self, name):
        return getattr(connection, name)

    def close(self):
        pass


def _run_loop(monkeypatch, passes):
    """Run `civicgrid worker` (the long-running loop) through `passes`, a list of callables: each pass calls
    the next (raise to fail it); the loop stops after the last."""
    waits = []
    todo = list(passes)

    def tick(self, runner=None):
        step = todo.pop(0)
        if not todo:
            self.stop.set()
        step()
        return {"warned": 0, "breached": 0, "jobs": 0, "delivered": 0, "tasks": 0, "pruned": 0}

    real_wait = worker.threading.Event.wait

    def wait(self, timeout=None):
        if timeout is not None and timeout > 0.5:
            waits.append(timeout)
            return self.is_set()
        return real_wait(self, timeout)

    monkeypatch.setattr(worker.Command, "tick", tick)
    # The loop closes its connection between failed passes and at its end: keep the test's transaction open.
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(worker, "connection", _KeepOpen())
    monkeypatch.setattr(worker.threading.Event, "wait", wait)
    call_command("worker", "--no-tasks", "--nice", "0", "--interval", "1", stdout=io.StringIO(), stderr=io.StringIO())
    return waits


def _down():
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


def test_a_database_that_is_down_is_logged_once_and_tried_again_after_growing_waits(monkeypatch, caplog, settings):
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://wangge.example.gov.cn"
    caplog.set_level(logging.INFO, logger="civicgrid.worker")
    waits = _run_loop(monkeypatch, [_down] * 6 + [lambda: None] * 2)
    failures = [r for r in caplog.records if "worker pass failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None  # one line, no traceback
    assert "Connection refused" in failures[0].getMessage()
    assert [r.getMessage() for r in caplog.records if "works again" in r.getMessage()] == [
        "worker pass works again after 6 failed tries in 0s"]
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_other_failures_keep_their_traceback_once(monkeypatch, caplog):
    def bug():
        raise KeyError("grid")

    _run_loop(monkeypatch, [bug, bug, bug])
    failures = [r for r in caplog.records if "worker pass failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert WorkerBeat.objects.get().last_error == "KeyError: 'grid'"


def test_the_backoff_stops_at_a_minute():
    failures = worker.Failures("worker pass", 1.0)
    waits = [failures.failed(OperationalError("down")) for _ in range(12)]
    assert waits[-1] == worker.MAX_BACKOFF == 60.0 and waits == sorted(waits)

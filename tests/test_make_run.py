"""`make run` end to end (slow): a fresh data directory, the demo loaded, /healthz answering on PORT, a killed
web worker started again, and Ctrl-C stopping everything within seconds.

The already-installed virtualenv is used as it is (`make -o .venv/.installed`), so the test needs no network.
Runs only when asked for (`pytest -m slow tests/test_make_run.py`, or CIVICGRID_SLOW_TESTS=1), and needs make.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthz(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def _granian_workers(port: int) -> tuple[list[int], int | None]:
    """The pids of granian's worker processes serving `port` (children of its main process), and the main's."""
    procs = {}
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(b"granian" in c for c in cmd) and str(port).encode() in cmd:
            procs[int(entry.name)] = ppid
    main = next((pid for pid, ppid in procs.items() if ppid not in procs), None)
    return sorted(pid for pid, ppid in procs.items() if ppid == main), main


@pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "civicgrid").exists(),
                    reason="needs make and an installed .venv")
def test_make_run_serves_the_demo(tmp_path, request):
    if "slow" not in (request.config.getoption("-m") or "") and os.environ.get("CIVICGRID_SLOW_TESTS") != "1":
        pytest.skip("starts the whole demo (~1 min): run with -m slow or CIVICGRID_SLOW_TESTS=1")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "CIVICGRID_"))}
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite in the data directory
    env.update({"CIVICGRID_DATA_DIR": str(tmp_path), "PORT": str(port), "CIVICGRID_TESTING": "0"})
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(["make", "-o", ".venv/.installed", "-o", ".venv/bin/activate", "run"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(1)
        log.seek(0)
        output = log.read()
        assert body == {"status": "ok"}, output[-3000:]
        assert "admin" in output and "civicgrid-demo" in output  # the demo accounts are printed
        assert (tmp_path / "civicgrid.sqlite3").exists()
        # A web worker that dies (kill -9) is started again; the service keeps answering.
        (victim, *_), main = _granian_workers(port)
        os.kill(victim, signal.SIGKILL)
        time.sleep(3)
        assert _healthz(port) == {"status": "ok"}
        assert len(_granian_workers(port)[0]) == 2 and victim not in _granian_workers(port)[0]
        # Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops everything within seconds.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        log.seek(0)
        output = log.read()
        assert "Segmentation fault" not in output and "Granian shutdown completed" in output, output[-2000:]
        assert "worker stopped" in output
        assert not _granian_workers(port)[0] and not os.path.exists(f"/proc/{main}")
    finally:
        # The whole process group: make, the worker and granian (ours alone: a new session was started).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass  # stopped already
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

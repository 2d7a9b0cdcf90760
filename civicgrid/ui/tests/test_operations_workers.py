"""运行监控 and the worker processes: a worker started without the public address is named even when the web
process has it, and processes killed long ago (no stop recorded) are counted, not listed one by one."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core import heartbeat
from civicgrid.foundation.core.models import WorkerBeat
from civicgrid.foundation.core.tests.test_worker_operations import _run_loop
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def test_a_worker_without_a_public_address_warns_at_start_and_the_page_knows(
        monkeypatch, caplog, settings, client_for):
    settings.CIVICGRID_PUBLIC_BASE_URL = ""
    _run_loop(monkeypatch, [lambda: None])
    assert any("CIVICGRID_PUBLIC_BASE_URL" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    row = WorkerBeat.objects.get()
    assert row.public_base_url == ""
    # The web process has the address; the worker (still running, say) has not: 运行监控 says so.
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://wangge.example.gov.cn"
    WorkerBeat.objects.update(stopped_at=None, seen_at=timezone.now())
    html = client_for(user_with(Role.SYSTEM_ADMIN)).get("/ops/").content.decode()
    assert "data-worker-no-public-url" in html and "data-no-public-url" not in html
    heartbeat.started(row.worker_id)  # restarted with the address set
    assert WorkerBeat.objects.get().public_base_url == "https://wangge.example.gov.cn"
    html = client_for(user_with(Role.SYSTEM_ADMIN)).get("/ops/").content.decode()
    assert "data-worker-no-public-url" not in html


def test_processes_silent_for_a_day_are_counted_not_listed(client_for):
    now = timezone.now()
    for i, age in enumerate([timedelta(days=2), timedelta(days=3), timedelta(hours=2)]):
        WorkerBeat.objects.create(worker_id=f"killed-{i}", host="h", pid=100 + i, started_at=now - age,
                                  seen_at=now - age)
    WorkerBeat.objects.create(worker_id="stopped", host="h", pid=9, started_at=now - timedelta(days=3),
                              seen_at=now - timedelta(days=2), stopped_at=now - timedelta(days=2))
    WorkerBeat.objects.create(worker_id="ancient", host="h", pid=8, started_at=now - timedelta(days=20),
                              seen_at=now - timedelta(days=10))
    status = heartbeat.status(now)
    assert sorted(p.pid for p in status.processes) == [9, 102]  # silent 2 hours: still listed; stopped: listed
    assert status.lost == 3 and status.last_seen == now - timedelta(hours=2)
    html = client_for(user_with(Role.SYSTEM_ADMIN)).get("/ops/").content.decode()
    assert "data-lost-workers" in html and "另有 3 个后台进程超过一天无响应" in html
    heartbeat.started("new")  # a start forgets rows unseen for a week
    assert not WorkerBeat.objects.filter(worker_id="ancient").exists()
    assert heartbeat.status().lost == 2


def test_web_server_processes_are_listed_apart_from_the_workers(client_for):
    heartbeat.started("web:host-a-1", kind=WorkerBeat.WEB)
    WorkerBeat.objects.filter(worker_id="web:host-a-1").update(host="web-host-a", pid=4242)
    heartbeat.started("web:host-b-2", kind=WorkerBeat.WEB)  # killed long ago: not listed
    WorkerBeat.objects.filter(worker_id="web:host-b-2").update(
        host="web-host-b", seen_at=timezone.now() - timedelta(seconds=heartbeat.WEB_STALE_AFTER + 1))
    assert heartbeat.status().processes == [] and [p.pid for p in heartbeat.running_web()] == [4242]
    html = client_for(user_with(Role.SYSTEM_ADMIN)).get("/ops/").content.decode()
    web = html[html.index("data-web-processes"):]
    web = web[:web.index("</section>")]
    assert "web-host-a" in web and "4242" in web and "web-host-b" not in web
    workers = html[html.index('data-worker="'):]
    assert "web-host-a" not in workers[:workers.index("</section>")]
    assert "没有正在运行的后台进程" in html  # the web process does not hide a missing worker

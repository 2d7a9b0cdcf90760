"""A client's stop, start and new key hold at once in every web process, not only in the one that served the
click: two real processes on one SQLite file, each with its own default (per-process) cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.formats import Open311Error
from civicgrid.integrations.open311.models import hash_key

from .conftest import KEY

# One web process: answers each line it reads (a command and its argument) with one line.
WEB_PROCESS = """
import sys
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.formats import Open311Error
from civicgrid.integrations.open311.models import Open311Client

def answer(command, arg):
    if command == "auth":
        try:
            services.authenticate(arg)
        except Open311Error as exc:
            return str(exc.status)
        return "ok"
    if command == "create":
        return services.create_client(actor=None, name=arg, rate_per_minute=1000000, burst=1000000)[1]
    client = Open311Client.objects.get(name=arg)
    if command == "rotate":
        return services.rotate_key(actor=None, client=client)[1]
    services.set_client_active(actor=None, client=client, active=command == "start")
    return "done"

for line in sys.stdin:
    print(answer(*line.split()), flush=True)
"""


class WebProcess:
    """A Django process of the deployment, driven line by line."""

    def __init__(self, manage: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(
            [*manage, "shell", "--no-imports", "-c", WEB_PROCESS],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def __call__(self, command: str, arg: str) -> str:
        self.proc.stdin.write(f"{command} {arg}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        assert line, self.proc.stderr.read()
        return line

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.slow
def test_a_stopped_started_or_rekeyed_client_is_so_at_once_in_every_process(tmp_path):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("uses its own SQLite file whatever the database: run once, in the SQLite pass")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CIVICGRID_SQLITE_PATH"}}
    # Each process keeps what it looked up for ten minutes: any delay would be unmistakable.
    env.update(
        CIVICGRID_DATA_DIR=str(tmp_path), CIVICGRID_TESTING="0", CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS="600"
    )
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=180)
    first, second = WebProcess(manage, env), WebProcess(manage, env)
    try:
        key = first("create", "区政务App")
        assert second("auth", key) == "ok" and first("auth", key) == "ok"  # both hold the client now

        assert first("stop", "区政务App") == "done"  # 停用, clicked on a page the first process served
        assert second("auth", key) == "403" and first("auth", key) == "403"

        assert first("start", "区政务App") == "done"  # the refusal the second just cached ends too
        assert second("auth", key) == "ok"

        new_key = second("rotate", "区政务App")  # 更换密钥, served by the second this time
        assert first("auth", key) == "403" and first("auth", new_key) == "ok"
        assert second("auth", key) == "403" and second("auth", new_key) == "ok"
    finally:
        first.close()
        second.close()


def test_with_a_shared_cache_the_change_deletes_the_entries_and_writes_no_stamp(o311, tmp_path):
    shared = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    with override_settings(CACHES=shared, DATA_DIR=tmp_path, CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS=600):
        try:
            assert services.authenticate(KEY).pk == o311.client.pk
            assert cache.get(services.client_cache_key(hash_key(KEY))) is not None
            assert services.CLIENT_GENERATION.token() == ""
            services.deactivate_client(actor=None, client=o311.client)
            assert cache.get(services.client_cache_key(hash_key(KEY))) is None
            with pytest.raises(Open311Error) as refused:
                services.authenticate(KEY)
            assert refused.value.status == 403 and not (tmp_path / "stamps").exists()
        finally:
            cache.clear()

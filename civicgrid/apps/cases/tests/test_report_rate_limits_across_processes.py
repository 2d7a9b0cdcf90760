"""The README's limits on public reporting hold for the whole site, not per web process: two real processes on
one SQLite file answer the API as `make run`'s two granian workers do, and together give an account its burst of
5 and no more (the integrator's run: a volunteer's 12 concurrent reports were 10 cases, a resident's 8 reports
one after another were 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from .conftest import GRID, POINT

SETUP = f"""
from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import small_tree, user_with

tree = small_tree()
for role in (Role.RESIDENT, Role.VOLUNTEER):
    user = user_with(role, region=tree["{GRID}"], username=role)
    print(ApiToken.issue(user, label="test")[1])
"""

# One web process: posts a report for each line it reads (a token, a title, an address), answers the status.
WEB_PROCESS = f"""
import json, sys
from django.test import Client

client = Client()
for line in sys.stdin:
    token, title, address = line.split()
    body = json.dumps({{"title": title, "lng": {POINT[0]}, "lat": {POINT[1]}}})
    answer = client.post("/api/v1/cases", body, content_type="application/json", REMOTE_ADDR=address,
                         HTTP_AUTHORIZATION="Bearer " + token)
    print(answer.status_code, flush=True)
"""


@pytest.mark.slow
def test_two_web_processes_together_give_each_account_the_readme_burst(tmp_path):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("uses its own SQLite file whatever the database: run once, in the SQLite pass")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CIVICGRID_SQLITE_PATH"}}
    env.update(CIVICGRID_DATA_DIR=str(tmp_path), CIVICGRID_TESTING="0")  # the README's defaults: burst 5
    for name in [n for n in env if n.startswith("CIVICGRID_REPORT_")]:
        del env[name]
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=600)
    setup = subprocess.run([*manage, "shell", "--no-imports", "-c", SETUP], env=env, check=True, timeout=120,
                           capture_output=True, text=True)
    resident, volunteer = setup.stdout.split()
    web = [subprocess.Popen([*manage, "shell", "--no-imports", "-c", WEB_PROCESS], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
           for _ in range(2)]
    try:
        # A resident's 8 reports one after another, each to the other process in turn.
        statuses = []
        for i in range(8):
            proc = web[i % 2]
            proc.stdin.write(f"{resident} 居民上报{i} 10.7.0.1\n")
            proc.stdin.flush()
            statuses.append(int(proc.stdout.readline() or 0))
        assert statuses == [201] * 5 + [429] * 3

        # A volunteer's 12 at once: six queued at each process, which answer side by side.
        for i in range(12):
            web[i % 2].stdin.write(f"{volunteer} 志愿者上报{i} 10.7.0.2\n")
        for proc in web:
            proc.stdin.flush()
        statuses = [int(web[i % 2].stdout.readline() or 0) for i in range(12)]
        assert sorted(statuses) == [201] * 5 + [429] * 7
    finally:
        for proc in web:
            proc.stdin.close()
            try:
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
    cases = subprocess.run([*manage, "shell", "--no-imports", "-c",
                            "from civicgrid.apps.cases.models import Case; print(Case.objects.count())"],
                           env=env, check=True, timeout=120, capture_output=True, text=True)
    assert cases.stdout.strip() == "10"  # the refused reports wrote nothing

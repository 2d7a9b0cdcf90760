"""Settings from the environment are checked at start: a bad value stops the process with one line per bad
variable (Chinese, then English: the variable, the value, what is allowed), exit status 2 and no traceback.

Each case starts a fresh interpreter (`django.setup()` with the environment given), as a deployment does. None of
them reaches the database the tests run on (their environment drops DATABASE_URL or names its own), so they run
once, in the SQLite pass: the PostgreSQL pass would start the same fifty processes again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                                reason="fresh processes whatever the database: run once, in the SQLite pass")


def _env(tmp_path) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)})
    return base


def _start(tmp_path, **env) -> subprocess.CompletedProcess:
    base = _env(tmp_path)
    base.update(env)
    return subprocess.run([sys.executable, "-c", "import django; django.setup(); print('started')"], cwd=ROOT,
                          env=base, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "expected"), [
    ({"CIVICGRID_REPORT_RATE_PER_HOUR": "ten"}, ["CIVICGRID_REPORT_RATE_PER_HOUR='ten'"]),
    ({"CIVICGRID_WORKER_INTERVAL": "abc", "CIVICGRID_SESSION_IDLE_SECONDS": "30m"},
     ["CIVICGRID_SESSION_IDLE_SECONDS='30m'", "CIVICGRID_WORKER_INTERVAL='abc'"]),
    ({"CIVICGRID_WORKER_INTERVAL": "0"}, ["CIVICGRID_WORKER_INTERVAL='0'"]),
    ({"CIVICGRID_CIPHER": "des"}, ["CIVICGRID_CIPHER='des'", "aes-gcm", "sm4"]),
    ({"CIVICGRID_OPEN311_MAX_DAYS": "ninety"}, ["CIVICGRID_OPEN311_MAX_DAYS='ninety'"]),
    ({"CIVICGRID_DEBUG": "maybe"}, ["CIVICGRID_DEBUG='maybe'"]),
    ({"CIVICGRID_REDIS_TIMEOUT": "0"}, ["CIVICGRID_REDIS_TIMEOUT='0'", "greater than 0"]),
    ({"CIVICGRID_LOG_LEVEL": "loud"}, ["CIVICGRID_LOG_LEVEL='loud'"]),
    ({"CIVICGRID_REOPEN_DAYS": "seven"}, ["CIVICGRID_REOPEN_DAYS='seven'", "expected a whole number"]),
    ({"CIVICGRID_RATING_DAYS": "-1"}, ["CIVICGRID_RATING_DAYS='-1'", "at least 0"]),
    ({"CIVICGRID_DUPLICATE_RADIUS_M": "-50", "CIVICGRID_DUPLICATE_HOURS": "nan"},
     ["CIVICGRID_DUPLICATE_RADIUS_M='-50'", "at least 0", "CIVICGRID_DUPLICATE_HOURS='nan'"]),
    ({"CIVICGRID_DUPLICATE_MIN_TEXT": "1.5"}, ["CIVICGRID_DUPLICATE_MIN_TEXT='1.5'", "from 0 to 1"]),
    ({"CIVICGRID_MERGE_MAX_DISTANCE_M": "-1"},
     ["CIVICGRID_MERGE_MAX_DISTANCE_M='-1'", "at least 0", "0 means 5 × the duplicate radius"]),
    ({"CIVICGRID_TOTP_ROLES": "system_admin, sysadmin"},
     ["CIVICGRID_TOTP_ROLES='system_admin, sysadmin'", "无法识别：'sysadmin'", "not known: 'sysadmin'",
      "grid_worker", "security_admin, audit_admin, superuser"]),
    ({"CIVICGRID_TOTP_ROLES": "system_admin,,audit_admin"}, ["CIVICGRID_TOTP_ROLES=", "not known: ''"]),
    ({"CIVICGRID_ALLOWED_HOSTS": "wangge.example.gov.cn,,localhost"}, ["CIVICGRID_ALLOWED_HOSTS=", "wrong: ''"]),
    ({"CIVICGRID_ALLOWED_HOSTS": "https://wangge.example.gov.cn, wangge example"},
     ["wrong: 'https://wangge.example.gov.cn', 'wangge example'", "no http://"]),
    ({"CIVICGRID_ALLOWED_HOSTS": "wangge.example.gov.cn:8443"}, ["wrong: 'wangge.example.gov.cn:8443'"]),
    ({"CIVICGRID_CSRF_TRUSTED_ORIGINS": "wangge.example.gov.cn"},
     ["CIVICGRID_CSRF_TRUSTED_ORIGINS='wangge.example.gov.cn'", "wrong: 'wangge.example.gov.cn'", "origins"]),
    ({"CIVICGRID_CSRF_TRUSTED_ORIGINS": "https://wangge.example.gov.cn/,https://a.example,"},
     ["wrong: 'https://wangge.example.gov.cn/', ''"]),
    ({"CIVICGRID_TILE_ORIGIN": "https://tiles.example tiles2.example"},
     ["CIVICGRID_TILE_ORIGIN=", "wrong: 'tiles2.example'", "space-separated"]),
])
def test_a_bad_value_stops_the_start_with_one_line_per_variable(tmp_path, env, expected):
    result = _start(tmp_path, **env)
    assert result.returncode == 2 and "started" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(env), result.stderr
    assert "Traceback" not in result.stderr
    for line in lines:
        assert line.startswith("设置无效：") and " / invalid setting: " in line
    for text in expected:
        assert text in result.stderr


def test_an_unknown_database_scheme_is_named_without_the_password(tmp_path):
    result = _start(tmp_path, DATABASE_URL="mysqlx://civic:s3cret@db.example/civicgrid")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "DATABASE_URL='mysqlx://…'" in result.stderr and "postgres://" in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(("url", "named"), [
    ("http://:s3cret@10.0.0.5:6379/0", "CIVICGRID_REDIS_URL='http://…'"),
    ("10.0.0.5:6379", "CIVICGRID_REDIS_URL='…'"),
    ("redis://:s3cret@10.0.0.5:port/0", "CIVICGRID_REDIS_URL='redis://…'"),
    ("redis://:s3cret@10.0.0.5:6379/zero", "CIVICGRID_REDIS_URL='redis://…'"),
    ("rediss://", "CIVICGRID_REDIS_URL='rediss://…'"),
    ("unix://", "CIVICGRID_REDIS_URL='unix://…'"),
])
def test_a_bad_redis_url_stops_the_start_without_its_password(tmp_path, url, named):
    """Rate-limit buckets shared by several hosts through Redis (core.ratelimit): an address the client cannot use
    stops the start, named by its scheme only (a Redis URL may carry its password)."""
    result = _start(tmp_path, CIVICGRID_REDIS_URL=url)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "started" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"设置无效：{named}，应为 Redis 地址：redis://")
    assert " / invalid setting: " in lines[0] and "expected a Redis address" in lines[0]
    assert "s3cret" not in result.stderr and "10.0.0.5" not in result.stderr


@pytest.mark.parametrize("url", ["redis://:s3cret@10.0.0.5:6379/2", "rediss://cache.example.gov.cn",
                                 "unix:///run/redis/redis.sock?db=1", "redis://127.0.0.1"])
def test_a_redis_url_starts_without_asking_redis(tmp_path, url):
    """Checked at start by its form only: a Redis away at start is what the rate limiter's failure rules are for."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
                               f"print(s.CIVICGRID_REDIS_URL == {url!r}, s.CIVICGRID_REDIS_PREFIX)"],
        cwd=ROOT, env={**_env(tmp_path), "CIVICGRID_REDIS_URL": url}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True civicgrid:"


def test_a_data_directory_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    result = _start(tmp_path, CIVICGRID_DATA_DIR=str(tmp_path / "file" / "data"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"CIVICGRID_DATA_DIR='{tmp_path / 'file' / 'data'}'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_good_values_start(tmp_path):
    result = _start(tmp_path, CIVICGRID_REPORT_RATE_PER_HOUR="-1", CIVICGRID_WORKER_INTERVAL="0.5",
                    CIVICGRID_CIPHER="sm4", CIVICGRID_DEBUG="off", CIVICGRID_OPEN311_MAX_DAYS="30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


SETTINGS_LISTS = (
    "import django; django.setup()\n"
    "from django.conf import settings as s\n"
    "print(s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.CIVICGRID_TOTP_ROLES, s.SECURE_CSP['img-src'][3:])\n"
)


def test_lists_of_hosts_origins_and_roles_are_read_with_spaces_around_entries(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
                 "CIVICGRID_ALLOWED_HOSTS": " wangge.example.gov.cn , .pingcheng.gov.cn,[::1],*",
                 "CIVICGRID_CSRF_TRUSTED_ORIGINS": "https://wangge.example.gov.cn, https://*.pingcheng.gov.cn:8443",
                 "CIVICGRID_TILE_ORIGIN": " https://tiles.example  http://10.0.0.7:8080 ",
                 "CIVICGRID_TOTP_ROLES": " system_admin , security_admin,audit_admin ,superuser "})
    result = subprocess.run([sys.executable, "-c", SETTINGS_LISTS], cwd=ROOT, env=base, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['wangge.example.gov.cn', '.pingcheng.gov.cn', '[::1]', '*'] "
        "['https://wangge.example.gov.cn', 'https://*.pingcheng.gov.cn:8443'] "
        "['system_admin', 'security_admin', 'audit_admin', 'superuser'] "
        "['https://tiles.example', 'http://10.0.0.7:8080']"
    )


def test_unset_lists_keep_their_defaults(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), "CIVICGRID_TOTP_ROLES": ""})
    result = subprocess.run([sys.executable, "-c", SETTINGS_LISTS], cwd=ROOT, env=base, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['127.0.0.1', 'localhost', 'testserver'] [] [] []"


def test_an_unreachable_database_is_one_line_from_the_command(tmp_path):
    """`civicgrid migrate` (the first step of `make run`) against a server that does not answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DJANGO_"))}
    env.update({"CIVICGRID_TESTING": "0", "CIVICGRID_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
                "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nowhere"})
    result = subprocess.run([sys.executable, "-c", "from civicgrid.cli import main; main()", "migrate", "-v0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("数据库无法使用") and "DATABASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


def _img_src(tmp_path, **env) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env})
    code = "from django.conf import settings; print(' '.join(map(str, settings.SECURE_CSP['img-src'])))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(("tile_url", "origin"), [
    ("https://tiles.pingcheng.gov.cn/{z}/{x}/{y}.png", "https://tiles.pingcheng.gov.cn"),
    ("http://{s}.tile.example:8080/osm/{z}/{x}/{y}.png", "http://*.tile.example:8080"),
])
def test_the_tile_server_named_by_its_url_may_serve_images(tmp_path, tile_url, origin):
    assert _img_src(tmp_path, CIVICGRID_TILE_URL=tile_url) == ["'self'", "data:", "blob:", origin]


def test_tiles_from_this_site_add_no_origin(tmp_path):
    assert _img_src(tmp_path, CIVICGRID_TILE_URL="/tiles/{z}/{x}/{y}.png") == ["'self'", "data:", "blob:"]
    assert _img_src(tmp_path) == ["'self'", "data:", "blob:"]


@pytest.mark.parametrize(("name", "value"), [("CIVICGRID_TILE_URL", "ftp://tiles/{z}/{x}/{y}.png"),
                                             ("CIVICGRID_PUBLIC_BASE_URL", "wangge.example.gov.cn")])
def test_addresses_that_are_not_http_stop_the_start(tmp_path, name, value):
    result = _start(tmp_path, **{name: value})
    assert result.returncode == 2 and f"{name}={value!r}" in result.stderr and "Traceback" not in result.stderr


CASE_RULES = (
    "import django; django.setup()\n"
    "from civicgrid.apps.cases import conf\n"
    "from civicgrid.foundation.notify.senders import sender_for\n"
    "print(conf.duplicate_radius_m(), conf.duplicate_hours(), conf.duplicate_min_text(), conf.reopen_days(),"
    " type(sender_for('sms')).__name__, type(sender_for('email')).__name__, conf.merge_max_distance_m())\n"
)


def _case_rules(tmp_path, **env) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env})
    result = subprocess.run([sys.executable, "-c", CASE_RULES], cwd=ROOT, env=base, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_case_loops_rules_and_the_senders_come_from_the_environment(tmp_path):
    """Documented as configurable, they could be changed only in code: the duplicate radius, window and text
    threshold, the reopen days and the SMS/email senders; the merge's distance limit follows the radius unless
    set."""
    assert _case_rules(tmp_path) == ["200.0", "72.0", "0.2", "7", "ConsoleSender", "ConsoleSender", "1000.0"]
    assert _case_rules(tmp_path, CIVICGRID_DUPLICATE_RADIUS_M="350", CIVICGRID_DUPLICATE_HOURS="24.5",
                       CIVICGRID_DUPLICATE_MIN_TEXT="0.35", CIVICGRID_REOPEN_DAYS="15",
                       CIVICGRID_SMS_SENDER="civicgrid.foundation.notify.senders.DjangoEmailSender",
                       CIVICGRID_EMAIL_SENDER="civicgrid.foundation.notify.senders.DjangoEmailSender") == [
        "350.0", "24.5", "0.35", "15", "DjangoEmailSender", "DjangoEmailSender", "1750.0"]
    assert _case_rules(tmp_path, CIVICGRID_MERGE_MAX_DISTANCE_M="800")[-1] == "800.0"


RATING_DAYS = "import django; django.setup()\nfrom civicgrid.apps.cases import conf\nprint(conf.rating_days())\n"


@pytest.mark.parametrize(("env", "days"), [
    ({}, "7"),  # unset: the reopen days
    ({"CIVICGRID_REOPEN_DAYS": "15"}, "15"),
    ({"CIVICGRID_REOPEN_DAYS": "15", "CIVICGRID_RATING_DAYS": "30"}, "30"),
    ({"CIVICGRID_RATING_DAYS": "0"}, "0"),
])
def test_the_rating_days_come_from_the_environment_or_follow_the_reopen_days(tmp_path, env, days):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env})
    result = subprocess.run([sys.executable, "-c", RATING_DAYS], cwd=ROOT, env=base, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [days]


def test_a_sender_from_the_environment_that_cannot_be_loaded_stops_the_check(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTEST", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CIVICGRID_TESTING": "0",
                 "CIVICGRID_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
                 "CIVICGRID_SMS_SENDER": "mydistrict.sms.GatewaySender"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "notify.E001" in result.stderr and "CIVICGRID_SMS_SENDER='mydistrict.sms.GatewaySender'" in result.stderr

"""Shared pytest fixtures."""

import os

import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases; before it drops them (PostgreSQL), any session still open on this
    worker's test database is ended. CI once saw the DROP fail ("being accessed by other users", two sessions,
    most likely a live-server request thread that outlived its server; not reproduced) and leave the database
    behind on the server."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def tree(db):
    from civicgrid.testing.builders import small_tree

    return small_tree()


@pytest.fixture
def fresh_calendar():
    """The working calendar rebuilt from the database for the test and again after it: the process keeps the
    calendar it built, and a test's days and hours must neither see nor leave another's."""
    from civicgrid.foundation.sla.admin_calendar import forget_calendar

    forget_calendar()
    yield
    forget_calendar()


@pytest.fixture
def calendar_admin(tree, fresh_calendar):
    """A system administrator (config.manage, who edits the working calendar), on a fresh calendar."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    return user_with(Role.SYSTEM_ADMIN)


@pytest.fixture
def api_client():
    from django.test import Client

    return Client()


@pytest.fixture
def token_for(api_client):
    """Return a function giving `Authorization` headers for a user, through the real token endpoint."""

    def make(user, password="Civic-Test-2026!"):
        resp = api_client.post(
            "/api/v1/auth/token", {"username": user.username, "password": password}, content_type="application/json"
        )
        assert resp.status_code == 200, resp.content
        return {"HTTP_AUTHORIZATION": f"Bearer {resp.json()['token']}"}

    return make


@pytest.fixture
def purge_audit_rows():
    """After a transactional test: empty the append-only audit table, which the flush leaves out."""
    yield
    from civicgrid.testing.browser import purge_test_audit_rows

    purge_test_audit_rows()


@pytest.fixture(autouse=True)
def _interface_language_back_to_chinese():
    """A request in English (the language cookie) leaves English active in the thread after it (Django's
    LocaleMiddleware does not switch back); the next test starts in the default language again."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(scope="session", autouse=True)
def _rate_limit_file_per_worker():
    """Parallel workers (pytest-xdist) share the data dir, and their tests the same addresses and account ids:
    each worker keeps a bucket file of its own, so one worker's spending or reset never reaches another's tests."""
    from civicgrid.foundation.core import ratelimit

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker:
        ratelimit.FILE_NAME = f"ratelimit-{worker}.sqlite3"


@pytest.fixture(autouse=True)
def _rate_limits_start_full():
    """Each test starts with full rate-limit buckets (`core.ratelimit`, in the test data dir's bucket file, which
    outlives a test) and an empty cache: what one test spent must not refuse the next one's requests."""
    from django.core.cache import cache

    from civicgrid.foundation.core import ratelimit

    cache.clear()
    ratelimit.reset()


@pytest.fixture(scope="session", autouse=True)
def _key_file_of_the_test_data_dir():
    """The test data dir's key file exists from the start, as on an installed system: `core.keys` generates one
    only after asking the database whether it holds encrypted values, which a test without database access may
    not (tests of the generation itself point CIVICGRID_KEY_FILE at a fresh path)."""
    from django.conf import settings

    from civicgrid.foundation.core.crypto import KeyFileError, KeyRing
    from civicgrid.foundation.core.keys import new_key_id

    path = settings.CIVICGRID_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            KeyRing.generate(path, new_key_id())
        except KeyFileError:
            pass  # another test process sharing the data dir made it first


REDIS_URL = os.environ.get("CIVICGRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_buckets():
    """The rate-limit buckets in the real Redis (CIVICGRID_TEST_REDIS_URL, default the local one every CI machine
    runs), under a key prefix of this test's own (parallel workers and other runs never meet), deleted after it.
    Skipped, saying why, when no Redis answers there. Yields the settings the site runs with."""
    import uuid

    import redis
    from django.test import override_settings

    from civicgrid.foundation.core import ratelimit

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc}); start one or set CIVICGRID_TEST_REDIS_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    values = {"CIVICGRID_REDIS_URL": REDIS_URL,
              "CIVICGRID_REDIS_PREFIX": f"civicgrid-test:{worker}:{uuid.uuid4().hex}:",
              "CIVICGRID_REDIS_TIMEOUT": 1.0}
    ratelimit._failing = False
    with override_settings(**values):
        yield values
        ratelimit.reset()
    ratelimit._failing = False


@pytest.fixture
def unreachable_redis():
    """A Redis URL at a closed port of this machine (connections are refused): the site configured with it."""
    import socket

    from django.test import override_settings

    from civicgrid.foundation.core import ratelimit

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ratelimit._failing = False
    with override_settings(CIVICGRID_REDIS_URL=f"redis://127.0.0.1:{port}/0", CIVICGRID_REDIS_PREFIX="civicgrid-test:"):
        yield port
    ratelimit._failing = False

"""A database that cannot be reached answers 503 with Retry-After in each caller's form, logs one line per
incident, and the first request after it is back is served by the same process (`core.dbdown`). The failures
are real: on PostgreSQL the test connection's server process is terminated from a second connection, or the
connection points at a closed port; on SQLite another connection holds an exclusive lock."""

from __future__ import annotations

import logging
import socket
import sqlite3
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, ProgrammingError, connection, connections
from django.test import Client, override_settings
from django.urls import path

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core import dbdown
from civicgrid.testing.browser import BROWSER_APPS, purge_test_audit_rows
from civicgrid.testing.builders import small_tree, user_with

# Real commits (no test transaction around the requests, which would hold the connection); the audit table is
# left out of the flush (it refuses TRUNCATE) and emptied after each test.
real_db = pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS)
postgresql = pytest.mark.skipif("connection.vendor != 'postgresql'")
sqlite = pytest.mark.skipif("connection.vendor != 'sqlite'")


def _programming_error(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")


def _integrity_error(request):
    raise IntegrityError("duplicate key value violates unique constraint")


# This module doubles as a URL conf for the "a bug stays a 500" test.
urlpatterns = [path("bug/", _programming_error), path("api/v1/bug/", _programming_error),
               path("dup/", _integrity_error)]
handler500 = "civicgrid.ui.errors.server_error"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@contextmanager
def database_away():
    """The database refuses every connection until the block ends (real failures, no mock)."""
    if connection.vendor == "postgresql":
        saved = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)
    else:
        # Another connection to the same database holds an exclusive lock (SQLite answers "… is locked").
        other = sqlite3.connect(connection.settings_dict["NAME"], uri=True, isolation_level=None, timeout=0.1)
        try:
            other.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()


@pytest.fixture(autouse=True)
def fresh_incident():
    dbdown.incident.count = 0
    yield
    dbdown.incident.count = 0
    purge_test_audit_rows()


@pytest.fixture
def staff(db):
    tree = small_tree()
    return user_with(Role.STREET_STAFF, region=tree["140213050"])


def _requests(page_client):
    api = Client()
    return {
        "page": page_client.get("/"),
        "api": api.get("/api/v1/regions", HTTP_AUTHORIZATION="Bearer not-a-real-token"),
        "open311_json": Client().get("/open311/v2/requests.json"),
        "open311_xml": Client().get("/open311/v2/requests.xml"),
        "healthz": Client().get("/healthz"),
    }


def _assert_unavailable(answers):
    for name, response in answers.items():
        assert response.status_code == 503, (name, response.content[:300])
        assert response["Retry-After"] == str(dbdown.RETRY_AFTER), name
    page = answers["page"].content.decode()
    assert 'data-error="503"' in page and "数据库暂时无法连接" in page
    assert page.index("数据库暂时无法连接") < page.index("The database cannot be reached")
    assert "Traceback" not in page and "OperationalError" not in page
    assert answers["api"].json() == {"detail": dbdown.DETAIL, "code": "unavailable"}
    assert answers["open311_json"].json() == [{"code": 503, "description": dbdown.DETAIL}]
    xml = answers["open311_xml"].content.decode()
    assert "<errors>" in xml and "<code>503</code>" in xml and "数据库暂时无法连接" in xml
    assert answers["healthz"].json() == {"status": "error", "detail": "database unavailable"}


def _page_client(user) -> Client:
    # A signed-in page loads its session in a middleware, before the view: Django's handler500 path.
    c = Client(raise_request_exception=False)
    c.force_login(user)
    return c


@real_db
def test_every_caller_gets_a_503_in_its_form_and_the_next_request_after_recovery_works(staff, caplog,
                                                                                         fresh_incident):
    page_client = _page_client(staff)
    assert page_client.get("/").status_code == 200
    caplog.set_level(logging.INFO)
    with database_away():
        _assert_unavailable(_requests(page_client))
        _assert_unavailable(_requests(page_client))  # still away: the same answers
    # Back: the same process, the same client, no restart.
    answers = _requests(page_client)
    assert answers["page"].status_code == 200 and answers["healthz"].json() == {"status": "ok"}
    assert answers["api"].status_code == 401 and answers["open311_json"].status_code == 200
    # One line for the incident, one when it ended; no traceback, no "Internal Server Error" per request.
    lines = [r for r in caplog.records if r.name == "civicgrid.dbdown"]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"], [r.getMessage() for r in lines]
    assert "database unavailable" in lines[0].getMessage() and "available again after 10 requests" in \
        lines[1].getMessage()
    assert not [r for r in caplog.records if r.exc_info or (r.levelno >= logging.ERROR and r.name != "civicgrid.dbdown")]


@real_db
@postgresql
def test_a_terminated_server_process_is_a_503_and_the_next_request_reconnects(staff, fresh_incident):
    import psycopg

    page_client = _page_client(staff)
    assert page_client.get("/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    s = connection.settings_dict
    with psycopg.connect(dbname=s["NAME"], user=s["USER"], host=s["HOST"] or None, port=s["PORT"] or None,
                         password=s["PASSWORD"] or None, autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    response = page_client.get("/")
    assert response.status_code == 503 and response["Retry-After"] == str(dbdown.RETRY_AFTER)
    assert page_client.get("/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@real_db
def test_a_form_sent_while_the_database_is_away_is_a_503_and_changes_nothing(staff, fresh_incident):
    from civicgrid.foundation.access.models import User

    page_client = _page_client(staff)
    before = User.objects.get(pk=staff.pk).password
    with database_away():
        response = page_client.post("/accounts/password/", {"old_password": "Civic-Test-2026!",
                                                              "new_password1": "Another-Pass-2026!",
                                                              "new_password2": "Another-Pass-2026!"})
    assert response.status_code == 503
    assert User.objects.get(pk=staff.pk).password == before


@real_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_bug_stays_a_500(fresh_incident):
    client = Client(raise_request_exception=False)
    for url in ("/bug/", "/dup/", "/api/v1/bug/"):
        response = client.get(url)
        assert response.status_code == 500 and not response.has_header("Retry-After"), url
    assert dbdown.incident.count == 0


def _django_error(run):
    try:
        run()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


@real_db
def test_unavailable_tells_a_database_away_from_a_bug(tmp_path):
    def cursor(sql):
        with connection.cursor() as c:
            c.execute(sql)

    assert not dbdown.unavailable(_django_error(lambda: cursor("SELECT * FROM no_such_table_here")))
    assert not dbdown.unavailable(ProgrammingError("syntax error"))
    assert not dbdown.unavailable(IntegrityError("duplicate key"))
    assert not dbdown.unavailable(RuntimeError("database is locked"))  # not a database error at all
    wrapper = type(connections["default"])
    if connection.vendor == "sqlite":
        away = {**connection.settings_dict, "NAME": str(tmp_path / "missing" / "civicgrid.sqlite3")}
    else:
        away = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(_closed_port())}
    gone = wrapper(away, "away")
    error = _django_error(gone.ensure_connection)
    assert type(error).__name__ == "OperationalError" and dbdown.unavailable(error), error
    assert dbdown.unavailable(_django_error(lambda: sqlite3.connect(tmp_path / "missing" / "x.db")))


@real_db
@sqlite
def test_sqlite_lock_words_are_unavailable(tmp_path):
    db = tmp_path / "locked.sqlite3"
    first = sqlite3.connect(db, isolation_level=None)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN EXCLUSIVE")
    second = sqlite3.connect(db, timeout=0.05)
    locked = _django_error(lambda: second.execute("SELECT * FROM t"))
    assert "database is locked" in str(locked) and dbdown.unavailable(locked)
    first.execute("ROLLBACK")
    first.close()
    second.close()

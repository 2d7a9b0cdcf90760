"""Playwright fixtures: Debian's Chromium against pytest-django's live server (never `playwright install`).

Use from a conftest: `from civicgrid.testing.browser import browser, live_server, page, phone_page  # noqa: F401`, and mark
the tests `@pytest.mark.browser` and `@browser_db` (below): the live server runs in another thread and sees only
committed data, so the test database is flushed after each test instead of rolled back.
"""

from __future__ import annotations

import importlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path(os.environ.get("CIVICGRID_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Civic-Test-2026!"  # what civicgrid.testing.builders.user_with sets
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000

# The audit table refuses DELETE and TRUNCATE (append-only triggers), so the flush after a transactional test
# must leave it out; `page` and `phone_page` remove the audit rows a test made (signing in writes some).
BROWSER_APPS = [app for app in settings.INSTALLED_APPS if app != "civicgrid.foundation.audit"]
browser_db = pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS)


# Held while the one-at-a-time live server (SQLite, below) answers a request. The test thread shares that
# server's one connection: a write of its own while a request is still being answered (a page closed with its
# last request under way) fails as "database table is locked". Taking it waits for that request to end.
SERVER_BUSY = threading.Lock()


@contextmanager
def server_idle():
    """Wait until the live server answers no request, and keep it from taking the next one while the block runs:
    on SQLite the test thread may then write through the connection it shares with the server. The browser's
    requests made meanwhile wait their turn and are answered after the block (they see what it wrote). On
    PostgreSQL, whose server has connections of its own, this only waits for the request under way, if any.
    Unlike waiting for the page's network to be quiet, this holds whatever the page does on its own (a timer,
    a map reload) off, and takes no time when nothing is running."""
    with SERVER_BUSY:
        yield


def purge_test_audit_rows() -> None:
    """Empty the audit table by lifting its triggers for one transaction (test databases only), once the live
    server has answered whatever request it was still answering."""
    from django.db import connection, transaction

    triggers = importlib.import_module("civicgrid.foundation.audit.migrations.0002_append_only")
    table = connection.ops.quote_name("audit_auditentry")
    with server_idle(), transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_no_change")
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_no_change")
        else:
            for sql in triggers.SQLITE_DROP:
                cursor.execute(sql)
            cursor.execute(f"DELETE FROM {table}")
            for sql in triggers.SQLITE:
                cursor.execute(sql)


@pytest.fixture(scope="session")
def live_server(request, django_db_setup):
    """pytest-django's live server, made safe for the in-memory SQLite test database.

    Created after the test database (pytest would otherwise build this session fixture first, and the server
    thread would open connections of its own to the shared-cache database, whose table locks fail concurrent
    requests as "database table is locked"). With the one shared connection, requests must not overlap either:
    the server is not threaded, answers `Connection: close`, and the browser's parallel requests (the map's
    GeoJSON and htmx's history partial) simply queue. PostgreSQL keeps Django's threaded server.
    """
    from django.core.servers.basehttp import WSGIServer
    from pytest_django.live_server_helper import LiveServer

    class OneAtATime(WSGIServer):
        def __init__(self, *args, connections_override=None, **kwargs):
            super().__init__(*args, **kwargs)

        def finish_request(self, request, client_address):
            with SERVER_BUSY:
                super().finish_request(request, client_address)

    addr = request.config.getvalue("liveserver") or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    if server.thread.connections_override:
        server.thread.server_class = OneAtATime
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (module scope: Playwright's event loop must not outlive the browser tests,
    or Django would refuse ORM calls in later tests of the same worker as coming from an async context)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _page(browser, viewport: dict, **options):
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # Any request leaving the live server would mean a CDN or tile slipped in: fail loudly instead.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("http://localhost",
                                                                                       "http://127.0.0.1", "data:",
                                                                                       "blob:")) else route.abort())
    return context, page


@pytest.fixture
def page(browser, live_server):
    """A desktop-sized page; `page.base_url` is the live server's address."""
    context, pg = _page(browser, DESKTOP)
    pg.base_url = live_server.url
    yield pg
    context.close()
    purge_test_audit_rows()


@pytest.fixture
def phone_page(browser, live_server):
    """A phone-sized page (390×844, touch), like a grid worker's handset."""
    context, pg = _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    pg.base_url = live_server.url
    yield pg
    context.close()
    purge_test_audit_rows()


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real login form and wait for the home page."""
    page.goto(f"{page.base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{page.base_url}/")

"""Follow links stay out of the server log. Django logs the path of every 4xx (`django.request`: "Conflict:
/follow/<token>/reopen/"), of every CSRF refusal and, under runserver, every request line: whoever read the log
held the links that had met an error, and with them the reporters' ratings and reopenings. The records are cut
before any handler sees them (`core.logsafe.SecretsFilter`, put on those loggers by config/settings.py): a token
keeps its first four characters, as the console sender's links do."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.foundation.core.logsafe import SecretsFilter, redact

from .conftest import close_loop, report, world_counts

pytestmark = pytest.mark.django_db


def _closed_long_ago(loop, settings) -> tuple[Case, str]:
    settings.CIVICGRID_REOPEN_DAYS = 7
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=9))
    return case, CaseReporter.objects.get(original_case=case).follow_token


def _lines(caplog) -> list[tuple[str, str]]:
    return [(r.name, r.getMessage()) for r in caplog.records]


def test_a_refused_reopening_is_logged_without_the_link(loop, client, caplog, settings):
    """The tester's line: a reopening asked after the window is a 409, logged as the path it was sent to."""
    case, token = _closed_long_ago(loop, settings)
    before = world_counts()
    with caplog.at_level(logging.WARNING):
        assert client.post(f"/follow/{token}/reopen/", {"reason": "又坏了"}).status_code == 409
        assert client.post(f"/api/v1/follow/{token}/reopen", {"reason": "又坏了"},
                           content_type="application/json").status_code == 409
    assert world_counts() == before
    lines = _lines(caplog)
    assert ("django.request", f"Conflict: /follow/{token[:4]}…/reopen/") in lines
    assert ("django.request", f"Conflict: /api/v1/follow/{token[:4]}…/reopen") in lines
    assert not [line for line in lines if token in line[1] or token[4:12] in line[1]]


def test_unknown_links_csrf_refusals_and_open311_tokens_are_cut_too(loop, caplog):
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    with caplog.at_level(logging.WARNING):
        assert Client().get(f"/follow/{token}/").status_code == 404
        assert Client(enforce_csrf_checks=True).post(f"/follow/{token}/rate/", {"score": 5}).status_code == 403
        assert Client().get("/open311/v2/tokens/q1w2e3r4t5y6u7i8.json").status_code == 404
    lines = _lines(caplog)
    assert ("django.request", "Not Found: /follow/AbCd…/") in lines
    assert any(name == "django.security.csrf" and message.endswith(": /follow/AbCd…/rate/") for name, message in lines)
    assert ("django.request", "Not Found: /open311/v2/tokens/q1w2….json") in lines
    assert not [line for line in lines if "EfGhIj" in line[1] or "e3r4t5" in line[1]]


def test_runserver_request_lines_are_cut_before_any_handler(caplog):
    """`django.server` writes each request line with its query string (an Open311 key may be in it); it does not
    propagate, so its own filter cuts the record for the console and for any handler a deployment adds."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    logger = logging.getLogger("django.server")
    assert any(isinstance(f, SecretsFilter) for f in logger.filters)
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.info('"%s" %s %s', "POST /follow/AbCdEfGhIjKlMnOpQrStUvWxYz012345/rate/ HTTP/1.1", 409, 12)
        logger.info('"%s" %s %s', "GET /open311/v2/requests.json?api_key=s3cret-key&status=open HTTP/1.1", 200, 3)
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == [
        '"POST /follow/AbCd…/rate/ HTTP/1.1" 409 12',
        '"GET /open311/v2/requests.json?api_key=[已隐去]&status=open HTTP/1.1" 200 3']


@pytest.mark.parametrize(("line", "cut"), [
    ("Conflict: /follow/AbCdEfGh_-12/reopen/", "Conflict: /follow/AbCd…/reopen/"),
    ("https://grid.example.cn/follow/AbCdEfGh/ sent", "https://grid.example.cn/follow/AbCd…/ sent"),
    ("/follow/AbCdEfGh/qr.svg", "/follow/AbCd…/qr.svg"),
    ("/follow/AbCd…/reopen/", "/follow/AbCd…/reopen/"),  # already cut: cut the same
    ("/open311/v2/tokens/abc123def.xml?jurisdiction_id=140213", "/open311/v2/tokens/abc1….xml?jurisdiction_id=140213"),
    ("POST /open311/v2/requests.json?API_KEY=k&x=1", "POST /open311/v2/requests.json?API_KEY=[已隐去]&x=1"),
    # what carries no secret is left as it is
    ("/accounts/tokens/5/revoke/", "/accounts/tokens/5/revoke/"),
    ("/cases/2026113000001/?idempotency_key=abc", "/cases/2026113000001/?idempotency_key=abc"),
    ("/follow/", "/follow/"),
])
def test_what_is_cut(line, cut):
    assert redact(line) == cut

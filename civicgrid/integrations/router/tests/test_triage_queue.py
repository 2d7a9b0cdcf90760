"""The triage queue (待分拨) filters by the suggestion's confidence in the database: the right cases on the page
and in the API (missing, confidence-less and below-threshold suggestions), pages sliced in SQL, and a fixed
number of queries whether 3 or 30 cases wait."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.tests.conftest import auth, report
from civicgrid.integrations.router.selectors import triage_queue
from civicgrid.ui.pages import router as router_pages

pytestmark = pytest.mark.django_db

THRESHOLD = 0.8


def signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def waiting(loop, n: int) -> list[Case]:
    """`n` reports whose suggestions cycle through: below, above, none, empty, no confidence, at the threshold."""
    shapes = [{"label": "区城管局", "confidence": 0.41}, {"label": "区城管局", "confidence": 0.95}, None, {},
              {"label": "区城管局"}, {"label": "区城管局", "confidence": THRESHOLD}]
    cases = []
    for i in range(n):
        case = report(loop, title=f"报告{i}")
        Case.objects.filter(pk=case.pk).update(suggestion=shapes[i % len(shapes)])
        case.refresh_from_db()
        cases.append(case)
    return cases


def left_for_people(cases: list[Case]) -> set[str]:
    return {c.number for c in cases
            if not c.suggestion or c.suggestion.get("confidence") is None or c.suggestion["confidence"] < THRESHOLD}


def test_the_queue_keeps_missing_and_low_confidence_suggestions(loop, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = THRESHOLD
    cases = waiting(loop, 6)
    below = triage_queue(loop.dispatcher, below=THRESHOLD)
    assert {c.number for c in below} == left_for_people(cases)
    assert len(left_for_people(cases)) == 4  # 0.41, none, empty, no confidence; not 0.95, not exactly 0.8
    assert {c.number for c in triage_queue(loop.dispatcher)} == {c.number for c in cases}
    assert sorted(c.confidence for c in below if c.confidence is not None) == [0.41]
    assert list(triage_queue(loop.other_street_dispatcher, below=THRESHOLD)) == []


def test_the_page_filters_and_pages_in_sql(loop, settings, monkeypatch):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = THRESHOLD
    monkeypatch.setattr(router_pages, "TRIAGE_PAGE", 2)
    cases = waiting(loop, 6)
    expected = left_for_people(cases)
    c = signed_in(loop.dispatcher)
    seen = set()
    for number in (1, 2):
        with CaptureQueriesContext(connection) as ctx:
            body = c.get("/router/triage/", {"page": number}).content.decode()
        seen |= {x.number for x in cases if x.number in body}
        case_reads = [q["sql"] for q in ctx.captured_queries if '"cases_case"' in q["sql"] and "SELECT" in q["sql"]]
        assert case_reads and all("LIMIT" in sql or "COUNT(" in sql for sql in case_reads)
    assert seen == expected
    everything = c.get("/router/triage/", {"all": "1", "page": 3}).content.decode()
    assert sum(x.number in everything for x in cases) == 2 and "3 / 3" in everything


def test_the_api_filters_below_the_threshold_in_the_database(loop, settings, api_client):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = THRESHOLD
    cases = waiting(loop, 6)
    headers = auth(loop.dispatcher)
    body = api_client.get("/api/v1/router/triage?below=true&limit=3", **headers).json()
    assert body["total"] == 4 and body["count"] == 3 and body["threshold"] == THRESHOLD
    rest = api_client.get("/api/v1/router/triage?below=true&limit=3&offset=3", **headers).json()
    assert {i["number"] for i in body["items"] + rest["items"]} == left_for_people(cases)
    assert api_client.get("/api/v1/router/triage", **headers).json()["total"] == 6


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_page_and_the_api_take_as_many_queries_for_30_cases_as_for_3(loop, settings, api_client):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = THRESHOLD
    c = signed_in(loop.dispatcher)
    headers = auth(loop.dispatcher)
    waiting(loop, 3)
    # a first request marks the token used and the session warm: measure from the second on
    c.get("/router/triage/")
    api_client.get("/api/v1/router/triage", **headers)
    few = {"page": _queries(lambda: c.get("/router/triage/")),
           "page_all": _queries(lambda: c.get("/router/triage/?all=1")),
           "api": _queries(lambda: api_client.get("/api/v1/router/triage?below=true", **headers))}
    waiting(loop, 27)
    many = {"page": _queries(lambda: c.get("/router/triage/")),
            "page_all": _queries(lambda: c.get("/router/triage/?all=1")),
            "api": _queries(lambda: api_client.get("/api/v1/router/triage?below=true", **headers))}
    assert few == many
    body = c.get("/router/triage/?all=1").content.decode()
    assert body.count("<tr data-oid=") == 30

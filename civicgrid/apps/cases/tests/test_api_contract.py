"""What an API client relies on across `/api/v1/`: datetimes in the district's zone with their offset, every
error in the documented shape (404/405/401 included), out-of-range or unknown list values refused by name,
strict input types and no unknown body fields, enums in the schema, and a cursor that keeps its filters."""

from __future__ import annotations

import re

import pytest

from civicgrid.apps.cases.models import Case

from .conftest import auth, report, world_counts

pytestmark = pytest.mark.django_db

OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")


def _datetimes(value, found=None):
    found = [] if found is None else found
    if isinstance(value, dict):
        for v in value.values():
            _datetimes(v, found)
    elif isinstance(value, list):
        for v in value:
            _datetimes(v, found)
    elif isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", value):
        found.append(value)
    return found


def test_api_datetimes_are_in_district_time_with_offset(loop, api_client):
    case = report(loop)
    listed = api_client.get("/api/v1/cases", **auth(loop.dispatcher)).json()
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()
    stamps = _datetimes(listed) + _datetimes(detail)
    assert len(stamps) >= 4, stamps  # reported_at, deadline, timeline steps, clocks
    assert all(OFFSET.match(s) for s in stamps), stamps
    # The same instant as stored.
    from datetime import datetime

    assert datetime.fromisoformat(listed["items"][0]["reported_at"]) == Case.objects.get(pk=case.pk).reported_at.replace(
        microsecond=Case.objects.get(pk=case.pk).reported_at.microsecond // 1000 * 1000)


def _shaped(response, code):
    body = response.json()
    assert response["Content-Type"].startswith("application/json"), response.content
    assert body["code"] == code, body
    zh, _, en = body["detail"].partition(" / ")
    assert zh and en and en.isascii(), body  # Chinese first, then English
    return body


def test_an_unknown_api_address_is_a_404_in_the_error_shape(loop, api_client):
    response = api_client.get("/api/v1/casesx", HTTP_ACCEPT="application/json", **auth(loop.dispatcher))
    assert response.status_code == 404
    _shaped(response, "not_found")


def test_a_method_an_address_does_not_take_is_a_405_with_allow(loop, api_client):
    case = report(loop)
    before = world_counts()
    response = api_client.delete(f"/api/v1/cases/{case.number}", HTTP_ACCEPT="application/json",
                                 **auth(loop.dispatcher))
    assert response.status_code == 405
    body = _shaped(response, "method_not_allowed")
    assert response["Allow"] == "GET" and "GET" in body["detail"]
    assert world_counts() == before and Case.objects.filter(pk=case.pk).exists()


def test_a_401_names_the_bearer_scheme(loop, api_client):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}):
        response = api_client.get("/api/v1/cases", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        _shaped(response, "unauthorized")
    refused = api_client.post("/api/v1/auth/token", {"username": "nobody", "password": "x"},
                              content_type="application/json")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")


def test_a_throttled_public_link_is_a_429_in_the_error_shape(api_client, settings):
    from django.core.cache import cache

    cache.clear()
    answers = [api_client.get("/api/v1/follow/nosuchtoken") for _ in range(61)]
    assert answers[-1].status_code == 429
    _shaped(answers[-1], "rate_limited")
    assert int(answers[-1]["Retry-After"]) >= 1

"""What an API client relies on across `/api/v1/`: datetimes in the district's zone with their offset, every
error in the documented shape (404/405/401 included), out-of-range or unknown list values refused by name,
strict input types and no unknown body fields, enums in the schema, and a cursor that keeps its filters."""

from __future__ import annotations

import re

import pytest

from civicgrid.apps.cases.models import Case

from .conftest import POINT, auth, report, world_counts

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
    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 5
    answers = [api_client.get("/api/v1/follow/nosuchtoken") for _ in range(6)]
    assert [a.status_code for a in answers] == [404] * 5 + [429]
    _shaped(answers[-1], "rate_limited")
    assert int(answers[-1]["Retry-After"]) >= 1


def test_the_follow_api_takes_from_the_shared_bucket_the_follow_page_uses(loop, api_client, settings):
    """The API's limit is the site's limiter's (`core.ratelimit`, which every web process takes from), and the
    same bucket as the follow page's: spent elsewhere (another worker or the page; here straight in the store),
    the API refuses too, and a refused rating changes nothing."""
    from civicgrid.apps.cases.models import CaseReporter, CaseStep
    from civicgrid.foundation.core import ratelimit

    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 2
    case = report(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    assert api_client.get(f"/api/v1/follow/{token}").status_code == 200
    limit = ratelimit.configured("CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE", "CIVICGRID_FOLLOW_ADDRESS_BURST")
    assert ratelimit.take("follow:addr:127.0.0.1", limit) == 0.0  # the bucket's last token, spent by the page
    steps = CaseStep.objects.filter(case=case).count()
    refused = api_client.post(f"/api/v1/follow/{token}/rating", {"score": 5}, content_type="application/json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert CaseStep.objects.filter(case=case).count() == steps


@pytest.mark.parametrize(("query", "field", "bound"), [
    ("limit=0", "limit", "1"), ("limit=-5", "limit", "1"), ("limit=100000", "limit", "1000"),
    ("offset=-1", "offset", "0"),
])
def test_out_of_range_page_values_are_a_422_naming_the_parameter_and_its_bound(loop, api_client, query, field, bound):
    report(loop)
    response = api_client.get(f"/api/v1/cases?{query}", **auth(loop.dispatcher))
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["errors"][0]["field"] == field and bound in body["errors"][0]["message"]
    assert "items" not in body


def test_page_bounds_are_declared_in_the_openapi_document(api_client):
    spec = api_client.get("/api/v1/openapi.json").json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 1000)
    assert params["offset"]["minimum"] == 0 and params["offset"]["maximum"] >= 10**9
    for path in ("/api/v1/hazards", "/api/v1/materials/items", "/api/v1/imports", "/api/v1/organisations"):
        limit = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 1000, path


@pytest.mark.parametrize("query", ["sort=-reported_at", "ordering=id", "stauts=closed"])
def test_an_unknown_list_parameter_is_refused_by_name(loop, api_client, query):
    report(loop)
    response = api_client.get(f"/api/v1/cases?{query}", **auth(loop.dispatcher))
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


def test_repeated_status_parameters_are_any_of_them(loop, api_client):
    from civicgrid.apps.cases.services import act

    kept = report(loop)
    refused = report(loop, title="另一处垃圾")
    act(actor=loop.dispatcher, case=refused, action="refuse", reason="不属于受理范围")
    refused.refresh_from_db()
    both = api_client.get(f"/api/v1/cases?status={refused.status}&status=reported", **auth(loop.dispatcher)).json()
    assert {i["number"] for i in both["items"]} == {kept.number, refused.number}
    one = api_client.get(f"/api/v1/cases?status={refused.status}", **auth(loop.dispatcher)).json()
    assert [i["number"] for i in one["items"]] == [refused.number]
    unknown = api_client.get("/api/v1/cases?status=reported&status=nonsense", **auth(loop.dispatcher))
    assert unknown.status_code == 400 and unknown.json()["field"] == "status"


def test_full_width_region_digits_are_read_as_the_code(loop, api_client):
    case = report(loop)
    code = case.region_code[:6]
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
    found = api_client.get(f"/api/v1/cases?region={wide}", **auth(loop.dispatcher)).json()
    assert [i["number"] for i in found["items"]] == [case.number]
    for other in ("١٤٠٢١٣", "14O213"):  # other scripts' digits are not a region code
        response = api_client.get(f"/api/v1/cases?region={other}", **auth(loop.dispatcher))
        assert response.status_code == 400 and response.json()["field"] == "region"


@pytest.mark.parametrize(("body", "field"), [
    ({"department": True}, "department"), ({"department": "1"}, "department"), ({"departmnet": 1}, "departmnet"),
])
def test_dispatch_refuses_a_boolean_id_and_an_unknown_field(loop, api_client, body, field):
    from civicgrid.apps.cases.services import act

    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/dispatch", body, content_type="application/json",
                               **auth(loop.dispatcher))
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == field
    assert world_counts() == before


def test_a_report_with_an_unknown_field_is_refused(loop, api_client):
    before = world_counts()
    response = api_client.post("/api/v1/cases", {"title": "路灯不亮", "lng": POINT[0], "lat": POINT[1],
                                                 "catgory": loop.cat.pk}, content_type="application/json",
                               **auth(loop.worker))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "catgory"
    assert world_counts() == before


def test_the_schema_names_the_values_of_statuses_sources_clocks_and_action_inputs(api_client):
    from civicgrid.apps.cases.models import Source, Status

    schemas = api_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    item = schemas["CaseItemOut"]["properties"]
    assert item["status"]["enum"] == list(Status.values) and item["source"]["enum"] == list(Source.values)
    clock = schemas["ClockOut"]["properties"]
    assert "case.handle" in clock["kind"]["enum"] and clock["state"]["enum"] == ["running", "paused", "stopped"]
    action = schemas["ActionIn"]["properties"]
    assert action["result"]["enum"] == ["confirmed", "unconfirmed"] and action["decision"]["enum"] == ["approve", "reject"]
    assert schemas["ActionIn"]["additionalProperties"] is False


def test_a_cursor_keeps_its_filters(loop, api_client):
    from civicgrid.apps.cases.services import act

    open_ones = [report(loop, title=f"垃圾 {n}") for n in range(3)]
    refused = [report(loop, title=f"不受理 {n}") for n in range(3)]
    for case in refused:
        act(actor=loop.dispatcher, case=case, action="refuse", reason="不属于受理范围")
    status = Case.objects.get(pk=refused[0].pk).status
    first = api_client.get(f"/api/v1/cases?status={status}&limit=2", **auth(loop.dispatcher)).json()
    assert first["next_cursor"]
    followed = api_client.get(f"/api/v1/cases?status={status}&limit=2&cursor={first['next_cursor']}",
                              **auth(loop.dispatcher)).json()
    assert [i["number"] for i in first["items"] + followed["items"]] == [c.number for c in reversed(refused)]
    assert followed["next_cursor"] is None
    bare = api_client.get(f"/api/v1/cases?limit=2&cursor={first['next_cursor']}", **auth(loop.dispatcher))
    assert bare.status_code == 400 and bare.json()["field"] == "cursor" and "items" not in bare.json()
    assert "filters" in bare.json()["detail"]
    assert len(open_ones) == 3

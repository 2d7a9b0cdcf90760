"""Every API operation declares, in the OpenAPI document, the error answers it really gives, each with the one
error schema (`core.api_errors.ErrorOut`), so that clients and generated SDKs know what to expect.

The document is walked whole (an operation added later is covered without a line here): every operation
declares 422 (`strict_operation` refuses an undeclared parameter on all of them), every one that needs a token
401, every one with a JSON body 400 (a body that is not JSON), every one naming an object in its path 404. Then
real answers are asked for on every operation (no token, an unknown parameter, ids that name nothing, a body
that is not JSON, an account without grants) and on a sample of particular refusals across the routers (403,
404, 400, 409, 422): each status must be one the operation declares, and each body must be an ErrorOut.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from civicgrid.foundation.core.api_errors import ErrorOut, FieldErrorOut


def _spec() -> dict:
    from config.api import api

    return json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"), default=str))


SPEC = _spec()
OPERATIONS = [(method.upper(), path, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()]
IDS = [f"{m} {p}" for m, p, _ in OPERATIONS]
ERROR_REF = "#/components/schemas/ErrorOut"
# Path parameters that name an object (an unknown one is a 404); `year` and `day` are values, and `action` one of
# a fixed set.
OBJECT_PARAMS = re.compile(r"^(pk|code|number|token|\w+_id)$")
# Values for path parameters that name nothing but are well formed (a 404, or a 400/422 from the value's check).
NOTHING = {"year": "2026", "day": "2026-05-01", "action": "note", "number": "2099010199999", "code": "999999"}


def declared(op: dict) -> set[int]:
    return {int(code) for code in op["responses"] if int(code) >= 400}


def _refs(schema: dict) -> set[str]:
    return {schema["$ref"]} if "$ref" in schema else {s.get("$ref", "") for s in schema.get("anyOf", [])}


def _op(method: str, path: str) -> dict:
    template = re.sub(r"\?.*$", "", path)
    for spec_path, ops in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(spec_path)) + "$"
        if method.lower() in ops and re.match(pattern, template):
            return ops[method.lower()]
    raise AssertionError(f"no operation for {method} {path}")


def assert_declared_error(response, method: str, path: str, status: int | None = None) -> dict:
    """The answer is an error the operation declares, and its body is what ErrorOut publishes."""
    op = _op(method, path)
    got = response.status_code
    assert status is None or got == status, (method, path, got, response.content[:300])
    assert got in declared(op), f"{method} {path} answered {got}, not declared: {sorted(declared(op))}"
    assert ERROR_REF in _refs(op["responses"][str(got)]["content"]["application/json"]["schema"])
    body = response.json()
    error = SPEC["components"]["schemas"]["ErrorOut"]
    field = SPEC["components"]["schemas"]["FieldErrorOut"]
    assert set(body) <= set(error["properties"]) and set(error["required"]) <= set(body), body
    ErrorOut.model_validate(body)
    for entry in body.get("errors") or []:
        assert set(entry) <= set(field["properties"]), entry
        FieldErrorOut.model_validate(entry)
    return body


# ------------------------------------------------------------------------------------ the document, walked


def test_every_operation_declares_its_error_answers_with_the_error_schema():
    problems = []
    for method, path, op in OPERATIONS:
        codes = declared(op)
        where = f"{method} {path}"
        for code in codes:
            content = op["responses"][str(code)].get("content", {}).get("application/json", {})
            if ERROR_REF not in _refs(content.get("schema", {})):
                problems.append(f"{where}: {code} is not an ErrorOut")
        if 422 not in codes:  # every operation refuses an undeclared parameter by name
            problems.append(f"{where}: 422 not declared")
        if op.get("security") and 401 not in codes:
            problems.append(f"{where}: needs a token but does not declare 401")
        takes_input = op.get("parameters") or op.get("requestBody")
        if takes_input and not codes & {400, 422}:
            problems.append(f"{where}: takes input but declares neither 400 nor 422")
        if "application/json" in op.get("requestBody", {}).get("content", {}) and 400 not in codes:
            problems.append(f"{where}: a JSON body that does not parse is a 400, not declared")
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        if any(OBJECT_PARAMS.match(n) for n in names) and 404 not in codes:
            problems.append(f"{where}: names an object in its path but does not declare 404")
        if not any(int(code) < 300 for code in op["responses"]):
            problems.append(f"{where}: declares no success")
    assert not problems, "\n".join(problems)


def test_the_published_error_schema_names_a_files_row():
    """Import refusals name the row at fault (materials import, stock counts): the document says so."""
    assert "row" in SPEC["components"]["schemas"]["FieldErrorOut"]["properties"]


# ------------------------------------------------------------------------- real answers on every operation


def _url(path: str, values: dict | None = None) -> str:
    values = values or {}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), NOTHING.get(m.group(1), "999999999"))), path)


def _send(client: Client, method: str, url: str, token: str | None = None, **kw):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.generic(method, url, **kw, **headers)


def _is_text(schema: dict) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("type") == "string" and "enum" not in o and "format" not in o for o in options)


@pytest.fixture
def personas(world):
    return {p.label: p for p in world.personas}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=IDS)
def test_the_errors_every_operation_answers_are_declared(method, path, op, personas):
    client = Client()
    root, nobody = personas["superuser"].token, personas["no grants"].token
    url = _url(path)
    if op.get("security"):
        response = _send(client, method, url)
        assert_declared_error(response, method, path, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
    if path.endswith("/auth/token/revoke"):
        return  # a request with a token that succeeds revokes it: the refusals below would not be refusals
    assert_declared_error(_send(client, method, f"{url}?zz_unknown=1", root), method, path, 422)
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path" and OBJECT_PARAMS.match(p["name"])]
    for value in ("999999999", "0", str(2**70)) if names else ():  # ids that name nothing
        answer = _send(client, method, _url(path, dict.fromkeys(names, value)), root)
        assert answer.status_code >= 400, (value, answer.content[:200])
        assert_declared_error(answer, method, path)
    texts = [p["name"] for p in op.get("parameters", []) if p["in"] == "query" and _is_text(p["schema"])]
    if texts:  # PostgreSQL refuses NUL in text: a filter that passes it on answers 400 there (declared)
        answer = _send(client, method, url, root, QUERY_STRING="&".join(f"{n}=a%00b" for n in texts))
        if answer.status_code >= 400:
            assert_declared_error(answer, method, path)
    if "application/json" in op.get("requestBody", {}).get("content", {}):
        answer = _send(client, method, url, root, data=b"{not json", content_type="application/json")
        assert answer.status_code in (400, 404), answer.content[:200]
        assert_declared_error(answer, method, path)
    if path.endswith("/auth/token"):
        return
    answer = _send(client, method, url, nobody)  # an account without grants: 403, 404 or an empty answer
    if answer.status_code >= 400:
        assert_declared_error(answer, method, path)


# --------------------------------------------------------------------- a sample of particular refusals


def _token(personas, label: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {personas[label].token}"}


@pytest.mark.django_db
def test_routing_refusals_are_declared(personas, world):
    client, root = Client(), _token(personas, "superuser")
    region = "140213050001001"
    category = world.objects["categories.category"][0].pk
    url = "/api/v1/routing/resolve"
    assert_declared_error(client.get(f"{url}?category=999999&region={region}", **root), "GET", url, 404)
    body = assert_declared_error(client.get(f"{url}?category={category}&region=12", **root), "GET", url, 400)
    assert body["field"] == "region"
    body = assert_declared_error(client.get(f"{url}?category={category}&region={region}&sort=x", **root), "GET",
                                 url, 422)
    assert body["errors"][0]["field"] == "sort"
    assert_declared_error(client.get(f"{url}?category={category}&region={region}"), "GET", url, 401)
    assert_declared_error(client.get(f"{url}?category={category}&region={region}",
                                     **_token(personas, "no grants")), "GET", url, 403)
    assert_declared_error(client.get("/api/v1/routing/rules?region=abc", **root), "GET", "/api/v1/routing/rules", 400)


@pytest.mark.django_db
def test_calendar_refusals_are_declared(personas, fresh_calendar):
    from civicgrid.foundation.sla.models import CalendarDay

    client, root = Client(), _token(personas, "superuser")
    day = "/api/v1/calendar/days/2027-05-06"
    body = {"kind": "holiday", "name": "调休"}
    for label in ("grid_worker@grid", "street_staff@street", "no grants"):
        refused = client.put(day, body, content_type="application/json", **_token(personas, label))
        assert_declared_error(refused, "PUT", day, 403)
    assert not CalendarDay.objects.filter(date="2027-05-06").exists()
    assert_declared_error(client.put(day, body, content_type="application/json"), "PUT", day, 401)
    assert_declared_error(client.put(day, {"kind": "holiday", "colour": "red"}, content_type="application/json",
                                     **root), "PUT", day, 422)
    assert_declared_error(client.get("/api/v1/calendar/3000", **root), "GET", "/api/v1/calendar/{year}", 400)
    schedule = "/api/v1/calendar/schedule"
    bad = client.post(schedule, {"text": "2027-02-31 调休上班"}, content_type="application/json", **root)
    body = assert_declared_error(bad, "POST", schedule, 400)
    assert body["errors"][0]["field"] == "text" and body["errors"][0]["message"].startswith("第1行")
    hours = "/api/v1/calendar/hours"
    assert_declared_error(client.put(hours, {"hours": [["08:30"]]}, content_type="application/json", **root), "PUT",
                          hours, 400)


@pytest.mark.django_db
def test_people_regions_and_audit_refusals_are_declared(personas, world):
    client, root = Client(), _token(personas, "superuser")
    assert_declared_error(client.get("/api/v1/regions/999999", **root), "GET", "/api/v1/regions/{code}", 404)
    assert_declared_error(client.get("/api/v1/grids.geojson?parent=12", **root), "GET", "/api/v1/grids.geojson",
                          400)
    assert_declared_error(client.get("/api/v1/organisations?region=x", **root), "GET", "/api/v1/organisations", 400)
    resident = world.objects["people.resident"][0]
    reveal = f"/api/v1/residents/{resident.pk}/reveal"
    refused = client.post(reveal, {"field": "phone"}, content_type="application/json",
                          **_token(personas, "street_staff@street"))
    assert refused.status_code in (403, 404)
    assert_declared_error(refused, "POST", reveal)
    assert_declared_error(client.post(reveal, {"field": "name"}, content_type="application/json", **root), "POST",
                          reveal, 400)
    assert_declared_error(client.get("/api/v1/audit", **_token(personas, "system_admin")), "GET", "/api/v1/audit",
                          403)
    assert_declared_error(client.get("/api/v1/evaluation?month=2099-01", **_token(personas, "leader@district")),
                          "GET", "/api/v1/evaluation", 400)
    assert_declared_error(client.get("/api/v1/evaluation", **_token(personas, "no grants")), "GET",
                          "/api/v1/evaluation", 403)
    assert_declared_error(client.post("/api/v1/inbox/999999999/read", **root), "POST",
                          "/api/v1/inbox/{notification_id}/read", 404)
    assert_declared_error(client.post("/api/v1/router/retrain", **_token(personas, "grid_worker@grid")), "POST",
                          "/api/v1/router/retrain", 403)


@pytest.mark.django_db
def test_materials_flood_and_rescue_refusals_are_declared(personas, world):
    from civicgrid.apps.flood.models import FloodResponse
    from civicgrid.apps.materials.models import Movement, StockCount

    client, root = Client(), _token(personas, "superuser")
    warehouse = world.objects["materials.warehouse"][0]
    counts = "/api/v1/materials/counts"
    started = client.post(counts, {"warehouse": warehouse.code}, content_type="application/json", **root)
    assert started.status_code in (201, 409), started.content  # (the world may hold an open count of it already)
    before = StockCount.objects.count()
    again = client.post(counts, {"warehouse": warehouse.code}, content_type="application/json", **root)
    assert_declared_error(again, "POST", counts, 409)  # a count of this warehouse is open
    assert StockCount.objects.count() == before
    lot = world.objects["materials.stocklot"][0]
    moved = Movement.objects.count()
    short = client.post("/api/v1/materials/movements", {"kind": "out", "warehouse": lot.warehouse.code,
                                                          "item": lot.item.code, "quantity": lot.quantity + 1,
                                                          "reason": "演练"},
                        content_type="application/json", **root)
    assert_declared_error(short, "POST", "/api/v1/materials/movements", 409)  # more than the stock holds
    assert Movement.objects.count() == moved
    assert_declared_error(client.get("/api/v1/materials/items", **_token(personas, "no grants")), "GET",
                          "/api/v1/materials/items", 403)
    assert_declared_error(client.get("/api/v1/materials/warehouses/999999999", **root), "GET",
                          "/api/v1/materials/warehouses/{pk}", 404)

    lift = "/api/v1/flood/response/lift"
    if not FloodResponse.objects.filter(is_active=True).exists():
        assert_declared_error(client.post(lift, {"reason": "雨停"}, content_type="application/json", **root), "POST",
                              lift, 409)
    assert_declared_error(client.post(lift, {"reason": "雨停"}, content_type="application/json",
                                      **_token(personas, "grid_worker@grid")), "POST", lift, 403)
    assert_declared_error(client.get("/api/v1/flood/status", **_token(personas, "no grants")), "GET",
                          "/api/v1/flood/status", 403)

    team = "/api/v1/rescue/teams/999999999"
    assert_declared_error(client.get(team, **root), "GET", "/api/v1/rescue/teams/{team_id}", 404)
    assert_declared_error(client.get("/api/v1/rescue/teams/export.xlsx", **_token(personas, "no grants")), "GET",
                          "/api/v1/rescue/teams/export.xlsx", 403)
    act = "/api/v1/rescue/incidents/999999999/actions/fly"
    assert_declared_error(client.post(act, {}, content_type="application/json", **root), "POST",
                          "/api/v1/rescue/incidents/{incident_id}/actions/{action}")


@pytest.mark.django_db
def test_a_rating_out_of_range_or_not_a_whole_number_is_a_declared_422(personas):
    client = Client()
    url = "/api/v1/follow/" + "x" * 32 + "/rating"
    for score in (0, 6, "5", 4.0):
        body = assert_declared_error(client.post(url, {"score": score}, content_type="application/json"), "POST",
                                     "/api/v1/follow/{token}/rating", 422)
        assert body["errors"][0]["field"] == "score"
    score = SPEC["components"]["schemas"]["RatingIn"]["properties"]["score"]
    assert (score["type"], score["minimum"], score["maximum"]) == ("integer", 1, 5)

"""Every API operation refuses what it does not declare, by name (config/api.py adds
`api_errors.strict_operation` to the whole API): an unknown query parameter on any list or write, an unknown key
of a JSON body (declared bodies are `StrictIn`), an unknown form field; and a refused request changes nothing.

The operations are read from the live OpenAPI document, so an endpoint added later is covered without a line
here. Lists share the cases list's page bounds; fixed sets of values are enums in the document."""

from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.test import Client

from civicgrid.foundation.core.pagination import MAX_LIMIT, MAX_OFFSET

UNKNOWN = "zz_unknown"


def _spec() -> dict:
    from config.api import api

    return json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"), default=str))


SPEC = _spec()
OPERATIONS = [(method.upper(), path, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()]
IDS = [f"{m} {p}" for m, p, _ in OPERATIONS]
# A value each path parameter's route accepts (the refusal comes before any lookup).
PATH_VALUES = {"year": "2026", "day": "2026-05-01"}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)


def _body_content(op: dict) -> dict:
    return op.get("requestBody", {}).get("content", {})


def _resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


@pytest.fixture
def auth(world):
    """The superuser's token: the widest reach, so a refusal is never a missing permission."""
    token = next(p.token for p in world.personas if p.label == "superuser")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def row_counts() -> dict[str, int]:
    """Rows of every table the project owns (and accounts'), to show a refused request wrote nothing."""
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m.__module__.startswith(("civicgrid.", "django.contrib.auth"))
    }


def assert_names(response, name: str, source: str = "") -> None:
    assert response.status_code == 422, response.content[:300]
    body = response.json()
    assert body["code"] == "invalid"
    fields = {e["field"]: e for e in body["errors"]}
    assert name in fields, body
    assert fields[name]["type"] == "extra_forbidden"
    assert fields[name]["message"].startswith("不接受此字段 / ")
    if len(body["errors"]) == 1:
        assert name in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=IDS)
def test_an_unknown_query_parameter_is_refused_by_name_and_changes_nothing(method, path, op, auth):
    before = row_counts()
    response = Client().generic(method, _url(path), QUERY_STRING=f"{UNKNOWN}=1", **auth)
    assert_names(response, UNKNOWN)
    assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "op"),
    [o for o in OPERATIONS if o[0] != "GET"],
    ids=[i for i in IDS if not i.startswith("GET")],
)
def test_an_unknown_body_field_on_a_write_is_refused_by_name_and_changes_nothing(method, path, op, auth):
    before = row_counts()
    content = _body_content(op)
    client = Client()
    if "multipart/form-data" in content:
        response = client.generic(method, _url(path), **auth, **_multipart({UNKNOWN: "1"}))
    else:
        response = client.generic(
            method, _url(path), json.dumps({UNKNOWN: 1}), content_type="application/json", **auth
        )
    if response.status_code == 404 and not content:
        pytest.fail(
            f"{method} {path}: a body to an operation that takes none must be refused before its lookup"
        )
    if response.status_code == 404:  # a view reading its own body does so after its 404 (people's reveal)
        row = _existing_path(path, auth)
        response = client.generic(
            method, row, json.dumps({UNKNOWN: 1}), content_type="application/json", **auth
        )
    assert_names(response, UNKNOWN)
    assert row_counts() == before


def _multipart(fields: dict) -> dict:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {"data": encode_multipart(BOUNDARY, fields), "content_type": MULTIPART_CONTENT}


def _existing_path(path: str, auth) -> str:
    from civicgrid.foundation.people.models import Resident

    assert path == "/api/v1/residents/{resident_id}/reveal", path
    return f"/api/v1/residents/{Resident.objects.order_by('pk').first().pk}/reveal"


@pytest.mark.django_db
def test_without_a_token_the_answer_is_401_whatever_the_query_says(world):
    response = Client().get("/api/v1/organisations", {UNKNOWN: "1"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_declared_parameter_is_still_read(auth):
    assert Client().get("/api/v1/organisations", {"limit": "1"}, **auth).status_code == 200
    assert Client().get("/api/v1/inbox", {"unread": "true", "offset": "0"}, **auth).status_code == 200


def test_every_json_body_is_declared_closed():
    """A generated client sees that a body takes only its fields (`additionalProperties: false`)."""
    open_bodies = []
    for method, path, op in OPERATIONS:
        schema = _body_content(op).get("application/json", {}).get("schema")
        if not schema:
            continue
        for part in schema.get("anyOf", [schema]):
            part = _resolve(part)
            if part.get("type", "object") == "object" and part.get("additionalProperties") is not False:
                open_bodies.append(f"{method} {path}")
    assert not open_bodies


def test_every_list_pages_with_the_cases_lists_bounds():
    lists = {}
    for _method, path, op in OPERATIONS:
        params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "query"}
        if "offset" in params:
            lists[path] = params
    assert "/api/v1/cases" in lists and "/api/v1/evaluation" in lists and len(lists) > 20
    bounds = {
        path: (
            p["limit"].get("minimum"),
            p["limit"].get("maximum"),
            p["offset"].get("minimum"),
            p["offset"].get("maximum"),
        )
        for path, p in lists.items()
    }
    assert set(bounds.values()) == {(1, MAX_LIMIT, 0, MAX_OFFSET)}, bounds


# A field with a fixed set of values, per endpoint family: its enum is in the document (query or body).
ENUMS = [
    ("get", "/api/v1/cases", "status"),
    ("get", "/api/v1/hazards", "kind"),
    ("get", "/api/v1/hazards", "status"),
    ("get", "/api/v1/hazards", "grade"),
    ("get", "/api/v1/hazards/export.xlsx", "list"),
    ("post", "/api/v1/hazards/{hazard_id}/actions/{action}", "action"),
    ("get", "/api/v1/regions", "level"),
    ("get", "/api/v1/organisations", "kind"),
    ("get", "/api/v1/units", "kind"),
    ("get", "/api/v1/places", "kind"),
    ("get", "/api/v1/audit", "result"),
    ("get", "/api/v1/flood/rainfall", "signal"),
    ("get", "/api/v1/flood/tasks", "status"),
    ("get", "/api/v1/materials/items", "group"),
    ("get", "/api/v1/materials/warehouses", "level"),
    ("get", "/api/v1/materials/stock", "condition"),
    ("get", "/api/v1/materials/movements", "kind"),
    ("get", "/api/v1/rescue/teams", "availability"),
    ("get", "/api/v1/rescue/teams", "kind"),
    ("get", "/api/v1/rescue/incidents", "status"),
    ("get", "/api/v1/rescue/incidents", "severity"),
    ("post", "/api/v1/rescue/incidents/{incident_id}/actions/{action}", "action"),
    ("post", "/api/v1/cases", "crs"),
    ("post", "/api/v1/hazards", "kind"),
    ("post", "/api/v1/hazards", "grade"),
    ("post", "/api/v1/hazards/{hazard_id}/plans", "kind"),
    ("post", "/api/v1/flood/response/level", "level"),
    ("post", "/api/v1/materials/items", "group"),
    ("post", "/api/v1/materials/movements", "kind"),
    ("post", "/api/v1/rescue/teams", "kind"),
    ("post", "/api/v1/rescue/teams/{team_id}/availability", "availability"),
    ("post", "/api/v1/rescue/incidents", "severity"),
    ("post", "/api/v1/residents/{resident_id}/reveal", "field"),
]


def _enum_of(schema: dict) -> list | None:
    schema = _resolve(schema)
    if "enum" in schema:
        return schema["enum"]
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            if (found := _enum_of(part)) is not None:
                return found
    if schema.get("type") == "array":
        return _enum_of(schema.get("items", {}))
    return None


@pytest.mark.parametrize(("method", "path", "name"), ENUMS, ids=[f"{m} {p} {n}" for m, p, n in ENUMS])
def test_a_field_with_fixed_values_is_an_enum_in_the_document(method, path, name):
    op = SPEC["paths"][path][method]
    params = {p["name"]: p["schema"] for p in op.get("parameters", [])}
    if name in params:
        schema = params[name]
    else:
        body = _resolve(_body_content(op)["application/json"]["schema"])
        schema = body["properties"][name]
    values = _enum_of(schema)
    assert values and all(isinstance(v, str) for v in values), schema


def test_ids_in_a_json_body_are_strict_integers(auth):
    """`"1"`, `1.0` or `true` for an id is refused, not read as an id (cases' `Id = StrictInt`, now every body)."""
    before = row_counts()
    for path, body, field in [
        ("/api/v1/hazards", {"responsible_department": "1"}, "responsible_department"),
        ("/api/v1/materials/nearest/batch", {"item": "x", "hazards": ["1"]}, "hazards.0"),
        ("/api/v1/rescue/incidents/1/callouts", {"teams": [True]}, "teams.0"),
        ("/api/v1/rescue/incidents/1/materials", {"warehouse": 1.0, "item": 1, "quantity": 1}, "warehouse"),
    ]:
        response = Client().post(path, json.dumps(body), content_type="application/json", **auth)
        assert response.status_code == 422, (path, response.content[:300])
        assert field in {e["field"] for e in response.json()["errors"]}, (path, response.json())
    assert row_counts() == before

"""Generated requests against every API operation (schemathesis, from the live OpenAPI document).

For each operation, valid and invalid inputs are generated from the schema and sent with a valid bearer token
through Django's test client (so each request runs inside the test's transaction, rolled back after it). Every
answer must be below 500; every error must be JSON with a `detail` message a person can act on; and every
successful answer must match the schema the API publishes. Bounded (a few dozen examples per operation, no
deadline) so the file runs in well under a minute.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import schemathesis
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import response_schema_conformance

from civicgrid.testing import contract

BASE = "http://testserver"


def _operations():
    from config.api import api

    spec = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"), default=str))
    schema = schemathesis.openapi.from_dict(spec)
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()
# Examples per operation shrink as the API grows, so the file keeps to about a minute (20/15 for a small
# API, 9/5 for forty-odd operations).
EXAMPLES = {
    schemathesis.GenerationMode.POSITIVE: max(6, min(20, 400 // max(1, len(OPERATIONS)))),
    schemathesis.GenerationMode.NEGATIVE: max(4, min(15, 240 // max(1, len(OPERATIONS)))),
}


@pytest.fixture
def token(world):
    """The superuser's token: the widest reach, so generated requests get past scope into the code."""
    return next(p.token for p in world.personas if p.label == "superuser")


def known_values(world, operation) -> list[dict]:
    """Path parameters naming objects that exist (from the endpoint registry's lookups), so that generated
    requests also reach the code behind a successful lookup, not only the 404."""
    data, _ = contract.load_registry()
    names = [p.name for p in operation.path_parameters]
    if not names:
        return []
    choices: dict[str, list] = {}
    for ep in data.values():
        if ep.url_name.startswith("api:") and ep.lookup in names and ep.model.lower() in world.objects:
            rows = world.objects[ep.model.lower()][:3]
            choices.setdefault(ep.lookup, []).extend(
                o.pk if ep.lookup_field == "pk" else getattr(o, ep.lookup_field) for o in rows)
    if set(choices) != set(names):
        return []
    return [{n: choices[n][i % len(choices[n])] for n in names} for i in range(3)]


def send(case, token: str):
    """Run one generated case through Django's test client; returns (Django response, schemathesis response)."""
    kwargs = case.as_transport_kwargs(base_url=BASE)
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items()
               if k.lower() not in {"authorization", "host", "content-length", "connection"}}
    headers["Authorization"] = f"Bearer {token}"
    url = urlsplit(kwargs["url"])
    query = urlencode(kwargs.get("params") or {}, doseq=True)
    if "json" in kwargs:
        body, content_type = json.dumps(kwargs["json"]).encode(), "application/json"
    else:
        body = kwargs.get("data") or b""
        body = body.encode() if isinstance(body, str) else body
        content_type = headers.pop("Content-Type", "application/octet-stream")
    headers.pop("Content-Type", None)
    client = Client(raise_request_exception=False)
    # Each case in a savepoint of its own: on PostgreSQL a failed statement would poison the rest.
    sid = transaction.savepoint_create()
    try:
        response = client.generic(
            kwargs["method"], url.path, data=body, content_type=content_type, headers=headers, QUERY_STRING=query
        )
    finally:
        transaction.savepoint_rollback(sid)
    prepared = requests.Request(
        kwargs["method"], kwargs["url"], headers=headers, params=kwargs.get("params"), data=body
    ).prepare()
    wrapped = schemathesis.Response(
        status_code=response.status_code,
        headers={k.lower(): [v] for k, v in response.items()},
        content=response.content,
        request=prepared,
        elapsed=0.0,
        verify=False,
    )
    return response, wrapped


def problems_of(case, response, wrapped) -> list[str]:
    body = f" body={case.body!r:.200}" if isinstance(case.body, dict | list | str | bytes) else ""
    where = f"{case.method} {case.formatted_path}?{urlencode(case.query or {}, doseq=True)}{body}"
    found = []
    if response.status_code >= 500:
        found.append(f"{where}: server error {response.status_code}: {response.content[:300]!r}")
    elif response.status_code >= 400:
        try:
            detail = json.loads(response.content).get("detail")
        except (ValueError, AttributeError):
            detail = None
        if not (isinstance(detail, str) and detail.strip()):
            found.append(f"{where}: error {response.status_code} is not JSON with a 'detail' message: "
                         f"{response.content[:200]!r}")
        declared = case.operation.definition.raw.get("responses", {})
        if str(response.status_code) not in declared:
            found.append(f"{where}: error {response.status_code} is not among the operation's declared answers "
                         f"{sorted(declared)}")
    elif 200 <= response.status_code < 300 and "json" in response.get("Content-Type", ""):
        try:
            case.validate_response(wrapped, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis raises a group of failures
            found.append(f"{where}: answer does not match the published schema: {str(exc)[:400]}")
    return found


def _run(strategy, examples: int, token: str) -> list[str]:
    found: list[str] = []

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run and machine: a failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response, wrapped = send(case, token)
        found.extend(problems_of(case, response, wrapped))

    run()
    return list(dict.fromkeys(found))


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_generated_requests(operation, mode, token):
    try:
        found = _run(operation.as_strategy(generation_mode=mode), EXAMPLES[mode], token)
    except Unsatisfiable:
        pytest.skip("the schema admits every value here: there is no invalid input to generate")
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:15])


@pytest.mark.django_db
@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.path_parameters],
                         ids=[op.label for op in OPERATIONS if op.path_parameters])
def test_generated_requests_on_existing_objects(operation, world, token):
    pinned = known_values(world, operation)
    if not pinned:
        pytest.skip("no data endpoint declares this operation's path parameters")
    found = []
    for values in pinned:
        found += _run(operation.as_strategy(path_parameters=values), 4, token)
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:15])


# What each cases operation really answers besides success (401 everywhere a token is required; 422 everywhere:
# an undeclared parameter is refused by name on every operation).
CASES_ERRORS = {
    ("post", "/api/v1/cases"): {"400", "401", "403", "409", "422", "429"},
    ("get", "/api/v1/cases"): {"400", "401", "403", "422"},
    ("get", "/api/v1/cases/work"): {"401", "422"},
    ("get", "/api/v1/cases/{number}"): {"401", "403", "404", "422"},
    ("post", "/api/v1/cases/{number}/actions/{action}"): {"400", "401", "403", "404", "409", "422"},
    ("post", "/api/v1/cases/{number}/photos"): {"400", "401", "403", "404", "409", "422"},
    ("post", "/api/v1/cases/{number}/contact"): {"401", "403", "404", "422"},
    ("get", "/api/v1/cases/{number}/attachments/{attachment_id}"): {"401", "403", "404", "422"},
    ("get", "/api/v1/cases/{number}/duplicates"): {"401", "403", "404", "422"},
    ("get", "/api/v1/follow/{token}"): {"404", "422", "429"},
    ("post", "/api/v1/follow/{token}/rating"): {"400", "404", "409", "422", "429"},
    ("post", "/api/v1/follow/{token}/reopen"): {"400", "404", "409", "422", "429"},
}


def test_the_cases_operations_declare_their_error_answers_with_the_shared_error_schema():
    from config.api import api

    spec = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"), default=str))
    error = spec["components"]["schemas"]["ErrorOut"]
    assert {"detail", "code"} <= set(error["required"]) and {"field", "errors"} <= set(error["properties"])
    for (method, path), expected in CASES_ERRORS.items():
        responses = spec["paths"][path][method]["responses"]
        declared = {code for code in responses if code[0] in "45"}
        assert declared == expected, (method, path)
        for code in declared:
            ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut", (method, path, code)


def test_the_action_parameter_lists_the_workflows_transitions():
    from civicgrid.apps.cases.workflow import CASE_WORKFLOW
    from config.api import api

    spec = api.get_openapi_schema(path_prefix="/api/v1/")
    params = spec["paths"]["/api/v1/cases/{number}/actions/{action}"]["post"]["parameters"]
    action = next(p for p in params if p["name"] == "action")
    assert action["schema"]["enum"] == [t.name for t in CASE_WORKFLOW.transitions]


@pytest.mark.django_db
def test_an_error_answer_matches_the_published_error_schema(world, token):
    """A refusal's body (here a 400 naming its field) is what ErrorOut publishes."""
    from civicgrid.foundation.core.api_errors import ErrorOut
    from config.api import api

    published = api.get_openapi_schema(path_prefix="/api/v1/")["components"]["schemas"]["ErrorOut"]
    response = Client().get("/api/v1/cases?category=9223372036854775808", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
    body = response.json()
    assert set(body) <= set(published["properties"]) and set(published["required"]) <= set(body)
    assert ErrorOut.model_validate(body).field == "category"

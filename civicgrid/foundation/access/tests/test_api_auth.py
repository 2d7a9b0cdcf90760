"""Token endpoint (fixed contract) and bearer authentication."""

import pytest

from civicgrid.foundation.access.models import ApiToken, LoginAttempt
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def test_token_then_bearer_reads_scoped_regions(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    headers = token_for(worker)
    resp = api_client.get("/api/v1/regions?level=grid&limit=50", **headers)
    assert resp.status_code == 200
    body = resp.json()
    assert [i["code"] for i in body["items"]] == ["140213051001002"]
    assert body["count"] == 1
    assert body["items"][0]["parent_code"] == "140213051001"


def test_token_is_stored_hashed_and_audited(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    raw = token_for(worker)["HTTP_AUTHORIZATION"].split()[1]
    token = ApiToken.objects.get(user=worker)
    assert raw not in token.key_hash and len(token.key_hash) == 64
    assert AuditEntry.objects.filter(action="auth.token_issued", target_id=str(worker.pk)).count() == 1


def test_wrong_password_is_401_json_and_recorded(tree, api_client):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    resp = api_client.post(
        "/api/v1/auth/token", {"username": worker.username, "password": "nope"}, content_type="application/json"
    )
    assert resp.status_code == 401
    assert "detail" in resp.json()
    assert ApiToken.objects.count() == 0
    assert LoginAttempt.objects.filter(username=worker.username, succeeded=False).count() == 1


def test_account_locks_after_repeated_failures(tree, api_client, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 3
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    for _ in range(3):
        api_client.post("/api/v1/auth/token", {"username": worker.username, "password": "bad"},
                        content_type="application/json")
    resp = api_client.post("/api/v1/auth/token", {"username": worker.username, "password": "Civic-Test-2026!"},
                           content_type="application/json")
    assert resp.status_code == 429
    assert ApiToken.objects.count() == 0


def test_missing_or_revoked_token_is_401(tree, api_client, token_for):
    assert api_client.get("/api/v1/regions").status_code == 401
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    headers = token_for(worker)
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00+08:00")
    assert api_client.get("/api/v1/regions", **headers).status_code == 401


def test_region_outside_scope_is_404(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    headers = token_for(worker)
    assert api_client.get("/api/v1/regions/140213051001002", **headers).status_code == 200
    resp = api_client.get("/api/v1/regions/140213050001001", **headers)
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"


def test_healthz_and_openapi(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/regions" in spec["paths"] and "/api/v1/auth/token" in spec["paths"]


def _revoked_entries(user) -> list:
    return list(AuditEntry.objects.filter(action="auth.token_revoked", target_id=str(user.pk))
                .order_by("pk").values_list("actor_id", "data"))


def test_a_token_revokes_itself_through_the_api_audited_as_on_the_web(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    this, other = token_for(worker), token_for(worker)
    resp = api_client.post("/api/v1/auth/token/revoke", **this)
    assert resp.status_code == 200 and resp.json() == {"revoked": 1}
    first, second = ApiToken.objects.filter(user=worker).order_by("pk")
    assert first.revoked_at is not None and second.revoked_at is None
    assert _revoked_entries(worker) == [(worker.pk, {"prefix": first.prefix})]
    # the revoked token is refused from now on, and cannot revoke again; the other one still works
    before = list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at"))
    assert api_client.get("/api/v1/regions", **this).status_code == 401
    assert api_client.post("/api/v1/auth/token/revoke", **this).status_code == 401
    assert list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")) == before
    assert len(_revoked_entries(worker)) == 1
    assert api_client.get("/api/v1/regions", **other).status_code == 200


def test_all_the_accounts_tokens_are_revoked_with_all_and_no_one_elses(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    neighbour = user_with(Role.GRID_WORKER, region=tree["140213051001002"], username="wg-neighbour")
    this, other, theirs = token_for(worker), token_for(worker), token_for(neighbour)
    resp = api_client.post("/api/v1/auth/token/revoke", {"all": True}, content_type="application/json", **this)
    assert resp.status_code == 200 and resp.json() == {"revoked": 2}
    assert not ApiToken.objects.filter(user=worker, revoked_at__isnull=True).exists()
    prefixes = list(ApiToken.objects.filter(user=worker).order_by("created_at").values_list("prefix", flat=True))
    assert _revoked_entries(worker) == [(worker.pk, {"prefixes": prefixes, "reason": "asked"})]
    for headers in (this, other):
        assert api_client.get("/api/v1/regions", **headers).status_code == 401
    assert api_client.get("/api/v1/regions", **theirs).status_code == 200
    assert _revoked_entries(neighbour) == []
    # the same as a query parameter
    again = token_for(worker)
    resp = api_client.post("/api/v1/auth/token/revoke?all=true", **again)
    assert resp.status_code == 200 and resp.json() == {"revoked": 1}
    assert not ApiToken.objects.filter(user=worker, revoked_at__isnull=True).exists()


def test_a_revoke_with_a_malformed_body_changes_nothing(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    headers = token_for(worker)
    for body in ('{"all": "yes"}', "[true]", "{"):
        resp = api_client.post("/api/v1/auth/token/revoke", body, content_type="application/json", **headers)
        assert resp.status_code == 400, (body, resp.content)
    assert api_client.post("/api/v1/auth/token/revoke?all=maybe", **headers).status_code == 422
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists() and _revoked_entries(worker) == []
    assert api_client.get("/api/v1/regions", **headers).status_code == 200


def test_revoking_without_a_valid_token_changes_nothing(tree, api_client, token_for):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    token_for(worker)
    before = list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at"))
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer cg_not-a-token"}):
        resp = api_client.post("/api/v1/auth/token/revoke", {"all": True}, content_type="application/json",
                               **headers)
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"
    assert list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")) == before
    assert _revoked_entries(worker) == []


def test_the_revoke_endpoint_is_in_the_openapi_schema(api_client):
    schema = api_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/auth/token/revoke"]["post"]
    assert "revoke" in operation["description"] and set(operation["responses"]) >= {"200", "401"}
    assert "/auth/token/revoke" in schema["info"]["description"]

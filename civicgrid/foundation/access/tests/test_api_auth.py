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

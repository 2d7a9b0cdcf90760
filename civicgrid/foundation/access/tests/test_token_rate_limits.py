"""Token issuing is rate limited (SECURITY.md "Web and API"): per username tried and per address, counting every
request, refused or not. A refused request is a 429 with `Retry-After` and a Chinese message, and writes nothing:
no token, no sign-in record, no audit entry."""

from __future__ import annotations

import pytest
from django.test import override_settings

from civicgrid.foundation.access.models import ApiToken, LoginAttempt
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import ratelimit
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"


def _ask(client, username, password=PASSWORD, address="10.5.0.1"):
    return client.post(
        "/api/v1/auth/token",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def _world() -> tuple:
    return ApiToken.objects.count(), LoginAttempt.objects.count(), AuditEntry.objects.count()


def _refused(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "rate_limited" and body["detail"].startswith("操作过于频繁，请 ")


def test_forty_token_requests_get_the_default_burst_then_429s(tree, api_client):
    """The tester's run: 40 requests were 40 tokens valid for a day."""
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    statuses = [_ask(api_client, worker.username).status_code for _ in range(10)]
    assert statuses == [200] * 10
    before = _world()
    for _ in range(30):
        _refused(_ask(api_client, worker.username))
    assert _world() == before
    assert ApiToken.objects.filter(user=worker).count() == 10


@override_settings(CIVICGRID_TOKEN_BURST=3, CIVICGRID_TOKEN_ADDRESS_BURST=100)
def test_failures_count_too_and_the_limit_follows_the_username_across_addresses(tree, api_client):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    assert _ask(api_client, worker.username, password="wrong-1").status_code == 401
    assert _ask(api_client, worker.username, password="wrong-2", address="10.5.0.2").status_code == 401
    assert _ask(api_client, worker.username.upper(), address="10.5.0.3").status_code == 401  # any letter case
    before = _world()
    _refused(_ask(api_client, worker.username, address="10.5.0.4"))  # even with the right password
    assert _world() == before
    other = user_with(Role.GRID_WORKER, region=tree["140213051001002"], username="other")
    assert _ask(api_client, other.username).status_code == 200


@override_settings(CIVICGRID_TOKEN_BURST=100, CIVICGRID_TOKEN_ADDRESS_BURST=3)
def test_the_limit_per_address_counts_every_username_tried_from_it(tree, api_client):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    for name in ("guess1", "guess2", "nosuchuser999"):
        assert _ask(api_client, name).status_code == 401
    before = _world()
    _refused(_ask(api_client, worker.username))
    assert _world() == before
    assert _ask(api_client, worker.username, address="10.5.0.9").status_code == 200


@override_settings(
    CIVICGRID_TOKEN_RATE_PER_HOUR=-1, CIVICGRID_TOKEN_BURST=0, CIVICGRID_TOKEN_ADDRESS_RATE_PER_HOUR=-1
)
def test_a_negative_rate_lifts_the_limit(tree, api_client):
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    assert {_ask(api_client, worker.username).status_code for _ in range(12)} == {200}


def test_with_the_bucket_store_broken_no_token_is_issued(tree, api_client, tmp_path):
    """Token issuing fails closed (core.ratelimit): its buckets are what stops guessing across usernames from one
    address, so without them the endpoint answers 503 with `Retry-After` and checks no password."""
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    (tmp_path / ratelimit.FILE_NAME).mkdir()  # the bucket file cannot be made
    before = _world()
    with override_settings(DATA_DIR=tmp_path):
        response = _ask(api_client, worker.username)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "60"
    assert response.json()["code"] == "rate_limit_unavailable"
    assert response.json()["detail"].startswith("服务暂时不可用")
    assert _world() == before
    (tmp_path / ratelimit.FILE_NAME).rmdir()
    with override_settings(DATA_DIR=tmp_path):
        assert _ask(api_client, worker.username).status_code == 200  # the store back, tokens are issued again


def test_with_redis_unreachable_no_token_is_issued(tree, api_client, unreachable_redis):
    """Several hosts share the buckets through Redis (CIVICGRID_REDIS_URL): with Redis away (a closed port),
    token issuing fails closed as with a broken file, at once, and writes nothing."""
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    before = _world()
    response = _ask(api_client, worker.username)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "60" and response.json()["code"] == "rate_limit_unavailable"
    assert _world() == before


@override_settings(CIVICGRID_TOKEN_BURST=3, CIVICGRID_TOKEN_ADDRESS_BURST=100)
def test_through_redis_the_limit_holds_across_hosts(tree, api_client, redis_buckets):
    """Two hosts (two bucket stores on one Redis, as two machines have): the username's burst is spent once."""
    worker = user_with(Role.GRID_WORKER, region=tree["140213051001002"])
    assert _ask(api_client, worker.username).status_code == 200
    assert _ask(api_client, worker.username).status_code == 200
    ratelimit._relocate("CIVICGRID_REDIS_URL")  # the next request is served by a new store: the other host
    other_host = ratelimit.store()
    assert _ask(api_client, worker.username).status_code == 200
    assert ratelimit.store() is other_host
    before = _world()
    _refused(_ask(api_client, worker.username))
    assert _world() == before

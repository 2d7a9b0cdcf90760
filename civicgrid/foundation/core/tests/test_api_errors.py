"""API errors are JSON with a message, including an oversized body (413, not 500)."""

import json

import pytest

pytestmark = pytest.mark.django_db


def test_oversized_body_is_413_json(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"username": "x" * 4000, "password": "y"})
    resp = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert resp.status_code == 413
    assert resp.json()["code"] == "too_large"

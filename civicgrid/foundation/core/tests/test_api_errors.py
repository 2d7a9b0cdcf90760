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


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_a_422_says_each_fields_problem_in_chinese_first_and_keeps_the_machine_readable_type(client):
    """The tester's run: the 422's per-field messages were pydantic's English ("Input should be …")."""
    body = json.dumps({"username": 3})
    resp = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert resp.status_code == 422
    answer = resp.json()
    assert answer["code"] == "invalid"
    assert answer["errors"] == [
        {"field": "username", "message": "须为文本 / Input should be a valid string", "type": "string_type"},
        {"field": "password", "message": "必填 / Field required", "type": "missing"},
    ]
    zh, sep, en = answer["detail"].partition(" / ")
    assert sep and zh == "请求参数有误：username 须为文本（另有 1 处）"
    assert en == "invalid request: username: Input should be a valid string (1 more)"


def test_every_field_message_of_a_422_opens_in_chinese(client, tree):
    from civicgrid.foundation.access.models import ApiToken
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    token = ApiToken.issue(user_with(Role.GRID_WORKER, region=tree["140213050001001"]))[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    bad_body = {"title": 5, "lng": "x", "lat": 40.0, "category": "abc", "photos": "no", "is_major": "maybe"}
    created = client.post("/api/v1/cases", json.dumps(bad_body), content_type="application/json", **headers)
    listed = client.get("/api/v1/cases?limit=abc&date_from=2020-13-01&overdue=maybe", **headers)
    for resp in (created, listed):
        assert resp.status_code == 422
        errors = resp.json()["errors"]
        assert errors and all(_has_chinese(e["message"].split(" / ")[0]) and e["type"] for e in errors), errors
        assert _has_chinese(resp.json()["detail"].split(" / ")[0].split("：", 1)[1])
    messages = {e["field"]: e["message"] for e in listed.json()["errors"]}
    assert messages["date_from"].startswith("须为日期") and messages["limit"].startswith("须为整数")


def test_our_own_validators_keep_their_bilingual_words(client):
    from civicgrid.foundation.core.api_errors import field_error

    err = {"type": "value_error", "loc": ("query", "since"), "msg": "Value error, 时间超出范围 / time out of range",
           "ctx": {"error": ValueError("时间超出范围 / time out of range")}}
    assert field_error(err) == {"field": "since", "message": "时间超出范围 / time out of range", "type": "value_error"}
    err = {"type": "string_too_long", "loc": ("body", "payload", "note"), "msg": "String should have at most 5 "
           "characters", "ctx": {"max_length": 5}}
    assert field_error(err)["message"] == "最多 5 个字符 / String should have at most 5 characters"
    assert field_error({"type": "something_new", "loc": ("x",), "msg": "Odd"})["message"] == "取值无效 / Odd"

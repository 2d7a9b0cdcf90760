"""Inputs of the cases API that used to reach the database unchecked or be cut silently: integers beyond the
databases' 64 bits are a 400 naming the field (never a 500), and an over-long note or reason is refused
(never cut to what the timeline keeps). Each refusal changes nothing."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.foundation.workflow.steps import MAX_NOTE

from .conftest import POINT, auth, report, world_counts

pytestmark = pytest.mark.django_db

HUGE = "9223372036854775808"  # 2**63


@pytest.mark.parametrize(("query", "field"), [
    (f"category={HUGE}", "category"), ("department=99999999999999999999", "department"),
    ("category=-1", "category"), (f"department=-{HUGE}", "department"),
])
def test_list_filters_beyond_an_id_are_a_400_naming_the_field(loop, api_client, query, field):
    report(loop)
    response = api_client.get(f"/api/v1/cases?{query}", **auth(loop.dispatcher))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and response.json()["code"] == "invalid"


def test_list_filters_within_range_still_filter(loop, api_client):
    case = report(loop)
    found = api_client.get(f"/api/v1/cases?category={loop.cat.pk}", **auth(loop.dispatcher)).json()
    assert [i["number"] for i in found["items"]] == [case.number]
    assert api_client.get("/api/v1/cases?department=9223372036854775807", **auth(loop.dispatcher)).json()["total"] == 0


@pytest.mark.parametrize(("action", "prepare", "body", "field"), [
    ("accept", [], {"category": int(HUGE)}, "category"),
    ("dispatch", ["accept"], {"department": int(HUGE)}, "department"),
    ("send_back", ["accept", "dispatch"], {"reason": "不归我们", "correct_rule": True,
                                           "proposed_department": int(HUGE)}, "proposed_department"),
])
def test_action_ids_beyond_64_bits_are_a_400_naming_the_field(loop, api_client, action, prepare, body, field):
    case = report(loop)
    for step in prepare:
        act(actor=loop.dispatcher, case=case, action=step, **({"department": loop.dept.pk} if step == "dispatch" else {}))
    actor = loop.handler if action == "send_back" else loop.dispatcher
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/{action}", body,
                               content_type="application/json", **auth(actor))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert world_counts() == before


def test_a_report_naming_a_category_beyond_64_bits_is_a_400(loop, api_client):
    before = world_counts()
    response = api_client.post("/api/v1/cases", {"title": "垃圾", "lng": POINT[0], "lat": POINT[1],
                                                 "category": int(HUGE)},
                               content_type="application/json", **auth(loop.worker))
    assert response.status_code == 400 and response.json()["field"] == "category"
    assert world_counts() == before


def test_an_attachment_id_beyond_64_bits_is_not_found(loop, api_client):
    case = report(loop)
    response = api_client.get(f"/api/v1/cases/{case.number}/attachments/{HUGE}", **auth(loop.dispatcher))
    assert response.status_code == 404


def test_an_overflow_anywhere_in_the_api_is_a_400_not_a_500(rf):
    """The safety net (config/api.py) for an integer some endpoint forgot to bound."""
    from config.api import api

    response = api.on_exception(rf.get("/api/v1/cases"), OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert response.status_code == 400 and json.loads(response.content)["code"] == "invalid"


@pytest.mark.parametrize("field", ["note", "reason"])
def test_an_over_long_note_or_reason_is_refused_not_cut(loop, api_client, field):
    case = report(loop)
    action, body = ("accept", {"note": "长" * (MAX_NOTE + 1)}) if field == "note" else \
        ("refuse", {"reason": "长" * 100_000})
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/{action}", body,
                               content_type="application/json", **auth(loop.dispatcher))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and str(MAX_NOTE) in response.json()["detail"]
    assert world_counts() == before
    # exactly the limit is kept whole
    act(actor=loop.dispatcher, case=case, action="accept", note="长" * MAX_NOTE)
    assert len(CaseStep.objects.get(case=case, action="accept").note) == MAX_NOTE


def test_the_web_action_form_refuses_an_over_long_note_in_chinese(loop, client):
    case = report(loop)
    client.force_login(loop.dispatcher)
    before = world_counts()
    response = client.post(reverse("ui:case_act", args=[case.number, "accept"]), {"note": "长" * (MAX_NOTE + 1)},
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    html = response.content.decode()
    assert f"说明不能超过 {MAX_NOTE} 个字符" in html and "is at most" not in html
    assert world_counts() == before


# A lone surrogate ("\ud800" escaped in a JSON body) is text no encoding can write: refused as a 400 naming the
# field by the API's input check (`core.text`), before the rate limiter or the report's digest met it (a 500).
SURROGATE_BODIES = ['{"title": "\\ud800", "lng": %s, "lat": %s}', '{"title": "垃圾", "description": "a\\udfffb", '
                    '"lng": %s, "lat": %s}']


@pytest.mark.parametrize("body", SURROGATE_BODIES)
def test_a_report_with_a_lone_surrogate_is_a_400_naming_the_field(loop, api_client, body):
    before = world_counts()
    from civicgrid.foundation.audit.models import AuditEntry

    audit = AuditEntry.objects.count()
    response = api_client.post("/api/v1/cases", body % POINT, content_type="application/json", **auth(loop.worker))
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid" and answer["field"] in ("title", "description")
    assert "UTF-8" in answer["detail"] and answer["field"] in answer["detail"]
    assert world_counts() == before and AuditEntry.objects.count() == audit


def test_a_token_request_with_a_lone_surrogate_is_a_400(loop, api_client):
    from civicgrid.foundation.access.models import ApiToken
    from civicgrid.foundation.audit.models import AuditEntry

    audit, tokens = AuditEntry.objects.count(), ApiToken.objects.count()
    for body in ('{"username": "\\ud800", "password": "x"}', '{"username": "wg", "password": "\\udc00"}'):
        response = api_client.post("/api/v1/auth/token", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid" and "UTF-8" in response.json()["detail"]
    assert AuditEntry.objects.count() == audit and ApiToken.objects.count() == tokens
    # a surrogate pair (one character written escaped) is ordinary text
    response = api_client.post("/api/v1/auth/token", '{"username": "\\ud83d\\ude00", "password": "x"}',
                               content_type="application/json")
    assert response.status_code == 401


def test_refuse_nul_also_refuses_unencodable_text():
    from civicgrid.foundation.core.errors import ValidationFailed
    from civicgrid.foundation.core.text import has_unencodable, refuse_nul

    assert has_unencodable({"a": ["x", "\ud800"]}) and not has_unencodable({"a": ["😀", "垃圾"]})
    with pytest.raises(ValidationFailed) as refused:
        refuse_nul("a\udfff", "title", "标题")
    assert refused.value.field == "title" and "UTF-8" in refused.value.message


def test_a_json_body_over_the_upload_limit_is_a_413_in_the_apis_shape(loop, api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = world_counts()
    body = json.dumps({"title": "垃圾", "description": "\ud83d\ude00 \\ud800" + "x" * 2000, "lng": POINT[0],
                       "lat": POINT[1]})
    response = api_client.post("/api/v1/cases", body, content_type="application/json", **auth(loop.worker))
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_large" and "MB" in response.json()["detail"]
    assert world_counts() == before

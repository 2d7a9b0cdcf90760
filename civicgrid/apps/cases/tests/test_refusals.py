"""Every refusal through the API answers clearly (404 outside scope, 409 wrong state, 403 wrong role, 422
missing input) and changes nothing: status, steps, reporters, audit, outbox, clocks, inbox and outgoing messages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Status
from civicgrid.apps.cases.services import act

from .conftest import auth, jpeg, report, world_counts
from .test_loop_api import b64

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(loop):
    """One case in each state the refusals need (driven through the services)."""
    reported = report(loop, reporter_phone="13600000000")
    accepted = report(loop, title="待派遣")
    act(actor=loop.dispatcher, case=accepted, action="accept")
    dispatched = report(loop, title="待处置")
    act(actor=loop.dispatcher, case=dispatched, action="accept")
    act(actor=loop.dispatcher, case=dispatched, action="dispatch", department=loop.dept.pk)
    handled = report(loop, title="待核查")
    act(actor=loop.dispatcher, case=handled, action="accept")
    act(actor=loop.dispatcher, case=handled, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=handled, action="report_back", note="已处理")
    return {"reported": reported, "accepted": accepted, "dispatched": dispatched, "handled": handled}


REFUSALS = [
    # (who, case, action, body, status, code)
    ("dispatcher", "reported", "dispatch", {"department": "dept"}, 409, "conflict"),
    ("dispatcher", "dispatched", "accept", {}, 409, "conflict"),
    ("handler", "handled", "report_back", {"note": "再次反馈"}, 409, "conflict"),
    ("worker", "handled", "report_back", {"note": "已处理"}, 403, "forbidden"),  # no role of theirs handles
    # A role that never takes the action is refused as such whatever the state (403); a role that takes it, only
    # not in this state, gets the state's 409.
    ("worker", "reported", "close", {}, 403, "forbidden"),
    ("handler", "dispatched", "accept", {}, 403, "forbidden"),
    ("leader", "dispatched", "close", {}, 403, "forbidden"),
    ("leader", "handled", "close", {}, 403, "forbidden"),
    ("dispatcher", "handled", "close", {}, 409, "conflict"),
    ("worker", "reported", "accept", {}, 403, "forbidden"),
    ("leader", "accepted", "dispatch", {"department": "dept"}, 403, "forbidden"),
    ("dispatcher", "dispatched", "start", {}, 403, "forbidden"),
    ("dispatcher", "dispatched", "request_extension", {"reason": "需要时间", "hours": 4}, 403, "forbidden"),
    # nothing waits for a decision: the case's state refuses whoever may decide (it once said "your role may
    # not"); a handler never decides one
    ("dispatcher", "dispatched", "decide_extension", {"decision": "approve"}, 409, "conflict"),
    ("handler", "dispatched", "decide_extension", {"decision": "approve"}, 403, "forbidden"),
    ("resident", "reported", "accept", {}, 403, "forbidden"),  # no case files: refused as the page refuses
    ("other_street_dispatcher", "reported", "accept", {}, 404, "not_found"),
    ("other_handler", "dispatched", "start", {}, 404, "not_found"),
    ("neighbour_worker", "handled", "verify", {"photos": "photo"}, 404, "not_found"),
    ("dispatcher", "reported", "refuse", {}, 422, "missing"),
    ("dispatcher", "accepted", "dispatch", {}, 422, "missing"),
    ("handler", "dispatched", "send_back", {}, 422, "missing"),
    ("handler", "dispatched", "request_extension", {"reason": "需要时间"}, 422, "missing"),
    ("worker", "handled", "verify", {}, 422, "missing"),
    ("worker", "handled", "rework", {}, 422, "missing"),
    ("dispatcher", "reported", "merge", {}, 422, "missing"),
    ("dispatcher", "accepted", "dispatch", {"department": 987654}, 400, "invalid"),
    ("dispatcher", "reported", "merge", {"parent": "2099010100001"}, 400, "invalid"),
    ("handler", "dispatched", "request_extension", {"reason": "x", "hours": -5}, 400, "invalid"),
    ("dispatcher", "reported", "fly_away", {}, 400, "invalid"),
]


def test_every_refused_action_answers_clearly_and_changes_nothing(loop, cases, api_client):
    # Refusals change nothing, so one set of cases serves them all; each is checked against the same snapshot.
    before = world_counts()
    headers = {}
    for who, state, action, body, status, code in REFUSALS:
        case = cases[state]
        body = dict(body)
        if body.get("department") == "dept":
            body["department"] = loop.dept.pk
        if body.get("photos") == "photo":
            body["photos"] = [{"content_base64": b64(jpeg())}]
        user = getattr(loop, who)
        headers.setdefault(who, auth(user))
        response = api_client.post(f"/api/v1/cases/{case.number}/actions/{action}", body,
                                   content_type="application/json", **headers[who])
        where = f"{who} {action} on a {state} case"
        assert response.status_code == status, f"{where}: {response.content.decode()}"
        assert response.json()["code"] == code and response.json()["detail"], where
        assert world_counts() == before, f"{where} changed something"


def test_a_case_outside_scope_is_a_plain_404_everywhere(loop, cases, api_client):
    case = cases["reported"]
    headers = auth(loop.other_street_dispatcher)
    for url in (f"/api/v1/cases/{case.number}", f"/api/v1/cases/{case.number}/duplicates",
                "/api/v1/cases/2099010199999", "/api/v1/cases/not-a-number"):
        response = api_client.get(url, **headers)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api_client.get(f"/api/v1/cases/{case.number}").status_code == 401


def test_follow_link_refusals(loop, cases, api_client):
    from civicgrid.apps.cases.models import CaseReporter

    token = CaseReporter.objects.get(case=cases["reported"]).follow_token
    before = world_counts()
    assert api_client.get("/api/v1/follow/" + "x" * 32).status_code == 404
    early = api_client.post(f"/api/v1/follow/{token}/rating", {"score": 5}, content_type="application/json")
    assert early.status_code == 409  # not closed yet
    # The score's bounds are the schema's (RatingIn: 1–5, strict): out of range is a 422 with the follow page's
    # words, and a string (even "5") is no score.
    bad = api_client.post(f"/api/v1/follow/{token}/rating", {"score": 9}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "score", "message": "评分须为 1–5 / score must be 1 to 5",
                                     "type": "value_error"}]
    for score in ("x", "5", 5.0, True):
        refused = api_client.post(f"/api/v1/follow/{token}/rating", {"score": score}, content_type="application/json")
        assert refused.status_code == 422 and refused.json()["errors"][0]["type"] == "int_type", score
    reopen = api_client.post(f"/api/v1/follow/{token}/reopen", {"reason": "再看看"}, content_type="application/json")
    assert reopen.status_code == 409
    assert api_client.post(f"/api/v1/follow/{token}/reopen", {"reason": " "},
                           content_type="application/json").status_code == 422
    assert world_counts() == before
    assert cases["reported"].status == Status.REPORTED


def test_the_web_page_answers_a_role_and_a_state_as_the_api_does(loop, cases):
    """The case page's action form refuses through the same check: 403 for a role that never takes the action,
    409 for one that may but not now, with nothing changed."""
    before = world_counts()
    for who, state, action, status in (("handler", "dispatched", "accept", 403), ("leader", "handled", "close", 403),
                                       ("dispatcher", "handled", "close", 409)):
        url = reverse("ui:case_act", args=[cases[state].number, action])
        client = Client()
        client.force_login(getattr(loop, who))
        response = client.post(url, {})
        assert response.status_code == status, f"{who} {action} on a {state} case"
        assert world_counts() == before


def test_a_case_without_a_category_asks_for_one_to_be_accepted(loop, api_client):
    """Its `accept` button lists `category` as required, and accepting without one is the documented 422
    `missing` on `category`, with nothing changed; with one it is accepted."""
    case = report(loop, category=None)
    assert case.category_id is None
    headers = auth(loop.dispatcher)
    detail = api_client.get(f"/api/v1/cases/{case.number}", **headers).json()
    accept = next(a for a in detail["allowed_actions"] if a["name"] == "accept")
    assert accept["requires"] == ["category"]
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/accept", {}, content_type="application/json",
                               **headers)
    body = response.json()
    assert response.status_code == 422 and body["code"] == "missing" and body["field"] == "category", body
    assert body["detail"] == "立案须确定事项分类：请选择分类 / choose a category to accept the case"
    assert world_counts() == before
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/accept", {"category": loop.cat.pk},
                               content_type="application/json", **headers)
    assert response.status_code == 200 and response.json()["status"] == Status.ACCEPTED
    # a case reported with a category requires none to be accepted
    other = report(loop)
    detail = api_client.get(f"/api/v1/cases/{other.number}", **headers).json()
    assert next(a for a in detail["allowed_actions"] if a["name"] == "accept")["requires"] == []

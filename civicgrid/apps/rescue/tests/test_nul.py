"""A NUL character in the text the rescue services take (an incident, its notes and report, a team and its
members) is refused with a 400 naming the field, and nothing is written: PostgreSQL cannot store one (a 500
before), SQLite kept it (`core.text`)."""

from __future__ import annotations

import json

import pytest

from .conftest import POINT, auth, state

pytestmark = pytest.mark.django_db


def post(client, url, user, body):
    return client.post(url, json.dumps(body), content_type="application/json", **auth(user))


def test_incidents_teams_and_members_refuse_a_nul(client, world):
    ok = post(client, "/api/v1/rescue/incidents", world.street, {"hazard": world.hazard.pk})
    assert ok.status_code == 201, ok.content
    iid = ok.json()["id"]
    before = state()
    for url, user, body, field in (
        ("/api/v1/rescue/incidents", world.street, {"title": "积水\x00", "lng": POINT[0], "lat": POINT[1]}, "title"),
        ("/api/v1/rescue/incidents", world.street, {"case": "\x00", "title": "积水"}, "case"),
        (f"/api/v1/rescue/incidents/{iid}/actions/note", world.street, {"note": "水位\x00上涨"}, "note"),
        (f"/api/v1/rescue/incidents/{iid}/close", world.street,
         {"summary": "积水\x00", "actions": "排涝", "losses": "无", "lessons": "无"}, "summary"),
        (f"/api/v1/rescue/teams/{world.street_team.pk}/availability", world.command,
         {"availability": "resting", "note": "\x00"}, "note"),
        (f"/api/v1/rescue/teams/{world.street_team.pk}/members", world.command,
         {"name": "王\x00五", "phone": "13600009999"}, "name"),
    ):
        response = post(client, url, user, body)
        assert response.status_code == 400, (url, response.content.decode())
        assert response.json().get("field") == field and "NUL" in response.json()["detail"]
    assert state() == before

"""The rescue API: the loop over HTTP, filters, masked phones, 404 outside scope, fixed query counts."""

from __future__ import annotations

import json

import pytest

from civicgrid.apps.rescue import services
from civicgrid.apps.rescue.models import Incident, RescueTeam

from .conftest import POINT, auth, state

pytestmark = pytest.mark.django_db
REPORT = {"summary": "积水 0.5 米", "actions": "排涝 2 小时", "losses": "无", "lessons": "提前布设水泵"}


def post(client, url, user, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **auth(user))


def test_incident_loop_over_the_api(client, world):
    r = post(client, "/api/v1/rescue/incidents", world.street, {"hazard": world.hazard.pk})
    assert r.status_code == 201, r.content
    incident = r.json()
    assert incident["source"] == "hazard" and incident["hazard_code"] == world.hazard.code
    assert "callout" in incident["allowed_actions"] and "close" in incident["allowed_actions"]
    iid = incident["id"]

    r = post(client, f"/api/v1/rescue/incidents/{iid}/callouts", world.street, {"teams": [world.brigade.pk]})
    assert r.status_code == 200, r.content
    [callout] = r.json()["callouts"]
    assert callout["status"] == "called" and callout["team_phone"] == "139****5678"
    assert callout["actions"] == ["release"]  # the street commands; it does not answer for the brigade

    # The brigade's account sees the incident and may acknowledge.
    r = client.get(f"/api/v1/rescue/incidents/{iid}", **auth(world.firefighter))
    assert r.status_code == 200 and r.json()["callouts"][0]["actions"] == ["acknowledge", "arrive", "release"]
    r = post(client, f"/api/v1/rescue/callouts/{callout['id']}/acknowledge", world.firefighter, {"people": 8})
    assert r.status_code == 200 and r.json()["status"] == "responding"

    before = state()
    r = post(client, f"/api/v1/rescue/incidents/{iid}/close", world.street, {"summary": "积水"})
    assert r.status_code == 400 and "总结报告" in r.json()["detail"]
    assert state() == before

    r = post(client, f"/api/v1/rescue/incidents/{iid}/close", world.street, REPORT)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "closed" and body["report_lessons"] == REPORT["lessons"]
    assert [s["action"] for s in body["timeline"]][-2:] == ["release", "close"]
    assert RescueTeam.objects.get(pk=world.brigade.pk).availability == "standby"


def test_out_of_scope_is_404(client, world):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    for user in (world.other_street, world.other_handler):
        assert client.get(f"/api/v1/rescue/incidents/{incident.pk}", **auth(user)).status_code == 404
        r = post(client, f"/api/v1/rescue/incidents/{incident.pk}/close", user, REPORT)
        assert r.status_code == 404
    # The other street's staff do not see this street's team; the district's fire brigade they do.
    assert client.get(f"/api/v1/rescue/teams/{world.street_team.pk}", **auth(world.other_street)).status_code == 404
    assert client.get(f"/api/v1/rescue/teams/{world.brigade.pk}", **auth(world.other_street)).status_code == 200
    # Before being called out, the fire brigade's account does not see the incident.
    assert client.get(f"/api/v1/rescue/incidents/{incident.pk}", **auth(world.firefighter)).status_code == 404
    assert Incident.objects.get(pk=incident.pk).status == "reported"


def test_team_filters_and_masked_phones(client, world):
    r = client.get("/api/v1/rescue/teams?skill=water_rescue", **auth(world.street))
    assert [t["code"] for t in r.json()["items"]] == ["RT-XFJY"]
    r = client.get("/api/v1/rescue/teams?skill=electrician&availability=standby", **auth(world.street))
    assert [t["code"] for t in r.json()["items"]] == ["RT-050"]
    r = client.get("/api/v1/rescue/teams", **auth(world.street))
    codes = {t["code"] for t in r.json()["items"]}
    assert codes == {"RT-XFJY", "RT-050"} and r.json()["count"] == 2  # not the other street's team
    r = client.get("/api/v1/rescue/teams?limit=100", **auth(world.command))
    text = r.content.decode()
    for phone in ("13912345678", "13700002222", "13500004444", "13800001111", "13600003333"):
        assert phone not in text
    detail = client.get(f"/api/v1/rescue/teams/{world.brigade.pk}", **auth(world.command)).json()
    assert detail["leader_phone"] == "139****5678" and detail["members"][0]["phone"] == "138****1111"
    assert detail["members"][0]["skill_labels"] == ["排涝", "水上救援"]
    assert "13800001111" not in json.dumps(detail)


def test_team_edit_is_audited_and_scoped(client, world):
    from civicgrid.foundation.audit.models import AuditEntry

    r = client.patch(f"/api/v1/rescue/teams/{world.street_team.pk}", json.dumps({"headcount": 20}),
                     content_type="application/json", **auth(world.street))
    assert r.status_code == 200 and r.json()["headcount"] == 20
    entry = AuditEntry.objects.filter(action="rescue.team_changed").latest("id")
    assert entry.before["headcount"] == 15 and entry.after["headcount"] == 20
    before = state()
    r = client.patch(f"/api/v1/rescue/teams/{world.brigade.pk}", json.dumps({"headcount": 1}),
                     content_type="application/json", **auth(world.street))
    assert r.status_code == 403  # seen from the street, managed by the district
    r = client.patch(f"/api/v1/rescue/teams/{world.street_team.pk}", json.dumps({"leader_phone": "12345"}),
                     content_type="application/json", **auth(world.street))
    assert r.status_code == 400 and r.json()["field"] == "leader_phone"
    r = post(client, f"/api/v1/rescue/teams/{world.street_team.pk}/members", world.street,
             {"name": "新队员", "skills": ["飞行"]})
    assert r.status_code == 400 and r.json()["field"] == "skills"
    assert state() == before
    r = post(client, f"/api/v1/rescue/teams/{world.street_team.pk}/members", world.street,
             {"name": "新队员", "phone": "13312341234", "skills": ["医疗急救"]})
    assert r.status_code == 201 and r.json()["phone"] == "133****1234"
    assert "first_aid" in RescueTeam.objects.get(pk=world.street_team.pk).skills


def test_lists_run_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    for i in range(6):
        incident = services.raise_incident(actor=world.command, title=f"积水{i}", lng=POINT[0], lat=POINT[1])
    services.call_out(actor=world.command, incident=incident, teams=[world.brigade.pk, world.street_team.pk])
    headers = auth(world.command)
    with django_assert_max_num_queries(8):
        r = client.get("/api/v1/rescue/incidents?limit=100", **headers)
    assert r.json()["count"] == 6
    with django_assert_max_num_queries(8):
        r = client.get("/api/v1/rescue/teams?limit=100", **headers)
    assert r.json()["count"] == 3
    with django_assert_max_num_queries(14):
        r = client.get(f"/api/v1/rescue/incidents/{incident.pk}", **headers)
    assert len(r.json()["callouts"]) == 2


def test_materials_without_the_service_say_so(client, world, monkeypatch):
    monkeypatch.setattr(services, "materials_service", lambda: None)
    incident = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    before = state()
    r = post(client, f"/api/v1/rescue/incidents/{incident.pk}/materials", world.command,
             {"warehouse": 1, "item": 1, "quantity": 5})
    assert r.status_code == 409 and "物资" in r.json()["detail"]
    assert state() == before

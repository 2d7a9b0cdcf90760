"""The 抢险救援 pages: raise (directly and from a hazard link), call out, acknowledge, close with and without a
report, team list/detail/edit; 404 outside scope; phones only masked."""

from __future__ import annotations

import pytest

from civicgrid.apps.rescue import services
from civicgrid.apps.rescue.models import CallOut, Incident, RescueTeam

from .conftest import GRID, POINT, state

pytestmark = pytest.mark.django_db
REPORT = {"summary": "积水 0.5 米", "actions": "排涝 2 小时", "losses": "无", "lessons": "提前布设水泵"}
PHONES = ("13912345678", "13700002222", "13500004444", "13800001111", "13600003333")


def signed_in(client, user):
    client.force_login(user)
    return client


def test_raise_from_hazard_link_callout_and_close(client, world):
    c = signed_in(client, world.street)
    r = c.get(f"/rescue/incidents/new/?hazard={world.hazard.pk}")
    assert r.status_code == 200 and world.hazard.code in r.text and f'value="{world.hazard.pk}"' in r.text
    r = c.post("/rescue/incidents/new/", {"hazard": world.hazard.pk, "severity": "large", "kind": ""})
    assert r.status_code == 302, r.content
    incident = Incident.objects.get()
    assert r["Location"] == f"/rescue/incidents/{incident.pk}/"
    assert incident.hazard == world.hazard and incident.region_code == GRID and incident.severity == "large"

    page = c.get(r["Location"]).text
    assert 'data-action="callout"' in page and 'data-action="close"' in page and world.brigade.code in page
    r = c.post(f"/rescue/incidents/{incident.pk}/act/callout/", {"teams": [world.brigade.pk], "task": "排涝"})
    assert r.status_code == 302
    callout = CallOut.objects.get()

    # The brigade's duty account answers from the incident page.
    fc = signed_in(type(client)(), world.firefighter)
    page = fc.get(f"/rescue/incidents/{incident.pk}/").text
    assert 'data-callout-action="acknowledge"' in page and 'data-action="close"' not in page
    assert fc.post(f"/rescue/callouts/{callout.pk}/acknowledge/").status_code == 302
    assert CallOut.objects.get().status == "acknowledged"

    before = state()
    r = c.post(f"/rescue/incidents/{incident.pk}/act/close/", {"summary": "积水", "actions": "", "losses": ""})
    assert r.status_code == 400 and "总结报告" in r.text and 'data-error' in r.text
    assert state() == before
    r = c.post(f"/rescue/incidents/{incident.pk}/act/close/", REPORT)
    assert r.status_code == 302
    page = c.get(f"/rescue/incidents/{incident.pk}/").text
    assert REPORT["lessons"] in page and 'data-status="closed"' in page
    assert RescueTeam.objects.get(pk=world.brigade.pk).availability == "standby"


def test_raise_directly_and_bad_input(client, world):
    c = signed_in(client, world.command)
    assert c.get("/rescue/incidents/new/").status_code == 200
    before = state()
    r = c.post("/rescue/incidents/new/", {"title": "积水", "lng": "", "lat": ""})
    assert r.status_code == 400 and "位置" in r.text
    assert state() == before
    r = c.post("/rescue/incidents/new/", {"title": "地下车库进水", "kind": "waterlogging", "lng": POINT[0],
                                          "lat": POINT[1]})
    assert r.status_code == 302 and Incident.objects.get().grid.code == GRID
    # Without the command capability the form is refused.
    assert signed_in(type(client)(), world.worker).get("/rescue/incidents/new/").status_code == 403


def test_out_of_scope_is_404_and_lists_show_only_scope(client, world):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    other = signed_in(client, world.other_street)
    assert other.get(f"/rescue/incidents/{incident.pk}/").status_code == 404
    assert other.post(f"/rescue/incidents/{incident.pk}/act/close/", REPORT).status_code == 404
    assert incident.code not in other.get("/rescue/").text
    assert other.get(f"/rescue/teams/{world.street_team.pk}/").status_code == 404
    listing = other.get("/rescue/teams/").text
    assert world.other_street_team.name in listing and world.street_team.name not in listing
    assert Incident.objects.get().status == "reported"


def test_pages_never_show_phones_in_clear(client, world):
    incident = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    services.call_out(actor=world.command, incident=incident, teams=[world.brigade.pk])
    c = signed_in(client, world.command)
    for url in ("/rescue/", "/rescue/teams/", f"/rescue/teams/{world.brigade.pk}/",
                f"/rescue/teams/{world.brigade.pk}/edit/", f"/rescue/incidents/{incident.pk}/"):
        r = c.get(url)
        assert r.status_code == 200, url
        for phone in PHONES:
            assert phone not in r.text, (url, phone)
    assert "139****5678" in c.get(f"/rescue/teams/{world.brigade.pk}/").text


def test_team_pages(client, world):
    c = signed_in(client, world.street)
    r = c.get("/rescue/teams/?skill=water_rescue")
    assert world.brigade.name in r.text and world.street_team.name not in r.text
    r = c.get("/rescue/teams/?availability=standby&skill=electrician")
    assert world.street_team.name in r.text and world.brigade.name not in r.text
    # The street edits its own team, not the district's brigade (which it sees).
    assert c.get(f"/rescue/teams/{world.brigade.pk}/edit/").status_code == 403
    r = c.post(f"/rescue/teams/{world.street_team.pk}/edit/", {
        "name": "永泰街道抢险队", "kind": "street", "leader_name": "赵刚", "leader_phone": "", "headcount": "18",
        "equipment": "水泵 3 台\n铁锹 40 把", "equipment_note": "", "base_address": "永泰街道办", "note": ""})
    assert r.status_code == 302
    team = RescueTeam.objects.get(pk=world.street_team.pk)
    assert team.headcount == 18 and team.equipment[0] == {"name": "水泵", "quantity": 3, "unit": "台"}
    assert team.leader_phone_masked == "137****2222"  # empty phone field keeps the stored number
    r = c.post(f"/rescue/teams/{world.street_team.pk}/members/", {"name": "新队员", "phone": "13312341234",
                                                                  "skills": ["first_aid"]})
    assert r.status_code == 302 and "first_aid" in RescueTeam.objects.get(pk=world.street_team.pk).skills
    r = c.post(f"/rescue/teams/{world.street_team.pk}/availability/", {"availability": "resting"})
    assert r.status_code == 302 and RescueTeam.objects.get(pk=world.street_team.pk).availability == "resting"


def test_menu_entry(client, world):
    page = signed_in(client, world.street).get("/rescue/").text
    assert 'data-nav="rescue"' in page
    assert 'data-nav="rescue"' not in signed_in(type(client)(), world.resident).get("/").text


def test_history_partials(client, world):
    services.update_team(actor=world.command, team=world.street_team, headcount=21)
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    c = signed_in(client, world.street)
    r = c.get(f"/rescue/teams/{world.street_team.pk}/history/")
    assert r.status_code == 200 and "修改队伍" in r.text and "21" in r.text
    assert "13700002222" not in r.text
    assert "报告险情" in c.get(f"/rescue/incidents/{incident.pk}/history/").text
    assert 'hx-get="/rescue/incidents/' in c.get(f"/rescue/incidents/{incident.pk}/").text
    other = signed_in(type(client)(), world.other_street)
    assert other.get(f"/rescue/incidents/{incident.pk}/history/").status_code == 404
    assert other.get(f"/rescue/teams/{world.street_team.pk}/history/").status_code == 404


def test_incident_history_names_every_field_in_chinese(client, world):
    """The tester's run: the incident history showed the field label "street code"."""
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    text = signed_in(client, world.street).get(f"/rescue/incidents/{incident.pk}/history/").text
    assert "街道代码" in text and "140213050" in text and "报告人" in text
    assert "street code" not in text and "opened by" not in text


def test_team_history_reads_as_text(client, world):
    """Equipment as "冲锋舟 4 艘", the region by name, no encrypted column or region code: what a person reads."""
    services.update_team(actor=world.command, team=world.street_team,
                         equipment=[{"name": "冲锋舟", "quantity": 4, "unit": "艘"}], leader_phone="13700009999")
    text = signed_in(client, world.street).get(f"/rescue/teams/{world.street_team.pk}/history/").text
    assert "冲锋舟 4 艘" in text and "{&#x27;name&#x27;" not in text and "[{" not in text
    assert "永泰街道" in text and "所属区域" in text  # the region of the created team, named
    assert "enc" not in text and "region code" not in text and "13700009999" not in text
    assert "137****9999" in text  # the masked twin says the phone changed
    assert "<del>—</del> → <ins>—</ins>" not in text  # an empty list at creation is no change

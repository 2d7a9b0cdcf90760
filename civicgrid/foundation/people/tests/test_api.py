"""Base-data API: masked lists, scope (404 outside), reveal, key groups by role, fixed query counts."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.people import services
from civicgrid.foundation.people.models import Resident

from .factories import GRID_A, GRID_B, GRID_C, id_number, resident_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(people_users):
    actor = people_users["street"]
    services.create_building(actor=actor, data={"code": "B1", "address": "新建北路1号", "grid_code": GRID_A})
    services.create_house(actor=actor, data={"code": "B1-101", "building_code": "B1", "room_no": "101"})
    services.create_household(actor=actor, data={"code": "HH1", "address": "新建北路1号101", "house_code": "B1-101"})
    numbers = {}
    for grid, name in ((GRID_A, "张三"), (GRID_A, "李四"), (GRID_B, "王五")):
        number = id_number()
        r = services.create_resident(
            actor=actor, data=resident_data(grid=grid, name=name, id_number=number, phone="13812345678")
            | ({"household_code": "HH1"} if grid == GRID_A else {}),
        )
        numbers[r.pk] = number
    services.create_unit(actor=actor, data={"name": "便民超市", "kind": "shop", "grid_code": GRID_A, "contact_phone": "13900001111"})
    services.create_place(actor=actor, data={"name": "文化广场", "kind": "park", "grid_code": GRID_B})
    services.add_key_group(
        actor=actor, resident=Resident.objects.get(name="张三"), group="elderly_alone", note="子女在外地，每周探访"
    )
    return numbers


def test_resident_list_is_masked_scoped_and_counted(api_client, token_for, people_users, data):
    resp = api_client.get("/api/v1/residents", **token_for(people_users["worker"]))
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == body["total"] == 2  # grid A only
    text = resp.content.decode()
    for number in data.values():
        assert number not in text
    assert "13812345678" not in text
    item = body["items"][0]
    assert item["id_number"].startswith(item["id_number"][:4]) and "**********" in item["id_number"]
    assert item["phone"] == "138****5678" and item["grid_code"] == GRID_A and item["household_code"] == "HH1"
    street = api_client.get("/api/v1/residents?limit=1", **token_for(people_users["street"])).json()
    assert street["count"] == 1 and street["total"] == 3
    assert api_client.get(f"/api/v1/residents?region={GRID_B}", **token_for(people_users["street"])).json()["total"] == 1
    assert api_client.get("/api/v1/residents?q=王", **token_for(people_users["street"])).json()["total"] == 1


def test_exact_id_number_search_uses_the_blind_index_and_is_audited(api_client, token_for, people_users, data):
    pk, number = next(iter(data.items()))
    resp = api_client.get(f"/api/v1/residents?q={number}", **token_for(people_users["worker"]))
    assert [i["id"] for i in resp.json()["items"]] == [pk]
    entry = AuditEntry.objects.filter(action=verbs.Data.CONFIDENTIAL_READ).latest("id")
    assert entry.data == {"lookup": "id_number", "matches": 1} and number not in json.dumps(entry.data)


def test_detail_outside_scope_is_404_json(api_client, token_for, people_users, data):
    other = Resident.objects.get(name="王五")
    resp = api_client.get(f"/api/v1/residents/{other.pk}", **token_for(people_users["worker"]))
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    assert api_client.get("/api/v1/residents/abc", **token_for(people_users["worker"])).status_code == 422
    for admin in ("sysadmin",):
        assert api_client.get("/api/v1/residents", **token_for(people_users[admin])).json()["total"] == 0


def test_reveal_for_allowed_roles_only_and_always_audited(api_client, token_for, people_users, data):
    pk, number = next(iter(data.items()))
    url = f"/api/v1/residents/{pk}/reveal"
    resp = api_client.post(url, {"field": "id_number"}, content_type="application/json", **token_for(people_users["worker"]))
    assert resp.status_code == 200 and resp.json() == {"field": "id_number", "value": number}
    entry = AuditEntry.objects.filter(action=verbs.Data.REVEALED).latest("id")
    assert entry.data == {"field": "id_number"} and entry.result == "ok" and entry.target_id == str(pk)
    assert number not in json.dumps([entry.data, entry.before, entry.after, entry.target_repr])
    # Street staff see the record but may not reveal: 403 with a message, and the refusal is recorded too.
    resp = api_client.post(url, {"field": "phone"}, content_type="application/json", **token_for(people_users["street"]))
    assert resp.status_code == 403 and resp.json()["detail"]
    assert AuditEntry.objects.filter(action=verbs.Data.REVEALED, result="denied").count() == 1
    # Out of scope: 404, nothing revealed.
    resp = api_client.post(url, {"field": "phone"}, content_type="application/json", **token_for(people_users["worker_b"]))
    assert resp.status_code == 404
    resp = api_client.post(url, {"field": "name"}, content_type="application/json", **token_for(people_users["worker"]))
    assert resp.status_code == 400 and resp.json()["detail"]


def test_key_groups_are_visible_only_to_roles_that_work_with_them(api_client, token_for, people_users, data):
    zhang = Resident.objects.get(name="张三")
    worker = api_client.get(f"/api/v1/residents/{zhang.pk}", **token_for(people_users["worker"])).json()
    assert worker["key_groups"] == ["elderly_alone"]
    leader = api_client.get(f"/api/v1/residents/{zhang.pk}", **token_for(people_users["leader"])).json()
    assert leader["key_groups"] is None
    listed = api_client.get("/api/v1/residents", **token_for(people_users["leader"])).json()
    assert all(item["key_groups"] is None for item in listed["items"])
    label = zhang.key_groups.get()
    with pytest.raises(services.PermissionDenied):
        services.remove_key_group(actor=people_users["leader"], label=label)
    with pytest.raises(services.PermissionDenied):
        services.add_key_group(actor=people_users["leader"], resident=zhang, group="disabled")
    assert services.read_key_group_note(actor=people_users["worker"], label=label) == "子女在外地，每周探访"
    assert AuditEntry.objects.filter(action=verbs.Data.CONFIDENTIAL_READ, target_id=str(label.pk)).exists()
    services.remove_key_group(actor=people_users["worker"], label=label)
    assert not zhang.key_groups.exists()


def test_other_lists_and_details(api_client, token_for, people_users, data):
    headers = token_for(people_users["street"])
    for url, total in (("/api/v1/buildings", 1), ("/api/v1/houses", 1), ("/api/v1/households", 1),
                       ("/api/v1/units", 1), ("/api/v1/places", 1)):
        body = api_client.get(url, **headers).json()
        assert body["total"] == total and body["count"] == total, url
        detail = api_client.get(f"{url}/{body['items'][0]['id']}", **headers)
        assert detail.status_code == 200, url
    unit = api_client.get("/api/v1/units", **headers).json()["items"][0]
    assert unit["contact_phone"] == "139****1111"
    hh = api_client.get("/api/v1/households", **headers).json()["items"][0]
    members = api_client.get(f"/api/v1/households/{hh['id']}", **headers).json()["members"]
    assert {m["name"] for m in members} == {"张三", "李四"} and hh["size"] == 2
    assert api_client.get("/api/v1/places", **token_for(people_users["worker"])).json()["total"] == 0  # place in B
    assert api_client.get(f"/api/v1/buildings?region={GRID_C}", **headers).json()["total"] == 0


def _queries(client, url, headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **headers).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["worker", "leader"])
def test_list_query_count_does_not_grow_with_the_page(api_client, token_for, people_users, role):
    actor = people_users["community"]
    services.create_household(actor=actor, data={"code": "HQ", "address": "x", "grid_code": GRID_A})
    for _ in range(5):
        services.create_resident(actor=actor, data={**resident_data(), "household_code": "HQ"})
    headers = token_for(people_users[role])
    api_client.get("/api/v1/regions", **headers)  # the token's first use records `last_used_at`: not per page
    small = _queries(api_client, "/api/v1/residents?limit=100", headers)
    for r in Resident.objects.all()[:3]:
        services.add_key_group(actor=actor, resident=r, group="disabled")
    for _ in range(55):
        services.create_resident(actor=actor, data={**resident_data(), "household_code": "HQ"})
    assert Resident.objects.count() == 60
    large = _queries(api_client, "/api/v1/residents?limit=100", headers)
    assert small == large
    for url in ("/api/v1/buildings", "/api/v1/houses", "/api/v1/households", "/api/v1/units", "/api/v1/places"):
        assert _queries(api_client, url, headers) <= small


def test_reveal_without_a_field_answers_after_the_scope_check(api_client, token_for, people_users, data):
    pk = next(iter(data))
    headers = token_for(people_users["worker"])
    assert api_client.post(f"/api/v1/residents/{pk}/reveal", **headers).status_code == 400
    missing = api_client.post("/api/v1/residents/999999/reveal", **headers)
    assert missing.status_code == 404, missing.content.decode()
    other = Resident.objects.get(name="王五").pk
    assert api_client.post(f"/api/v1/residents/{other}/reveal", **headers).status_code == 404


@pytest.mark.parametrize("building", ["9223372036854775808", "-1"])
def test_a_building_filter_beyond_an_id_is_a_400_naming_it(api_client, token_for, people_users, data, building):
    response = api_client.get(f"/api/v1/houses?building={building}", **token_for(people_users["street"]))
    assert response.status_code == 400 and response.json()["field"] == "building"
    b1 = api_client.get("/api/v1/buildings", **token_for(people_users["street"])).json()["items"][0]["id"]
    assert api_client.get(f"/api/v1/houses?building={b1}", **token_for(people_users["street"])).json()["total"] == 1

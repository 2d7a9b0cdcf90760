"""Base-data services: validation, scope refusals that change nothing, derived and encrypted columns, audit."""

import json

import pytest

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys, pii
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.people import personal, services
from civicgrid.foundation.people.models import Building, House, Household, Resident

from .factories import GRID_A, GRID_B, GRID_C, bad_check, id_number, resident_data

pytestmark = pytest.mark.django_db


def counts():
    return (Resident.objects.count(), AuditEntry.objects.count(), OutboxEvent.objects.count())


def test_create_resident_derives_encrypts_masks_audits_and_publishes(people_users):
    number = id_number(sex="female")
    r = services.create_resident(
        actor=people_users["worker"], data=resident_data(id_number=number, phone="138 1234 5678", name=" 李娜 ")
    )
    r.refresh_from_db()
    assert r.name == "李娜"
    assert r.region_code == GRID_A and r.grid.code == GRID_A
    assert r.sex == "female" and r.birth_date == pii.id_number_birth_date(number)
    assert r.id_number_masked == pii.mask_id_number(number)
    assert r.phone_masked == "138****5678"
    assert number not in r.id_number_enc and keys.decrypt(r.id_number_enc, personal.ID_CONTEXT) == number
    assert keys.decrypt(r.phone_enc, personal.PHONE_CONTEXT) == "13812345678"
    assert r.id_number_index == personal.id_index(number)
    entry = AuditEntry.objects.get(action=verbs.Data.CREATED, target_id=str(r.pk))
    assert entry.after["id_number_enc"] == "[已加密]" and entry.after["phone_enc"] == "[已加密]"
    dumped = json.dumps([entry.before, entry.after, entry.data], ensure_ascii=False)
    assert number not in dumped and "13812345678" not in dumped and number[-6:] not in dumped.replace("*", "")
    assert OutboxEvent.objects.filter(topic="people.resident.created", aggregate_id=str(r.pk)).exists()


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        ({"id_number": "bad"}, "id_number", "18 位"),
        ({"phone": "12345"}, "phone", "手机号"),
        ({"grid_code": "999999999999999"}, "grid_code", "不存在"),
        ({"grid_code": "140213050001"}, "grid_code", "不是网格"),
        ({"name": ""}, "name", ""),
        ({"residency": "martian"}, "residency", ""),
    ],
)
def test_invalid_input_is_refused_and_nothing_changes(people_users, change, field, fragment):
    before = counts()
    with pytest.raises(ValidationFailed) as exc:
        services.create_resident(actor=people_users["worker"], data=resident_data(**change))
    assert exc.value.field == field and fragment in exc.value.message
    assert counts() == before


def test_wrong_check_character_names_the_expected_one(people_users):
    number = id_number()
    with pytest.raises(ValidationFailed) as exc:
        services.create_resident(actor=people_users["worker"], data=resident_data(id_number=bad_check(number)))
    assert f"应为 {number[17]}" in exc.value.message


def test_outside_scope_or_without_capability_is_refused_and_nothing_changes(people_users):
    before = counts()
    for actor, grid in ((people_users["worker"], GRID_B), (people_users["street"], GRID_C), (people_users["leader"], GRID_A)):
        with pytest.raises(PermissionDenied):
            services.create_resident(actor=actor, data=resident_data(grid=grid))
    with pytest.raises(PermissionDenied):
        services.create_resident(actor=people_users["sysadmin"], data=resident_data())
    assert counts() == before


def test_duplicate_id_number_is_refused(people_users):
    number = id_number()
    services.create_resident(actor=people_users["worker"], data=resident_data(id_number=number))
    before = counts()
    with pytest.raises(ValidationFailed) as exc:
        services.create_resident(actor=people_users["community"], data=resident_data(grid=GRID_B, id_number=number))
    assert exc.value.field == "id_number" and "已登记" in exc.value.message
    assert counts() == before


def test_update_is_audited_masked_and_cannot_move_out_of_scope(people_users):
    r = services.create_resident(actor=people_users["worker"], data=resident_data())
    services.update_resident(actor=people_users["worker"], resident=r, data={"phone": "13900001111"})
    r.refresh_from_db()
    assert r.phone_masked == "139****1111"
    entry = AuditEntry.objects.filter(action=verbs.Data.CHANGED, target_id=str(r.pk)).get()
    assert entry.before["phone_masked"] != entry.after["phone_masked"]
    assert "13900001111" not in json.dumps(entry.after)
    before, snapshot = counts(), (r.region_code, r.phone_enc)
    with pytest.raises(PermissionDenied):
        services.update_resident(actor=people_users["worker"], resident=r, data={"grid_code": GRID_B})
    r.refresh_from_db()
    assert (r.region_code, r.phone_enc) == snapshot and counts() == before
    # Another grid's worker cannot touch it at all.
    with pytest.raises(PermissionDenied):
        services.update_resident(actor=people_users["worker_b"], resident=r, data={"name": "王五"})


def test_buildings_houses_households_and_sizes(people_users):
    actor = people_users["community"]
    b = services.create_building(actor=actor, data={"code": "B1", "address": "平城区新建北路1号", "grid_code": GRID_A, "floors": "6"})
    assert b.floors == 6 and b.region_code == GRID_A
    h = services.create_house(actor=actor, data={"code": "B1-101", "building_code": "B1", "room_no": "101"})
    assert h.region_code == GRID_A and h.grid_id == b.grid_id
    hh = services.create_household(actor=actor, data={"code": "HH1", "address": "新建北路1号101", "house_code": "B1-101"})
    assert hh.region_code == GRID_A
    without_grid = {k: v for k, v in resident_data().items() if k != "grid_code"}
    r1 = services.create_resident(actor=actor, data={**without_grid, "household_code": "HH1"})  # grid from household
    assert r1.region_code == GRID_A
    services.create_resident(actor=actor, data={**resident_data(), "household_code": "HH1"})
    hh.refresh_from_db()
    assert hh.size == 2 and r1.household_id == hh.pk
    with pytest.raises(ValidationFailed):  # the household sits in grid A
        services.create_resident(actor=actor, data={**resident_data(grid=GRID_B), "household_code": "HH1"})
    services.delete_resident(actor=actor, resident=r1)
    hh.refresh_from_db()
    assert hh.size == 1
    with pytest.raises(Conflict):
        services.delete_building(actor=actor, building=b)
    assert Building.objects.filter(pk=b.pk).exists() and House.objects.count() == 1
    with pytest.raises(ValidationFailed):  # code is unique
        services.create_building(actor=actor, data={"code": "B1", "address": "x", "grid_code": GRID_A})
    # Moving a building moves what is in it: houses, households, residents and their key-group labels.
    remaining = Resident.objects.get(household=hh)
    label = services.add_key_group(actor=actor, resident=remaining, group="disabled")
    services.update_building(actor=actor, building=b, data={"grid_code": GRID_B})
    h.refresh_from_db()
    remaining.refresh_from_db()
    label.refresh_from_db()
    assert h.region_code == GRID_B and Household.objects.get(pk=hh.pk).region_code == GRID_B
    assert remaining.region_code == GRID_B and remaining.grid.code == GRID_B and label.region_code == GRID_B
    entry = AuditEntry.objects.filter(action=verbs.Data.CHANGED, target_id=str(b.pk)).latest("id")
    assert entry.data == {"moved_with_it": {"houses": 1, "households": 1, "residents": 1, "key_group_labels": 1}}
    services.update_household(actor=actor, household=hh, data={"head_name": "王五"})  # still consistent


def test_units_and_places(people_users):
    actor = people_users["worker"]
    u = services.create_unit(
        actor=actor, data={"name": "好再来饭店", "kind": "restaurant", "grid_code": GRID_A, "contact_phone": "0352-1234567"}
    )
    assert u.contact_phone_masked == "0352-****567"
    assert keys.decrypt(u.contact_phone_enc, personal.UNIT_PHONE_CONTEXT) == "0352-1234567"
    with pytest.raises(ValidationFailed):
        services.create_unit(actor=actor, data={"name": "x", "kind": "spaceport", "grid_code": GRID_A})
    p = services.create_place(actor=actor, data={"name": "南关公厕", "kind": "public_toilet", "grid_code": GRID_A, "lng": 113.3})
    services.update_place(actor=actor, place=p, data={"description": "24 小时开放"})
    services.delete_place(actor=actor, place=p)
    services.delete_unit(actor=actor, unit=u)
    assert AuditEntry.objects.filter(action=verbs.Data.DELETED).count() == 2


def test_key_group_labels_follow_a_resident_who_moves(people_users):
    actor = people_users["community"]
    r = services.create_resident(actor=actor, data=resident_data())
    label = services.add_key_group(actor=actor, resident=r, group="elderly_alone", note="独居")
    services.update_resident(actor=actor, resident=r, data={"grid_code": GRID_B})
    label.refresh_from_db()
    assert label.region_code == GRID_B
    # The grid worker of the new grid now works with the label; the old grid's worker no longer does.
    assert services.read_key_group_note(actor=people_users["worker_b"], label=label) == "独居"
    with pytest.raises(services.NotFound):
        services.read_key_group_note(actor=people_users["worker"], label=label)

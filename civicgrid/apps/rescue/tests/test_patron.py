"""包保: an incident names its street's 包保 department (the flood one for flood incidents, the safety one for the
others, else whichever the street has) and that department's handlers see it — view only — on the pages and the
API; other streets' incidents stay out of their sight. Read from the 包保 table, so a change of it shows at once."""

import re

import pytest
from django.test import Client

from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.rescue import services
from civicgrid.apps.rescue.models import Incident
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.testing.builders import user_with

from .conftest import OTHER_STREET_POINT, POINT, auth, state

pytestmark = pytest.mark.django_db


def _dept(tree, code, name):
    return Organisation.objects.create(code=code, name=name, kind=OrgKind.DEPARTMENT, region=tree["140213"])


@pytest.fixture
def patrons(world):
    """永泰街道 (140213050): flood 包保 区水务局, safety 包保 区应急管理局; 古城街道 (140213051): flood 包保 区住建局 only."""
    tree = world.tree
    water, safety, housing = (_dept(tree, "140213-SWJ", "区水务局"), _dept(tree, "140213-YJJ", "区应急管理局"),
                              _dept(tree, "140213-ZJJ", "区住建局"))
    PatronAssignment(department=water, street=tree["140213050"], kind="flood").save()
    PatronAssignment(department=safety, street=tree["140213050"], kind="safety").save()
    PatronAssignment(department=housing, street=tree["140213051"], kind="flood").save()
    users = {d.name: user_with(Role.DEPARTMENT_HANDLER, department=d, username=f"h-{d.code}")
             for d in (water, safety, housing)}
    flood = services.raise_incident(actor=world.command, hazard=world.hazard.pk)  # 下穿通道 → 内涝, flood
    gas = services.raise_incident(actor=world.command, lng=POINT[0], lat=POINT[1], title="燃气管道泄漏", kind="gas")
    other = services.raise_incident(actor=world.command, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1],
                                    title="房屋墙体开裂", kind="house")
    return users, flood, gas, other


def _codes(user) -> set[str]:
    return set(Incident.objects.visible_to(user).values_list("code", flat=True))


def test_each_incident_is_seen_by_its_streets_patron_of_its_kind(world, patrons):
    users, flood, gas, other = patrons
    assert _codes(users["区水务局"]) == {flood.code}
    assert _codes(users["区应急管理局"]) == {gas.code}
    # 古城街道 has no safety 包保: its flood 包保 department answers for its other incidents too.
    assert _codes(users["区住建局"]) == {other.code}
    assert _codes(world.other_handler) == set()
    # For reading only: the path adds nothing for other actions.
    assert not Incident.objects.visible_to(users["区水务局"], "command").exists()
    named = {i.code: i.patron_department_name for i in Incident.objects.with_patron()}
    assert named == {flood.code: "区水务局", gas.code: "区应急管理局", other.code: "区住建局"}
    # The instance without the annotation finds the same.
    assert [Incident.objects.get(pk=i.pk).load_patron().patron_department_name for i in (flood, gas, other)] == [
        "区水务局", "区应急管理局", "区住建局"]


def test_the_api_names_the_patron_and_scopes_its_handler(world, patrons, client):
    users, flood, gas, other = patrons
    got = client.get("/api/v1/rescue/incidents", **auth(users["区水务局"])).json()
    assert [(i["code"], i["patron_department"]) for i in got["items"]] == [(flood.code, "区水务局")]
    detail = client.get(f"/api/v1/rescue/incidents/{flood.pk}", **auth(users["区水务局"]))
    assert detail.status_code == 200
    assert detail.json()["patron_department"] == "区水务局" and detail.json()["allowed_actions"] == []
    for incident in (gas, other):
        assert client.get(f"/api/v1/rescue/incidents/{incident.pk}", **auth(users["区水务局"])).status_code == 404
    everything = {i["code"]: i for i in client.get("/api/v1/rescue/incidents", **auth(world.command)).json()["items"]}
    assert everything[other.code]["patron_department"] == "区住建局"
    assert everything[gas.code]["patron_department_id"] == PatronAssignment.objects.get(
        street_code="140213050", kind="safety").department_id


def test_the_patron_handler_cannot_command(world, patrons, client):
    users, flood, _, _ = patrons
    handler = users["区水务局"]
    headers = auth(handler)
    before = state()
    r = client.post(f"/api/v1/rescue/incidents/{flood.pk}/callouts", {"teams": [world.brigade.pk]},
                    content_type="application/json", **headers)
    assert r.status_code in (403, 404)
    with pytest.raises(PermissionDenied):
        services.add_note(actor=handler, incident=flood, note="督办：请尽快处置")
    assert state() == before


def test_a_change_of_the_patron_table_shows_at_once(world, patrons):
    users, flood, gas, _ = patrons
    row = PatronAssignment.objects.get(street_code="140213050", kind="safety")
    row.delete()  # without a safety 包保, the flood one answers for the gas leak too
    assert _codes(users["区水务局"]) == {flood.code, gas.code}
    assert _codes(users["区应急管理局"]) == set()
    assert Incident.objects.with_patron().get(pk=gas.pk).patron_department_name == "区水务局"


def test_pages_name_the_patron(world, patrons):
    users, flood, gas, _ = patrons
    client = Client()
    client.force_login(users["区水务局"])
    html = client.get("/rescue/").content.decode()
    assert set(re.findall(r'data-oid="(\d+)"', html)) == {str(flood.pk)}
    assert re.search(r'data-field="patron_department">区水务局<', html)
    page = client.get(f"/rescue/incidents/{flood.pk}/")
    assert page.status_code == 200
    assert re.search(r'data-field="patron_department">区水务局<', page.content.decode())
    assert client.get(f"/rescue/incidents/{gas.pk}/").status_code == 404


def test_the_list_keeps_its_query_count_for_a_patron(world, patrons, client, django_assert_max_num_queries):
    users, *_ = patrons
    for n in range(8):
        services.raise_incident(actor=world.command, lng=POINT[0], lat=POINT[1], title=f"积水 {n}",
                                kind="waterlogging")
    headers = auth(users["区水务局"])
    with django_assert_max_num_queries(8):
        got = client.get("/api/v1/rescue/incidents", **headers).json()
    assert got["count"] == 9

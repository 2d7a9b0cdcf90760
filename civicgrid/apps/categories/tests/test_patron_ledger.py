"""One 包保 assignment per street and kind: the hazards ledger (`PatronAssignment`) and the 包保 rules that
route the street's 防汛应急 cases change together, through `services.assign_patron`, whichever way the edit
comes in (the rule screen, the loaders), so routing, the patrons API, flood tasks, hazards and materials agree.
Edits that would split them are refused and change nothing."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule, RuleKind
from civicgrid.apps.flood.services.response import patron_department_id
from civicgrid.apps.hazards import demo as hazards_demo
from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.hazards.services import patron_for
from civicgrid.apps.materials.services.catalogue import patron_department_of
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

STREET = "140213066"  # 水泊寺街道: 区应急局 in the 包保 table


def flood_class() -> Category:
    return Category.objects.get(taxonomy__code="social", kind="event", code="07")


def patron_rule(street: str = STREET) -> RoutingRule:
    return RoutingRule.objects.get(kind=RuleKind.PATRON, category=flood_class(), region_code=street)


def state():
    """Everything a 包保 edit may touch: the rules, the ledger and the audit trail."""
    return (sorted(RoutingRule.objects.values_list("pk", "category_id", "region_code", "department_id", "kind",
                                                   "priority", "is_active", "note")),
            sorted(PatronAssignment.objects.values_list("pk", "street_code", "kind", "department_id", "note")),
            AuditEntry.objects.count())


@pytest.fixture
def api(api_client, token_for, manager):
    """The patrons API as the command dispatcher who edits the rules reads it."""
    headers = token_for(manager)
    return lambda: api_client.get("/api/v1/hazards/patrons", {"kind": "flood"}, **headers).json()["items"]


def readers(api, street: str = STREET) -> dict[str, int | None]:
    """The department each reader names as the street's flood 包保 department."""
    listed = api()
    return {
        "routing": services.resolve_department(flood_class(), street + "001").pk,
        "patrons_api": next(i["department_id"] for i in listed if i["street_code"] == street),
        "flood_tasks": patron_department_id(street),
        "hazards": patron_for(street, "flood").pk,
        "materials": patron_department_of(street).pk,
    }


def rule_form(rule: RoutingRule, **changes) -> dict:
    data = {"category": rule.category_id, "region_code": rule.region_code, "department": rule.department_id,
            "kind": rule.kind, "priority": rule.priority, "note": rule.note}
    if rule.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_loaders_make_ledger_and_rules_agree(admin, api, departments):
    emergency = departments["区应急局"].pk
    assert set(readers(api).values()) == {emergency}
    assert PatronAssignment.objects.filter(kind="flood").count() == 18 == RoutingRule.objects.filter(
        kind=RuleKind.PATRON).count()


def test_editing_the_patron_rule_on_its_page_moves_every_reader(admin, api, departments):
    rule = patron_rule()
    water = departments["区水务局"]
    response = admin.post(f"/categories/rules/{rule.pk}/", rule_form(rule, department=water.pk, confirm_patron="on"))
    assert response.status_code == 302
    assert set(readers(api).values()) == {water.pk}
    assignment = PatronAssignment.objects.get(street_code=STREET, kind="flood")
    changed = AuditEntry.objects.filter(action="data.changed")
    assert changed.filter(target_type="hazards.patronassignment", target_id=str(assignment.pk)).count() == 1
    assert changed.filter(target_type="categories.routingrule", target_id=str(rule.pk)).count() == 1
    # Other streets keep theirs.
    assert readers(api, "140213065")["patrons_api"] == departments["区应急局"].pk


def test_assign_patron_moves_the_rules_and_writes_nothing_when_nothing_changes(loaded, manager, departments):
    city = departments["区城管局"]
    services.assign_patron(actor=manager, street_code=STREET, kind="flood", department=city)
    assert patron_rule().department == city and patron_rule().is_active
    assert PatronAssignment.objects.get(street_code=STREET, kind="flood").department == city
    before = state()
    services.assign_patron(actor=manager, street_code=STREET, kind="flood", department=city)
    assert state() == before


def test_a_safety_assignment_writes_only_the_ledger(loaded, manager, departments):
    rules = sorted(RoutingRule.objects.values_list("pk", "department_id", "is_active"))
    services.assign_patron(actor=manager, street_code=STREET, kind="safety", department=departments["区住建局"])
    assert PatronAssignment.objects.get(street_code=STREET, kind="safety").department == departments["区住建局"]
    assert sorted(RoutingRule.objects.values_list("pk", "department_id", "is_active")) == rules


@pytest.mark.parametrize("changes", [
    {"is_active": None},  # switched off
    {"region_code": "140213065"},  # moved onto another street
    {"kind": "routing"},  # turned into a routing rule
    {"department": "inactive"},  # an inactive department
])
def test_the_rule_page_refuses_edits_that_would_split_the_assignment(admin, api, departments, changes):
    rule = patron_rule()
    if changes.get("department") == "inactive":
        gone = departments["区文旅局"]
        Organisation.objects.filter(pk=gone.pk).update(is_active=False)
        changes = {"department": gone.pk}
    before = state()
    response = admin.post(f"/categories/rules/{rule.pk}/", {**rule_form(rule, **changes), "confirm_patron": "on",
                                                            **({"is_active": ""} if "is_active" in changes else {})})
    assert response.status_code == 400
    assert state() == before
    assert set(readers(api).values()) == {departments["区应急局"].pk}


def test_the_only_patron_rule_of_a_street_cannot_be_deleted(admin, departments):
    rule = patron_rule()
    before = state()
    response = admin.post(f"/categories/rules/{rule.pk}/", {"delete": "1", "confirm": "1"})
    assert response.status_code == 400 and "不能删除" in response.content.decode()
    assert state() == before


def test_a_second_patron_rule_for_the_street_is_refused(loaded, manager, departments):
    before = state()
    with pytest.raises(ValidationFailed) as info:
        services.create_rule(actor=manager, category=flood_class(), region_code=STREET,
                             department=departments["区水务局"], kind=RuleKind.PATRON, priority=5)
    assert f"#{patron_rule().pk}" in info.value.message
    assert state() == before


def test_only_managers_assign_patrons(loaded, tree, departments):
    from civicgrid.foundation.access.roles import Role

    handler = user_with(Role.DEPARTMENT_HANDLER, region=tree["140213"])
    before = state()
    with pytest.raises(PermissionDenied):
        services.assign_patron(actor=handler, street_code=STREET, kind="flood", department=departments["区水务局"])
    with pytest.raises(ValidationFailed):
        services.assign_patron(actor=None, street_code="140213", kind="flood", department=departments["区水务局"])
    assert state() == before


def test_reassigning_from_the_hazards_table_moves_the_rule(loaded, departments, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(f"department,street_name,street_code\n区自然资源局,水泊寺街道,{STREET}\n", encoding="utf-8")
    assert hazards_demo.load_patrons(path=path).updated == 1
    assert patron_rule().department == departments["区自然资源局"]
    assert PatronAssignment.objects.get(street_code=STREET, kind="flood").department == departments["区自然资源局"]


def test_the_migration_reconciles_existing_drift(loaded, departments, streets):
    reconcile = importlib.import_module("civicgrid.apps.hazards.migrations.0002_reconcile_patrons").reconcile
    water, city, land = departments["区水务局"], departments["区城管局"], departments["区自然资源局"]
    # The reported drift: the rule edited, the ledger not.
    RoutingRule.objects.filter(pk=patron_rule().pk).update(department=water)
    # A switched-off rule: the ledger decides, and the rule is enabled again.
    RoutingRule.objects.filter(pk=patron_rule("140213065").pk).update(department=city, is_active=False)
    # A ledger row without its rule, and a rule without its ledger row.
    RoutingRule.objects.filter(pk=patron_rule("140213064").pk).delete()
    PatronAssignment.objects.filter(street_code="140213059", kind="flood").delete()
    RoutingRule.objects.filter(pk=patron_rule("140213059").pk).update(department=land)
    reconcile(django_apps, None)
    ledger = dict(PatronAssignment.objects.filter(kind="flood").values_list("street_code", "department_id"))
    rules = dict(RoutingRule.objects.filter(kind=RuleKind.PATRON).values_list("region_code", "department_id"))
    assert ledger == rules and len(ledger) == 18
    assert RoutingRule.objects.filter(kind=RuleKind.PATRON, is_active=False).count() == 0
    assert ledger[STREET] == water.pk and ledger["140213059"] == land.pk
    assert ledger["140213065"] == departments["区应急局"].pk and ledger["140213064"] == departments["区水务局"].pk
    after = state()
    reconcile(django_apps, None)
    assert state() == after


def test_the_patron_rules_page_says_what_a_change_moves_and_asks_to_confirm_it(admin, api, departments):
    rule = patron_rule()
    page = admin.get(f"/categories/rules/{rule.pk}/").content.decode()
    notice = page.split("data-patron-rule>", 1)[1].split("</p>", 1)[0]
    assert f"水泊寺街道（{STREET}）" in notice and "区应急局" in notice
    assert all(word in notice for word in ("隐患台账", "防汛任务", "防汛物资", "抢险救援"))
    assert 'name="confirm_patron"' in page
    # Not confirmed: refused with the reason beside the tick box, nothing changed anywhere.
    water = departments["区水务局"]
    before = state()
    response = admin.post(f"/categories/rules/{rule.pk}/", rule_form(rule, department=water.pk))
    assert response.status_code == 400 and "请勾选“确认更改该街道的包保部门”" in response.content.decode()
    assert state() == before and set(readers(api).values()) == {departments["区应急局"].pk}
    # Confirmed: the rule and the ledger move together, each audited, and the page says what moved.
    response = admin.post(f"/categories/rules/{rule.pk}/", rule_form(rule, department=water.pk, confirm_patron="on"),
                          follow=True)
    assert response.status_code == 200 and "已同时更改水泊寺街道" in response.content.decode()
    assert set(readers(api).values()) == {water.pk}
    assignment = PatronAssignment.objects.get(street_code=STREET, kind="flood")
    assert AuditEntry.objects.filter(action="data.changed", target_type="hazards.patronassignment",
                                     target_id=str(assignment.pk)).count() == 1
    # A change of its note alone moves no department: no confirmation asked.
    assert admin.post(f"/categories/rules/{rule.pk}/", rule_form(patron_rule(), note="汛期值守")).status_code == 302
    assert patron_rule().note == "汛期值守"


def test_an_ordinary_rule_has_neither_the_notice_nor_the_tick_box(admin, departments):
    from civicgrid.apps.categories.tests.conftest import garbage

    rule = services.create_rule(actor=None, category=garbage(), region_code=STREET, department=departments["区城管局"])
    page = admin.get(f"/categories/rules/{rule.pk}/").content.decode()
    assert "data-patron-rule" not in page and "confirm_patron" not in page
    # nor does a 包保 rule of a subclass or of a community (they route, but are no street's assignment)
    community = services.create_rule(actor=None, category=flood_class(), region_code="140213050001",
                                     department=departments["区水务局"], kind=RuleKind.PATRON)
    assert "data-patron-rule" not in admin.get(f"/categories/rules/{community.pk}/").content.decode()


def test_the_rule_list_marks_the_streets_patron_rules(admin, departments):
    from civicgrid.apps.categories.tests.conftest import garbage

    page = admin.get("/categories/rules/", {"kind": "patron"}).content.decode()
    assert page.count("包保（街道包保关系）") == 18 and "data-patron-rules" in page
    services.create_rule(actor=None, category=garbage(), region_code=STREET, department=departments["区城管局"])
    routing = admin.get("/categories/rules/", {"kind": "routing"}).content.decode()
    assert "街道包保关系" not in routing and "data-patron-rules" not in routing


def test_saving_the_rule_on_its_page_goes_through_assign_patron(admin, api, departments):
    """The page's save reaches the ledger through `assign_patron`: a ledger that drifted from the rule (written
    behind the services' back) is made to agree again by a save of the rule, audited."""
    rule = patron_rule()
    assignment = PatronAssignment.objects.get(street_code=STREET, kind="flood")
    PatronAssignment.objects.filter(pk=assignment.pk).update(department=departments["区城管局"])
    assert admin.post(f"/categories/rules/{rule.pk}/", rule_form(rule, note="复核")).status_code == 302
    assert set(readers(api).values()) == {departments["区应急局"].pk}
    entry = AuditEntry.objects.get(action="data.changed", target_type="hazards.patronassignment",
                                   target_id=str(assignment.pk))
    assert entry.before["department"] == departments["区城管局"].pk
    assert entry.after["department"] == departments["区应急局"].pk


def test_a_new_streets_patron_rule_asks_for_the_confirmation_too(admin, api, departments):
    RoutingRule.objects.filter(pk=patron_rule().pk).delete()  # as for a street added since the table was loaded
    water = departments["区水务局"]
    form = {"category": flood_class().pk, "region_code": STREET, "department": water.pk, "kind": "patron",
            "priority": 0, "is_active": "on", "note": ""}
    before = state()
    response = admin.post("/categories/rules/new/", form)
    body = response.content.decode()
    assert response.status_code == 400 and 'name="confirm_patron"' in body and "请勾选" in body
    assert state() == before
    assert admin.post("/categories/rules/new/", {**form, "confirm_patron": "on"}).status_code == 302
    assert patron_rule().department == water and set(readers(api).values()) == {water.pk}

"""Category and rule services: permission, validation (nothing changed on refusal), audit with before/after,
events, and correcting a rule from a send-back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule, Taxonomy
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import history
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
GRID = "140213050001001"


@pytest.fixture
def garbage(loaded):
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


def test_an_edit_is_audited_with_before_and_after_and_marks_the_category(garbage, manager, departments):
    changed = services.update_category(actor=manager, category=garbage, time_limit_amount="4",
                                       time_limit_mode="working_hours", default_department=departments["区住建局"],
                                       keywords="垃圾,乱扔")
    assert changed.time_limit_text == "4 工作小时" and changed.edited_at is not None
    entry = history(garbage).first()
    assert entry.action == "data.changed" and entry.actor == manager
    assert entry.before["time_limit_amount"] == "1.00" and entry.after["time_limit_amount"] == "4.00"
    assert entry.before["time_limit_mode"] == "working_days" and entry.after["time_limit_mode"] == "working_hours"
    assert entry.after["default_department"] == departments["区住建局"].pk
    assert OutboxEvent.objects.filter(topic="categories.category_changed", aggregate_id=str(garbage.pk)).exists()


def test_an_edit_that_changes_nothing_records_nothing(garbage, manager):
    before = AuditEntry.objects.count()
    services.update_category(actor=manager, category=garbage, time_limit_amount=Decimal("1.00"))
    assert AuditEntry.objects.count() == before
    assert Category.objects.get(pk=garbage.pk).edited_at is None


@pytest.mark.parametrize("changes", [
    {"time_limit_amount": "0"},
    {"time_limit_amount": "-1"},
    {"time_limit_amount": "1.234"},
    {"time_limit_amount": "NaN"},
    {"time_limit_amount": "十"},
    {"time_limit_amount": "100000"},
    {"time_limit_amount": "9999.99"},  # 9999.99 working days: a deadline decades away, seconds to reckon
    {"time_limit_amount": "250.01"},  # working days: at most 250 (about a year)
    {"time_limit_amount": "2000.01", "time_limit_mode": "working_hours"},
    {"time_limit_amount": "8760.01", "time_limit_mode": "natural_hours"},
    {"time_limit_mode": "fortnights"},
    {"name": ""},
    {"name": "长" * 101},
    {"code": "X"},  # not editable
])
def test_bad_edits_are_refused_and_change_nothing(garbage, manager, changes):
    before = (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get())
    with pytest.raises(ValidationFailed):
        services.update_category(actor=manager, category=garbage, **changes)
    assert (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get()) == before


def test_a_parent_must_be_of_the_same_taxonomy_and_kind_and_not_a_descendant(garbage, manager):
    component_class = Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="component", code="01")
    with pytest.raises(ValidationFailed):
        services.update_category(actor=manager, category=garbage, parent=component_class)
    with pytest.raises(ValidationFailed):
        services.update_category(actor=manager, category=garbage.parent, parent=garbage)


@pytest.mark.parametrize("role", [Role.GRID_WORKER, Role.STREET_DISPATCHER, Role.LEADER, Role.DEPARTMENT_HANDLER])
def test_only_managers_edit(garbage, tree, role):
    kwargs = {"department": None} if role == Role.DEPARTMENT_HANDLER else {"region": tree["140213050"]}
    user = user_with(role, **kwargs)
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied):
        services.update_category(actor=user, category=garbage, time_limit_amount="9")
    with pytest.raises(PermissionDenied):
        services.create_rule(actor=user, category=garbage, region_code=GRID, department=garbage.default_department)
    assert AuditEntry.objects.count() == before and not RoutingRule.objects.filter(category=garbage).exists()


def test_system_administrator_manages(garbage, tree):
    admin = user_with(Role.SYSTEM_ADMIN)
    assert services.update_category(actor=admin, category=garbage, is_public=False).is_public is False


def test_create_taxonomy_and_category(manager, departments):
    local = services.create_taxonomy(actor=manager, code="pingcheng_local", name="平城区自定义分类")
    top = services.create_category(actor=manager, taxonomy=local, code="A", name="文明城市创建")
    sub = services.create_category(actor=manager, taxonomy=local, code="A01", name="楼道堆物", parent=top,
                                   time_limit_amount=2, time_limit_mode="working_days",
                                   default_department=departments["区城管局"], is_public=True)
    assert sub.parent == top and sub.edited_at is not None
    assert AuditEntry.objects.filter(action="data.created", target_type="categories.category").count() == 2
    with pytest.raises(ValidationFailed):
        services.create_category(actor=manager, taxonomy=local, code="A01", name="重复")
    with pytest.raises(ValidationFailed):
        services.create_taxonomy(actor=manager, code="pingcheng_local", name="重复")
    with pytest.raises(ValidationFailed):
        services.create_taxonomy(actor=manager, code="bad code!", name="x")
    assert Taxonomy.objects.filter(code="pingcheng_local").count() == 1


def test_rule_crud_is_audited(garbage, manager, departments):
    rule = services.create_rule(actor=manager, category=garbage, region_code="140213050",
                                department=departments["区水务局"], note="试点")
    services.update_rule(actor=manager, rule=rule, priority=3, department=departments["区住建局"])
    entries = list(history(rule))
    assert [e.action for e in entries] == ["data.changed", "data.created"]
    assert entries[0].before["department"] == departments["区水务局"].pk
    assert entries[0].after["department"] == departments["区住建局"].pk and entries[0].region_code == "140213050"
    services.delete_rule(actor=manager, rule=rule)
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    assert AuditEntry.objects.filter(action="data.deleted", target_id=str(rule.pk)).get().before["priority"] == 3


@pytest.mark.parametrize("region", ["140213999", "14021305", "x"])
def test_a_rule_needs_a_known_region(garbage, manager, departments, region):
    with pytest.raises(ValidationFailed):
        services.create_rule(actor=manager, category=garbage, region_code=region, department=departments["区水务局"])
    assert not RoutingRule.objects.filter(category=garbage).exists()


def test_correct_rule_creates_then_updates_and_is_audited(garbage, manager, departments):
    assert services.resolve_department(garbage, GRID) == departments["区城管局"]
    rule = services.correct_rule(actor=manager, category=garbage, region_code="140213050",
                                 department=departments["区住建局"], note="区城管局退回：该路段由住建局养护",
                                 reference="PC202607010001")
    assert services.resolve_department(garbage, GRID) == departments["区住建局"]
    again = services.correct_rule(actor=manager, category=garbage, region_code="140213050",
                                  department=departments["区水务局"], note="住建局退回")
    assert again.pk == rule.pk and RoutingRule.objects.filter(category=garbage).count() == 1
    assert services.resolve_department(garbage, GRID) == departments["区水务局"]
    entries = list(history(rule))
    assert [e.action for e in entries] == [services.RULE_CORRECTED] * 2
    assert entries[1].before is None and entries[1].data == {"reference": "PC202607010001"}
    assert entries[0].before["department"] == departments["区住建局"].pk
    assert entries[0].after["department"] == departments["区水务局"].pk and entries[0].actor == manager


def test_correct_rule_refused_for_a_handler(garbage, departments):
    handler = user_with(Role.DEPARTMENT_HANDLER, department=departments["区城管局"])
    with pytest.raises(PermissionDenied):
        services.correct_rule(actor=handler, category=garbage, region_code=GRID, department=departments["区住建局"])
    assert not RoutingRule.objects.filter(category=garbage).exists()


def _world(*categories) -> tuple:
    return (AuditEntry.objects.count(), OutboxEvent.objects.count(), Category.objects.count(),
            [Category.objects.filter(pk=c.pk).values().get() for c in categories])


def test_a_subclass_is_not_created_under_a_subclass(garbage, manager):
    """Two levels, as the import enforces: the service says so on the parent field and creates nothing."""
    before = _world(garbage)
    with pytest.raises(ValidationFailed) as refused:
        services.create_category(actor=manager, taxonomy=garbage.taxonomy, code="0601001", name="楼道垃圾",
                                 kind=garbage.kind, parent=garbage)
    assert refused.value.field == "parent"
    assert refused.value.message.startswith(f"分类只有大类、小类两级：上级 06010 本身是 {garbage.parent.code} 的小类")
    assert _world(garbage) == before


def test_an_edit_keeps_two_levels(garbage, manager):
    cls = garbage.parent
    other_class = Category.objects.filter(taxonomy=cls.taxonomy, kind=cls.kind, parent=None).exclude(pk=cls.pk) \
        .order_by("code").first()
    sibling = Category.objects.filter(parent=cls).exclude(pk=garbage.pk).order_by("code").first()
    before = _world(garbage, cls, sibling)
    # a subclass moved under another subclass
    with pytest.raises(ValidationFailed) as refused:
        services.update_category(actor=manager, category=garbage, parent=sibling)
    assert refused.value.field == "parent" and "分类只有大类、小类两级" in refused.value.message
    # a class that holds subclasses made a subclass
    with pytest.raises(ValidationFailed) as refused:
        services.update_category(actor=manager, category=cls, parent=other_class)
    assert refused.value.field == "parent" and f"{cls.code} 下有小类" in refused.value.message
    assert _world(garbage, cls, sibling) == before
    # moving a subclass to another class is still an edit like any other
    assert services.update_category(actor=manager, category=garbage, parent=other_class).parent == other_class


@pytest.mark.parametrize(("mode", "top", "words"), [
    ("working_days", "250", "不超过 250 工作日"), ("working_hours", "2000", "不超过 2000 工作小时"),
    ("natural_hours", "8760", "不超过 8760 自然时"),
])
def test_a_time_limit_is_at_most_about_a_year_of_its_unit(garbage, manager, mode, top, words):
    changed = services.update_category(actor=manager, category=garbage, time_limit_amount=top, time_limit_mode=mode)
    assert changed.time_limit_amount == Decimal(top)
    before = (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get())
    with pytest.raises(ValidationFailed, match=words) as refused:
        services.update_category(actor=manager, category=garbage, time_limit_amount=str(Decimal(top) + 1),
                                 time_limit_mode=mode)
    assert refused.value.field == "time_limit_amount" and "大于 0" in refused.value.message
    assert (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get()) == before

"""Routing: the most specific rule wins (category, then region depth, then priority), 包保 rules send a
street's flood cases to its patron department, the category's default is the fallback, and the explanation
says which rule decided."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule, RuleKind
from civicgrid.foundation.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db

GRID = "140213050001001"  # 永泰街道 › community 001 › grid 001
COMMUNITY, STREET, DISTRICT = GRID[:12], GRID[:9], GRID[:6]


def social(code: str) -> Category:
    return Category.objects.get(taxonomy__code="social", code=code)


def matter(code: str) -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code=code)


def rule(category, region, department, **extra) -> RoutingRule:
    return services.create_rule(actor=None, category=category, region_code=region, department=department, **extra)


@pytest.fixture
def garbage(loaded):
    return matter("06010")


def test_without_rules_the_category_default_decides(garbage, departments):
    route = services.explain_route(garbage, GRID)
    assert route.department == departments["区城管局"] and route.source == "default" and route.rule is None
    assert "默认处置部门" in route.text and "区城管局" in route.text
    assert services.resolve_department(garbage, GRID) == departments["区城管局"]


def test_a_subclass_without_a_default_falls_back_to_its_class(loaded, departments):
    other = social("0406")  # 其他民生诉求: no department of its own, nor has 民生服务
    assert services.resolve_department(other, GRID) is None
    assert "请人工选择" in services.explain_route(other, GRID).text
    Category.objects.filter(pk=social("04").pk).update(default_department=departments["区民政局"])
    assert services.resolve_department(social("0406"), GRID) == departments["区民政局"]
    assert services.explain_route(social("0406"), GRID).category_match == "parent"


def test_exact_category_beats_parent_class_beats_any_category(garbage, departments):
    rule(None, GRID, departments["区应急局"])  # any category, at the grid itself
    assert services.resolve_department(garbage, GRID) == departments["区应急局"]
    rule(garbage.parent, DISTRICT, departments["区水务局"])  # the class, district-wide
    assert services.resolve_department(garbage, GRID) == departments["区水务局"]
    rule(garbage, DISTRICT, departments["区住建局"])  # the subclass itself, district-wide
    route = services.explain_route(garbage, GRID)
    assert route.department == departments["区住建局"] and route.category_match == "exact"
    assert [r.department.short_name for r in route.candidates] == ["区住建局", "区水务局", "区应急局"]
    assert "另有适用" in route.text


def test_deeper_region_beats_shallower_then_priority(garbage, departments):
    rule(garbage, DISTRICT, departments["区住建局"])
    rule(garbage, STREET, departments["区水务局"])
    assert services.resolve_department(garbage, GRID) == departments["区水务局"]
    assert services.resolve_department(garbage, "140213051001001") == departments["区住建局"]  # another street
    rule(garbage, COMMUNITY, departments["区应急局"])
    rule(garbage, COMMUNITY, departments["区民政局"], priority=5)
    assert services.resolve_department(garbage, GRID) == departments["区民政局"]
    assert services.resolve_department(garbage, COMMUNITY) == departments["区民政局"]
    assert services.resolve_department(garbage, STREET) == departments["区水务局"]  # a street asks above


def test_inactive_rules_and_departments_do_not_route(garbage, departments):
    street_rule = rule(garbage, STREET, departments["区水务局"])
    services.update_rule(actor=None, rule=street_rule, is_active=False)
    assert services.resolve_department(garbage, GRID) == departments["区城管局"]
    services.update_rule(actor=None, rule=street_rule, is_active=True)
    departments["区水务局"].is_active = False
    departments["区水务局"].save()
    assert services.resolve_department(garbage, GRID) == departments["区城管局"]


def test_patron_rules_route_a_streets_flood_cases(loaded, departments):
    flooding = social("0701")  # 积水内涝 under 防汛应急
    # 永泰街道 140213050 is 区城管局's in the 包保 table; 文瀛湖街道 140213065 is 区应急局's.
    route = services.explain_route(flooding, GRID)
    assert route.department == departments["区城管局"] and route.source == "patron"
    assert "包保" in route.text and "永泰街道" in route.text
    assert services.resolve_department(flooding, "140213065") == departments["区应急局"]
    # Other categories of the same street are not the patron's.
    assert services.resolve_department(social("0303"), GRID) == departments["区住建局"]
    # An explicit rule for the subclass beats the patron rule on its class.
    rule(social("0705"), DISTRICT, departments["区住建局"])
    assert services.resolve_department(social("0705"), GRID) == departments["区住建局"]
    # At a full tie a routing rule beats a patron rule.
    rule(social("07"), STREET, departments["区水务局"])
    assert services.resolve_department(flooding, GRID) == departments["区水务局"]


def test_no_category_uses_any_category_rules_only(loaded, departments):
    assert services.resolve_department(None, GRID) is None
    rule(None, STREET, departments["区城管局"])
    assert services.resolve_department(None, GRID) == departments["区城管局"]


@pytest.mark.parametrize("code", ["", "14021", "1402130500", "abc123", "140213050001001001", "１４０２１３"])
def test_a_bad_region_code_is_refused(garbage, code):
    with pytest.raises(ValidationFailed):
        services.resolve_department(garbage, code)


def test_resolution_takes_few_queries(garbage, departments, django_assert_max_num_queries):
    rule(garbage, STREET, departments["区水务局"])
    with django_assert_max_num_queries(2):
        assert services.resolve_department(garbage, GRID) == departments["区水务局"]


def test_rules_are_kept_in_order_of_kind(loaded):
    assert set(RoutingRule.objects.values_list("kind", flat=True)) == {RuleKind.PATRON}


def test_the_in_memory_routing_table_answers_as_the_queries_do(loaded, departments, django_assert_num_queries):
    """Intake's RoutingTable must agree with `resolve_department` for every category and every level of region,
    whatever mix of rules applies (patron, routing, any-category, parent class, priorities, inactive ones)."""
    from civicgrid.apps.categories.routing import RoutingTable

    garbage = matter("06010")
    rule(None, STREET, departments["区应急局"])
    rule(garbage.parent, DISTRICT, departments["区水务局"])
    rule(garbage, COMMUNITY, departments["区住建局"])
    rule(garbage, COMMUNITY, departments["区民政局"], priority=5)
    rule(social("07"), STREET, departments["区水务局"])
    rule(social("0705"), DISTRICT, departments["区住建局"])
    services.update_rule(actor=None, rule=rule(social("0303"), GRID, departments["区民政局"]), is_active=False)
    Category.objects.filter(pk=social("04").pk).update(default_department=departments["区民政局"])
    departments["区应急局"].is_active = False
    departments["区应急局"].save()
    table = RoutingTable()
    regions = [GRID, COMMUNITY, STREET, DISTRICT, "140213065001001", "140213065", "140213051001001"]
    categories = list(Category.objects.all())
    compared = 0
    for category in [None, *categories]:
        for region in regions:
            expected = services.resolve_department(category, region)
            with django_assert_num_queries(0):
                got = table.department_id(category.pk if category else None, region)
            assert got == (expected.pk if expected else None), (category, region)
            compared += 1
    assert compared == (len(categories) + 1) * len(regions) and len(categories) > 100
    with pytest.raises(ValidationFailed):
        table.department_id(garbage.pk, "14021")


def test_a_more_specific_rule_is_what_a_correction_would_leave_in_force(garbage, departments):
    """`overriding_route`: at the case's place, a rule for the same category and a deeper region decides over
    the rule a correction would set for the street; a rule for the parent class, one for any category or one of
    the same place does not."""
    city, housing = departments["区城管局"], departments["区住建局"]
    assert services.overriding_route(garbage, STREET, GRID) is None  # no rule at all
    community = rule(garbage, COMMUNITY, city)
    route = services.overriding_route(garbage, STREET, GRID)
    assert route.rule == community and route.department == city
    assert services.overriding_route(garbage, COMMUNITY, GRID) is None  # the same place
    assert services.overriding_route(garbage, STREET, "140213051001001") is None  # the street does not hold it
    assert services.overriding_route(None, STREET, GRID) is None  # `None` matches only rules for any category
    grid_any = rule(None, GRID, housing)
    assert services.overriding_route(None, STREET, GRID).rule == grid_any
    assert services.overriding_route(garbage, STREET, GRID).rule == community  # its category beats `any`
    community.delete()
    class_rule = rule(garbage.parent, COMMUNITY, housing)
    assert services.overriding_route(garbage, STREET, GRID) is None  # the corrected subclass rule would win
    assert class_rule.pk

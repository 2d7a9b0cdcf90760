"""Loading the directories: every row of the standard's CSV, classes named from it, default local rules,
the social types, the 包保 rules, and re-runs that never overwrite an administrator's edits."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal

import pytest

from civicgrid.apps.categories import loaders, services
from civicgrid.apps.categories.models import Category, CategoryKind, LimitMode, RoutingRule, RuleKind
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.foundation.orgs.models import Organisation

pytestmark = pytest.mark.django_db


def csv_rows() -> list[dict]:
    with loaders.GBT_CSV.open(encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def gbt(kind: str, code: str) -> Category:
    return Category.objects.select_related("default_department", "parent").get(
        taxonomy__code=loaders.GBT, kind=kind, code=code)


def social(code: str) -> Category:
    return Category.objects.select_related("default_department", "parent").get(taxonomy__code="social", code=code)


def test_the_csv_holds_153_components_and_250_matters():
    # The transcription lacks a few codes (SOURCES.md); these are the counts it does have.
    counts = Counter(r["kind"] for r in csv_rows())
    assert counts == {"管理部件": 153, "管理事项": 250}


def test_every_row_of_the_standard_is_loaded_under_its_class(loaded):
    subclasses = Category.objects.filter(taxonomy__code=loaders.GBT, parent__isnull=False)
    assert subclasses.filter(kind=CategoryKind.COMPONENT).count() == 153
    assert subclasses.filter(kind=CategoryKind.MATTER).count() == 250
    rows = {(loaders.KIND_OF[r["kind"]], r["code"]): r for r in csv_rows()}
    loaded_rows = {(c.kind, c.code): c for c in subclasses.select_related("parent")}
    assert set(loaded_rows) == set(rows)
    for key, row in rows.items():
        category = loaded_rows[key]
        assert category.name == row["name"] and category.parent.code == row["major_code"] == row["code"][:2]
        assert len(category.code) == 5 and category.code.isdigit()
    # Codes absent in the transcription stay absent (no invented rows).
    assert not Category.objects.filter(taxonomy__code=loaders.GBT, kind=CategoryKind.COMPONENT,
                                       code__in=["01016", "05001", "05004", "05008"]).exists()
    assert not Category.objects.filter(taxonomy__code=loaders.GBT, kind=CategoryKind.MATTER,
                                       code__in=["06031", "07005", "09007"]).exists()


def test_classes_are_named_from_the_csv(loaded):
    classes = dict(Category.objects.filter(taxonomy__code=loaders.GBT, parent__isnull=True, kind="component")
                   .values_list("code", "name"))
    assert classes == {"01": "市政公用设施", "02": "交通设施", "03": "市容环卫设施", "04": "园林绿化设施",
                       "05": "其他管理部件"}
    matters = dict(Category.objects.filter(taxonomy__code=loaders.GBT, parent__isnull=True, kind="matter")
                   .values_list("code", "name"))
    assert matters["01"] == "市政公用设施类" and matters["06"] == "市容环境类" and matters["10"] == "其他事项类"
    assert sorted(matters) == [f"{i:02d}" for i in range(1, 11)]


def test_default_local_rules(loaded, departments):
    garbage = gbt("matter", "06010")
    assert garbage.name == "暴露垃圾" and garbage.time_limit_text == "1 工作日"
    assert garbage.default_department == departments["区城管局"] and garbage.is_public
    assert "垃圾" in garbage.keywords.split(",")
    street_dirt = gbt("matter", "06012")
    assert (street_dirt.time_limit_amount, street_dirt.time_limit_mode) == (Decimal("4"), LimitMode.WORKING_HOURS)
    cover = gbt("matter", "01001")
    assert (cover.time_limit_amount, cover.time_limit_mode) == (Decimal("6"), LimitMode.NATURAL_HOURS)
    assert cover.default_department == departments["区住建局"] and "权属" in cover.responsible_body
    assert "井盖" in cover.acceptance_condition and cover.closure_condition
    shack = gbt("matter", "06001")
    assert shack.time_limit_text == "15 工作日" and "4 个工作时" in shack.closure_condition
    # A class default where nothing more specific is said; every subclass has conditions and a body.
    bus_stop = gbt("matter", "02004")
    assert bus_stop.default_department == departments["区交通局"] and bus_stop.time_limit_text == "3 工作日"
    subclasses = Category.objects.filter(taxonomy__code=loaders.GBT, parent__isnull=False)
    assert not subclasses.filter(acceptance_condition="").exists()
    assert not subclasses.filter(closure_condition="").exists()
    assert not subclasses.filter(responsible_body="").exists()
    # Components are the inventory: not offered to the public; matters are.
    assert not subclasses.filter(kind="component", is_public=True).exists()
    assert subclasses.filter(kind="matter", is_public=True).count() == 250


def test_social_taxonomy(loaded, departments):
    tops = dict(Category.objects.filter(taxonomy__code="social", parent__isnull=True).values_list("code", "name"))
    assert set(tops.values()) == {"矛盾纠纷", "治安隐患", "安全隐患", "民生服务", "特殊人群", "公共卫生",
                                  "防汛应急", "其他"}
    safety = {c.name for c in social("03").children.all()}
    assert {"消防安全隐患", "安全生产隐患", "燃气安全隐患", "危险化学品隐患"} <= safety
    assert {"积水内涝", "排水不畅"} <= {c.name for c in social("07").children.all()}
    assert {"邻里纠纷", "婚姻家庭纠纷", "物业纠纷"} <= {c.name for c in social("01").children.all()}
    gas = social("0303")
    assert gas.time_limit_text == "2 自然时" and gas.default_department == departments["区住建局"]
    # Subtypes inherit what they leave empty: conditions, limit and department of their type.
    neighbours = social("0101")
    assert neighbours.time_limit_text == "20 工作日" and neighbours.default_department == departments["区司法局"]
    assert neighbours.acceptance_condition == social("01").acceptance_condition
    # Sensitive types are not open to public reports.
    assert not social("05").is_public and not social("0501").is_public and not social("0101").is_public
    assert social("0701").is_public and "积水" in social("0701").keywords


def test_baobao_rules_map_18_streets_to_4_departments(loaded):
    rules = RoutingRule.objects.filter(kind=RuleKind.PATRON).select_related("department", "category")
    assert rules.count() == 18
    assert {r.category.name for r in rules} == {"防汛应急"}
    by_department = Counter(r.department.short_name for r in rules)
    assert by_department == {"区应急局": 6, "区水务局": 4, "区城管局": 4, "区自然资源局": 4}
    assert {r.region_code for r in rules} == {c for c in loaded_streets()}
    assert rules.get(region_code="140213065").department.short_name == "区应急局"  # 文瀛湖街道


def loaded_streets() -> set[str]:
    with loaders.BAOBAO_CSV.open(encoding="utf-8-sig") as fh:
        return {r["street_code"] for r in csv.DictReader(fh)}


def test_baobao_creates_missing_departments_by_name(streets):
    loaders.load_social_types()
    assert not Organisation.objects.filter(short_name="区水务局").exists()
    result = loaders.load_baobao()
    assert result.created == 18
    water = Organisation.objects.get(short_name="区水务局")
    assert water.kind == "department" and water.region_code == "140213"
    assert loaders.load_baobao().created == 0 and Organisation.objects.filter(short_name="区水务局").count() == 1


def test_reload_changes_nothing_and_writes_no_audit(loaded):
    counts = (Category.objects.count(), RoutingRule.objects.count(), AuditEntry.objects.count())
    again = loaders.load_all()
    assert {str(r) for r in again.values()} == {"已存在，未改动"}
    assert (Category.objects.count(), RoutingRule.objects.count(), AuditEntry.objects.count()) == counts


def test_reload_keeps_administrator_edits_and_fills_what_is_missing(loaded, manager, departments):
    garbage = gbt("matter", "06010")
    services.update_category(actor=manager, category=garbage, time_limit_amount="2", acceptance_condition="",
                             default_department=departments["区住建局"])
    dirt = gbt("matter", "06012")
    Category.objects.filter(pk=dirt.pk).update(keywords="", default_department=None)  # never edited by hand
    rule = RoutingRule.objects.get(kind=RuleKind.PATRON, region_code="140213065")
    services.update_rule(actor=manager, rule=rule, department=departments["区水务局"])

    result = loaders.load_all()
    assert result["gbt47678"].filled == 1 and result["gbt47678"].created == 0
    garbage.refresh_from_db()
    assert garbage.time_limit_amount == Decimal("2") and garbage.acceptance_condition == ""
    assert garbage.default_department == departments["区住建局"]
    dirt.refresh_from_db()
    assert dirt.keywords and dirt.default_department == departments["区城管局"]
    rule.refresh_from_db()
    assert rule.department == departments["区水务局"]


def test_loaders_need_the_manage_capability(streets, tree):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    with pytest.raises(PermissionDenied):
        loaders.load_gbt47678(actor=worker)
    assert not Category.objects.exists()

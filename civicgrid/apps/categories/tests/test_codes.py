"""Category codes are NFKC-normalised wherever they are typed: a full-width 「０８０５」 is 0805 (so it can
neither sit beside the ASCII code nor miss it), and a new code is ASCII letters, digits, _ or -. Rule region
codes are normalised too."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category, RoutingRule, Taxonomy
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.testing.builders import user_with

from .test_api import GRID
from .test_xlsx import GBT, state, workbook

pytestmark = pytest.mark.django_db


def _row(code: str, parent: str = "08", name: str = "新分类") -> list:
    return [GBT, code, name, parent, "事项", "", 3, "工作日", "", "", "", "", "是", "是"]


def test_a_full_width_code_imports_as_its_ascii_code(loaded, manager):
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), _row("０８９９", "０８")]))
    assert report.ok, report.errors
    created = Category.objects.get(taxonomy__code=GBT, kind="matter", code="0899")
    assert created.parent.code == "08"
    # the same code written either way in one file is one code, twice
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), _row("0898"), _row("０８９８")]))
    assert [(e.row, e.column) for e in report.errors] == [(3, "编码")] and "与第 2 行重复" in report.errors[0].message
    # and a full-width row updates the ASCII category instead of making another
    before = Category.objects.count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS),
                                                                   _row("０８９９", "08", "改过的名称")]))
    assert report.ok and report.updated == 1 and Category.objects.count() == before
    assert Category.objects.get(pk=created.pk).name == "改过的名称"


def test_a_new_code_that_is_not_letters_or_digits_is_refused(loaded, manager):
    before = state()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), _row("08·99"),
                                                                   _row("０８－９９"), _row("08-98")]))
    assert [(e.row, e.column) for e in report.errors] == [(2, "编码")]
    assert "英文字母、数字、下划线或连字符" in report.errors[0].message
    assert state() == before


def test_the_service_normalises_and_checks_codes(loaded, manager):
    local = services.create_taxonomy(actor=manager, code="local", name="本地分类")
    top = services.create_category(actor=manager, taxonomy=local, code="Ａ０１", name="文明创建")
    assert top.code == "A01"
    with pytest.raises(ValidationFailed) as refused:
        services.create_category(actor=manager, taxonomy=local, code="A01", name="重复")
    assert refused.value.field == "code"
    before = state()
    with pytest.raises(ValidationFailed) as refused:
        services.create_category(actor=manager, taxonomy=local, code="甲01", name="非英文编码")
    assert refused.value.field == "code" and "英文字母" in refused.value.message
    assert state() == before and Taxonomy.objects.get(code="local").categories.count() == 1


def test_rules_take_full_width_region_codes(loaded, manager, departments):
    category = Category.objects.get(taxonomy__code=GBT, kind="matter", code="06010")
    rule = services.create_rule(actor=manager, category=category, region_code="１４０２１３０６６",
                                department=departments["区城管局"])
    assert RoutingRule.objects.get(pk=rule.pk).region_code == "140213066"
    corrected = services.correct_rule(actor=manager, category=category, region_code="１４０２１３０６６",
                                      department=departments["区水务局"])
    assert corrected.pk == rule.pk and corrected.department_id == departments["区水务局"].pk


def test_the_api_finds_a_code_typed_full_width(loaded, api_client, token_for, tree):
    headers = token_for(user_with(Role.GRID_WORKER, region=tree[GRID]))
    body = api_client.get("/api/v1/categories", {"taxonomy": GBT, "q": "０６０１０"}, **headers).json()
    assert "06010" in {i["code"] for i in body["items"]}

"""The demo's categories stage finds the demo's own departments by name (it creates none) and is idempotent."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories.models import Category, RoutingRule
from civicgrid.demo import orgs as demo_orgs
from civicgrid.demo.categories import load_demo_categories
from civicgrid.demo.loader import STAGE_LABELS
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.orgs.models import Organisation, OrgKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_departments(streets):
    return {
        short: Organisation.objects.create(code=code, name=name, short_name=short, kind=OrgKind.DEPARTMENT,
                                           region=streets["140213"])
        for short, (code, name, _duties) in demo_orgs.DEPARTMENTS.items()
    }


def test_the_stage_uses_the_demo_departments_and_runs_twice(demo_departments):
    organisations = Organisation.objects.count()
    first = load_demo_categories()
    assert "城市管理部件和事项 新建 418 个" in first and "汛期包保规则 新建 18 个" in first
    assert "未找到部门" not in first  # every department the data files name exists in the demo
    assert Organisation.objects.count() == organisations
    water = RoutingRule.objects.filter(department__code="140213-SWJ")
    assert sorted(water.values_list("region_code", flat=True)) == ["140213057", "140213058", "140213059",
                                                                    "140213064"]
    assert Category.objects.filter(default_department__code="140213-CGJ").count() > 200
    audit = AuditEntry.objects.count()
    assert load_demo_categories() == "已存在，未改动"
    assert AuditEntry.objects.count() == audit
    assert STAGE_LABELS["categories"] == "事件分类"


def test_the_command_loads_and_reports(streets, departments):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("load_categories", "--baobao", stdout=out)
    assert "gbt47678: 新建 418 个" in out.getvalue() and "baobao: 新建 18 个" in out.getvalue()
    out = StringIO()
    call_command("load_categories", stdout=out)
    assert out.getvalue().count("已存在，未改动") == 2

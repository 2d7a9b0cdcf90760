"""A time limit is a plain number: "1_5" (a slip of the keyboard) is refused, not read as 15 the way Python's
Decimal reads digit groups."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.testing.xlsx import workbook

pytestmark = pytest.mark.django_db


@pytest.fixture
def garbage(loaded) -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


@pytest.mark.parametrize("typed", ["1_5", "2_0", "1_0.5"])
def test_a_limit_with_an_underscore_is_refused_in_the_form(garbage, manager, typed):
    before = (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get())
    with pytest.raises(ValidationFailed) as refused:
        services.update_category(actor=manager, category=garbage, time_limit_amount=typed,
                                 time_limit_mode="working_days")
    assert refused.value.field == "time_limit_amount" and "处置时限须为数字" in refused.value.message
    assert (AuditEntry.objects.count(), Category.objects.filter(pk=garbage.pk).values().get()) == before


def test_a_limit_with_an_underscore_is_refused_by_an_import_naming_its_row(loaded, manager):
    good = ["social", "0998", "长期纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"]
    slip = ["social", "0997", "其他纠纷", "01", "事件", "", "1_5", "工作日", "", "", "", "", "是", "是", "是"]
    count = Category.objects.count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), good, slip]))
    assert [(e.row, e.column) for e in report.errors] == [(3, "处置时限")]
    assert "处置时限须为数字" in report.errors[0].message and "must be a number" in report.errors[0].message
    assert Category.objects.count() == count
    assert not Category.objects.filter(taxonomy__code="social", code__in=["0997", "0998"]).exists()

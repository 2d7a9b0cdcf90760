"""The category import never guesses a time-limit unit: 「小时」 and its like could be working or natural time
(DOMAIN §2 gives limits in both), so such a row is refused, naming the units the export writes."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.models import AuditEntry

from .test_xlsx import GBT, state, workbook

pytestmark = pytest.mark.django_db


def _row(code: str, unit: str, amount=4) -> list:
    return [GBT, code, f"分类{code}", "06", "事项", "", amount, unit, "", "", "", "", "是", "是"]


@pytest.mark.parametrize("unit", ["小时", "天", "日", "h", "Hours"])
def test_an_ambiguous_unit_is_refused_naming_the_allowed_ones(loaded, manager, unit):
    before, audit = state(), AuditEntry.objects.filter(result="refused").count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), _row("06901", "工作日"),
                                                                   _row("06902", unit)]))
    assert not report.ok
    [error] = report.errors
    assert (error.row, error.column) == (3, "时限单位")
    assert f"「{unit}」不明确" in error.message and "工作小时、工作日或自然时" in error.message
    assert state() == before and not Category.objects.filter(code__in=["06901", "06902"]).exists()
    assert AuditEntry.objects.filter(result="refused").count() == audit + 1


def test_the_export_spellings_and_unambiguous_synonyms_still_import(loaded, manager):
    rows = [_row("06901", "工作时"), _row("06902", "自然时"), _row("06903", "工作日"), _row("06904", "工作小时"),
            _row("06905", "自然小时")]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    assert report.ok, report.errors
    modes = dict(Category.objects.filter(code__startswith="069", kind="matter").values_list("code", "time_limit_mode"))
    assert modes == {"06901": "working_hours", "06902": "natural_hours", "06903": "working_days",
                     "06904": "working_hours", "06905": "natural_hours"}

"""An import names a repeated code on its row at once, whatever else is wrong with the row: one upload lists
everything in the way."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category
from civicgrid.testing.xlsx import workbook

pytestmark = pytest.mark.django_db


def test_an_import_names_a_repeated_code_even_on_a_row_with_another_problem(loaded, manager):
    """A row that repeats an earlier code is told so at once, beside its other problems, so that one upload lists
    all that stands in the way (and a bad row still counts as the first holder of its code)."""
    first = ["social", "0998", "测试甲", "01", "事件", "", "abc", "工作日", "", "", "", "", "是", "是", "是"]
    again = ["social", "0998", "测试乙", "01", "事件", "", 3, "小时", "", "", "", "", "是", "是", "是"]
    count = Category.objects.count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), first, again]))
    found = {(e.row, e.column): e.message for e in report.errors}
    assert set(found) == {(2, "处置时限"), (3, "时限单位"), (3, "编码")}
    assert "与第 2 行重复" in found[(3, "编码")] and "repeats row 2" in found[(3, "编码")]
    assert Category.objects.count() == count


def test_a_repeat_of_a_good_row_is_named_and_nothing_applied(loaded, manager):
    good = ["social", "0998", "测试甲", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"]
    again = ["社会治理事件类型", "０９９８", "测试乙", "01", "事件", "", "x", "工作日", "", "", "", "", "是", "是", "是"]
    count = Category.objects.count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), good, again]))
    assert {(e.row, e.column) for e in report.errors} == {(3, "处置时限"), (3, "编码")}
    assert Category.objects.count() == count

"""The English half of an import's row problems says what the Chinese half says: which code repeats which row,
which parent code is unknown, what a cycle is. The English page showed only "duplicate code", "unknown parent"
and "parent cycle", naming neither the code nor the row it repeats."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.tests.test_xlsx import state
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.xlsx import workbook

pytestmark = pytest.mark.django_db


def _row(code: str, name: str, parent: str) -> list:
    return ["social", code, name, parent, "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"]


def test_row_problems_name_the_code_and_row_in_english_too(loaded, manager):
    before, audit_before = state(), AuditEntry.objects.count()
    rows = [list(xlsx.HEADERS),
            _row("0990", "新分类甲", "01"),      # row 2
            _row("0990", "新分类乙", "01"),      # row 3: repeats row 2
            _row("0991", "新分类丙", "77"),      # row 4: no such parent
            _row("01", "矛盾纠纷", "0105")]      # row 5: a class under its own subclass
    report = xlsx.import_categories(actor=manager, data=workbook(rows))
    assert not report.ok
    by_row = {e.row: e.message for e in report.errors}
    zh, en = by_row[3].split(" / ")
    assert "与第 2 行重复" in zh and "0990" in en and "row 2" in en
    zh, en = by_row[4].split(" / ")
    assert "77" in zh and "77" in en and "does not exist" in en
    zh, en = by_row[5].split(" / ")
    assert "自己的下级" in zh and "itself" in en and "below it" in en
    # refused whole: nothing applied, the refusal audited once
    assert state() == before
    assert AuditEntry.objects.count() == audit_before + 1

"""The category import finds its table in a workbook people have edited: the export's own worksheet
(「事件分类」) even behind a 「说明」 sheet, a header row under a title, and a refusal that names the sheet read."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category

from .test_xlsx import GBT, state

pytestmark = pytest.mark.django_db

ROW = [GBT, "06901", "楼道小广告", "06", "事项", "", 2, "工作日", "", "", "", "", "是", "是"]


def book(sheets: list[tuple[str, list[list]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        worksheet = workbook.create_sheet(title)
        for row in rows:
            worksheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


NOTES = ("说明", [["本表由区指挥中心维护"], ["时限单位：工作时、工作日、自然时"]])


def test_the_exports_sheet_is_read_behind_a_notes_sheet(loaded, manager):
    report = xlsx.import_categories(actor=manager, data=book([NOTES, ("事件分类", [list(xlsx.HEADERS), ROW])]))
    assert report.ok, report.errors
    assert report.sheet == "事件分类" and Category.objects.get(code="06901", kind="matter").name == "楼道小广告"


def test_a_renamed_data_sheet_is_found_by_its_header(loaded, manager):
    report = xlsx.import_categories(actor=manager, data=book([NOTES, ("Sheet2", [list(xlsx.HEADERS), ROW])]))
    assert report.ok, report.errors
    assert report.sheet == "Sheet2" and Category.objects.filter(code="06901", kind="matter").exists()


def test_a_title_row_above_the_header_is_skipped(loaded, manager):
    rows = [["平城区事件分类（2026 年版）"], [], list(xlsx.HEADERS), ROW]
    report = xlsx.import_categories(actor=manager, data=book([("事件分类", rows)]))
    assert report.ok, report.errors
    assert Category.objects.filter(code="06901", kind="matter").exists()


def test_row_numbers_count_from_the_top_of_the_sheet(loaded, manager):
    bad = [*ROW[:7], "小时", *ROW[8:]]
    report = xlsx.import_categories(actor=manager, data=book([("事件分类", [["分类表"], list(xlsx.HEADERS), bad])]))
    assert [(e.row, e.column) for e in report.errors] == [(3, "时限单位")]


def test_missing_columns_name_the_sheet_read_and_the_others(loaded, manager):
    before = state()
    # no sheet holds a header: the first is read, and the message names it and the others
    report = xlsx.import_categories(actor=manager, data=book([NOTES, ("数据", [["code", "name"], ["06901", "x"]])]))
    [error] = report.errors
    assert "工作表「说明」缺少列" in error.message and "数据" in error.message and "「事件分类」" in error.message
    assert "分类体系" in error.column and report.sheet == "说明"
    # a sheet with part of the header is the one read
    report = xlsx.import_categories(actor=manager, data=book([NOTES, ("数据", [["编码", "名称"], ["06901", "x"]])]))
    [error] = report.errors
    assert "工作表「数据」缺少列" in error.message and "说明" in error.message and report.sheet == "数据"
    assert state() == before

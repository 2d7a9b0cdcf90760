"""What the import and the edit form say, and what the history shows: a header-only file is refused, a formula
without a stored value is named as such, the form's decimal errors are Chinese, the unit is 工作小时 everywhere,
the history leaves out the bookkeeping 人工修改时间 and shows an import's rows as 导入 with the file."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category, LimitMode
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.xlsx import workbook

pytestmark = pytest.mark.django_db
GBT = "gbt47678_5_2026"


def state() -> list[tuple]:
    return list(Category.objects.order_by("pk").values_list(
        "code", "name", "parent_id", "time_limit_amount", "time_limit_mode", "is_active", "edited_at"))


def garbage() -> Category:
    return Category.objects.get(taxonomy__code=GBT, kind="matter", code="06010")


def garbage_row(**changes) -> list:
    row = [GBT, "06010", "暴露垃圾", "06", "事项", "", 1, "工作日", "", "", "", "", "是", "是", "是"]
    for column, value in changes.items():
        row[xlsx.HEADERS.index(column)] = value
    return row


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_file_with_only_the_header_is_refused_and_changes_nothing(loaded, manager):
    before, audit = state(), AuditEntry.objects.count()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), [], []]), filename="空.xlsx")
    assert not report.ok and report.created == report.updated == 0
    assert "只有表头，没有任何分类行" in report.errors[0].message and report.errors[0].row is None
    assert str(report).startswith("有 1 处错误，未导入任何数据")
    assert state() == before
    assert AuditEntry.objects.count() == audit + 1
    assert AuditEntry.objects.latest("id").result == "refused"


def test_the_import_page_refuses_a_header_only_file(loaded, manager):
    before = state()
    upload = io.BytesIO(workbook([list(xlsx.HEADERS)]))
    upload.name = "header.xlsx"
    response = client_for(manager).post("/categories/import/", {"file": upload})
    assert response.status_code == 400 and "只有表头" in response.content.decode()
    assert state() == before


def test_a_formula_without_a_stored_value_is_named_with_its_cell(loaded, manager):
    before = state()
    # openpyxl writes the formula and no result, as a program that does not calculate does.
    body = workbook([list(xlsx.HEADERS), garbage_row(处置时限="=1+1")])
    report = xlsx.import_categories(actor=manager, data=body, filename="f.xlsx")
    assert not report.ok and len(report.errors) == 1, report.errors
    error = report.errors[0]
    assert error.row == 2 and error.column == "处置时限"
    assert "第 2 行「处置时限」列（G2 单元格）是公式" in error.message and "没有保存公式的计算结果" in error.message
    assert "Excel" in error.message and "WPS" in error.message and "数值" in error.message
    assert "须为数字" not in error.message
    assert state() == before


def test_a_formula_with_its_stored_value_imports(loaded, manager):
    """A cell Excel saved with its result reads as that result (only a missing one is refused)."""
    body = workbook([list(xlsx.HEADERS), garbage_row(处置时限=2)])
    # Give cell G2 a formula and the cached value 2, as Excel writes it.
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<c r="G2"')
                end = text.index("</c>", start) + len("</c>")
                text = text[:start] + '<c r="G2" t="n"><f>1+1</f><v>2</v></c>' + text[end:]
                data = text.encode()
            target.writestr(item, data)
    report = xlsx.import_categories(actor=manager, data=out.getvalue(), filename="f.xlsx")
    assert report.ok and report.updated == 1, report.errors
    assert garbage().time_limit_amount == 2


def test_the_form_says_in_chinese_that_two_decimals_is_the_most(loaded, manager):
    cat = garbage()
    before = state()
    response = client_for(manager).post(f"/categories/{cat.pk}/", {
        "name": cat.name, "time_limit_amount": "1.005", "time_limit_mode": "working_days", "is_active": "on"})
    text = response.content.decode()
    assert response.status_code == 400 and "处置时限最多两位小数" in text
    assert "确认小数不超过" not in text and "位." not in text
    assert state() == before


def test_working_hours_read_the_same_in_the_form_the_labels_and_the_import(loaded, manager):
    from civicgrid.foundation.sla.models import SlaClock

    assert str(LimitMode.WORKING_HOURS.label) == "工作小时"
    assert "工作小时" in [str(label) for _, label in SlaClock.MODE_CHOICES]
    page = client_for(manager).get(f"/categories/{garbage().pk}/").content.decode()
    assert ">工作小时<" in page and "工作时最多" not in page and "工作小时最多 2000" in page
    assert xlsx.import_categories(actor=manager, data=workbook(
        [list(xlsx.HEADERS), garbage_row(处置时限=4, 时限单位="工作小时")])).ok
    assert garbage().time_limit_text == "4 工作小时"


def test_the_history_leaves_out_the_edit_time_and_shows_an_import_with_its_file(loaded, manager):
    admin = client_for(manager)
    cat = garbage()
    services.update_category(actor=manager, category=cat, time_limit_amount=2)
    services.update_category(actor=manager, category=cat, time_limit_amount=3)
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), garbage_row(处置时限=5)]),
                                    filename="C:\\fakepath\\分类-12月.xlsx")
    assert report.ok and report.updated == 1, report.errors
    page = admin.get(f"/categories/{cat.pk}/").content.decode()
    history = page[page.index('id="history"'):]
    assert "人工修改时间" not in history
    assert history.count('data-action="data.changed"') == 3
    assert "由文件「分类-12月.xlsx」第 2 行导入更改" in history and "fakepath" not in history
    assert history.count(">导入</span>") == 1 and history.count(">修改</span>") == 2

"""XLSX export and import: Chinese headers, a lossless round trip, edits applied and audited, and a broken
file that applies nothing while saying what is wrong row by row."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category, Taxonomy
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import history
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
GBT = "gbt47678_5_2026"


def sheet(body: bytes) -> list[list]:
    return [list(r) for r in load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True)]


def workbook(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def state() -> list[tuple]:
    return list(Category.objects.order_by("pk").values_list(
        "taxonomy_id", "kind", "code", "name", "parent_id", "acceptance_condition", "closure_condition",
        "time_limit_amount", "time_limit_mode", "responsible_body", "default_department_id", "keywords",
        "is_public", "is_active"))


def test_export_has_chinese_headers_and_every_category(loaded, manager):
    body, filename = xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code=GBT))
    rows = sheet(body)
    assert tuple(rows[0]) == xlsx.HEADERS
    assert filename.startswith("categories-gbt47678_5_2026-") and filename.endswith(".xlsx")
    assert len(rows) - 1 == Category.objects.filter(taxonomy__code=GBT).count() == 153 + 250 + 5 + 10
    by_key = {(r[4], r[1]): r for r in rows[1:]}
    cover = by_key[("事项", "01001")]
    assert cover[:5] == [GBT, "01001", "供水井盖异常", "01", "事项"]
    assert cover[6] == 6 and cover[7] == "自然时" and cover[10] == "区住建局" and cover[12] == "是"
    assert by_key[("部件", "01001")][2] == "供水井盖" and by_key[("部件", "01001")][12] == "否"
    assert isinstance(by_key[("事项", "06010")][1], str)  # codes stay text: leading zeros survive Excel
    assert AuditEntry.objects.filter(action="data.exported", target_type="categories.taxonomy").count() == 1


def test_round_trip_changes_nothing(loaded, manager):
    before = state()
    body, _ = xlsx.export_categories(actor=manager)
    report = xlsx.import_categories(actor=manager, data=body, filename="categories.xlsx")
    assert report.ok and report.created == report.updated == 0
    assert report.unchanged == report.rows == len(before)
    assert state() == before
    assert not Category.objects.filter(edited_at__isnull=False).exists()


def test_import_applies_edits_and_new_rows_with_history(loaded, manager, departments):
    rows = sheet(xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code="social"))[0])
    header, body = rows[0], rows[1:]
    edited = next(r for r in body if r[1] == "0101")
    edited[6], edited[7], edited[10], edited[12] = 10, "工作日", "区民政局", "是"
    new_class = ["social", "09", "文明创建", "", "事件", "", 3, "工作日", "", "", "", "文明", "是", "是"]
    new_sub = ["社会治理事件类型", "0901", "楼道堆物", "09", "事件", "楼道堆放杂物", 2, "工作日", "清理完毕",
               "物业服务企业", "区住建局", "楼道,堆物", "是", "是"]
    # The subclass comes before its class on purpose: the import orders parents first.
    report = xlsx.import_categories(actor=manager, data=workbook([header, new_sub, *body, new_class]))
    assert report.ok, report.errors
    assert (report.created, report.updated) == (2, 1)
    neighbours = Category.objects.get(taxonomy__code="social", code="0101")
    assert neighbours.time_limit_amount == Decimal("10") and neighbours.default_department == departments["区民政局"]
    assert neighbours.is_public and neighbours.edited_at is not None
    entry = history(neighbours).first()
    assert entry.action == "data.changed" and entry.before["time_limit_amount"] == "20.00"
    assert entry.data == {"via": "xlsx", "row": body.index(edited) + 3}
    hallway = Category.objects.get(taxonomy__code="social", code="0901")
    assert hallway.parent.code == "09" and hallway.default_department == departments["区住建局"]
    assert hallway.time_limit_text == "2 工作日"


BROKEN = [
    (["social", "0101", "邻里纠纷", "77", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "上级编码"),
    (["social", "0102", "婚姻家庭纠纷", "01", "事件", "", 0, "工作日", "", "", "", "", "是", "是"], "处置时限"),
    (["social", "0103", "物业纠纷", "01", "事件", "", "三天", "工作日", "", "", "", "", "是", "是"], "处置时限"),
    (["social", "0104", "房屋纠纷", "01", "事件", "", 3, "月", "", "", "", "", "是", "是"], "时限单位"),
    (["social", "0105", "劳动争议", "01", "事件", "", 3, "工作日", "", "", "区不存在局", "", "是", "是"], "默认处置部门"),
    (["social", "0106", "消费纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "也许", "是"], "开放公众上报"),
    (["social", "0107", "事故纠纷", "01", "案件", "", 3, "工作日", "", "", "", "", "是", "是"], "类型"),
    (["nowhere", "0108", "征地纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "分类体系"),
    (["social", "0101", "邻里纠纷（重复）", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "编码"),
    (["social", "", "无编码", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "编码"),
    (["social", "0109", "", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "名称"),
    (["social", "01", "矛盾纠纷", "0105", "事件", "", 3, "工作日", "", "", "", "", "是", "是"], "上级编码"),  # cycle
]


def test_a_broken_import_applies_nothing_and_reports_every_row(loaded, manager):
    before, audit_before = state(), AuditEntry.objects.count()
    good = ["social", "0999", "会被拒绝的新行", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是"]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), good, *[r for r, _ in BROKEN]]))
    assert not report.ok and "未导入任何数据" in str(report)
    found = {(e.row, e.column) for e in report.errors}
    expected = {(i + 3, column) for i, (_, column) in enumerate(BROKEN)}
    assert expected <= found, sorted(expected - found)
    assert all(e.row != 2 for e in report.errors)  # the good row is fine, and still not applied
    assert state() == before
    refused = AuditEntry.objects.order_by("-id").first()
    assert AuditEntry.objects.count() == audit_before + 1 and refused.result == "refused"


def test_missing_columns_and_unreadable_files(loaded, manager):
    report = xlsx.import_categories(actor=manager, data=workbook([["分类体系", "编码", "名称"], [GBT, "x", "y"]]))
    assert not report.ok and report.errors[0].row == 1 and "处置时限" in report.errors[0].column
    report = xlsx.import_categories(actor=manager, data=b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", filename="a.xls")
    assert not report.ok and ".xls" in report.errors[0].message


def test_import_and_export_need_their_capabilities(loaded, tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    body, _ = xlsx.export_categories(actor=worker)  # staff read categories
    with pytest.raises(PermissionDenied):
        xlsx.import_categories(actor=worker, data=body)
    nobody = user_with(Role.AUDIT_ADMIN)
    with pytest.raises(PermissionDenied):
        xlsx.export_categories(actor=nobody)

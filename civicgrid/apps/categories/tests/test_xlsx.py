"""XLSX export and import: Chinese headers, a lossless round trip, edits applied and audited, and a broken
file that applies nothing while saying what is wrong row by row."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category, Taxonomy
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import history
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.testing.builders import user_with
from civicgrid.testing.xlsx import sheet_rows as sheet
from civicgrid.testing.xlsx import workbook

pytestmark = pytest.mark.django_db
GBT = "gbt47678_5_2026"


def state() -> list[tuple]:
    return list(Category.objects.order_by("pk").values_list(
        "taxonomy_id", "kind", "code", "name", "parent_id", "acceptance_condition", "closure_condition",
        "time_limit_amount", "time_limit_mode", "responsible_body", "default_department_id", "keywords",
        "is_public", "in_public_feed", "is_active"))


def test_export_has_chinese_headers_and_every_category(loaded, manager):
    body, filename = xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code=GBT))
    rows = sheet(body)
    assert tuple(rows[0]) == xlsx.HEADERS
    assert filename.startswith("categories-gbt47678_5_2026-") and filename.endswith(".xlsx")
    assert len(rows) - 1 == Category.objects.filter(taxonomy__code=GBT).count() == 153 + 250 + 5 + 10
    by_key = {(r[4], r[1]): r for r in rows[1:]}
    cover = by_key[("事项", "01001")]
    assert cover[:5] == [GBT, "01001", "供水井盖异常", "01", "事项"]
    assert cover[6] == 6 and cover[7] == "自然时" and cover[10] == "平城区住建局" and cover[12] == "是"
    assert by_key[("部件", "01001")][2] == "供水井盖" and by_key[("部件", "01001")][12] == "否"
    assert isinstance(by_key[("事项", "06010")][1], str)  # codes stay text: leading zeros survive Excel
    assert AuditEntry.objects.filter(action="data.exported", target_type="categories.category").count() == 1


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
    new_class = ["social", "09", "文明创建", "", "事件", "", 3, "工作日", "", "", "", "文明", "是", "是", "是"]
    new_sub = ["社会治理事件类型", "0901", "楼道堆物", "09", "事件", "楼道堆放杂物", 2, "工作日", "清理完毕",
               "物业服务企业", "区住建局", "楼道,堆物", "是", "是", "是"]
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
    (["social", "0101", "邻里纠纷", "77", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "上级编码"),
    (["social", "0102", "婚姻家庭纠纷", "01", "事件", "", 0, "工作日", "", "", "", "", "是", "是", "是"], "处置时限"),
    (["social", "0103", "物业纠纷", "01", "事件", "", "三天", "工作日", "", "", "", "", "是", "是", "是"], "处置时限"),
    (["social", "0104", "房屋纠纷", "01", "事件", "", 3, "月", "", "", "", "", "是", "是", "是"], "时限单位"),
    (["social", "0110", "拆迁纠纷", "01", "事件", "", 9999.99, "工作日", "", "", "", "", "是", "是", "是"], "处置时限"),
    (["social", "0111", "租赁纠纷", "01", "事件", "", 2001, "工作时", "", "", "", "", "是", "是", "是"], "处置时限"),
    (["social", "0105", "劳动争议", "01", "事件", "", 3, "工作日", "", "", "区不存在局", "", "是", "是", "是"], "默认处置部门"),
    (["social", "0106", "消费纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "也许", "是", "是"], "开放公众上报"),
    (["social", "0107", "事故纠纷", "01", "案件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "类型"),
    (["nowhere", "0108", "征地纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "分类体系"),
    (["social", "0101", "邻里纠纷（重复）", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "编码"),
    (["social", "", "无编码", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "编码"),
    (["social", "0109", "", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "名称"),
    (["social", "01", "矛盾纠纷", "0105", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"], "上级编码"),  # cycle
]


def test_a_broken_import_applies_nothing_and_reports_every_row(loaded, manager):
    before, audit_before = state(), AuditEntry.objects.count()
    good = ["social", "0999", "会被拒绝的新行", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"]
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


# --- the tree as the import leaves it, codes Excel mangled, the cost of checking, the audit of exports --------


def _row(code: str, name: str, parent: str, *, taxonomy: str = GBT, kind: str = "事项", department="") -> list:
    return [taxonomy, code, name, parent, kind, "", 3, "工作日", "", "", department, "", "是", "是", "是"]


def _parents(taxonomy: str, kind: str, *codes: str) -> dict[str, str]:
    found = Category.objects.filter(taxonomy__code=taxonomy, kind=kind, code__in=codes).select_related("parent")
    return {c.code: c.parent.code if c.parent_id else "" for c in found}


def _refusals() -> int:
    return AuditEntry.objects.filter(action="data.imported", result="refused").count()


def test_a_class_and_its_only_subclass_swap_places(loaded, manager):
    """The parents are checked against the tree the import leaves, not the stored one: the class named first
    takes as parent the subclass that the next row makes a class."""
    setup = [_row("09", "文明创建", "", taxonomy="social", kind="事件"),
             _row("0901", "楼道堆物", "09", taxonomy="social", kind="事件")]
    assert xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *setup])).ok
    swap = [_row("09", "文明创建", "0901", taxonomy="social", kind="事件"),
            _row("0901", "楼道堆物", "", taxonomy="social", kind="事件")]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *swap]))
    assert report.ok, report.errors
    assert (report.created, report.updated) == (0, 2)
    assert _parents("social", "event", "09", "0901") == {"09": "0901", "0901": ""}
    moved = history(Category.objects.get(taxonomy__code="social", code="09")).first()
    assert moved.before["parent"] is None
    assert moved.after["parent"] == Category.objects.get(taxonomy__code="social", code="0901").pk


def test_a_subclass_nested_under_a_subclass_is_brought_back_to_two_levels(loaded, manager):
    """The tester's file: 0100101 sits under 01001 (three levels, as an earlier import allowed); the file makes
    0100101 a class and 01001 its subclass. It used to end in a 500 with nothing audited."""
    gbt, cover = Taxonomy.objects.get(code=GBT), Category.objects.get(taxonomy__code=GBT, kind="matter", code="01001")
    Category.objects.create(taxonomy=gbt, kind="matter", code="0100101", name="井盖丢失", parent=cover)
    rows = [_row("01001", "供水井盖异常", "0100101"), _row("0100101", "井盖丢失", "")]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    assert report.ok, report.errors
    assert _parents(GBT, "matter", "01001", "0100101") == {"01001": "0100101", "0100101": ""}


def test_a_row_the_service_refuses_while_applying_is_a_row_error_and_audited(loaded, manager, monkeypatch):
    """Whatever the checks did not foresee and the service refuses (here a rule made stricter for the test) is
    reported on its row, the import is rolled back whole, and the refusal is audited."""
    from civicgrid.foundation.core.errors import ValidationFailed

    real = xlsx.clean_category

    def stricter(category, **kwargs):
        real(category, **kwargs)
        if category.code == "0902":
            raise ValidationFailed("名称已被占用 / name taken", field="name")

    monkeypatch.setattr(xlsx, "clean_category", stricter)
    before, audit_before, refusals = state(), AuditEntry.objects.count(), _refusals()
    rows = [_row("09", "文明创建", "", taxonomy="social", kind="事件"),
            _row("0901", "楼道堆物", "09", taxonomy="social", kind="事件"),
            _row("0902", "飞线充电", "09", taxonomy="social", kind="事件")]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    assert not report.ok and report.errors == [xlsx.RowError(4, "名称", "名称已被占用 / name taken")]
    assert report.created == report.updated == 0 and "未导入任何数据" in str(report)
    assert state() == before
    assert AuditEntry.objects.count() == audit_before + 1 and _refusals() == refusals + 1


def test_the_page_answers_a_refused_reorganisation_with_400_and_the_row(loaded, manager, client):
    client.force_login(manager)
    rows = [_row("0100101", "井盖丢失", "01001")]
    before, refusals = state(), _refusals()
    upload = io.BytesIO(workbook([list(xlsx.HEADERS), *rows]))
    upload.name = "categories.xlsx"
    response = client.post("/categories/import/", {"file": upload})
    assert response.status_code == 400
    assert "分类只有大类、小类两级" in response.content.decode()
    assert state() == before and _refusals() == refusals + 1


def test_categories_stay_two_levels_deep(loaded, manager):
    before, refusals = state(), _refusals()
    rows = [
        _row("0100101", "井盖丢失", "01001"),  # under a subclass
        _row("02", "道路交通", "01"),  # a class with subclasses put under another class
        _row("0999", "其他", "01"),  # fine on its own, and not applied either
    ]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    assert [(e.row, e.column) for e in report.errors] == [(2, "上级编码"), (3, "上级编码")]
    assert "01001 本身是 01 的小类" in report.errors[0].message
    assert "02 下有小类（02001、02002、02003等）" in report.errors[1].message
    assert state() == before and _refusals() == refusals + 1


def test_codes_excel_stripped_of_leading_zeros_are_refused_with_the_intended_code(loaded, manager):
    before, refusals = state(), _refusals()
    rows = [
        [GBT, 1100, "新的市政事项", 1, "事项", "", 3, "工作日", "", "", "", "", "是", "是", "是"],  # 01100 under 01
        [GBT, 1001, "供水井盖异常", "01", "事项", "", 3, "工作日", "", "", "", "", "是", "是", "是"],  # 01001 exists
        ["social", 9, "文明创建", "", "事件", "", 3, "工作日", "", "", "", "", "是", "是", "是"],  # classes: 01..08
    ]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    found = {(e.row, e.column): e.message for e in report.errors}
    assert set(found) == {(2, "编码"), (2, "上级编码"), (3, "编码"), (4, "编码")}
    assert "编码「1100」疑似被 Excel 当作数字而去掉了开头的 0，应为「01100」" in found[(2, "编码")]
    assert "应为「01」" in found[(2, "上级编码")]
    assert "应为「01001」" in found[(3, "编码")] and "应为「09」" in found[(4, "编码")]
    assert state() == before and _refusals() == refusals + 1


def test_the_export_writes_codes_as_text_cells(loaded, manager):
    body, _ = xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code="social"))
    ws = load_workbook(io.BytesIO(body)).active
    code, parent = xlsx.HEADERS.index("编码") + 1, xlsx.HEADERS.index("上级编码") + 1
    assert ws.cell(2, code).value == "01" and ws.cell(2, parent).value is None
    assert all(ws.cell(r, c).number_format == "@" for r in range(2, ws.max_row + 1) for c in (code, parent))
    letters = [ws.cell(1, c).column_letter for c in (code, parent)]
    assert [ws.column_dimensions[x].number_format for x in letters] == ["@", "@"]  # rows typed below, too
    assert ws.cell(2, xlsx.HEADERS.index("处置时限") + 1).number_format == "General"


def _refused_file(size: int) -> bytes:
    """`size` rows of the GB/T directory, each naming a department to look up, and a last row in error."""
    from .conftest import DEPARTMENTS

    rows = sheet(xlsx.export_categories(actor=None, taxonomy=Taxonomy.objects.get(code=GBT))[0])
    body = rows[1:size]
    for i, row in enumerate(body):
        row[10] = DEPARTMENTS[i % len(DEPARTMENTS)]
    return workbook([rows[0], *body, _row("0999", "错误的行", "01", department="区不存在局")])


@pytest.mark.parametrize("size", [10, 400])
def test_checking_a_file_costs_the_same_queries_whatever_its_size(loaded, manager, size,
                                                                 django_assert_num_queries):
    data = _refused_file(size)
    with django_assert_num_queries(5):
        report = xlsx.import_categories(actor=manager, data=data)
    assert [(e.row, e.column) for e in report.errors] == [(size + 1, "默认处置部门")]


def test_exports_of_one_or_every_taxonomy_are_found_under_one_object_type(loaded, manager):
    from civicgrid.foundation.audit.export import AuditFilter, apply_filter

    xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code="social"))
    xlsx.export_categories(actor=manager)
    found = apply_filter(AuditEntry.objects.all(), AuditFilter(action="data.exported",
                                                               target_type="categories.category"))
    assert [(e.data["taxonomy"], e.target_repr) for e in found] == [
        ("all", "事件分类导出（全部分类体系）477 行"), ("social", "事件分类导出（社会治理事件类型）59 行")]


def test_departments_are_found_by_name_each_row_reporting_its_own_problem(loaded, manager, departments, tree):
    """Looked up for the whole file at once, the departments still answer row by row: the category's own
    department kept, a name two departments carry refused as ambiguous, an unknown one as unknown."""
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    for code in ("140213-X1", "140213-X2"):
        Organisation.objects.create(code=code, name=f"平城区网格中心{code[-1]}", short_name="网格中心",
                                    kind=OrgKind.DEPARTMENT, region=tree["140213"])
    before = state()
    rows = [_row("01001", "供水井盖异常", "01", department="区住建局"),  # as stored
            _row("01002", "污水井盖异常", "01", department="网格中心"),
            _row("01003", "雨水井盖异常", "01", department="区不存在局"),
            _row("01004", "电力井盖异常", "01", department="平城区民政局")]  # full name: fine
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), *rows]))
    found = {(e.row, e.column): e.message for e in report.errors}
    assert set(found) == {(3, "默认处置部门"), (4, "默认处置部门")}
    assert "“网格中心”对应多个机构（140213-X1、140213-X2）" in found[(3, "默认处置部门")]
    assert "未知的部门「区不存在局」" in found[(4, "默认处置部门")]
    assert state() == before


def test_an_import_takes_a_limit_up_to_its_units_bound_and_names_the_range(loaded, manager):
    at_bound = ["social", "0998", "长期纠纷", "01", "事件", "", 8760, "自然时", "", "", "", "", "是", "是", "是"]
    too_long = ["social", "0997", "超长纠纷", "01", "事件", "", 251, "工作日", "", "", "", "", "是", "是", "是"]
    before = state()
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), at_bound, too_long]))
    assert not report.ok and [(e.row, e.column) for e in report.errors] == [(3, "处置时限")]
    assert "不超过 250 工作日" in report.errors[0].message and state() == before
    assert xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), at_bound])).ok


def test_the_feed_flag_is_a_column_kept_by_a_round_trip_and_edited_with_history(loaded, manager):
    """公开到开放接口 (`in_public_feed`): exported, kept by a round trip, changed by an import like any field."""
    feed = xlsx.HEADERS.index("公开到开放接口")
    assert xlsx.HEADERS[feed - 1] == "开放公众上报"
    rows = sheet(xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code="social"))[0])
    by_code = {r[1]: r for r in rows[1:]}
    assert (by_code["0402"][feed - 1], by_code["0402"][feed]) == ("是", "否")  # 养老服务: reported, not published
    assert (by_code["0401"][feed - 1], by_code["0401"][feed]) == ("是", "是")
    before = state()
    body, _ = xlsx.export_categories(actor=manager)
    report = xlsx.import_categories(actor=manager, data=body)
    assert report.ok and report.updated == 0 and state() == before

    by_code["0402"][feed], by_code["0401"][feed] = "是", "否"
    report = xlsx.import_categories(actor=manager, data=workbook([rows[0], *by_code.values()]))
    assert report.ok and report.updated == 2, report.errors
    elderly = Category.objects.get(taxonomy__code="social", code="0402")
    assert elderly.in_public_feed and elderly.is_public and elderly.edited_at is not None
    assert ("in_public_feed", False, True) in history(elderly).first().changes
    assert not Category.objects.get(taxonomy__code="social", code="0401").in_public_feed


def test_a_file_without_the_feed_column_imports_and_leaves_the_flag(loaded, manager, departments):
    """Files exported before the column existed: 公开到开放接口 is optional; a new row follows 开放公众上报."""
    feed = xlsx.HEADERS.index("公开到开放接口")
    rows = sheet(xlsx.export_categories(actor=manager, taxonomy=Taxonomy.objects.get(code="social"))[0])
    old = [r[:feed] + r[feed + 1:] for r in rows]
    edited = next(r for r in old[1:] if r[1] == "0402")
    edited[6] = 7
    new_public = ["social", "0407", "助残服务", "04", "事件", "", 3, "工作日", "", "", "", "", "是", "是"]
    new_closed = ["social", "0507", "其他帮扶对象", "05", "事件", "", 3, "工作日", "", "", "", "", "否", "是"]
    report = xlsx.import_categories(actor=manager, data=workbook([*old, new_public, new_closed]))
    assert report.ok and (report.created, report.updated) == (2, 1), report.errors
    elderly = Category.objects.get(taxonomy__code="social", code="0402")
    assert elderly.time_limit_amount == 7 and elderly.is_public and not elderly.in_public_feed
    changed = {name for name, _, _ in history(elderly).first().changes}
    assert "time_limit_amount" in changed and "in_public_feed" not in changed
    assert Category.objects.get(taxonomy__code="social", code="0407").in_public_feed
    assert not Category.objects.get(taxonomy__code="social", code="0507").in_public_feed


def test_a_bad_feed_flag_is_refused_and_applies_nothing(loaded, manager):
    before = state()
    row = ["social", "0106", "消费纠纷", "01", "事件", "", 3, "工作日", "", "", "", "", "是", "公开", "是"]
    report = xlsx.import_categories(actor=manager, data=workbook([list(xlsx.HEADERS), row]))
    assert not report.ok and [(e.row, e.column) for e in report.errors] == [(2, "公开到开放接口")]
    assert state() == before


def test_the_rules_export_names_each_department_in_full_and_is_for_managers_only(loaded, manager, tree):
    """分拨规则 xlsx: one row per rule, the department by its full name (a file people keep and read out of the
    page's context); exported with an audit entry, refused without one to a user who does not manage rules."""
    from civicgrid.apps.categories.models import RoutingRule

    body, filename = xlsx.export_rules(actor=manager)
    rows = sheet(body)
    assert tuple(rows[0]) == xlsx.RULE_HEADERS and filename.startswith("routing-rules-")
    assert len(rows) - 1 == RoutingRule.objects.count() > 0
    by_id = {r[0]: r for r in rows[1:]}
    patron = RoutingRule.objects.select_related("department").filter(region_code="140213065", kind="patron").first()
    assert patron.department.short_name != patron.department.name
    assert by_id[patron.pk][7] == patron.department.name == "平城区应急局"
    assert by_id[patron.pk][5] == "140213065"  # codes stay text
    audited = AuditEntry.objects.filter(action="data.exported", target_type="categories.routingrule")
    assert audited.count() == 1
    stranger = user_with(Role.GRID_WORKER, region=tree["140213065"])
    with pytest.raises(PermissionDenied):
        xlsx.export_rules(actor=stranger)
    assert audited.count() == 1

"""Categories as an Excel table with Chinese headers: export one taxonomy (or all), and import the same layout
back all-or-nothing.

An import checks every row first (unknown taxonomy or parent, bad time limit or unit, unknown department,
duplicate code, …) and reports each problem with its Excel row number; if there is any, nothing is applied.
Otherwise rows whose category exists are updated (each change audited with before/after, so the category's
history shows it, and marked as an administrator's edit) and the others are created, parents first. Rows
absent from the file are left as they are: removing a category is done by setting 启用 to 否.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.core.office_xlsx import official_language
from civicgrid.foundation.events.bus import publish
from civicgrid.foundation.imports.readers import TableError, read_table, write_xlsx

from .models import Category, CategoryKind, LimitMode, Taxonomy
from .permissions import VIEW
from .selectors import find_organisation, org_label
from .services import TOPIC_CATEGORY_CHANGED, check_department, check_limit, clean_category, require_manager

HEADERS = ("分类体系", "编码", "名称", "上级编码", "类型", "立案条件", "处置时限", "时限单位", "结案条件",
           "责任主体", "默认处置部门", "关键词", "开放公众上报", "启用")
MAX_ROWS = 5000
KIND_LABELS = {str(label): value for value, label in CategoryKind.choices}
UNIT_LABELS = {str(label): value for value, label in LimitMode.choices}
UNIT_SYNONYMS = {"工作小时": LimitMode.WORKING_HOURS, "自然小时": LimitMode.NATURAL_HOURS, "小时": LimitMode.NATURAL_HOURS}
TRUE, FALSE = {"是", "TRUE", "1", "Y", "YES", "√"}, {"否", "FALSE", "0", "N", "NO", "×"}
# Columns an import sets on a category (the taxonomy, kind and code identify it).
_SET = ("name", "acceptance_condition", "closure_condition", "time_limit_amount", "time_limit_mode",
        "responsible_body", "default_department", "keywords", "is_public", "is_active")


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def export_rows(categories) -> list[list]:
    """Table rows for categories (with taxonomy, parent and default_department selected)."""
    return [
        [
            c.taxonomy.code, c.code, c.name, c.parent.code if c.parent_id else "", c.get_kind_display(),
            c.acceptance_condition, _number(c.time_limit_amount), c.get_time_limit_mode_display(),
            c.closure_condition, c.responsible_body, org_label(c.default_department), c.keywords,
            "是" if c.is_public else "否", "是" if c.is_active else "否",
        ]
        for c in categories
    ]


@official_language
def export_categories(*, actor, taxonomy: Taxonomy | None = None) -> tuple[bytes, str]:
    """XLSX bytes and a file name: one taxonomy, or every taxonomy when `taxonomy` is None (audited)."""
    if actor is not None and not has_capability(actor, VIEW):
        raise PermissionDenied("无权导出事件分类 / categories.view required")
    # `sort` keeps the directory's order, in which each class comes before its subclasses.
    qs = Category.objects.select_related("taxonomy", "parent", "default_department").order_by(
        "taxonomy__code", "kind", "sort", "code")
    if taxonomy is not None:
        qs = qs.filter(taxonomy=taxonomy)
    rows = export_rows(qs)
    body = write_xlsx(HEADERS, rows, sheet_title="事件分类")
    name = taxonomy.code if taxonomy else "all"
    record(actor=actor, action=verbs.Data.EXPORTED, target=taxonomy, target_type="categories.category",
           target_repr=f"事件分类导出 {len(rows)} 行", data={"taxonomy": name, "rows": len(rows)})
    return body, f"categories-{name}-{timezone.localdate():%Y%m%d}.xlsx"


@dataclass(frozen=True)
class RowError:
    """One problem: the Excel row number (1 is the header; None when the whole file is at fault), the column,
    what is wrong."""

    row: int | None
    column: str
    message: str


@dataclass
class ImportReport:
    """The outcome of an import; `errors` empty means it was applied."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        """Both languages, as every service message ("中文 / English"): a page shows the reader's half."""
        return " / ".join(self._summary())

    def _summary(self) -> tuple[str, str]:
        if self.errors:
            return (f"有 {len(self.errors)} 处错误，未导入任何数据",
                    f"{len(self.errors)} errors found; nothing was imported")
        return (f"共 {self.rows} 行：新建 {self.created}，修改 {self.updated}，未变 {self.unchanged}",
                f"{self.rows} rows: {self.created} created, {self.updated} changed, {self.unchanged} unchanged")

    @property
    def chinese(self) -> str:
        """The summary in the official language, as the audit trail records it."""
        return self._summary()[0]


@dataclass
class _Row:
    number: int
    taxonomy: Taxonomy
    kind: str
    code: str
    parent_code: str
    values: dict


def _flag(text: str) -> bool | None:
    value = text.strip().upper()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError


def _stored_department(taxonomy: Taxonomy | None, kind: str | None, code: str):
    """The default department the category of this row holds now (None for a new category or none set)."""
    if taxonomy is None or kind is None or not code:
        return None
    category = (Category.objects.filter(taxonomy=taxonomy, kind=kind, code=code)
                .select_related("default_department").only("default_department").first())
    return category.default_department if category else None


def _parse(number: int, cells: dict[str, str], taxonomies: dict[str, Taxonomy], errors: list[RowError]) -> _Row | None:
    """One row checked on its own; problems go to `errors`."""
    start = len(errors)

    def bad(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    taxonomy = taxonomies.get(cells["分类体系"])
    if taxonomy is None:
        bad("分类体系", f"未知的分类体系「{cells['分类体系']}」 / unknown taxonomy: {cells['分类体系']}")
    code, name = cells["编码"], cells["名称"]
    if not code or len(code) > 16 or any(ch.isspace() for ch in code):
        bad("编码", "编码须为 1–16 个字符且不含空格 / code must be 1-16 characters without spaces")
    if not name or len(name) > 100:
        bad("名称", "名称须为 1–100 个字符 / name must be 1-100 characters")
    kind = KIND_LABELS.get(cells["类型"]) or (cells["类型"] if cells["类型"] in CategoryKind.values else None)
    if kind is None:
        bad("类型", f"类型须为部件、事项或事件：「{cells['类型']}」 / kind must be 部件, 事项 or 事件: {cells['类型']}")
    unit = UNIT_LABELS.get(cells["时限单位"]) or UNIT_SYNONYMS.get(cells["时限单位"]) or cells["时限单位"]
    if unit not in LimitMode.values:
        bad("时限单位", f"时限单位须为工作时、工作日或自然时：「{cells['时限单位']}」 / "
                            f"unknown time-limit unit: {cells['时限单位']}")
    amount = None
    try:
        amount, _ = check_limit(cells["处置时限"], LimitMode.WORKING_DAYS)
    except ValidationFailed as exc:
        bad("处置时限", exc.message)
    department = None
    if cells["默认处置部门"]:
        stored = _stored_department(taxonomy, kind, code)
        if stored is not None and cells["默认处置部门"] in (stored.name, org_label(stored)):
            department = stored  # unchanged: kept even if no longer selectable (as the edit form keeps it)
        else:
            try:
                department = find_organisation(cells["默认处置部门"])
                if department is None:
                    bad("默认处置部门", f"未知的部门「{cells['默认处置部门']}」 / unknown department: {cells['默认处置部门']}")
                else:
                    check_department(department)
            except ValidationFailed as exc:
                bad("默认处置部门", exc.message)
    flags = {}
    for column, attr in (("开放公众上报", "is_public"), ("启用", "is_active")):
        if cells[column]:
            try:
                flags[attr] = _flag(cells[column])
            except ValueError:
                bad(column, f"须填“是”或“否”：「{cells[column]}」 / must be 是 or 否: {cells[column]}")
    for column, limit in (("立案条件", 2000), ("结案条件", 2000), ("责任主体", 100), ("关键词", 300)):
        if len(cells[column]) > limit:
            bad(column, f"最多 {limit} 个字符 / at most {limit} characters")
    if len(errors) > start:
        return None
    values = {
        "name": name, "acceptance_condition": cells["立案条件"], "closure_condition": cells["结案条件"],
        "time_limit_amount": amount, "time_limit_mode": unit, "responsible_body": cells["责任主体"],
        "default_department": department, "keywords": cells["关键词"], **flags,
    }
    return _Row(number, taxonomy, kind, code, cells["上级编码"], values)


def check_rows(table, errors: list[RowError]) -> list[_Row]:
    """Every row parsed and the file's cross-row rules checked (duplicates, parents, cycles)."""
    known = list(Taxonomy.objects.all())
    taxonomies = {t.name: t for t in known}  # a name people may type instead of the code
    taxonomies.update({t.code: t for t in known})  # codes win
    rows: list[_Row] = []
    seen: dict[tuple, int] = {}
    for count, (number, cells) in enumerate(table.rows, start=1):
        if count > MAX_ROWS:
            errors.append(RowError(number, "", f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows"))
            break
        row = _parse(number, cells, taxonomies, errors)
        if row is None:
            continue
        key = (row.taxonomy.pk, row.kind, row.code)
        if key in seen:
            errors.append(RowError(number, "编码", f"编码 {row.code} 与第 {seen[key]} 行重复 / duplicate code"))
            continue
        seen[key] = number
        rows.append(row)
    stored = {(c.taxonomy_id, c.kind, c.code): c.parent.code if c.parent_id else ""
              for c in Category.objects.filter(taxonomy__in={r.taxonomy for r in rows}).select_related("parent")}
    parent_of = dict(stored)
    parent_of.update({(r.taxonomy.pk, r.kind, r.code): r.parent_code for r in rows})
    for row in rows:
        if not row.parent_code:
            continue
        if (row.taxonomy.pk, row.kind, row.parent_code) not in parent_of:
            errors.append(RowError(row.number, "上级编码", f"上级编码 {row.parent_code} 在该分类体系和类型中不存在 / "
                                                          "unknown parent"))
            continue
        node, steps = row.parent_code, 0
        while node and steps < 50:
            if node == row.code:
                errors.append(RowError(row.number, "上级编码", "上级分类不能是自己或自己的下级 / parent cycle"))
                break
            node, steps = parent_of.get((row.taxonomy.pk, row.kind, node), ""), steps + 1
    return rows


def import_categories(*, actor, data: bytes, filename: str = "") -> ImportReport:
    """Check the whole table; apply it only when every row is right (see the module docstring). Audited."""
    require_manager(actor)
    report = ImportReport()
    try:
        with read_table(data, filename) as table:
            missing = [h for h in HEADERS if h not in table.headers]
            if missing:
                report.errors.append(RowError(1, "、".join(missing), "缺少列 / missing columns"))
            else:
                rows = check_rows(table, report.errors)
                report.rows = len(rows)
    except TableError as exc:
        report.errors.append(RowError(exc.row or None, "", exc.message))
    if report.errors:
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.category", result="refused",
               target_repr=f"事件分类导入：{filename}"[:200], data={"errors": len(report.errors)})
        return report
    _apply(actor, rows, report)
    return report


@transaction.atomic
def _apply(actor, rows: list[_Row], report: ImportReport) -> None:
    existing = {(c.taxonomy_id, c.kind, c.code): c
                for c in Category.objects.select_for_update().filter(taxonomy__in={r.taxonomy for r in rows})}
    now = timezone.now()
    pending = list(rows)
    # Parents first: a row waits until the category its parent code names exists.
    while pending:
        ready = [r for r in pending if not r.parent_code or (r.taxonomy.pk, r.kind, r.parent_code) in existing]
        if not ready:  # cannot happen after check_rows; guard against a loop all the same
            raise ValidationFailed("上级分类关系有误 / parent relations cannot be resolved")
        for row in ready:
            _apply_row(actor, row, existing, now, report)
        pending = [r for r in pending if r not in ready]
    record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.category",
           target_repr=f"事件分类导入：{report.chinese}"[:200],
           data={"rows": report.rows, "created": report.created, "updated": report.updated})


def _apply_row(actor, row: _Row, existing: dict, now, report: ImportReport) -> None:
    parent = existing[(row.taxonomy.pk, row.kind, row.parent_code)] if row.parent_code else None
    key = (row.taxonomy.pk, row.kind, row.code)
    category = existing.get(key)
    if category is None:
        category = Category(taxonomy=row.taxonomy, kind=row.kind, code=row.code, parent=parent, edited_at=now,
                            sort=len(existing) + 1, **row.values)
        clean_category(category)
        category.save()
        existing[key] = category
        record(actor=actor, action=verbs.Data.CREATED, target=category, after=snapshot(category),
               data={"via": "xlsx", "row": row.number})
        publish(TOPIC_CATEGORY_CHANGED, aggregate=category, payload={"change": "created", "via": "xlsx"})
        report.created += 1
        return
    before = snapshot(category)
    stored_department = category.default_department_id
    for name in _SET:
        if name in row.values:
            setattr(category, name, row.values[name])
    category.parent = parent
    clean_category(category, keep_department_id=stored_department)
    after = snapshot(category)
    if after == before:
        report.unchanged += 1
        return
    category.edited_at = now
    category.save()
    record(actor=actor, action=verbs.Data.CHANGED, target=category, before=before, after=snapshot(category),
           data={"via": "xlsx", "row": row.number})
    publish(TOPIC_CATEGORY_CHANGED, aggregate=category, payload={"change": "changed", "via": "xlsx"})
    report.updated += 1

"""Categories as an Excel table with Chinese headers: export one taxonomy (or all), and import the same layout
back all-or-nothing.

An import checks every row first (unknown taxonomy or parent, bad time limit or unit, unknown department,
duplicate code, a code Excel stripped of its leading zeros, …) and the tree as the file leaves it (no category
its own ancestor, two levels: classes and subclasses), and reports each problem with its Excel row number; if
there is any, nothing is applied, and the refusal is audited. Otherwise rows whose category exists are updated
(each change audited with before/after, so the category's history shows it, and marked as an administrator's
edit) and the others are created, parents first. Rows absent from the file are left as they are: removing a
category is done by setting 启用 to 否. The checks cost a fixed number of queries, whatever the file's size.

In a workbook of several sheets the import reads the export's own sheet (「事件分类」), else the first sheet
whose first rows hold the header, else the first; a title row above the header is skipped, and the report
names the sheet read.

The routing and 包保 rules are exported too (`export_rules`, for those who manage them), but not imported: a
rule is changed on its page, where the change is checked against the rules that share its place.
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
from civicgrid.foundation.regions.models import Region

from .models import Category, CategoryKind, LimitMode, RoutingRule, Taxonomy
from .permissions import MANAGE, VIEW
from .selectors import org_label, organisations_by_name
from .services import (
    TOPIC_CATEGORY_CHANGED,
    check_department,
    check_limit,
    class_off_warning,
    clean_category,
    code_problem,
    name_en_problem,
    normalise_code,
    note_feed_change,
    require_manager,
    two_levels_problem,
)

# 英文名称 last, so that the columns of files (and scripts) from before it keep their places.
HEADERS = ("分类体系", "编码", "名称", "上级编码", "类型", "立案条件", "处置时限", "时限单位", "结案条件",
           "责任主体", "默认处置部门", "关键词", "开放公众上报", "公开到开放接口", "启用", "英文名称")
# Columns a file may leave out (files exported before they existed): absent, the field is left as it is (a new
# category: 公开到开放接口 as 开放公众上报, no English name). 公开到开放接口 left empty is left as it is too; 英文名称
# left empty clears the English name, as an empty text column clears its field.
OPTIONAL = ("公开到开放接口", "英文名称")
MAX_ROWS = 5000
SHEET_TITLE = "事件分类"  # the export's worksheet, which an import reads when the workbook has it
KIND_LABELS = {str(label): value for value, label in CategoryKind.choices}
UNIT_LABELS = {str(label): value for value, label in LimitMode.choices}
# 工作时: the working-hours label before it became 工作小时 (the SLA's word), in files exported then.
UNIT_SYNONYMS = {"工作时": LimitMode.WORKING_HOURS, "自然小时": LimitMode.NATURAL_HOURS}
# Units that could mean working or natural time (DOMAIN §2 gives limits in both): refused, never guessed.
AMBIGUOUS_UNITS = {"小时", "时", "钟头", "天", "日", "h", "hr", "hrs", "hour", "hours", "d", "day", "days"}
TRUE, FALSE = {"是", "TRUE", "1", "Y", "YES", "√"}, {"否", "FALSE", "0", "N", "NO", "×"}
# Columns an import sets on a category (the taxonomy, kind and code identify it).
_SET = ("name", "name_en", "acceptance_condition", "closure_condition", "time_limit_amount", "time_limit_mode",
        "responsible_body", "default_department", "keywords", "is_public", "in_public_feed", "is_active")


def _org_name(org) -> str:
    """A department in a file people keep: its full name (the import matches the full or the short one)."""
    return org.name if org is not None else ""


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def export_rows(categories) -> list[list]:
    """Table rows for categories (with taxonomy, parent and default_department selected)."""
    return [
        [
            c.taxonomy.code, c.code, c.name, c.parent.code if c.parent_id else "", c.get_kind_display(),
            c.acceptance_condition, _number(c.time_limit_amount), c.get_time_limit_mode_display(),
            c.closure_condition, c.responsible_body, _org_name(c.default_department), c.keywords,
            "是" if c.is_public else "否", "是" if c.in_public_feed else "否", "是" if c.is_active else "否",
            c.name_en,
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
    # Codes as text cells, so that Excel keeps their leading zeros (01100, not 1100) when the file is edited.
    body = write_xlsx(HEADERS, rows, sheet_title=SHEET_TITLE, text_columns=("编码", "上级编码"))
    name = taxonomy.code if taxonomy else "all"
    # Under one object type whichever taxonomies it holds, so that the audit trail's filter finds every export.
    record(actor=actor, action=verbs.Data.EXPORTED, target_type="categories.category",
           target_repr=f"事件分类导出（{taxonomy.name if taxonomy else '全部分类体系'}）{len(rows)} 行"[:200],
           data={"taxonomy": name, "rows": len(rows)})
    return body, f"categories-{name}-{timezone.localdate():%Y%m%d}.xlsx"


RULE_HEADERS = ("编号", "规则类型", "分类体系", "分类编码", "分类名称", "区域代码", "区域名称", "处置部门", "优先级", "启用",
                "说明")
RULE_SHEET_TITLE = "分拨规则"


@official_language
def export_rules(*, actor) -> tuple[bytes, str]:
    """The routing and 包保 rules as xlsx bytes and a file name, for those who manage them (audited). Export only:
    rules are changed on their pages, where each change is checked against its rivals."""
    if actor is not None and not has_capability(actor, MANAGE):
        raise PermissionDenied("无权导出分拨规则 / you may not export the routing rules")
    rules = list(RoutingRule.objects.select_related("category__taxonomy", "department").order_by("region_code", "id"))
    regions = dict(Region.objects.filter(code__in={r.region_code for r in rules}).values_list("code", "name"))
    rows = [[r.pk, r.get_kind_display(), r.category.taxonomy.code if r.category_id else "",
             r.category.code if r.category_id else "", r.category.name if r.category_id else "任意分类",
             r.region_code, regions.get(r.region_code, ""), _org_name(r.department), r.priority,
             "是" if r.is_active else "否", r.note] for r in rules]
    # Codes as text cells, so that Excel keeps their leading zeros.
    body = write_xlsx(RULE_HEADERS, rows, sheet_title=RULE_SHEET_TITLE, text_columns=("分类编码", "区域代码"))
    record(actor=actor, action=verbs.Data.EXPORTED, target_type=RoutingRule._meta.label_lower,
           target_repr=f"分拨规则导出 {len(rows)} 行", data={"rows": len(rows)})
    return body, f"routing-rules-{timezone.localdate():%Y%m%d}.xlsx"


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
    # What an applied import did beyond its rows (a class switched off takes its subclasses out of use), bilingual
    warnings: list[str] = field(default_factory=list)
    sheet: str = ""  # the worksheet read (xlsx), which the row numbers refer to

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
    department_name: str = ""  # 默认处置部门 as written; `_check_departments` puts the department in `values`

    @property
    def key(self) -> tuple:
        return self.taxonomy.pk, self.kind, self.code

    @property
    def parent_key(self) -> tuple | None:
        return (self.taxonomy.pk, self.kind, self.parent_code) if self.parent_code else None


def _flag(text: str) -> bool | None:
    value = text.strip().upper()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError


def _parse(number: int, cells: dict[str, str], taxonomies: dict[str, Taxonomy], errors: list[RowError]) -> _Row | None:
    """One row checked on its own; problems go to `errors`."""
    start = len(errors)

    def bad(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    taxonomy = taxonomies.get(cells["分类体系"])
    if taxonomy is None:
        bad("分类体系", f"未知的分类体系「{cells['分类体系']}」 / unknown taxonomy: {cells['分类体系']}")
    code, name = normalise_code(cells["编码"]), cells["名称"]
    if not code or len(code) > 16 or any(ch.isspace() for ch in code):
        bad("编码", "编码须为 1–16 个字符且不含空格 / code must be 1-16 characters without spaces")
    if not name or len(name) > 100:
        bad("名称", "名称须为 1–100 个字符 / name must be 1-100 characters")
    english = {}
    if "英文名称" in cells:  # an older file without the column leaves the English name as it is
        english["name_en"] = (cells["英文名称"] or "").strip()
        problem = name_en_problem(english["name_en"])
        if problem:
            bad("英文名称", problem)
    kind = _kind_of(cells["类型"])
    if kind is None:
        bad("类型", f"类型须为部件、事项或事件：「{cells['类型']}」 / kind must be 部件, 事项 or 事件: {cells['类型']}")
    unit = UNIT_LABELS.get(cells["时限单位"]) or UNIT_SYNONYMS.get(cells["时限单位"]) or cells["时限单位"]
    if unit.lower() in AMBIGUOUS_UNITS:
        bad("时限单位", f"时限单位「{unit}」不明确：不能确定是工作时间还是自然时间，请填写工作小时、工作日或自然时 / "
                            f"ambiguous time-limit unit {unit}: working or calendar time? Write 工作小时 (working hours), "
                            "工作日 (working days) or 自然时 (calendar hours)")
    elif unit not in LimitMode.values:
        bad("时限单位", f"时限单位须为工作小时、工作日或自然时：「{cells['时限单位']}」 / "
                            f"unknown time-limit unit: {cells['时限单位']}")
    amount = None
    try:  # the unit's range (an unknown unit, refused above, is judged by the widest)
        amount, _ = check_limit(cells["处置时限"], unit if unit in LimitMode.values else LimitMode.NATURAL_HOURS)
    except ValidationFailed as exc:
        bad("处置时限", exc.message)
    flags = {}
    for column, attr in (("开放公众上报", "is_public"), ("公开到开放接口", "in_public_feed"), ("启用", "is_active")):
        text = cells.get(column) or ""
        if text:
            try:
                flags[attr] = _flag(text)
            except ValueError:
                bad(column, f"须填“是”或“否”：「{text}」 / must be 是 or 否: {text}")
    for column, limit in (("立案条件", 2000), ("结案条件", 2000), ("责任主体", 100), ("关键词", 300)):
        if len(cells[column]) > limit:
            bad(column, f"最多 {limit} 个字符 / at most {limit} characters")
    if len(errors) > start:
        return None
    values = {
        "name": name, "acceptance_condition": cells["立案条件"], "closure_condition": cells["结案条件"],
        "time_limit_amount": amount, "time_limit_mode": unit, "responsible_body": cells["责任主体"],
        "default_department": None, "keywords": cells["关键词"], **flags, **english,
    }
    return _Row(number, taxonomy, kind, code, normalise_code(cells["上级编码"]), values, cells["默认处置部门"])


def check_rows(table, errors: list[RowError]) -> list[_Row]:
    """Every row parsed and the file's cross-row rules checked (duplicates, departments, codes Excel mangled,
    parents, cycles, two levels). A fixed number of queries, whatever the number of rows."""
    known = list(Taxonomy.objects.all())
    taxonomies = {t.name: t for t in known}  # a name people may type instead of the code
    taxonomies.update({t.code: t for t in known})  # codes win
    rows: list[_Row] = []
    seen: dict[tuple, int] = {}
    formulas: dict | None = None  # read once, when a row has an empty cell
    for count, (number, cells) in enumerate(table.rows, start=1):
        if count > MAX_ROWS:
            errors.append(RowError(number, "", f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows"))
            break
        blank = []
        if table.format == "xlsx" and not all(cells.values()):
            formulas = table.formula_cells() if formulas is None else formulas
            blank = [(h, formulas[(number, h)]) for h, v in cells.items() if not v and (number, h) in formulas]
        found: list[RowError] = []
        row = _parse(number, cells, taxonomies, found)
        # A formula without its stored result reads as empty: say so, not that the cell is empty or wrong.
        errors.extend(RowError(number, column, _formula_message(number, column, letter)) for column, letter in blank)
        errors.extend(e for e in found if e.column not in {column for column, _ in blank})
        # A repeated code is said at once, on a row with other problems too (and a bad row holds its code all the
        # same), so that one upload lists everything in the way.
        key = _key_of(cells, taxonomies)
        if key is not None and key in seen:
            errors.append(RowError(number, "编码", f"编码 {key[2]} 与第 {seen[key]} 行重复 / code {key[2]} "
                                   f"repeats row {seen[key]}"))
            continue
        if key is not None:
            seen[key] = number
        if blank or row is None:
            continue
        rows.append(row)
    stored = {(c.taxonomy_id, c.kind, c.code): c for c in Category.objects.filter(
        taxonomy__in={r.taxonomy for r in rows}).select_related("parent", "default_department")}
    rows = _check_new_codes(rows, stored, errors)
    _check_departments(rows, stored, errors)
    mangled = _check_codes(rows, stored, errors)
    _check_tree([r for r in rows if r.number not in mangled], rows, stored, errors)
    return rows


def _key_of(cells: dict[str, str], taxonomies: dict[str, Taxonomy]) -> tuple | None:
    """The key a row names (as `_Row.key`), read from its cells whatever else is wrong in it; None when its
    taxonomy, kind or code cannot be read."""
    taxonomy, code, kind = taxonomies.get(cells["分类体系"]), normalise_code(cells["编码"]), _kind_of(cells["类型"])
    return (taxonomy.pk, kind, code) if taxonomy is not None and kind is not None and code else None


def _kind_of(text: str) -> str | None:
    """The kind a 类型 cell names, by its label (部件, 事项, 事件) or its code; None for anything else."""
    return KIND_LABELS.get(text) or (text if text in CategoryKind.values else None)


def _formula_message(number: int, column: str, letter: str) -> str:
    return (f"第 {number} 行「{column}」列（{letter}{number} 单元格）是公式，但文件中没有保存公式的计算结果：请用 Excel 或"
            f" WPS 打开后保存（保存计算结果），或将该列复制后「选择性粘贴 → 数值」，再重新上传 / row {number}, column "
            f"{column} (cell {letter}{number}) holds a formula without a stored value: open and save the file in "
            "Excel or WPS, or paste the column as values, then upload again")


def _check_new_codes(rows: list[_Row], stored: dict, errors: list[RowError]) -> list[_Row]:
    """The rows that create a category with a code of the format (`services.CODE_FORMAT`) or update a stored
    one (whose code, set before the format was checked, is kept); the others refused."""
    kept = []
    for row in rows:
        problem = None if row.key in stored else code_problem(row.code)
        if problem:
            errors.append(RowError(row.number, "编码", problem))
        else:
            kept.append(row)
    return kept


def _check_departments(rows: list[_Row], stored: dict, errors: list[RowError]) -> None:
    """Each row's 默认处置部门 found by name (one query for the file): the category's own department, kept as
    it is even when no longer selectable (as the edit form keeps it), or an active one that handles cases."""
    ambiguous: dict[str, ValidationFailed] = {}
    named = organisations_by_name([r.department_name for r in rows], ambiguous=ambiguous)
    for row in rows:
        name = row.department_name
        if not name:
            continue
        category = stored.get(row.key)
        current = category.default_department if category is not None else None
        if current is not None and name in (current.name, org_label(current)):
            row.values["default_department"] = current
            continue
        try:
            if name in ambiguous:
                raise ambiguous[name]
            department = named.get(name)
            if department is None:
                raise ValidationFailed(f"未知的部门「{name}」 / unknown department: {name}")
            row.values["default_department"] = check_department(department)
        except ValidationFailed as exc:
            errors.append(RowError(row.number, "默认处置部门", exc.message))


def _number_like(code: str) -> bool:
    """Digits without a leading zero: what Excel leaves of a code it took for a number."""
    return code.isascii() and code.isdigit() and not code.startswith("0")


def _padded(code: str, known: set[str]) -> str:
    """The code `code` was before Excel read it as a number and dropped its leading zeros, when one of its
    zero-padded forms is a code in `known`; "" otherwise."""
    for width in range(len(code) + 1, 17):
        if code.zfill(width) in known:
            return code.zfill(width)
    return ""


def _check_codes(rows: list[_Row], stored: dict, errors: list[RowError]) -> set[int]:
    """Codes that look like Excel turned them into numbers (01100 typed in a General cell is 1100): digits
    without a leading zero that are not a category's code, when a zero-padded form is one (in the taxonomy and
    kind, stored or in the file), or when every code of the row's level is longer and some start with 0. The
    row numbers refused, so that the tree checks do not report the same cell again."""
    codes: dict[tuple, set[str]] = {}
    levels: dict[tuple, set[str]] = {}  # (taxonomy, kind, is a subclass) → the codes stored at that level
    for (taxonomy_id, kind, code), category in stored.items():
        codes.setdefault((taxonomy_id, kind), set()).add(code)
        levels.setdefault((taxonomy_id, kind, category.parent_id is not None), set()).add(code)
    for row in rows:
        codes.setdefault((row.taxonomy.pk, row.kind), set()).add(row.code)
    refused: set[int] = set()
    for row in rows:
        known = codes[(row.taxonomy.pk, row.kind)]
        if _number_like(row.code) and row.key not in stored:
            intended = _padded(row.code, known)
            level = levels.get((row.taxonomy.pk, row.kind, bool(row.parent_code)), set())
            widths = {len(c) for c in level}
            if not intended and len(widths) == 1 and all(c.isascii() and c.isdigit() for c in level) \
                    and any(c.startswith("0") for c in level) and len(row.code) < min(widths):
                intended = row.code.zfill(min(widths))
            if intended:
                refused.add(row.number)
                errors.append(RowError(row.number, "编码", _mangled_message("编码", row.code, intended)))
        parent = row.parent_code
        if _number_like(parent) and parent not in known:
            intended = _padded(parent, known)
            if intended:
                refused.add(row.number)
                errors.append(RowError(row.number, "上级编码", _mangled_message("上级编码", parent, intended)))
    return refused


def _mangled_message(column: str, code: str, intended: str) -> str:
    return (f"{column}「{code}」疑似被 Excel 当作数字而去掉了开头的 0，应为「{intended}」：请将该列设为文本格式后"
            f"重新填写 / {code} looks like a number Excel stripped of its leading zeros: did you mean {intended}? "
            "Format the column as text and enter the code again")


def _check_tree(checked: list[_Row], rows: list[_Row], stored: dict, errors: list[RowError]) -> None:
    """The categories as they will be after the import: every parent exists, no category is its own ancestor,
    and only two levels (classes hold subclasses). A row refused for depth is one the file moves (new, or given
    another parent): categories already nested deeper are left for the administrator to move."""
    parent_of = {key: c.parent.code if c.parent_id else "" for key, c in stored.items()}
    moved = {r.key for r in rows if r.key not in parent_of or parent_of[r.key] != r.parent_code}
    parent_of.update({r.key: r.parent_code for r in rows})
    children: dict[tuple, list[str]] = {}
    for (taxonomy_id, kind, code), parent in parent_of.items():
        if parent:
            children.setdefault((taxonomy_id, kind, parent), []).append(code)
    broken: set[tuple] = set()  # rows whose parent is unknown or their own descendant
    for row in checked:
        if not row.parent_code:
            continue
        if row.parent_key not in parent_of:
            broken.add(row.key)
            errors.append(RowError(row.number, "上级编码", f"上级编码 {row.parent_code} 在该分类体系和类型中不存在 / "
                                                          f"parent code {row.parent_code} does not exist in this "
                                                          "taxonomy and kind"))
            continue
        node, steps = row.parent_code, 0
        while node and steps < 50:
            if node == row.code:
                broken.add(row.key)
                errors.append(RowError(row.number, "上级编码", "上级分类不能是自己或自己的下级 / the parent cannot be the "
                                       "category itself or one below it"))
                break
            node, steps = parent_of.get((row.taxonomy.pk, row.kind, node), ""), steps + 1
    for row in checked:
        # Depth only where the tree is otherwise sound, so that one wrong parent is not reported on every row.
        if not row.parent_code or row.key not in moved or row.key in broken or row.parent_key in broken:
            continue
        problem = two_levels_problem(row.code, row.parent_code, parent_of[row.parent_key], children.get(row.key, ()))
        if problem:
            errors.append(RowError(row.number, "上级编码", problem))


def import_categories(*, actor, data: bytes, filename: str = "") -> ImportReport:
    """Check the whole table; apply it only when every row is right (see the module docstring). Audited, and
    so is a refused import."""
    require_manager(actor)
    report = ImportReport()
    try:
        with read_table(data, filename, prefer_sheet=SHEET_TITLE, expect_headers=HEADERS) as table:
            report.sheet = table.sheet_name or ""
            missing = [h for h in HEADERS if h not in table.headers and h not in OPTIONAL]
            if missing:
                report.errors.append(RowError(table.header_row, "、".join(missing), _missing_message(table)))
            else:
                rows = check_rows(table, report.errors)
                report.rows = len(rows)
                if not rows and not report.errors:
                    report.errors.append(RowError(None, "", _NO_ROWS))
    except TableError as exc:
        report.errors.append(RowError(exc.row or None, "", exc.message))
    if not report.errors:
        try:
            _apply(actor, rows, report, _file_name(filename))
        except _RowRefused as exc:  # rolled back: what the checks above did not foresee, said of its row
            report.created = report.updated = report.unchanged = 0
            report.errors.append(exc.error)
    if report.errors:
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.category", result="refused",
               target_repr=f"事件分类导入：{filename}"[:200], data={"errors": len(report.errors)})
    return report


_NO_ROWS = ("表格中只有表头，没有任何分类行：未导入任何数据。请在表头下逐行填写分类（可先导出现有分类再修改） / "
            "the table has a header but no category rows; nothing was imported. Fill in one category per row "
            "below the header (export the current categories to start from them)")


def _file_name(filename: str) -> str:
    """The uploaded file's own name (no folders a browser may send), as the history shows it."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "").strip()
    return name[:100]


def _missing_message(table) -> str:
    """Missing columns, naming what was read: the worksheet (and the others the workbook has) and the row taken
    for the header."""
    if table.sheet_name is None:
        return (f"缺少列（第 {table.header_row} 行作为表头） / missing columns (row {table.header_row} read as the "
                "header)")
    others = [name for name in table.sheet_names if name != table.sheet_name]
    zh = f"工作表「{table.sheet_name}」缺少列（第 {table.header_row} 行作为表头）"
    en = f"missing columns in worksheet {table.sheet_name} (row {table.header_row} read as the header)"
    if others:
        zh += f"；工作簿中的其他工作表：{'、'.join(others)}。请把分类表放在名为「{SHEET_TITLE}」的工作表中"
        en += f"; other worksheets: {', '.join(others)}. Put the categories in a worksheet named {SHEET_TITLE}"
    return f"{zh} / {en}"


class _RowRefused(Exception):
    """A row the service refused while the import was being applied; the whole import is rolled back."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.message)
        self.error = error


# The column of the table that holds each field `clean_category` may refuse.
_COLUMNS = {"code": "编码", "name": "名称", "name_en": "英文名称", "kind": "类型", "parent": "上级编码", "acceptance_condition": "立案条件",
            "closure_condition": "结案条件", "responsible_body": "责任主体", "keywords": "关键词",
            "time_limit_amount": "处置时限", "time_limit_mode": "时限单位", "default_department": "默认处置部门"}


@transaction.atomic
def _apply(actor, rows: list[_Row], report: ImportReport, file_name: str = "") -> None:
    existing = {(c.taxonomy_id, c.kind, c.code): c
                for c in Category.objects.select_for_update().filter(taxonomy__in={r.taxonomy for r in rows})}
    before = {r.key: snapshot(existing[r.key]) for r in rows if r.key in existing}
    # The tree in memory as the file leaves it (where the new parent exists already), so that each row's parent
    # is checked against the categories as they will be, not as they were: a class and its subclass may swap.
    by_pk = {c.pk: c for c in existing.values()}
    for category in existing.values():
        if category.parent_id in by_pk:
            category.parent = by_pk[category.parent_id]
    for row in rows:
        if row.key in existing and (not row.parent_code or row.parent_key in existing):
            existing[row.key].parent = existing[row.parent_key] if row.parent_code else None
    now = timezone.now()
    pending = list(rows)
    # Parents first: a row waits until the category its parent code names exists.
    while pending:
        ready = [r for r in pending if not r.parent_code or r.parent_key in existing]
        if not ready:  # cannot happen after check_rows; guard against a loop all the same
            raise _RowRefused(RowError(pending[0].number, "上级编码",
                                       "上级分类关系有误 / parent relations cannot be resolved"))
        for row in ready:
            try:
                _apply_row(actor, row, existing, before.get(row.key), now, report, file_name)
            except ValidationFailed as exc:
                raise _RowRefused(RowError(row.number, _COLUMNS.get(exc.field or "", ""), exc.message)) from exc
        pending = [r for r in pending if r not in ready]
    for row in rows:  # after every row, so that a subclass the same file switches off is not named
        was_active = (before.get(row.key) or {}).get("is_active", True)
        warning = class_off_warning(existing[row.key]) if was_active else None
        if warning:
            report.warnings.append(warning)
    record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.category",
           target_repr=f"事件分类导入：{report.chinese}"[:200],
           data={"rows": report.rows, "created": report.created, "updated": report.updated,
                 **({"file": file_name} if file_name else {})})


def _apply_row(actor, row: _Row, existing: dict, before: dict | None, now, report: ImportReport,
               file_name: str = "") -> None:
    """One row: its category created, or updated from `before` (its snapshot as stored). Its audit entry names
    the file and row, so that the category's history shows the change as this import's."""
    via = {"via": "xlsx", "row": row.number, **({"file": file_name} if file_name else {})}
    parent = existing[row.parent_key] if row.parent_code else None
    category = existing.get(row.key)
    if category is None:
        values = {"in_public_feed": row.values.get("is_public", False), **row.values}
        category = Category(taxonomy=row.taxonomy, kind=row.kind, code=row.code, parent=parent, edited_at=now,
                            sort=len(existing) + 1, **values)
        clean_category(category)
        category.save()
        existing[row.key] = category
        record(actor=actor, action=verbs.Data.CREATED, target=category, after=snapshot(category), data=via)
        publish(TOPIC_CATEGORY_CHANGED, aggregate=category, payload={"change": "created", "via": "xlsx"})
        report.created += 1
        return
    stored_department = before["default_department"]
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
    note_feed_change(category, was_published=before["is_public"] and before["in_public_feed"], now=now)
    category.save()
    record(actor=actor, action=verbs.Data.CHANGED, target=category, before=before, after=snapshot(category),
           data=via)
    publish(TOPIC_CATEGORY_CHANGED, aggregate=category, payload={"change": "changed", "via": "xlsx"})
    report.updated += 1

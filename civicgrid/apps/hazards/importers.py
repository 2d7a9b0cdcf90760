"""Importing a ledger of hazard points (CSV or XLSX) all-or-nothing, with a row-by-row error report.

    result = import_hazards(actor=user, data=open("汛前隐患.xlsx", "rb").read(), default_kind="flood")
    result.ok, result.created, result.errors   # errors: [{"row": 5, "column": "经度", "message": "…"}]

Every row is checked first (the same validation `register_hazard` applies, the point located to a grid, the
actor's scope there); when any row is broken nothing is applied and every broken row is listed. Otherwise every
row is registered through `register_hazard` inside one transaction, so a failure on the way undoes them all.
Headers are Chinese or English (隐患名称/name, 经度/lng …); kinds, categories, grades and ways of finding take
the Chinese label or the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction

from civicgrid.foundation.access.scope import get_visible_or_404, has_capability
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.core.errors import CivicgridError, PermissionDenied, ValidationFailed
from civicgrid.foundation.imports.readers import TableError, read_table
from civicgrid.foundation.regions.selectors import locate

from .models import CATEGORIES_BY_KIND, Campaign, FoundBy, Grade, Kind
from .services.register import _may_register_at, patron_for, register_hazard, validate_registration

MAX_ROWS = 5000

# field → accepted headers (lower-cased); the first is the one the error report names.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("隐患名称", "名称", "name"),
    "kind": ("隐患类型", "类型", "kind"),
    "category": ("隐患类别", "类别", "category"),
    "grade": ("隐患等级", "等级", "grade"),
    "lng": ("经度", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "address": ("地址", "隐患地点", "address"),
    "description": ("问题描述", "隐患描述", "description"),
    "owner_unit": ("责任单位", "owner_unit"),
    "owner_person": ("责任人", "owner_person"),
    "owner_phone": ("联系电话", "责任人电话", "owner_phone"),
    "threatened_people": ("威胁人数", "threatened_people"),
    "threatened_households": ("威胁户数", "threatened_households"),
    "found_on": ("发现日期", "排查日期", "found_on"),
    "found_by": ("发现方式", "found_by"),
    "inspector": ("排查人", "inspector"),
    "sub_grade": ("细分等级", "sub_grade"),
}
REQUIRED = ("name", "category", "lng", "lat")
KIND_WORDS = {"flood": Kind.FLOOD, "防汛": Kind.FLOOD, "防汛隐患": Kind.FLOOD, "汛期": Kind.FLOOD,
              "safety": Kind.SAFETY, "安全": Kind.SAFETY, "安全隐患": Kind.SAFETY, "安全生产": Kind.SAFETY}
GRADE_WORDS = {"general": Grade.GENERAL, "一般": Grade.GENERAL, "一般隐患": Grade.GENERAL,
               "major": Grade.MAJOR, "重大": Grade.MAJOR, "重大隐患": Grade.MAJOR}
FOUND_BY_WORDS = {**{v: v for v in FoundBy.values}, **{str(c.label): c.value for c in FoundBy}}
# where a service error's field shows in the table
FIELD_COLUMN = {**{f: names[0] for f, names in COLUMNS.items()}, "crs": "经度"}


@dataclass
class ImportResult:
    ok: bool
    created: int = 0
    codes: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"row", "column", "message"}

    def as_dict(self) -> dict:
        return {"ok": self.ok, "created": self.created, "codes": self.codes, "errors": self.errors}


def _category(kind: str, text: str) -> str | None:
    allowed = CATEGORIES_BY_KIND[Kind(kind)]
    if text in allowed:
        return text
    by_label = {label: key for key, label in allowed.items()}
    if text in by_label:
        return by_label[text]
    # "涵洞" for "涵洞/地下通道", "排水不畅" for "排水不畅/下水道年久失修"
    for label, key in by_label.items():
        if text and text in label.split("/"):
            return key
    return None


def _parse_date(text: str) -> str:
    """2023-05-20, 2023/5/20, 2023.5.20, 2023年5月20日 → ISO; anything else is left for the validator."""
    cleaned = text.replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
    cleaned = cleaned.split(" ")[0].strip("-")
    try:
        y, m, d = (int(p) for p in cleaned.split("-"))
        return dt.date(y, m, d).isoformat()
    except (ValueError, TypeError):
        return text


def _columns(headers: list[str]) -> tuple[dict[str, str], list[dict]]:
    """field → the table's header for it; errors for required columns that are missing."""
    lowered = {h.strip().lower(): h for h in headers}
    found = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias.lower() in lowered:
                found[name] = lowered[alias.lower()]
                break
    errors = [{"row": 1, "column": COLUMNS[f][0], "message": f"缺少必填列「{COLUMNS[f][0]}」 / missing column {f}"}
              for f in REQUIRED if f not in found]
    return found, errors


def _row_fields(values: dict[str, str], columns: dict[str, str], default_kind: str | None) -> tuple[dict, list]:
    """The registration fields of one row, or (…, [(field, message)]) for what is wrong with it."""
    problems: list[tuple[str, str]] = []
    get = {f: (values.get(h) or "").strip() for f, h in columns.items()}
    kind_text = get.get("kind", "")
    kind = KIND_WORDS.get(kind_text.lower() if kind_text.isascii() else kind_text) if kind_text else default_kind
    if kind is None:
        problems.append(("kind", "隐患类型须为 防汛 或 安全（flood/safety） / kind must be flood or safety"
                         if kind_text else "请填写隐患类型（或用 --kind 指定） / kind is required"))
    fields: dict = {f: v for f, v in get.items() if f not in ("kind", "category", "grade", "found_by", "found_on")}
    fields["kind"] = kind
    if kind:
        category = _category(kind, get.get("category", ""))
        if category is None:
            labels = "、".join(CATEGORIES_BY_KIND[Kind(kind)].values())
            problems.append(("category", f"隐患类别「{get.get('category', '')[:20]}」无效，可选：{labels} / "
                                         "unknown category"))
        fields["category"] = category
    grade_text = get.get("grade", "")
    if grade_text:
        grade = GRADE_WORDS.get(grade_text.lower() if grade_text.isascii() else grade_text)
        if grade is None:
            problems.append(("grade", "隐患等级须为 一般 或 重大 / grade must be 一般 or 重大"))
        fields["grade"] = grade
    found_by_text = get.get("found_by", "")
    if found_by_text:
        found_by = FOUND_BY_WORDS.get(found_by_text)
        if found_by is None:
            problems.append(("found_by", f"发现方式无效，可选：{'、'.join(str(c.label) for c in FoundBy)} / "
                                         "unknown found_by"))
        fields["found_by"] = found_by
    if get.get("found_on"):
        fields["found_on"] = _parse_date(get["found_on"])
    if not fields.get("description"):
        fields["description"] = fields.get("name") or "-"  # a row without a name is refused for the name
    return fields, problems


# what a refused field is replaced with to go on checking the rest of the row (all of a row's problems listed)
_NEUTRAL = {"name": "-", "description": "-", "owner_phone": "", "address": "", "owner_unit": "", "owner_person": "",
            "inspector": "", "sub_grade": "", "threatened_people": 0, "threatened_households": 0, "found_on": None,
            "found_by": None, "grade": None, "lat": 0.0, "lng": 0.0}


def check_row(actor, fields: dict) -> list[tuple[str, str]]:
    """What `register_hazard` would refuse about this row (validation, location, scope), without writing."""
    problems: list[tuple[str, str]] = []
    fields = dict(fields)
    for _ in range(len(_NEUTRAL) + 1):
        try:
            data = validate_registration(fields)
            break
        except ValidationFailed as exc:
            problems.append((exc.field or "", exc.message))
            if exc.field not in _NEUTRAL or fields.get(exc.field) == _NEUTRAL[exc.field]:
                return problems
            fields[exc.field] = _NEUTRAL[exc.field]
    if any(name in ("lat", "lng") for name, _ in problems):
        return problems
    try:
        where = locate(data["lng"], data["lat"], data["crs"])
        if where.grid is None:
            return [*problems, ("lat", "该位置未划分网格 / no grid at this point")]
        patron = patron_for(where.street.code, data["kind"])
        if not _may_register_at(actor, where.grid.code, None, patron):
            return [*problems, ("lat", "该位置不在您登记隐患的权限范围内 / outside the scope of your role")]
    except CivicgridError as exc:
        return [*problems, (exc.field or "lat", exc.message)]
    return problems


def import_hazards(*, actor, data: bytes, filename: str = "", default_kind: str | None = None,
                   campaign=None, is_synthetic: bool = False) -> ImportResult:
    """Check every row, then register all of them in one transaction, or none (see the module's docstring)."""
    if actor is not None and not has_capability(actor, "hazards.import"):
        raise PermissionDenied("您无权导入隐患台账 / you may not import hazard ledgers")
    if default_kind not in (None, "", *Kind.values):
        raise ValidationFailed("--kind 须为 flood 或 safety / kind must be flood or safety", field="kind")
    if campaign is not None and not isinstance(campaign, Campaign):
        if actor is None:
            campaign = Campaign.objects.filter(pk=campaign).first()
        else:
            try:
                campaign = get_visible_or_404(Campaign, actor, pk=int(campaign))
            except (CivicgridError, TypeError, ValueError):
                campaign = None
        if campaign is None:
            raise ValidationFailed("排查行动不存在 / unknown campaign", field="campaign")
    try:
        table = read_table(data, filename)
    except TableError as exc:
        return ImportResult(ok=False, errors=[{"row": exc.row or 0, "column": "", "message": exc.message}])
    with table:
        columns, errors = _columns(table.headers)
        if errors:
            return ImportResult(ok=False, errors=errors)
        rows: list[tuple[int, dict]] = []
        try:
            for number, values in table.rows:
                if len(rows) >= MAX_ROWS:
                    return ImportResult(ok=False, errors=[{"row": number, "column": "", "message":
                                        f"一次最多导入 {MAX_ROWS} 行，请分批导入 / at most {MAX_ROWS} rows"}])
                fields, problems = _row_fields(values, columns, default_kind or None)
                if not problems:
                    problems = check_row(actor, fields)
                for name, message in problems:
                    errors.append({"row": number, "column": FIELD_COLUMN.get(name, name), "message": message})
                rows.append((number, fields))
        except TableError as exc:
            return ImportResult(ok=False, errors=[{"row": exc.row or 0, "column": "", "message": exc.message}])
    if not rows:
        return ImportResult(ok=False, errors=[{"row": 2, "column": "", "message": "表格没有数据行 / no data rows"}])
    if errors:
        return ImportResult(ok=False, errors=errors)
    codes: list[str] = []
    try:
        with transaction.atomic():
            for number, fields in rows:
                try:
                    hazard = register_hazard(actor=actor, campaign=campaign, is_synthetic=is_synthetic, **fields)
                except CivicgridError as exc:
                    errors.append({"row": number, "column": FIELD_COLUMN.get(exc.field or "", exc.field or ""),
                                   "message": exc.message})
                    raise
                codes.append(hazard.code)
            audit.record(actor=actor if getattr(actor, "is_authenticated", False) else "system",
                         action=verbs.Data.IMPORTED, target_type="hazards.hazard",
                         data={"file": filename[:100], "rows": len(codes), "kind": default_kind or "",
                               "first": codes[0], "last": codes[-1]})
    except CivicgridError:
        return ImportResult(ok=False, errors=errors)
    return ImportResult(ok=True, created=len(codes), codes=codes)

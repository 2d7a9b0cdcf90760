"""Import real region boundaries (GeoJSON keyed by region code) in place of demo geometry: all or nothing.

`import_boundaries(...)` reads a FeatureCollection whose features carry the region code in
`properties.code` (or `properties.CODE`, `properties.区划代码`, or the feature `id`), checks the file, the
codes and the geometry (`boundary_check`: closure, self-intersection, overlaps, gaps, containment in the
parent, unknown and duplicate codes), and applies ONLY when nothing is wrong, in one transaction. Every
problem names its region code, the feature's number in the file (row) and the field.

What is checked against what:
* siblings: the imported features and the stored boundaries of their siblings not in the file, so a partial
  import cannot overlap what stays;
* parents: the parent's boundary from the file when it is there, else the stored one;
* new grids: a 15-digit code not yet stored is accepted when its community/village exists (it is created);
  an unknown parent is reported as `unknown_parent`.
Coordinates are rounded to 7 decimals (~1 cm, the stored precision) BEFORE the check, so what was checked is
exactly what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..access.scope import has_capability, scope_for
from ..audit import verbs
from ..audit.service import record
from ..core.errors import PermissionDenied
from . import services
from .boundary_check import check_boundaries
from .geometry import GEOJSON_PRECISION, from_geojson_geometry, is_village_code
from .models import GridKind, Level, Region

ACCEPTED_SUFFIXES = (".geojson", ".json")
# Zip (xlsx, shapefile bundles), PDF, PNG, JPEG, OLE (xls), gzip: recognised by their first bytes.
_BINARY_SIGNATURES = (b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0", b"\x1f\x8b")
CODE_KEYS = ("code", "CODE", "区划代码")
# File-level and row-level kinds, besides boundary_check.KINDS.
FILE_KINDS = ("file_too_large", "wrong_type", "encoding", "invalid_json", "empty")
ROW_KINDS = ("not_a_feature", "missing_code", "bad_code", "wrong_level", "unknown_parent", "out_of_scope")
_GEOMETRY_KINDS = {"malformed", "not_closed", "self_intersection", "overlap", "outside_parent"}
_LEVEL_DIGITS = {Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.VILLAGE: 12, Level.GRID: 15}
_KIND_WORDS = {"综合网格": GridKind.COMPREHENSIVE, "专属网格": GridKind.DEDICATED}


@dataclass(frozen=True)
class ImportProblem:
    """One problem: region code ("" for the file), kind, messages, 1-based feature number and field."""

    code: str
    kind: str
    message_zh: str
    message_en: str
    row: int | None = None
    field: str = ""
    related: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {**asdict(self), "related": list(self.related)}

    def __str__(self) -> str:
        where = f"第 {self.row} 个要素 " if self.row else ""
        return f"[{self.kind}] {self.code or '文件'} {where}{self.field}: {self.message_zh}".replace("  ", " ")


@dataclass
class Report:
    """What an import found and did. `ok` means no problems; `applied` that the database was changed."""

    filename: str
    dry_run: bool = False
    features: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_zh(self) -> str:
        if self.problems:
            return f"{self.filename}：发现 {len(self.problems)} 个问题，未导入任何边界"
        verb = "检查通过（试运行，未写入）" if self.dry_run else "已导入"
        return f"{self.filename}：{self.features} 个边界{verb}；更新 {len(self.updated)} 个，新建网格 {len(self.created)} 个"

    def as_dict(self) -> dict:
        return {"filename": self.filename, "dry_run": self.dry_run, "features": self.features, "ok": self.ok,
                "applied": self.applied, "updated": self.updated, "created": self.created,
                "summary": self.summary_zh(), "problems": [p.as_dict() for p in self.problems]}


class _Stop(Exception):
    """The file cannot be read any further; the report already holds the reason."""


def _round(value: Any) -> Any:
    """Round every float in nested lists to the stored precision, leaving anything else for the check to judge."""
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, float):
        return round(value, GEOJSON_PRECISION)
    return value


def _file_problem(report: Report, kind: str, zh: str, en: str) -> None:
    report.problems.append(ImportProblem("", kind, zh, en))
    raise _Stop


def _read_features(data: bytes, filename: str, report: Report) -> list:
    limit = settings.CIVICGRID_MAX_IMPORT_BYTES
    if len(data) > limit:
        _file_problem(report, "file_too_large", f"文件过大：{len(data):,} 字节，上限 {limit:,} 字节",
                      f"file too large: {len(data):,} bytes, the limit is {limit:,}")
    if not filename.lower().endswith(ACCEPTED_SUFFIXES):
        _file_problem(report, "wrong_type", "文件类型错误：请上传 .geojson 或 .json 文件",
                      "wrong file type: upload a .geojson or .json file")
    if not data.strip():
        _file_problem(report, "empty", "文件为空", "the file is empty")
    if data.startswith(_BINARY_SIGNATURES) or b"\x00" in data[:1024]:
        _file_problem(report, "wrong_type", "文件是二进制文件（如 Excel、ZIP、图片），不是 GeoJSON 文本",
                      "a binary file (Excel, ZIP, image …), not GeoJSON text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _file_problem(report, "encoding", f"文件不是 UTF-8 编码的文本（第 {exc.start} 字节）",
                      f"not UTF-8 text (byte {exc.start})")
    if not text.lstrip().startswith(("{", "[")):
        _file_problem(report, "wrong_type", "文件内容不是 JSON（应以 { 开头的 GeoJSON）", "the content is not JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        _file_problem(report, "invalid_json", f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}",
                      f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except RecursionError:
        _file_problem(report, "invalid_json", "JSON 嵌套过深", "JSON nested too deeply")
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    if not (isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list)):
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        _file_problem(report, "wrong_type", f"顶层应为 GeoJSON FeatureCollection，实际为 {str(kind)[:40]!r}",
                      f"the top level must be a GeoJSON FeatureCollection, not {str(kind)[:40]!r}")
    if not doc["features"]:
        _file_problem(report, "empty", "FeatureCollection 中没有要素", "the FeatureCollection has no features")
    return doc["features"]


def _feature_code(feature: Mapping) -> tuple[str | None, str]:
    props = feature.get("properties")
    props = props if isinstance(props, Mapping) else {}
    for key in CODE_KEYS:
        if props.get(key) not in (None, ""):
            return str(props[key]).strip(), f"properties.{key}"
    if feature.get("id") not in (None, ""):
        return str(feature["id"]).strip(), "id"
    return None, "properties.code"


def _level_of(code: str) -> str:
    if len(code) == 12:
        return Level.VILLAGE if is_village_code(code) else Level.COMMUNITY
    return {6: Level.DISTRICT, 9: Level.STREET, 15: Level.GRID}[len(code)]


def _matches_level(code: str, level: str) -> bool:
    if level in (Level.COMMUNITY, Level.VILLAGE):
        return len(code) == 12 and _level_of(code) == level
    return _LEVEL_DIGITS.get(level) == len(code)


def _kind_of(props: Mapping) -> str:
    value = str(props.get("kind") or props.get("grid_kind") or "").strip()
    return _KIND_WORDS.get(value, value if value in GridKind.values else GridKind.COMPREHENSIVE)


def import_boundaries(
    *, actor, data: bytes, filename: str, level: str | None = None, dry_run: bool = False
) -> Report:
    """Check a GeoJSON file of boundaries and, when it has no problem and this is not a dry run, apply it.

    `actor=None` is the system (the management command); a user needs `regions.import` over every code.
    `level` restricts the file to one level. Returns a `Report`; raises only `PermissionDenied`.
    """
    filename = (filename or "boundaries.geojson").replace("\\", "/").rsplit("/", 1)[-1][:120]
    if actor is not None and not has_capability(actor, "regions.import"):
        raise PermissionDenied("无权导入区域边界 / you may not import region boundaries")
    report = Report(filename=filename, dry_run=dry_run)
    try:
        raw_features = _read_features(data, filename, report)
    except _Stop:
        return report
    report.features = len(raw_features)

    known: dict[str, str | None] = dict(Region.objects.values_list("code", "parent__code"))
    levels = dict(Region.objects.values_list("code", "level"))
    scope = scope_for(actor, "regions.import") if actor is not None else None
    pairs: list[tuple[str, Any]] = []
    rows: dict[str, int] = {}
    props_of: dict[str, Mapping] = {}
    new_codes: list[str] = []
    no_parent: set[str] = set()
    for row, feature in enumerate(raw_features, start=1):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            report.problems.append(ImportProblem("", "not_a_feature", f"第 {row} 个要素不是 GeoJSON Feature",
                                                 f"feature {row} is not a GeoJSON Feature", row, "type"))
            continue
        code, code_field = _feature_code(feature)
        if code is None:
            report.problems.append(ImportProblem("", "missing_code", f"第 {row} 个要素缺少区划代码（properties.code）",
                                                 f"feature {row} has no region code (properties.code)", row, code_field))
            continue
        if not code.isdigit() or len(code) not in (6, 9, 12, 15):
            report.problems.append(ImportProblem(code[:20], "bad_code", f"区划代码 {code[:20]!r} 不是 6/9/12/15 位数字",
                                                 f"region code {code[:20]!r} is not 6/9/12/15 digits", row, code_field))
            continue
        if level and not _matches_level(code, level):
            report.problems.append(ImportProblem(code, "wrong_level", f"代码 {code} 不是本次导入的层级（{level}）",
                                                 f"code {code} is not of the level being imported ({level})", row, code_field))
            continue
        if scope is not None and not scope.covers_code(code):
            report.problems.append(ImportProblem(code, "out_of_scope", f"代码 {code} 不在您的管理范围内",
                                                 f"code {code} is outside your scope", row, code_field))
            continue
        rows.setdefault(code, row)
        props = feature.get("properties")
        props_of.setdefault(code, props if isinstance(props, Mapping) else {})
        if code not in known and len(code) == 15:
            if levels.get(code[:12]) in (Level.COMMUNITY, Level.VILLAGE):
                known[code] = code[:12]
                new_codes.append(code)
            else:
                no_parent.add(code)
                report.problems.append(ImportProblem(
                    code, "unknown_parent", f"网格 {code} 的上级社区/村 {code[:12]} 不存在",
                    f"grid {code}: its community/village {code[:12]} does not exist", row, code_field, (code[:12],)))
        pairs.append((code, _round(feature.get("geometry"))))

    in_file = {code for code, _ in pairs}
    touched_parents = {known[c] for c in in_file if known.get(c)}
    # Stored siblings that stay are part of the picture: a new boundary must not overlap them.
    context = list(Region.objects.filter(parent__code__in=touched_parents, geometry__isnull=False)
                   .exclude(code__in=in_file).values_list("code", "geometry"))
    parents = {}
    for code, geometry in Region.objects.filter(code__in=touched_parents - in_file, geometry__isnull=False) \
            .values_list("code", "geometry"):
        parents[code] = from_geojson_geometry(geometry)
    for p in check_boundaries(pairs + context, known, parents):
        if p.kind == "unknown_code" and p.code in no_parent:
            continue  # already reported, better, as unknown_parent
        report.problems.append(ImportProblem(
            p.code, p.kind, p.message_zh, p.message_en, rows.get(p.code),
            "geometry" if p.kind in _GEOMETRY_KINDS else ("properties.code" if p.code in rows else ""), p.related))
    report.problems.sort(key=lambda p: (p.row or 0, p.code, p.kind))
    if report.problems or dry_run:
        return report

    _apply(report, actor, pairs, set(new_codes), props_of)
    return report


@transaction.atomic
def _apply(report: Report, actor, pairs, new_codes: set[str], props_of) -> None:
    today = timezone.localdate().isoformat()
    source = f"导入：{report.filename}（{today}）"
    shapes = {code: from_geojson_geometry(geometry) for code, geometry in pairs}
    new = [services.NewGrid(code, shapes[code], str(props_of[code].get("name") or "")[:64], _kind_of(props_of[code]))
           for code in sorted(new_codes)]
    if new:
        report.created = [r.code for r in services.add_grids(new, actor=actor, source=source, is_demo=False)]
    existing = {code: geom for code, geom in shapes.items() if code not in new_codes}
    if existing:
        report.updated = services.apply_geometry(existing, actor=actor, source=source, is_demo=False).updated
    record(actor=actor, action=verbs.Data.IMPORTED, target_type="regions.region",
           region_code=min(shapes, key=len)[:6], target_repr=f"边界导入 {report.filename}",
           data={"filename": report.filename, "features": report.features, "updated": len(report.updated),
                 "created": len(report.created)})
    report.applied = True

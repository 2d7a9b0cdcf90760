"""The three lists (三个清单) as xlsx in the layout Chinese offices use, streamed (openpyxl write-only).

    export_list("ledger", hazard_list(user, kind="flood"), title="平城区2023年汛前隐患排查整改台账")

Layout of every list (written by `core.office_xlsx.write_office_sheet`): a merged title row; a line with 填报单位
and 填报日期; the column headers (序号 first); one row per hazard; a footer line with 填表人 / 审核人 / 联系电话 to
sign. Text cells are written as text (never as formulas).
Photos are counted per stage in one query; street names come from one query; rows are read in chunks, so the
number of queries does not grow with the number of hazards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from civicgrid.foundation.core.office_xlsx import headers as office_headers
from civicgrid.foundation.core.office_xlsx import official_language, write_office_sheet
from civicgrid.foundation.regions.models import Level, Region

from .models import FoundBy, Grade, HazardPhoto, Kind, Status

LISTS = {"issues": "问题清单", "responsibility": "责任清单", "ledger": "整改台账"}
# the related rows each list reads (joined in the one query; the others are not fetched at all)
RELATED = {"issues": ("grid",), "ledger": ("rectification",),
           "responsibility": ("patron_department", "responsible_department", "supervising_street", "rectification")}
DISTRICT_NAME = "平城区"
CHUNK = 2000


def _d(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.isoformat()


def _money(value: Decimal | None):
    return float(value) if value is not None else None


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _rect(h):
    try:
        return h.rectification
    except Exception:  # noqa: BLE001 - a hazard without its ledger line (not made by register_hazard)
        return None


def _photos(counts: dict, h, stage: str):
    n = counts.get((h.pk, stage), 0)
    return n if n else "无"


def _check_result(r) -> str:
    if r is None or r.check_passed is None:
        return ""
    return "通过" if r.check_passed else "不通过"


# (header, width, value(hazard, rectification, context)) per list; 序号 is added in front of each.
Column = tuple[str, int, Callable]
COLUMNS: dict[str, list[Column]] = {
    "issues": [
        ("隐患编号", 15, lambda h, r, c: h.code),
        ("隐患名称", 28, lambda h, r, c: h.name),
        ("隐患类型", 10, lambda h, r, c: c["kind"][h.kind]),
        ("隐患类别", 16, lambda h, r, c: h.category_label),
        ("所在街道", 12, lambda h, r, c: c["streets"].get(h.street_code, h.street_code)),
        ("所在网格", 18, lambda h, r, c: h.grid.name if h.grid_id else ""),
        ("隐患地点", 28, lambda h, r, c: h.address or h.name),
        ("经度", 11, lambda h, r, c: round(h.lng, 6)),
        ("纬度", 11, lambda h, r, c: round(h.lat, 6)),
        ("排查日期", 12, lambda h, r, c: _d(h.found_on)),
        ("排查人", 10, lambda h, r, c: h.inspector),
        ("发现方式", 12, lambda h, r, c: c["found_by"][h.found_by]),
        ("问题描述", 40, lambda h, r, c: h.description),
        ("隐患等级", 10, lambda h, r, c: c["grade"][h.grade]),
        ("威胁人数", 9, lambda h, r, c: h.threatened_people),
        ("威胁户数", 9, lambda h, r, c: h.threatened_households),
        ("当前状态", 10, lambda h, r, c: c["status"][h.status]),
        ("挂牌督办", 9, lambda h, r, c: _yes(h.is_supervised)),
    ],
    "responsibility": [
        ("隐患编号", 15, lambda h, r, c: h.code),
        ("隐患名称", 28, lambda h, r, c: h.name),
        ("隐患类别", 16, lambda h, r, c: h.category_label),
        ("隐患等级", 10, lambda h, r, c: c["grade"][h.grade]),
        ("所在街道", 12, lambda h, r, c: c["streets"].get(h.street_code, h.street_code)),
        ("责任单位", 22, lambda h, r, c: h.owner_unit),
        ("责任人", 10, lambda h, r, c: h.owner_person),
        ("联系电话", 14, lambda h, r, c: h.owner_phone_masked),
        ("包保部门", 16, lambda h, r, c: h.patron_department.name if h.patron_department_id else ""),
        ("行业主管部门", 16, lambda h, r, c: h.responsible_department.name if h.responsible_department_id else ""),
        ("属地监管街道", 18, lambda h, r, c: h.supervising_street.name if h.supervising_street_id else ""),
        ("整改责任单位", 22, lambda h, r, c: r.responsible_unit if r else ""),
        ("整改责任人", 10, lambda h, r, c: r.responsible_person if r else ""),
        ("整改时限", 12, lambda h, r, c: _d(r.deadline) if r else ""),
        ("挂牌督办", 9, lambda h, r, c: _yes(h.is_supervised)),
    ],
    "ledger": [
        ("隐患编号", 15, lambda h, r, c: h.code),
        ("排查日期", 12, lambda h, r, c: _d(h.found_on)),
        ("隐患地点", 28, lambda h, r, c: h.address or h.name),
        ("排查人", 10, lambda h, r, c: h.inspector),
        ("隐患描述", 40, lambda h, r, c: h.description),
        ("隐患等级", 10, lambda h, r, c: c["grade"][h.grade]),
        ("整改措施", 36, lambda h, r, c: r.measures if r else ""),
        ("整改资金（元）", 14, lambda h, r, c: _money(r.budget) if r else None),
        ("整改责任单位", 22, lambda h, r, c: (r.responsible_unit if r else "") or h.owner_unit),
        ("整改责任人", 10, lambda h, r, c: (r.responsible_person if r else "") or h.owner_person),
        ("整改时限", 12, lambda h, r, c: _d(r.deadline) if r else ""),
        ("临时管控措施", 28, lambda h, r, c: r.interim_measures if r else ""),
        ("整改前照片", 10, lambda h, r, c: _photos(c["photos"], h, HazardPhoto.Stage.BEFORE)),
        ("整改后照片", 10, lambda h, r, c: _photos(c["photos"], h, HazardPhoto.Stage.AFTER)),
        ("验收人", 10, lambda h, r, c: r.checker if r else ""),
        ("验收日期", 12, lambda h, r, c: _d(r.checked_on) if r else ""),
        ("验收结果", 9, lambda h, r, c: _check_result(r)),
        ("销号日期", 12, lambda h, r, c: _d(r.closed_on) if r else ""),
        ("当前状态", 10, lambda h, r, c: c["status"][h.status]),
    ],
}


def headers(which: str) -> list[str]:
    """The column headers of a list, 序号 first (what tests and importers compare against)."""
    _check(which)
    return office_headers(COLUMNS[which])


def _check(which: str) -> None:
    if which not in LISTS:
        from civicgrid.foundation.core.errors import ValidationFailed

        raise ValidationFailed("清单须为 issues（问题清单）、responsibility（责任清单）或 ledger（整改台账） / "
                               "list must be issues, responsibility or ledger", field="list")


def default_title(which: str, kind: str | None = None, year: int | None = None) -> str:
    """"平城区2023年汛前隐患排查问题清单" / "平城区2023年安全生产隐患排查整改台账" / "平城区2023年隐患排查责任清单"."""
    _check(which)
    year = year or timezone.localdate().year
    what = {Kind.FLOOD: "汛前隐患排查", Kind.SAFETY: "安全生产隐患排查"}.get(kind, "隐患排查")
    return f"{DISTRICT_NAME}{year}年{what}{LISTS[which]}"


def file_name(which: str, kind: str | None = None) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"hazards-{which}{'-' + kind if kind else ''}-{stamp}.xlsx"


class _Labels(dict):
    """value → its label as plain text (an unknown value shows as itself)."""

    def __init__(self, choices):
        super().__init__((c.value, str(c.label)) for c in choices)

    def __missing__(self, key):
        return key


@official_language
def export_list(which: str, queryset, *, title: str | None = None, unit: str = "", filled_on: dt.date | None = None,
                ) -> bytes:
    """One of the three lists of `queryset`'s hazards as xlsx bytes: "issues", "responsibility" or "ledger".

    `queryset` is a hazard queryset (usually `selectors.hazard_list(...)`); its order is kept. `unit` is the
    填报单位 (default 平城区), `filled_on` the 填报日期 (default today)."""
    _check(which)
    # labels translated once per export, not once per cell (lazy translations are slow to resolve)
    context = {"streets": dict(Region.objects.filter(level=Level.STREET).values_list("code", "name")),
               "photos": {}, **{name: _Labels(choices) for name, choices in
                                (("kind", Kind), ("grade", Grade), ("status", Status), ("found_by", FoundBy))}}
    if which == "ledger":
        counts = (HazardPhoto.objects.filter(hazard__in=queryset.order_by().values("pk"))
                  .values("hazard_id", "stage").annotate(n=Count("id")).order_by())
        context["photos"] = {(c["hazard_id"], c["stage"]): c["n"] for c in counts}

    with_rect = "rectification" in RELATED[which]
    rows = queryset.select_related(None).defer(None).select_related(*RELATED[which])
    if "grid" in RELATED[which]:
        rows = rows.defer("grid__geometry")
    pairs = ((hazard, _rect(hazard) if with_rect else None) for hazard in rows.iterator(chunk_size=CHUNK))
    body, _ = write_office_sheet(
        sheet_name=LISTS[which], title=title or default_title(which), unit=unit or DISTRICT_NAME,
        filled_on=filled_on, rows=pairs,
        columns=[(name, width, _bound(get, context)) for name, width, get in COLUMNS[which]])
    return body


def _bound(get: Callable, context: dict) -> Callable:
    """A column's value(hazard, rectification, context) as the shared writer's getter of one (hazard, rect)."""
    return lambda pair: get(pair[0], pair[1], context)


@official_language
def export_for(*, actor, which: str, kind: str | None = None, title: str | None = None, unit: str = "",
               **filters) -> tuple[bytes, str]:
    """One list of the hazards the actor may export, as (xlsx bytes, file name); audited as an export first.

    Needs the `hazards.export` capability; rows are `hazard_list(actor, action="export", kind=…, **filters)`."""
    from civicgrid.foundation.access.scope import has_capability
    from civicgrid.foundation.audit import service as audit
    from civicgrid.foundation.audit import verbs
    from civicgrid.foundation.core.errors import PermissionDenied

    from .selectors import hazard_list

    _check(which)
    if not has_capability(actor, "hazards.export"):
        raise PermissionDenied("您无权导出隐患清单 / you may not export hazard lists")
    queryset = hazard_list(actor, kind=kind, action="export", **filters)
    rows = queryset.count()
    audit.record(actor=actor, action=verbs.Data.EXPORTED, target_type="hazards.hazard",
                 data={"list": which, "kind": kind or "", "rows": rows,
                       "filters": {k: str(v) for k, v in filters.items() if v not in (None, "")}})
    body = export_list(which, queryset, title=title or default_title(which, kind), unit=unit)
    return body, file_name(which, kind)

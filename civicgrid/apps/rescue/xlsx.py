"""The teams roster (抢险队伍名册) and the incidents ledger (险情处置台账) as xlsx in the office layout the hazards
lists use, written by `core.office_xlsx.write_office_sheet`: a merged title row; 填报单位 and 填报日期; the column
headers with 序号 first; one row per team or incident; a footer with 填表人 / 审核人 / 联系电话 to sign. Text is
written as text, never as a formula.

    body, name = export_for(actor=user, which="teams", filters=TeamFilter(skill="water_rescue"))

Rows come from the same scoped selectors as the pages and the API (`team_list`, `incident_list`), with the same
filters; street names and the teams' 包保 departments are read once per export, rows in chunks, so the number
of queries does not grow with the number of rows. Every export is audited (`data.exported`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db.models import Count
from django.utils import timezone

from civicgrid.foundation.core.office_xlsx import headers as office_headers
from civicgrid.foundation.core.office_xlsx import write_office_sheet

from .models import (
    PATRON_FLOOD,
    SKILL_LABELS,
    Availability,
    IncidentKind,
    IncidentSource,
    IncidentStatus,
    Severity,
    TeamKind,
    skills_list,
)

SHEETS = {"teams": "抢险队伍名册", "incidents": "险情处置台账"}
TARGET_TYPES = {"teams": "rescue.rescueteam", "incidents": "rescue.incident"}
CHUNK = 2000


def _time(value) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else str(value)


def _street_of(code: str) -> str:
    return code[:9] if len(code or "") >= 9 else ""


def _equipment(items) -> str:
    """[{"name": "冲锋舟", "quantity": 2, "unit": "艘"}, …] → "冲锋舟 2艘、…"."""
    parts = []
    for e in items or []:
        if not isinstance(e, dict) or not e.get("name"):
            continue
        qty = e.get("quantity")
        parts.append(f"{e['name']} {qty}{e.get('unit') or ''}" if qty not in (None, "", 0) else str(e["name"]))
    return "、".join(parts)


class _Labels(dict):
    """value → label as plain text, translated once per export (an unknown value shows as itself)."""

    def __init__(self, choices):
        super().__init__((c.value, str(c.label)) for c in choices)

    def __missing__(self, key):
        return key


# (header, width, value(row, context)) per sheet; 序号 is put in front.
Column = tuple[str, int, Callable]
COLUMNS: dict[str, list[Column]] = {
    "teams": [
        ("队伍编号", 14, lambda t, c: t.code),
        ("队伍名称", 24, lambda t, c: t.name),
        ("队伍类型", 12, lambda t, c: c["team_kind"][t.kind]),
        ("所属区域", 14, lambda t, c: t.region.name),
        ("所在街道", 12, lambda t, c: c["streets"].get(_street_of(t.region_code), "")),
        ("包保部门", 16, lambda t, c: c["patrons"].get(_street_of(t.region_code), "")),
        ("所属单位", 18, lambda t, c: t.organisation.name if t.organisation_id else ""),
        ("负责人", 10, lambda t, c: t.leader_name),
        ("联系电话", 14, lambda t, c: t.leader_phone_masked),
        ("编制人数", 9, lambda t, c: t.headcount),
        ("在队队员", 9, lambda t, c: t.member_count),
        ("技能", 26, lambda t, c: "、".join(SKILL_LABELS.get(s, s) for s in skills_list(t.skills))),
        ("装备", 32, lambda t, c: _equipment(t.equipment)),
        ("装备说明", 24, lambda t, c: t.equipment_note),
        ("驻地", 24, lambda t, c: t.base_address),
        ("状态", 8, lambda t, c: c["availability"][t.availability]),
    ],
    "incidents": [
        ("险情编号", 15, lambda i, c: i.code),
        ("标题", 24, lambda i, c: i.title),
        ("类型", 14, lambda i, c: c["kind"][i.kind]),
        ("等级", 8, lambda i, c: c["severity"][i.severity]),
        ("来源", 10, lambda i, c: c["source"][i.source]),
        ("所在街道", 12, lambda i, c: c["streets"].get(i.street_code, i.street_code)),
        ("网格", 18, lambda i, c: i.grid.name if i.grid_id else ""),
        ("地址", 24, lambda i, c: i.address),
        ("包保部门", 16, lambda i, c: i.patron_department_name or ""),
        ("状态", 8, lambda i, c: c["status"][i.status]),
        ("调派队伍次数", 10, lambda i, c: i.callout_count),
        ("报告时间", 16, lambda i, c: _time(i.opened_at)),
        ("结束时间", 16, lambda i, c: _time(i.closed_at)),
        ("险情经过", 36, lambda i, c: i.report_summary),
        ("处置措施", 36, lambda i, c: i.report_actions),
        ("损失情况", 28, lambda i, c: i.report_losses),
        ("经验教训", 28, lambda i, c: i.report_lessons),
    ],
}


def headers(which: str) -> list[str]:
    """The column headers of a sheet, 序号 first (what tests and readers compare against)."""
    _check(which)
    return office_headers(COLUMNS[which])


def _check(which: str) -> None:
    if which not in SHEETS:
        from civicgrid.foundation.core.errors import ValidationFailed

        raise ValidationFailed("导出须为 teams（队伍名册）或 incidents（险情台账） / export teams or incidents",
                               field="list")


def _names() -> tuple[str, dict[str, str]]:
    """(the district's name, street code → name): one query."""
    from civicgrid.foundation.regions.models import Level, Region

    district, streets = "", {}
    for code, name, level in (Region.objects.filter(level__in=[Level.DISTRICT, Level.STREET])
                              .order_by("code").values_list("code", "name", "level")):
        if level == Level.STREET:
            streets[code] = name
        elif not district:
            district = name
    return district, streets


def team_patrons() -> dict[str, str]:
    """Street code → the name of the 包保 department a rescue team of that street answers to: the flood
    assignment (teams are the flood season's force), else the street's other one. One query."""
    from django.apps import apps

    out: dict[str, str] = {}
    rows = (apps.get_model("hazards", "PatronAssignment").objects.order_by("street_code", "kind")
            .values_list("street_code", "kind", "department__name"))
    for street, kind, name in rows:
        if kind == PATRON_FLOOD or street not in out:
            out[street] = name
    return out


def default_title(which: str, district: str, year: int | None = None) -> str:
    """"平城区抢险队伍名册" / "平城区2026年险情处置台账"."""
    _check(which)
    if which == "incidents":
        return f"{district}{year or timezone.localdate().year}年{SHEETS[which]}"
    return f"{district}{SHEETS[which]}"


def file_name(which: str) -> str:
    return f"rescue-{which}-{timezone.localtime().strftime('%Y%m%d-%H%M%S')}.xlsx"


def write_sheet(which: str, rows: Iterable, context: dict, *, title: str, unit: str,
                filled_on: dt.date | None = None) -> tuple[bytes, int]:
    """The sheet of `which` over `rows` as xlsx bytes, and the number of rows written."""
    return write_office_sheet(sheet_name=SHEETS[which], title=title, unit=unit, filled_on=filled_on, rows=rows,
                              columns=[(name, width, _bound(get, context)) for name, width, get in COLUMNS[which]])


def _bound(get: Callable, context: dict) -> Callable:
    """A column's value(row, context) as the shared writer's getter of one row."""
    return lambda row: get(row, context)


def _rows(which: str, user, filters):
    from . import selectors

    if which == "teams":
        qs = selectors.team_list(user, filters)
    else:
        qs = (selectors.incident_list(user, filters).annotate(callout_count=Count("callouts", distinct=True))
              .defer("grid__geometry"))
    return qs.iterator(chunk_size=CHUNK)


def export_for(*, actor, which: str, filters=None, unit: str = "") -> tuple[bytes, str]:
    """The teams roster or the incidents ledger of what the actor may see (`rescue.view`), with the lists'
    filters (`selectors.TeamFilter` / `IncidentFilter`), as (xlsx bytes, file name); audited as an export."""
    from civicgrid.foundation.access.scope import has_capability
    from civicgrid.foundation.audit import service as audit
    from civicgrid.foundation.audit import verbs
    from civicgrid.foundation.core.errors import PermissionDenied

    _check(which)
    if not has_capability(actor, "rescue.view"):
        raise PermissionDenied("您无权导出抢险救援数据 / you may not export rescue data")
    district, streets = _names()
    context = {"streets": streets}
    if which == "teams":
        context.update(patrons=team_patrons(), team_kind=_Labels(TeamKind), availability=_Labels(Availability))
    else:
        context.update(kind=_Labels(IncidentKind), severity=_Labels(Severity), source=_Labels(IncidentSource),
                       status=_Labels(IncidentStatus))
    body, count = write_sheet(which, _rows(which, actor, filters), context, title=default_title(which, district),
                              unit=unit or district)
    shown = {k: str(v) for k, v in vars(filters).items() if v not in (None, "")} if filters is not None else {}
    audit.record(actor=actor, action=verbs.Data.EXPORTED, target_type=TARGET_TYPES[which],
                 data={"list": which, "rows": count, "filters": shown})
    return body, file_name(which)

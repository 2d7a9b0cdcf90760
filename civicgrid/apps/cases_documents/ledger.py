"""The case ledger (事件台账) as an Excel file: the cases the user may export, filtered as the case list is, one line
each with Chinese headers. Reporters' names and phones are masked; e-mail addresses never leave."""

from __future__ import annotations

from datetime import date

from django.db.models import F
from django.utils import timezone

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Case, Status
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.core.office_xlsx import official_language
from civicgrid.foundation.core.pii import mask_name
from civicgrid.foundation.imports.readers import write_xlsx
from civicgrid.foundation.regions.models import Level, Region

CAPABILITY = "cases.export"
MAX_ROWS = 100_000  # a bigger ledger should be narrowed (by period or region) rather than built in one request

# 自行处置, 按期处置 and 按期结案 are the evaluation's facts (`evaluation.selectors`), so that its rates can be
# checked from the sheet: 按期处置 is said once the case is handled (处置时间 set), 按期结案 once it is closed,
# each blank before that (and where an imported case has no such fact).
HEADERS = ["案卷号", "标题", "状态", "主案卷", "分类", "来源", "重大事件", "自行处置", "街道", "社区/村", "网格", "网格编码",
           "地址", "经度", "纬度", "报告人", "报告人电话", "热线工单号", "处置部门", "上报时间", "立案时间", "派遣时间",
           "处置时间", "核查时间", "结案时间", "处置期限", "按期处置", "按期结案", "超期", "督办", "返工次数", "退回次数",
           "满意度", "描述"]


def _when(value):
    """District-local time, without the zone (Excel has no time zones)."""
    return timezone.localtime(value).replace(tzinfo=None) if value else None


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _known(value: bool | None) -> str:
    """是/否 for a fact that is known, blank for one that is not (yet)."""
    return "" if value is None else _yes(value)


def _timely_handled(case: Case) -> str:
    """按期处置 as the evaluation counts it: handled now (a 返工 takes the handling back) and in time."""
    return _known(case.handled_on_time) if case.handled_at else ""


def _timely_closed(case: Case) -> str:
    """按期结案 as the evaluation counts it: closed, with both the handling and the closing step in time."""
    if case.status != Status.CLOSED:
        return ""
    facts = (case.handled_on_time, case.closed_on_time)
    return "否" if False in facts else ("" if None in facts else "是")


def _unit_names() -> dict[str, str]:
    """Street and community/village names by code (a district has a few hundred: one query)."""
    levels = [Level.STREET, Level.COMMUNITY, Level.VILLAGE]
    return dict(Region.objects.filter(level__in=levels).values_list("code", "name"))


def _parent_number(case: Case) -> str:
    """The case a merged one was merged into (`parent_number` as `export` annotates it, else the parent row)."""
    if not case.parent_id:
        return ""
    return getattr(case, "parent_number", None) or case.parent.number


def row(case: Case, units: dict[str, str]) -> list:
    """One ledger line (the case with category, grid and department selected)."""
    code = case.region_code
    return [
        case.number, case.title, case.get_status_display(), _parent_number(case),
        case.category.name if case.category_id else "",
        case.get_source_display(), _yes(case.is_major), _yes(case.is_self_handled), units.get(code[:9], ""),
        units.get(code[:12], ""), case.grid.name if case.grid_id else "", code, case.address, round(case.lng, 6),
        round(case.lat, 6), mask_name(case.reporter_name), case.reporter_phone_masked, case.hotline_ticket,
        case.department.name if case.department_id else "", _when(case.reported_at), _when(case.accepted_at),
        _when(case.dispatched_at), _when(case.handled_at), _when(case.verified_at), _when(case.closed_at),
        _when(case.deadline), _timely_handled(case), _timely_closed(case), _yes(case.is_overdue),
        _yes(case.is_supervised), case.rework_count,
        case.send_back_count, case.satisfaction, case.description,
    ]


def ledger_cases(user, f: selectors.CaseFilter):
    """The case list's rows (its filters and its scope), narrowed to where the user's export grants reach."""
    return selectors.case_list(user, f) & Case.objects.visible_to(user, "export")


@official_language
def export(user, f: selectors.CaseFilter) -> tuple[bytes, str]:
    """The ledger as .xlsx bytes and a file name; recorded in the audit trail with its filter and size."""
    if not has_capability(user, CAPABILITY):
        raise PermissionDenied("您无权导出事件台账 / you may not export the case ledger")
    qs = ledger_cases(user, f)
    total = qs.count()
    qs = qs.annotate(parent_number=F("parent__number"))  # one column, not the parent's row
    if total > MAX_ROWS:
        raise ValidationFailed(f"台账共 {total} 条，超过单次导出上限 {MAX_ROWS} 条，请缩小时间或区域范围 / too many rows "
                               "for one export: narrow the period or region", field="date_from")
    units = _unit_names()
    body = write_xlsx(HEADERS, (row(c, units) for c in qs.iterator(chunk_size=2000)), sheet_title="事件台账")
    wanted = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(f).items() if v not in (None, "")}
    record(actor=user, action=verbs.Data.EXPORTED, target_type="cases.case", target_repr="事件台账",
           data={"filter": wanted, "rows": total, "format": "xlsx"})
    return body, f"case-ledger-{timezone.localdate():%Y%m%d}.xlsx"

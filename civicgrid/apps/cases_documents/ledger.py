"""The case ledger (事件台账) as an Excel file: the cases the user may export, filtered as the case list is, one line
each with Chinese headers. Reporters' names and phones are masked, and so are the phone and ID numbers and names written
into a title, description or address (`pii.scrub`, as the case pages show them); e-mail addresses never leave."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.db.models import CharField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from civicgrid.apps.cases import clocks, display, selectors
from civicgrid.apps.cases.models import Case, CaseStep, Source, Status, closed_timely
from civicgrid.apps.cases.recipients import WAITING_STEP
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.core.office_xlsx import official_language
from civicgrid.foundation.core.pii import mask_name, scrub
from civicgrid.foundation.imports.readers import write_xlsx
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

CAPABILITY = "cases.export"
MAX_ROWS = 100_000  # a bigger ledger should be narrowed (by period or region) rather than built in one request

# 自行处置, 按期处置 and 按期结案 are the evaluation's facts (`evaluation.selectors`), so that its rates can be
# checked from the sheet: 按期处置 is said once the case is handled (处置时间 set), 按期结案 once it is closed,
# each blank before that (and where an imported case has no such fact).
# 责任部门代码 and 责任部门简称 are the department's code and the name the evaluation ranks it under (its short name,
# else its name), so that the ledger's lines can be matched to the evaluation's rows. 当前环节 and 当前环节期限 are
# the step an open case waits for and that step's due time, as the case list shows them (a case waiting for
# handling without a clock: its 处置期限). 超期环节 and 超期环节期限 name the step whose time limit ran out and made the
# case 超期 (the first, when several did) and when it was due: 超期 of a case whose 处置期限 was met (核查 or 结案 late)
# can be checked from them. 退回次数 and 改派次数 are the dispatches redone (by the department's 退回, by the
# dispatchers' 改派) that the evaluation's 准确派遣率 counts against a dispatch. 处置期限说明 says what the case page
# says beside 处置期限 (`DEADLINE_PAUSED`, `DEADLINE_PROVISIONAL`); the deadline itself stays a date to sort by.
# 重新办理 clears 满意度 (it rated the closing reopened, README 「重新办理 and 满意度」): 重新办理次数 says the case was
# reopened (a 自行处置 case too, which keeps its flag) and 重新办理前满意度 keeps the rating of the closing last reopened,
# which the ledger would otherwise lose.
# 超期 and 督办 of a case whose loop ended say 曾超期 / 曾督办 (`display.overdue_word`): facts of its past, not "now".
HEADERS = ["案卷号", "标题", "状态", "主案卷", "分类", "来源", "重大事件", "自行处置", "街道", "社区/村", "网格", "网格编码",
           "地址", "经度", "纬度", "报告人", "报告人电话", "热线工单号", "处置部门", "责任部门代码", "责任部门简称", "上报时间",
           "立案时间", "派遣时间", "处置时间", "核查时间", "结案时间", "处置期限", "处置期限说明", "当前环节", "当前环节期限",
           "按期处置", "按期结案", "超期", "超期环节", "超期环节期限", "督办", "返工次数", "退回次数", "改派次数", "重新办理次数",
           "满意度", "重新办理前满意度", "描述"]
DEADLINE_PAUSED = "已暂停（挂账）：此为原期限，恢复办理后按暂停时长顺延"
DEADLINE_PROVISIONAL = "按临时日历推算"

# What a line reads of each case (and of its category, grid, department and parent): plain values, no model
# instances (four a line, and a lazy label hashed per choice, once took most of a big ledger's time).
FIELDS = ("pk", "number", "title", "status", "parent_id", "parent__number", "category__name", "source", "is_major",
          "is_self_handled", "region_code", "grid__name", "address", "lng", "lat", "reporter_name",
          "reporter_phone_masked", "hotline_ticket", "department__name", "department__short_name",
          "department__code", "reported_at", "accepted_at", "dispatched_at", "handled_at", "verified_at",
          "closed_at", "deadline", "handled_on_time", "closed_on_time", "is_overdue", "is_supervised",
          "rework_count", "send_back_count", "redirect_count", "reopen_count", "satisfaction", "description")

# The steps of the case clocks, as the case list names them (the same words in the catalogue).
STEP_NAMES = {clocks.INTAKE: pgettext_lazy("clock step", "受理"), clocks.CHECK: pgettext_lazy("clock step", "核实"),
              clocks.DISPATCH: pgettext_lazy("clock step", "派遣"), clocks.HANDLE: pgettext_lazy("clock step", "处置"),
              clocks.VERIFY: pgettext_lazy("clock step", "核查"), clocks.CLOSE: pgettext_lazy("clock step", "结案")}


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _known(value: bool | None) -> str:
    """是/否 for a fact that is known, blank for one that is not (yet)."""
    return "" if value is None else _yes(value)


def _timely_handled(case: dict) -> str:
    """按期处置 as the evaluation counts it: handled now (a 返工 takes the handling back) and in time."""
    return _known(case["handled_on_time"]) if case["handled_at"] else ""


def _timely_closed(case: dict) -> str:
    """按期结案 as the evaluation counts it: closed, with both the handling and the closing step in time."""
    return _known(closed_timely(case["status"], case["handled_on_time"], case["closed_on_time"]))


def _unit_names() -> dict[str, str]:
    """Street and community/village names by code (a district has a few hundred: one query)."""
    levels = [Level.STREET, Level.COMMUNITY, Level.VILLAGE]
    return dict(Region.objects.filter(level__in=levels).values_list("code", "name"))


def _ids_as_text(qs):
    """The cases' keys as the clocks name their targets (text), as a subquery."""
    return qs.order_by().annotate(target=Cast("pk", CharField())).values("target")


def _open_clocks(qs) -> dict[tuple[int, str], tuple[datetime, str]]:
    """The due time and limit mode of every open step clock of the ledger's cases, by (case, clock kind): one
    query."""
    found = SlaClock.objects.filter(target_type=Case._meta.label_lower, state__in=OPEN_STATES,
                                    kind__in=set(WAITING_STEP.values()), target_id__in=_ids_as_text(qs))
    return {(int(target), kind): (at, mode)
            for target, kind, at, mode in found.values_list("target_id", "kind", "due_at", "mode")}


def _overdue_steps(qs) -> dict[int, tuple[str, datetime | None]]:
    """For each case of the ledger made 超期 by a step's clock: that step's clock kind and its due time (the
    first such step; one query). The record is the 超期自动督办 step the breach left on the case's timeline. A
    breach superseded by a later one of the same clock does not count: a 延期 approved after the deadline moved
    that clock's deadline (and took the case off 超期), and it is the extended deadline, missed too, that made
    the case 超期 again."""
    breaches: dict[int, dict] = {}  # case → {clock: (kind, due)}, in the order of each clock's last breach
    steps = (CaseStep.objects.filter(action="auto_supervise", case_id__in=qs.order_by().values("pk"))
             .order_by("case_id", "at", "pk").values_list("case_id", "data"))
    for case_id, data in steps:
        if not isinstance(data, dict) or data.get("kind") not in STEP_NAMES:
            continue
        due = data.get("due_at")
        try:
            due = datetime.fromisoformat(due) if isinstance(due, str) else None
        except ValueError:
            due = None
        of_case = breaches.setdefault(case_id, {})
        clock = data.get("clock_id") or object()  # a step without its clock stands alone
        of_case.pop(clock, None)
        of_case[clock] = (data["kind"], due)
    return {case_id: next(iter(of_case.values())) for case_id, of_case in breaches.items()}


def _reopened_ratings(qs) -> dict[int, int]:
    """For each case of the ledger reopened after it was rated: the 满意度 of the closing last reopened, as its
    重新办理 step keeps it (one query)."""
    found: dict[int, int] = {}
    steps = (CaseStep.objects.filter(action="reopen", case_id__in=qs.order_by().values("pk"))
             .order_by("case_id", "at", "pk").values_list("case_id", "data"))
    for case_id, data in steps:
        score = data.get("satisfaction") if isinstance(data, dict) else None
        if score is None:
            found.pop(case_id, None)  # the closing last reopened was not rated
        else:
            found[case_id] = score
    return found


class _Lines:
    """The ledger's lines: what every line shares (labels, names, the clocks) read once, then one list of
    plain values per case."""

    def __init__(self, qs):
        self.tz = timezone.get_current_timezone()
        self.statuses = {value: str(label) for value, label in Status.choices}
        self.sources = {value: str(label) for value, label in Source.choices}
        self.steps = {kind: str(name) for kind, name in STEP_NAMES.items()}
        self.units = _unit_names()
        self.clocks = _open_clocks(qs)
        self.provisional = sla.provisional_test()  # one read of the calendar for the ledger
        self.overdue = _overdue_steps(qs)
        self.reopened_ratings = _reopened_ratings(qs)

    def when(self, value):
        """District-local time, without the zone (Excel has no time zones)."""
        return value.astimezone(self.tz).replace(tzinfo=None) if value else None

    def deadline_note(self, case: dict) -> str:
        """处置期限说明, as the case page marks 处置期限 (`cases.display`): paused by 挂账, or reckoned on a provisional
        calendar year, which the page judges by the open handling clock (its deadline and its limit's mode)."""
        if display.deadline_paused(case["status"], case["deadline"]):
            return DEADLINE_PAUSED
        handling = self.clocks.get((case["pk"], clocks.HANDLE))
        return DEADLINE_PROVISIONAL if handling and sla.provisional_deadline(*handling, self.provisional) else ""

    def __call__(self, case: dict) -> list:
        when = self.when
        code = case["region_code"]
        status = case["status"]
        waiting = WAITING_STEP.get(status)
        waiting_due = self.clocks.get((case["pk"], waiting), (None, ""))[0] if waiting else None
        if waiting_due is None and waiting == clocks.HANDLE:
            waiting_due = case["deadline"]  # no clock (an imported case): its handling deadline, as the list
        overdue_kind, overdue_due = self.overdue.get(case["pk"], ("", None)) if case["is_overdue"] else ("", None)
        department = case["department__name"] or ""
        return [
            case["number"], scrub(case["title"]), self.statuses.get(status, status),
            (case["parent__number"] or "") if case["parent_id"] else "", case["category__name"] or "",
            self.sources.get(case["source"], case["source"]), _yes(case["is_major"]), _yes(case["is_self_handled"]),
            self.units.get(code[:9], ""), self.units.get(code[:12], ""), case["grid__name"] or "", code,
            scrub(case["address"]), round(case["lng"], 6), round(case["lat"], 6), mask_name(case["reporter_name"]),
            case["reporter_phone_masked"], case["hotline_ticket"], department, case["department__code"] or "",
            case["department__short_name"] or department, when(case["reported_at"]), when(case["accepted_at"]),
            when(case["dispatched_at"]), when(case["handled_at"]), when(case["verified_at"]),
            when(case["closed_at"]), when(case["deadline"]), self.deadline_note(case),
            self.steps[waiting] if waiting_due is not None else "", when(waiting_due),
            _timely_handled(case), _timely_closed(case), display.overdue_word(status, case["is_overdue"]),
            self.steps.get(overdue_kind, ""), when(overdue_due), display.supervised_word(status, case["is_supervised"]),
            case["rework_count"], case["send_back_count"], case["redirect_count"], case["reopen_count"],
            case["satisfaction"], self.reopened_ratings.get(case["pk"]), scrub(case["description"]),
        ]


def ledger_cases(user, f: selectors.CaseFilter):
    """The case list's rows (its filters and its scope), narrowed to where the user's export grants reach."""
    return selectors.case_list(user, f) & Case.objects.visible_to(user, "export")


def _checked(user, f: selectors.CaseFilter):
    """The ledger's cases and how many (refused without the capability, or past `MAX_ROWS`)."""
    if not has_capability(user, CAPABILITY):
        raise PermissionDenied("您无权导出事件台账 / you may not export the case ledger")
    qs = ledger_cases(user, f)
    total = qs.count()
    if total > MAX_ROWS:
        raise ValidationFailed(f"台账共 {total} 条，超过单次导出上限 {MAX_ROWS} 条，请缩小时间或区域范围 / too many rows "
                               "for one export: narrow the period or region", field="date_from")
    return qs, total


def filter_data(f: selectors.CaseFilter) -> dict:
    """The filters that are set, as the audit record (and a queued export) keeps them."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(f).items() if v not in (None, "")}


def filter_from(data: dict) -> selectors.CaseFilter:
    """`filter_data` read back (JSON gives several statuses back as a list: the filter takes a tuple)."""
    days = {"date_from", "date_to"}
    return selectors.CaseFilter(**{k: (date.fromisoformat(v) if k in days else tuple(v) if isinstance(v, list) else v)
                                   for k, v in data.items()})


@official_language
def _build(user, f: selectors.CaseFilter, qs, total: int) -> tuple[bytes, str]:
    line = _Lines(qs)
    rows = (line(c) for c in qs.values(*FIELDS).iterator(chunk_size=2000))
    body = write_xlsx(HEADERS, rows, sheet_title="事件台账", autofilter=True)
    # the search as the trail may keep it: a phone number searched for is no more in clear there than in the sheet
    shown = {**filter_data(f), **({"q": scrub(f.q)} if f.q else {})}
    record(actor=user, action=verbs.Data.EXPORTED, target_type="cases.case", target_repr="事件台账",
           data={"filter": shown, "rows": total, "format": "xlsx"})
    return body, f"case-ledger-{timezone.localdate():%Y%m%d}.xlsx"


def export(user, f: selectors.CaseFilter) -> tuple[bytes, str]:
    """The ledger as .xlsx bytes and a file name; recorded in the audit trail with its filter and size."""
    qs, total = _checked(user, f)
    return _build(user, f, qs, total)


def export_or_queue(user, f: selectors.CaseFilter) -> tuple[bytes, str] | int:
    """`export` for a ledger of up to `CIVICGRID_LEDGER_SYNC_MAX_ROWS` lines; a bigger one is handed to the
    background worker (`ledger_files.queue`), which tells the user in their inbox where to download it: the
    number of lines queued is returned instead. Refusals (capability, filters, `MAX_ROWS`) come first, alike."""
    qs, total = _checked(user, f)
    if total > settings.CIVICGRID_LEDGER_SYNC_MAX_ROWS:
        from . import ledger_files

        ledger_files.queue(user, f)
        return total
    return _build(user, f, qs, total)

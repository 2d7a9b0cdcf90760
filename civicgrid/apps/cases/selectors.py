"""Reads of cases, always from the scoped queryset (`Case.objects.visible_to(user)`)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import BigIntegerField, CharField, F, Func, Prefetch, Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.roles import ADMIN_ROLES
from civicgrid.foundation.access.scope import (
    Scope,
    get_visible_or_404,
    has_capability,
    scope_for,
    scoped_branches,
    subtree_q,
    user_roles,
)
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.core.ids import checked_id
from civicgrid.foundation.core.pii import has_personal_data
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.clock import RUNNING
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.workflow.engine import required_inputs

from .models import OPEN_STATUSES, PUBLIC_ROLES, Attachment, Case, CaseStep, Status, normalise_ticket
from .workflow import CASE_WORKFLOW
from .workflow import allowed_actions as allowed_transitions

# Who reads case files (案卷: the whole timeline with staff names, internal notes and step data, clocks, photos,
# buttons): staff holding this capability, over their scope. A reporter without it (a resident, a volunteer)
# reaches their own report through `visible_to` too, but follows it only by their follow link, which shows the
# public steps (`services.follow`). The case pages and the cases API both ask here.
CASE_FILE_CAPABILITY = "cases.view"
NO_CASE_FILES = ("案卷仅供工作人员查看，请通过上报时的查询链接跟踪办理进度 / case files are for staff: follow your "
                 "report through its follow link")
# 三员分立: the system, security and audit administrators keep the system, not the business (SECURITY.md).
NO_CASE_FILES_FOR_ADMINS = ("三员分立：系统管理员、安全管理员和审计管理员不查看业务案卷 / separation of duties: the "
                            "system, security and audit administrators do not read case files")
NO_CASE_FILES_FOR_ROLE = ("您的角色不查看案卷 / your role does not read case files")


def may_read_case_files(user) -> bool:
    """Whether the user reads case files at all (their scope then says which)."""
    return has_capability(user, CASE_FILE_CAPABILITY)


def require_case_files(user) -> None:
    """Refuse (403) a user who does not read case files, whatever their scope reaches, saying why for whom: a
    reporter follows their report by its link, an administrator's role keeps out of business data."""
    if may_read_case_files(user):
        return
    roles = user_roles(user)
    if roles & ADMIN_ROLES:
        raise PermissionDenied(NO_CASE_FILES_FOR_ADMINS)
    if roles and not roles <= PUBLIC_ROLES:
        raise PermissionDenied(NO_CASE_FILES_FOR_ROLE)
    raise PermissionDenied(NO_CASE_FILES)


def case_in_scope(user, number: str, queryset=None, action: str = "view") -> Case:
    """A case file by its number, for a user who reads case files (403 otherwise), in their scope for `action`
    (404 outside it)."""
    require_case_files(user)
    return get_visible_or_404(queryset if queryset is not None else Case, user, action, number=str(number)[:20])


def may_open(user, number: str) -> bool:
    """Whether `case_in_scope` would give the user this case rather than refuse it: they read case files and the
    case lies in their scope. A message may name a case (and a page link it) only then."""
    return bool(number) and may_read_case_files(user) and Case.objects.visible_to(user).filter(
        number=str(number)[:20]).exists()


@dataclass
class CaseFilter:
    """The list's filters; every one optional."""

    status: str | tuple[str, ...] | None = None  # one status, several (commas, or a tuple: any of them), or "open"
    category: int | None = None  # the category or any of its subclasses
    region: str | None = None  # a region code: cases in its subtree
    department: int | None = None
    overdue: bool | None = None
    due_soon: bool | None = None  # 即将超期: a running clock past its warning time, the case not yet overdue
    supervised: bool | None = None
    is_major: bool | None = None  # 重大事件 (marked at report)
    date_from: date | None = None  # reported on or after (district date)
    date_to: date | None = None  # reported on or before
    # number, a 12345 ticket number (exactly, normalised) or a fragment of the title (as the user may read it:
    # `search_q`)
    q: str | None = None
    work: str | None = None  # a work lane (`WORK_LANES`): the cases waiting for that step


@dataclass(frozen=True)
class WorkLane:
    """A step of the loop that waits for someone: the cases in these statuses (and with an extension request,
    for the extension lane), for whoever holds the capability that takes the step."""

    key: str
    label: str  # Chinese; translated where it is shown
    capability: str
    statuses: tuple[str, ...] = ()
    extension_pending: bool = False
    major: bool = False  # only 重大事件
    supervised: bool = False  # only cases under 督办 (by a leader, or 超期自动督办)


# In the loop's order; a user sees the lanes of the capabilities they hold, over their scope.
WORK_LANES: tuple[WorkLane, ...] = (
    WorkLane("intake", gettext_noop("待受理"), "cases.intake", (Status.REPORTED,)),
    WorkLane("check", gettext_noop("待核实"), "cases.check", (Status.CHECKING,)),
    WorkLane("dispatch", gettext_noop("待派遣"), "cases.dispatch", (Status.ACCEPTED,)),
    WorkLane("handle", gettext_noop("待处置"), "cases.handle", (Status.DISPATCHED, Status.HANDLING)),
    WorkLane("verify", gettext_noop("待核查"), "cases.verify", (Status.HANDLED,)),
    WorkLane("close", gettext_noop("待结案"), "cases.close", (Status.VERIFIED,)),
    # Only where 审批延期 can be taken (its transition's states). A suspended case has no request to decide: 挂账
    # withdraws a waiting one (`services.common.drop_extension_request`); after 恢复办理 the department asks again.
    WorkLane("extension", gettext_noop("延期待批"), "cases.approve",
             tuple(sorted(CASE_WORKFLOW.transition("decide_extension").sources)), extension_pending=True),
    # 督办 covers "an overdue or major case" (GLOSSARY): the leaders who supervise keep in sight the open cases
    # of their region under supervision (put there by a leader, or by 超期自动督办) and the open major cases.
    WorkLane("supervised", gettext_noop("督办中的案件"), "cases.supervise",
             tuple(sorted(str(s) for s in {*OPEN_STATUSES, Status.SUSPENDED})), supervised=True),
    WorkLane("major", gettext_noop("办理中的重大事件"), "cases.supervise",
             tuple(sorted(str(s) for s in {*OPEN_STATUSES, Status.SUSPENDED})), major=True),
)
LANES = {lane.key: lane for lane in WORK_LANES}
WORK_COUNT_CAP = 999  # a lane's badge counts this far ("999+"): a district's backlog costs a bounded read


def my_work(user) -> list[dict]:
    """The lanes the user works in, each with how many cases wait in it (within their scope; at most
    `WORK_COUNT_CAP` + 1 are counted). One bounded count per lane the user holds."""
    lanes = []
    for lane in WORK_LANES:
        if not has_capability(user, lane.capability):
            continue
        f = CaseFilter(work=lane.key)
        qs = _filtered(Case.objects.visible_to(user, scope_action(f)), f, user)
        n = qs.values("pk")[: WORK_COUNT_CAP + 1].count()
        more = n > WORK_COUNT_CAP
        lanes.append({"key": lane.key, "label": lane.label, "count": min(n, WORK_COUNT_CAP), "more": more,
                      "shown": f"{WORK_COUNT_CAP}+" if more else str(n)})
    return lanes


# What a filter's query string may say for yes and no (the list's form sends 1/0, links and scripts the others).
FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
FLAG_FILTERS = ("overdue", "due_soon", "supervised", "is_major")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# The list's filters as its form labels them: a refusal names what the reader sees, not the parameter (which the
# answer's `field` still names, for the API).
FILTER_LABELS = {
    "category": ("分类", "Category"), "region": ("街道/社区", "Street / community"),
    "department": ("处置部门", "Handling department"), "overdue": ("超期", "Overdue"), "due_soon": ("预警", "Warning"),
    "supervised": ("督办", "Supervised"), "is_major": ("重大事件", "Major case"),
    "date_from": ("上报日期自", "Reported from"), "date_to": ("上报日期至", "Reported to"),
}


def _labels(name: str) -> tuple[str, str]:
    return FILTER_LABELS.get(name, (name, name))


def _query_id(value: str, name: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        label, label_en = _labels(name)
        raise ValidationFailed(f"「{label}」须为编号（请从列表中选择） / {label_en} must be an id (choose it from the "
                               f"list)", field=name)
    return int(value)


def _query_flag(value: str, name: str) -> bool | None:
    if not value:
        return None
    found = FLAG_WORDS.get(value.lower())
    if found is None:
        label, label_en = _labels(name)
        raise ValidationFailed(f"「{label}」须为 1（是）或 0（否） / {label_en} must be 1 (yes) or 0 (no)", field=name)
    return found


def _query_day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        label, label_en = _labels(name)
        raise ValidationFailed(f"「{label}」须为日期，格式 YYYY-MM-DD / {label_en} must be a date (YYYY-MM-DD)",
                               field=name) from None


def filter_from_query(params) -> CaseFilter:
    """The list's filters from a query string: the one reading of them for the case list page (`/cases/`) and
    the ledger (`/documents/cases/ledger.xlsx`), so that 「导出台账（按当前筛选）」 holds the list's rows. A value
    that is not one (an id that is no number, a flag that is not 1/0, a malformed date) is refused here; an
    unknown status, work lane or region code by `_filtered`, which both read through: a `ValidationFailed`
    naming the parameter either way."""

    def text(name: str) -> str:
        return (params.get(name) or "").replace("\x00", "").strip()

    statuses = params.getlist("status") if hasattr(params, "getlist") else [params.get("status") or ""]
    status = ",".join(s.strip() for s in statuses if s and s.strip())[:200]
    return CaseFilter(
        status=status or None,
        category=_query_id(text("category"), "category"),
        region=text("region") or None,
        department=_query_id(text("department"), "department"),
        **{name: _query_flag(text(name), name) for name in FLAG_FILTERS},
        date_from=_query_day(text("date_from"), "date_from"),
        date_to=_query_day(text("date_to"), "date_to"),
        q=text("q")[:40] or None,
        work=text("work")[:20] or None,
    )


DATE_YEARS = (2000, 2099)  # what a date filter may name (the cases' own years lie well inside)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def scope_action(f: CaseFilter) -> str:
    """Whose cases the list reads: those the user may view, or with a work lane, those where the user may take
    the lane's step (a grid worker's own report in another grid is theirs to follow, not to verify)."""
    lane = LANES.get((f.work or "").strip())
    return lane.capability.split(".", 1)[1] if lane else "view"


def case_list(user, f: CaseFilter):
    """The cases the user may see, filtered, newest first, with what a list row shows joined in (403 for a user
    who does not read case files). A search by personal data where the user may read it in clear is recorded
    (`search_read`)."""
    require_case_files(user)
    qs = Case.objects.visible_to(user, scope_action(f)).select_related("category", "grid", "department")
    qs = _filtered(qs, f, user)  # a filter refused is refused before anything is recorded
    search_read(user, f.q)
    return qs.order_by(*LIST_ORDER)


# ---- the search and the words staff read masked -------------------------------------------------------------
# Staff read a case's title masked (`Case.title_for_staff`: phone and ID numbers, names the text introduces);
# those who may call the reporter back read it in clear through the audited `services.reveal_text`. The search
# must not tell the others what the mask hides: 「135****3333」 on the page and `?q=13500003333` (or `?q=0000`, or
# the name) finding the case would confirm it. So where the user may not reveal, the title search matches the
# title as they read it (`Case.title_masked`); where they may, the title as it was written, and a search by what
# `pii.scrub` masks (a phone or ID number, a name after 联系人…) is then a read of personal data, recorded as the
# base data's lookup by phone or ID number is (SECURITY.md: reads of confidential records are audited). The case
# number and the 12345 ticket number match exactly for everyone: neither is personal.
REVEAL_CAPABILITY = "cases.intake"  # 受理员 / 值班长: who registers reports and calls reporters back


def reveal_scope(user) -> Scope:
    """Where `user` may read a case's reporter contact and text in clear (`services.may_reveal_contact`)."""
    return scope_for(user, REVEAL_CAPABILITY)


def _search_text(q: str | None) -> str:
    return (q or "").replace("\x00", "").strip()[:40]


def search_q(user, q: str | None) -> Q | None:
    """The list's search for `q` as `user` may search (see above); None for no search."""
    text = _search_text(q)
    if not text:
        return None
    exact = normalise_ticket(text)
    found = Q(number=exact) | Q(hotline_ticket=exact)
    reveal = reveal_scope(user)
    if reveal.everything:
        return found | Q(title__contains=text)
    found |= Q(title_masked__contains=text)
    clear = Q()
    for code in sorted(reveal.region_codes):
        clear |= subtree_q("region_code", code)
    return (found | (Q(title__contains=text) & clear)) if reveal.region_codes else found


def search_masked(user, q: str | None) -> bool:
    """Whether the search for `q` holds what staff read masked (`pii.has_personal_data`) while `user` may not
    read it in clear in every case they see: there, only what the titles show is searched (the page says so)."""
    text = _search_text(q)
    if not text or not has_personal_data(text):
        return False
    reveal = reveal_scope(user)
    if reveal.everything:
        return False
    view = scope_for(user, CASE_FILE_CAPABILITY)
    return view.everything or bool(view.department_ids) or not all(reveal.covers_code(code)
                                                                  for code in view.region_codes)


def search_read(user, q: str | None) -> None:
    """Record a search by personal data (`pii.has_personal_data`: a phone or ID number, a name the text
    introduces) by a user who may read it in clear somewhere (`reveal_scope`): the cases it finds there tell whose
    number or name they hold. The words searched are not recorded (no personal data in the trail)."""
    text = _search_text(q)
    if not text or not has_personal_data(text) or reveal_scope(user).empty:
        return
    audit.record(actor=user, action=verbs.Data.CONFIDENTIAL_READ, target_type="cases.case",
                 target_repr="按电话、证件号码或姓名搜索案卷 / case search by phone, ID number or name",
                 data={"lookup": "case_text"})


LIST_ORDER = ("-reported_at", "-id")
# The status filter's names for groups of statuses. `open` (办理中，全部未办结): every case whose loop has not ended,
# 挂账 included, as the list's label and Open311's `open` say. `active` (在办，不含挂账): the loop's working
# statuses, which the command board counts as 在办 and whose 超期 and 即将超期 it links to, so that a link lists
# what the board counted.
STATUS_GROUPS = {"open": frozenset(str(s) for s in {*OPEN_STATUSES, Status.SUSPENDED}),
                 "active": frozenset(str(s) for s in OPEN_STATUSES)}


def _filtered(qs, f: CaseFilter, user):
    """`qs` narrowed by the list's filters (refusing unknown statuses and malformed region codes); the search as
    `user` may search (`search_q`)."""
    if f.status:
        # One value or several (`status=a,b`, or `status=a&status=b` from the API): any of them (OR).
        given = [f.status] if isinstance(f.status, str) else list(f.status)
        wanted = {s.strip() for value in given for s in value.split(",") if s.strip()}
        for group in STATUS_GROUPS.keys() & wanted:
            wanted = (wanted - {group}) | STATUS_GROUPS[group]
        unknown = wanted - set(Status.values)
        if unknown:
            shown = quotable(", ".join(sorted(unknown)), 60)
            raise ValidationFailed(f"未知的状态：「{shown}」 / unknown status \"{shown}\"", field="status")
        qs = qs.filter(status__in=sorted(wanted))
    if f.work:
        lane = LANES.get(f.work.strip())
        if lane is None:
            shown = quotable(f.work, 20)
            raise ValidationFailed(f"未知的待办类别：「{shown}」 / unknown work lane \"{shown}\" (one of "
                                   f"{', '.join(LANES)})", field="work")
        qs = qs.filter(status__in=lane.statuses)
        if lane.extension_pending:
            qs = qs.filter(extension_pending=True)
        if lane.major:
            qs = qs.filter(is_major=True)
        if lane.supervised:
            qs = qs.filter(is_supervised=True)
    if f.category:  # 0, like no value, does not filter
        category = checked_id(f.category, "category")
        qs = qs.filter(Q(category_id=category) | Q(category__parent_id=category))
    if f.region:
        code = unicodedata.normalize("NFKC", f.region).strip()  # full-width digits (１４０２１３) as typed in Chinese
        if not (code.isascii() and code.isdigit()) or len(code) not in (6, 9, 12, 15):
            raise ValidationFailed("「街道/社区」须为区划代码（6、9、12 或 15 位数字） / Street / community must be a "
                                   "region code (6, 9, 12 or 15 digits)", field="region")
        qs = qs.filter(subtree_q("region_code", code))
    if f.department:
        qs = qs.filter(department_id=checked_id(f.department, "department"))
    if f.overdue is not None:
        qs = qs.filter(is_overdue=f.overdue)
    if f.due_soon is not None:
        soon = Q(is_overdue=False, pk__in=warned_case_ids(timezone.now()))
        qs = qs.filter(soon) if f.due_soon else qs.exclude(soon)
    if f.supervised is not None:
        # 督办中: under supervision now, as the supervision lane lists them; a case whose loop ended is not.
        now_supervised = Q(is_supervised=True, status__in=sorted(STATUS_GROUPS["open"]))
        qs = qs.filter(now_supervised) if f.supervised else qs.exclude(now_supervised)
    if f.is_major is not None:
        qs = qs.filter(is_major=f.is_major)
    for name, day in (("date_from", f.date_from), ("date_to", f.date_to)):
        if day and not DATE_YEARS[0] <= day.year <= DATE_YEARS[1]:
            label, label_en = _labels(name)
            raise ValidationFailed(f"「{label}」须在 {DATE_YEARS[0]}–{DATE_YEARS[1]} 年之间 / {label_en} must lie in the "
                                   f"years {DATE_YEARS[0]}–{DATE_YEARS[1]}", field=name)
    if f.date_from and f.date_to and f.date_to < f.date_from:
        raise ValidationFailed("「上报日期至」早于「上报日期自」 / Reported to is before Reported from", field="date_to")
    if f.date_from:
        qs = qs.filter(reported_at__gte=_local_midnight(f.date_from))
    if f.date_to:
        qs = qs.filter(reported_at__lt=_local_midnight(f.date_to) + timezone.timedelta(days=1))
    if (search := search_q(user, f.q)) is not None:
        qs = qs.filter(search)  # one row filter more: the list's queries stay as many
    return qs


def warned_case_ids(now: datetime):
    """The ids of the cases 即将超期 at `now` (预警): a running clock of theirs has reached its warning time (`warn_at`,
    80 % of the budget by default) and not yet its deadline. A subquery for `pk__in` (no query of its own: a list
    filtered by it costs what it did), read from the open clocks' instants, whatever the page's length. A paused
    clock (挂账) warns of nothing: its time is stopped."""
    return SlaClock.objects.filter(target_type=Case._meta.label_lower, state=RUNNING, warn_at__lte=now,
                                   due_at__gt=now).annotate(case_id=Cast("target_id", BigIntegerField())
                                                            ).values("case_id")


# Deeper than this (offset + page length), the branches' newest rows are no cheaper than sorting the scope.
SPLIT_MAX_ROWS = 5000
# A region subtree this wide (a district's code, or shorter) holds most cases: see `_Unindexed`.
WIDE_CODE_LENGTH = 6


def _scope_branches(user, action: str = "view") -> list[Q] | None:
    """The parts of the user's scope for `action`, whose union is exactly what `Case.objects.visible_to(user,
    action)` reads (`Case.scope_branches`: each region subtree, the departments, for viewing the user's own
    reports). None when the user sees everything, [] when nothing."""
    scope = scope_for(user, Case.scope_capability(action))
    if scope.everything:
        return None
    return scoped_branches(Case, scope, user, action)


class _Unindexed(Func):
    """A column that SQLite's planner will not look up in an index (`+column`; the value is unchanged).

    SQLite has no statistics unless ANALYZE ran, and even then none on ranges: it takes a region-code range
    for selective, so for a district's subtree it reads the whole `(region_code, reported_at)` index and sorts
    (measured at 1,000,000 cases: 280 ms for 50 ids, 3.4 s to count the cases not overdue, each row looked up
    through the index) where walking `reported_at` backwards finds the page at once (under 1 ms) and a plain
    scan counts them (0.4 s). PostgreSQL estimates the range from its statistics and is given the column."""

    template = "%(expressions)s"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra_context)


def _wide(branch: Q) -> bool:
    """Whether a scope branch is a region subtree at least as wide as a district (see `_Unindexed`)."""
    lower = dict(child for child in branch.children if isinstance(child, tuple)).get(
        f"{Case.scope_region_field}__gte")
    return (not branch.negated and branch.connector == Q.AND and isinstance(lower, str)
            and len(lower) <= WIDE_CODE_LENGTH and all(isinstance(child, tuple) for child in branch.children))


def _unindexed(branch: Q) -> Q:
    """The branch on `_Unindexed` region codes (its lookups renamed to the alias `_by_region` adds)."""
    prefix = f"{Case.scope_region_field}__"
    return Q(*[(f"_region_unindexed__{name.removeprefix(prefix)}" if name.startswith(prefix) else name, value)
               for name, value in branch.children], _connector=branch.connector)


def _branch_rows(qs, branch: Q, *, for_count: bool = False):
    """`qs` within one branch of the scope, written so the database can walk the right index (see
    `_Unindexed`: on SQLite a wide region subtree is not searched through the region index, except to count
    it without other filters, which that index answers alone)."""
    if connection.vendor == "sqlite" and _wide(branch) and not (for_count and not qs.query.where):
        return qs.alias(_region_unindexed=_Unindexed(F(Case.scope_region_field))).filter(_unindexed(branch))
    return qs.filter(branch)


class CaseListing:
    """The list's rows as the page (`Paginator`) and the API (`pagination.page`) read them: `count()` and
    slices, equal row for row and in the same order to `shape(case_list(user, f))`.

    The scope is an OR (a region subtree, or the department's cases, or the user's own reports). Over an OR no
    index gives the list's order, so the database sorted the whole scope for 50 rows (a district: all of it).
    Here a page is found per alternative instead — each one's newest `offset + limit` (ids and report times:
    an index serves the order) merged and cut to the page — and its rows are then read from the scoped
    queryset by id, in order. The total is the sum of each alternative's count without the earlier ones'
    rows (each row counted once), so no database has to collect the union either. A scope of one
    alternative, or an offset page deeper than SPLIT_MAX_ROWS, reads the scoped queryset as before; `after`
    reads any page by seeking past the last row of the page before (the API's `cursor`), as cheaply as the first. The page asks
    only `capped_count`: whether there are more than so many rows, each alternative counted with a LIMIT.
    """

    ordered = True  # for Paginator: the order is the list's

    def __init__(self, user, f: CaseFilter, shape=None):
        qs = case_list(user, f)
        self.queryset = shape(qs) if shape else qs
        self._branches = _scope_branches(user, scope_action(f))
        self._filtered = _filtered(Case.objects.all(), f, user)
        self._count: int | None = None

    @property
    def split(self) -> bool:
        return self._branches is not None and len(self._branches) > 1

    def _disjoint_branches(self):
        """Each alternative's rows without the earlier alternatives' rows: together the scope, each row once."""
        for i, branch in enumerate(self._branches):
            qs = _branch_rows(self._filtered, branch, for_count=True)
            for earlier in self._branches[:i]:
                qs = qs.exclude(earlier)
            yield qs

    def count(self) -> int:
        if self._count is None:
            if not self.split:
                self._count = self.queryset.count()
            else:
                self._count = sum(qs.count() for qs in self._disjoint_branches())
        return self._count

    def capped_count(self, cap: int) -> int:
        """The total if it is at most `cap`, else `cap + 1` ("more than cap"): no database counts past
        `cap + 1` rows. The alternatives are counted in turn, each up to what is left of `cap + 1`; as they
        are disjoint the sum is exact until it passes `cap`. An exact answer is kept for `count()`."""
        if self._count is not None:
            return min(self._count, cap + 1)
        if not self.split:
            total = self.queryset.order_by()[: cap + 1].count()
        else:
            total = 0
            for qs in self._disjoint_branches():
                total += qs.order_by()[: cap + 1 - total].count()
                if total > cap:
                    break
        if total <= cap:
            self._count = total
        return total

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if not isinstance(key, slice):
            rows = self[key : key + 1]
            if not rows:
                raise IndexError(key)
            return rows[0]
        start, stop = key.start or 0, key.stop
        if not self.split or stop is None or key.step not in (None, 1) or stop > SPLIT_MAX_ROWS:
            return list(self.queryset[key])
        if stop <= start:
            return []
        return self._merged(self._filtered, start, stop)

    def after(self, cursor: str, limit: int) -> list:
        """The `limit` rows that follow the row `cursor` names (`cursor_of`) in the list's order: a seek on
        (reported_at, id), so a deep page costs what the first one does (an offset reads and drops every row
        before it). Rows reported at the same moment follow each other by id, none twice, none left out."""
        seek = _seek(cursor)
        if not self.split:
            return list(self.queryset.filter(seek)[:limit])
        return self._merged(self._filtered.filter(seek), 0, limit)

    def before(self, cursor: str, limit: int) -> list:
        """The `limit` rows just before the row `cursor` names, in the list's order (the page before a page):
        the same seek the other way, the index walked upwards from the cursor, so it too costs a first page."""
        seek = _seek(cursor, backward=True)
        if not self.split:
            return list(self.queryset.filter(seek).reverse()[:limit])[::-1]
        return self._merged(self._filtered.filter(seek), 0, limit, backward=True)

    def cursor_page(self, limit: int, *, after: str | None = None, before: str | None = None) -> CursorPage:
        """A page of `limit` rows: the first, the one after the row `after` names or the one before the row
        `before` names (`BadCursor` for a cursor the list did not give), with the cursors of the pages on
        either side. One row more than the page is read, in the same queries, to know whether a page follows
        (or, going back, precedes); a page reached from a neighbour has that neighbour on its other side."""
        if after and before:
            raise BadCursor(BAD_CURSOR, field="cursor")
        if before:
            rows = self.before(before, limit + 1)
            more = len(rows) > limit
            rows = rows[len(rows) - limit :] if more else rows
            return CursorPage(rows, cursor_of(rows[-1]) if rows else None, cursor_of(rows[0]) if more else None)
        rows = self.after(after, limit + 1) if after else self[0 : limit + 1]
        more = len(rows) > limit
        rows = rows[:limit]
        return CursorPage(rows, cursor_of(rows[-1]) if more else None,
                          cursor_of(rows[0]) if after and rows else None)

    def _merged(self, filtered, start: int, stop: int, *, backward: bool = False) -> list:
        """Rows start..stop of `filtered` over the scope: each alternative's first `stop` keys (ids and report
        times, in the order an index serves; the oldest first when `backward`), merged and cut, then the rows
        read by id in the list's order."""
        order = [name.removeprefix("-") for name in LIST_ORDER] if backward else LIST_ORDER
        nearest: dict[int, datetime] = {}
        for branch in self._branches:
            keys = _branch_rows(filtered, branch).order_by(*order).values_list("pk", "reported_at")[:stop]
            nearest.update(keys)
        ids = sorted(nearest, key=lambda pk: (nearest[pk], pk), reverse=not backward)[start:stop]
        return list(self.queryset.filter(pk__in=ids)) if ids else []


@dataclass(frozen=True)
class CursorPage:
    """A page read by seeking (`CaseListing.cursor_page`): its rows in the list's order, and the cursors that
    read the next page (`after`) and the previous one (`before`), None where the list ends."""

    rows: list
    next_cursor: str | None
    previous_cursor: str | None


class BadCursor(ValidationFailed):
    """A cursor the list did not give (malformed, out of range, or two at once)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR = re.compile(r"(-?[0-9]{1,18})_([0-9]{1,18})")


def cursor_of(case: Case) -> str:
    """The list's position just after `case`: its report time (microseconds since 1970, exact) and id."""
    return f"{(case.reported_at - _EPOCH) // _MICROSECOND}_{case.pk}"


BAD_CURSOR = "cursor 无效 / cursor is not one the list gave"
OTHER_FILTERS = ("cursor 属于另一组筛选条件：请带上取得它的那一页的全部筛选参数 / the cursor was given for other "
                 "filters: repeat the filters of the page it came from")


def filters_key(f: CaseFilter) -> str:
    """A short fingerprint of the list's filters (statuses in any order or form count as the same set)."""
    values = asdict(f)
    if values["is_major"] is None:  # a filter added later: the cursors given before it stay valid
        del values["is_major"]
    given = [f.status] if isinstance(f.status, str) else list(f.status or ())
    values["status"] = sorted({s.strip() for v in given for s in v.split(",") if s.strip()})
    text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def api_cursor(cursor: str | None, f: CaseFilter) -> str | None:
    """The API's `next_cursor`: the position and the filters it belongs to (`<position>.<fingerprint>`), so that
    a cursor followed without its filters is refused rather than read as a page of another list."""
    return f"{cursor}.{filters_key(f)}" if cursor else None


def api_position(cursor: str, f: CaseFilter) -> str:
    """The position an API cursor names, if it was given for these filters (`BadCursor` otherwise)."""
    position, dot, key = cursor.strip().rpartition(".")
    if not dot or not _CURSOR.fullmatch(position):
        raise BadCursor(BAD_CURSOR, field="cursor")
    if key != filters_key(f):
        raise BadCursor(OTHER_FILTERS, field="cursor")
    return position


def _seek(cursor: str, *, backward: bool = False) -> Q:
    """The rows after `cursor` in the list's order (`LIST_ORDER`: newest first, then the higher id), or with
    `backward` the rows before it."""
    found = _CURSOR.fullmatch((cursor or "").strip())  # ASCII digits only: int() reads other scripts' too
    when = None
    if found:
        try:
            when, pk = _EPOCH + int(found[1]) * _MICROSECOND, found[2]
        except OverflowError:  # outside the years a datetime holds
            pass
    if when is None:
        raise BadCursor(BAD_CURSOR, field="cursor")
    # After: reported_at < when, or = when with a lower id; written as one range (an index on reported_at seeks
    # to it) less the tie's higher ids, not as an OR, which the planners cannot seek on. Before: the mirror.
    if backward:
        return Q(reported_at__gte=when) & ~Q(reported_at=when, pk__lte=int(pk))
    return Q(reported_at__lte=when) & ~Q(reported_at=when, pk__gte=int(pk))


def _detail_queryset():
    return Case.objects.select_related("category", "grid", "department", "suggested_department", "parent").prefetch_related(
        Prefetch("steps", queryset=CaseStep.objects.select_related("department").prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.order_by("id"))).order_by("at", "id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("id")),
    )


def case_detail(user, number: str) -> Case:
    """One case in scope with its timeline and photos (403 for a user who does not read case files, 404 outside
    scope)."""
    return case_in_scope(user, number, _detail_queryset())


def case_after_action(user, case: Case) -> Case:
    """The case as the actor left it. Usually still in their scope; when their own action moved it out (退回
    takes it from the department), they still get the state they left it in, and only that answer."""
    found = _detail_queryset().visible_to(user).filter(pk=case.pk).first()
    return found or _detail_queryset().get(pk=case.pk)


def allowed_actions(case: Case, user) -> list[dict]:
    """The buttons this user gets on this case now (the check `services.act` makes: `workflow.allowed_actions`)."""
    return [{"name": t.name, "label": t.label, "style": t.style, "requires": list(required_inputs(t, case))}
            for t in allowed_transitions(case, user)]


# Steps that stop a clock although its step was not done (退回 hands the case back, 改派 takes it from the
# department; 合并, 作废 and 不予受理 end it): the services record no 按期 fact for it, and the clock is shown as
# ended by that step, not judged.
UNJUDGED_STOPS = frozenset({"send_back", "redirect", "merge", "void", "refuse"})


def _unjudged_stops(case: Case) -> dict[datetime, str]:
    """When each such step was taken (the services stop the clock at the step's own instant)."""
    return {s.at: s.action for s in case.steps.all() if s.action in UNJUDGED_STOPS}


def clocks(case: Case) -> list[dict]:
    """The case's step clocks, newest first, with the share of budget used for open ones and whether an open
    one's deadline was reckoned on a provisional calendar year (`provisional`: holidays not yet announced,
    DOMAIN §3); a clock stopped by a step in `UNJUDGED_STOPS` has `ended_by` that step and no `on_time`
    verdict."""
    now = timezone.now()
    rows = []
    found = list(sla.clocks_of(case)[:30])
    stops = _unjudged_stops(case) if any(not c.is_open for c in found) else {}
    for c in found:
        ended_by = None if c.is_open else stops.get(c.stopped_at)
        info = {"kind": c.kind, "state": c.state, "started_at": c.started_at, "due_at": c.due_at,
                "stopped_at": c.stopped_at, "on_time": None if ended_by else c.on_time, "ended_by": ended_by,
                "warned": c.warned(now), "breached": c.breached(now), "ratio": None, "provisional": False}
        if c.is_open:
            progress = sla.progress(c, now)
            info["ratio"] = round(progress["ratio"], 3)
            info["provisional"] = progress["provisional"]
        rows.append(info)
    return rows


def left_scope(user, number: str) -> CaseStep | None:
    """The latest step of case `number` when it is not visible to `user` but once was theirs: they took a step
    on it, or were sent a message about it (a department handler whose case was sent back or dispatched
    elsewhere, a page left open meanwhile). None otherwise, so the case's existence stays hidden from anyone
    else (the scoped read path's 404)."""
    from civicgrid.foundation.notify.models import Notification

    case_id = Case.objects.filter(number=str(number)[:20]).values_list("pk", flat=True).first()
    if case_id is None or not getattr(user, "is_authenticated", False) \
            or Case.objects.visible_to(user).filter(pk=case_id).exists():
        return None
    theirs = (CaseStep.objects.filter(case_id=case_id, actor=user).exists()
              or Notification.objects.filter(user=user, target_type="cases.case", target_id=str(case_id)).exists())
    return CaseStep.objects.filter(case_id=case_id).order_by("-at", "-pk").first() if theirs else None


def own_reports(user):
    """The reports `user` made themselves (我的上报): their own reporter rows, newest report first, with the report
    and the case it is followed on now (the same case, or the one it was merged into) in the same query. Only
    rows bound to the account: a ticket an operator registered for a caller is the caller's, not the operator's.
    The rows carry what the follow page shows anyway (number, masked title, public status); no contact data is
    read."""
    from .models import CaseReporter

    if not getattr(user, "is_authenticated", False):
        return CaseReporter.objects.none()
    return (CaseReporter.objects.filter(user_id=user.pk)
            .select_related("case", "original_case")
            .only("pk", "case", "original_case", "follow_token", "created_at", "case__number", "case__status", "original_case__number",
                  "original_case__title_masked", "original_case__reported_at")
            .order_by("-original_case__reported_at", "-pk"))

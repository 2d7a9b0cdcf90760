"""The command-centre board's reads, all from `Case.objects.visible_to(user, "board")`.

Each figure is one indexed query, so the board stays fast however many cases the table holds:

* today's figures (上报、立案、派遣、处置、结案, 按期结案率): counted from today's timeline steps (`CaseStep.at`,
  indexed; `FIGURE_STEPS`), not from the case's milestone columns, which later steps clear or move (重新办理
  clears closed_at): a closing that happened today stays today's. 立案 counts 自行处置 too (recorded and closed
  on the spot in one step), as the evaluation's 立案数 does. One conditional-count query over the few cases
  with a step today and those whose handling deadline fell today (`cases_deadline_idx`); the 按期 facts of a
  closing since reopened come from its clocks (a second, small query, only then).
* 按期结案率 = 按期结案数 / 应结案数 (DOMAIN.md §4), the evaluation's definitions (`evaluation.selectors`) over
  one day: 按期结案数 is the day's closings with both the handling and the closing step in time; 应结案数 is
  the day's closings plus the cases accepted (立案 or 自行处置), not closed out (作废、合并、不予受理) nor 挂账,
  whose handling deadline (`deadline`, 处置期限) fell in the day and had passed unclosed: by now for today,
  by midnight for a past day (a case closed on a later day still counts as missed on the day it fell due), and
  those whose dispatch clock ran out in the day before any 派遣 (`overdue_dispatch_clocks`, `sla_kind_due`).
* counts by status: the `(status, region_code)` index, open statuses only (no row of the table is read).
* the overdue list and the newest reports: open cases only, a page of each. Each overdue case names the step
  whose clock it is late at and how far past that clock's due time it ran (`Lateness`), the longest first: the
  list reads each open overdue case's late clock, a probe of the clocks' indexes per case (at 1,000,000 cases
  with 9,249 overdue at once, about 150 ms on PostgreSQL and 250 ms on SQLite: 2.5–3× the page ordered by
  handling deadline, which named the wrong step). Beside it, how many open cases are 即将超期 (a running clock
  past its warning time, the case not yet overdue): one count over the few warned clocks.
* the map: open cases counted per grid on the same index, gathered into street, community or grid clusters by
  code prefix (server-side clustering), or single cases when few are in view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.db.models import Case as DbCase
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from civicgrid.apps.cases import clocks as case_clocks
from civicgrid.apps.cases import selectors as case_selectors
from civicgrid.apps.cases.models import OPEN_STATUSES, Case, CaseStep, Status, closed_timely_q
from civicgrid.apps.evaluation.formulas import as_percent
from civicgrid.apps.evaluation.selectors import CLOSED_OUT
from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.core.pii import scrub
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.sla.clock import STOPPED
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

CAPABILITY = "cases.board"
# The board is the command centre's: its dispatchers (district and street) and the leaders, each over their
# own region (the capability's scope is what `visible_to(user, "board")` reads).
grant_capabilities(CAPABILITY, {Role.COMMAND_DISPATCHER, Role.STREET_DISPATCHER, Role.LEADER})

# Statuses the board counts, in the loop's order (closed cases are counted as today's 结案 instead). The open
# ones (在办, `OPEN_STATUSES`) make the "open cases" figure and its chart by status, as they make the map and
# the lists; 挂账 cases wait outside the loop and are counted beside them, never inside 在办. The board's links to
# the case list ask for the same cases (`status=active`; the list's `open` takes 挂账 in as well).
OPEN_BOARD_STATUSES = [Status.REPORTED, Status.CHECKING, Status.ACCEPTED, Status.DISPATCHED, Status.HANDLING,
                       Status.HANDLED, Status.VERIFIED]
BOARD_STATUSES = [*OPEN_BOARD_STATUSES, Status.SUSPENDED]
OPEN = sorted(str(s) for s in OPEN_STATUSES)
FIGURES = [("reported", gettext_noop("上报")), ("accepted", gettext_noop("立案")), ("dispatched", gettext_noop("派遣")), ("handled", gettext_noop("处置")),
           ("closed", gettext_noop("结案"))]
LEVELS = {"street": 9, "community": 12, "grid": 15}
POINTS_MAX = 300  # single cases are drawn up to this many; beyond, clusters
LIST_SIZE = 12


def board_cases(user):
    """The cases the board counts for this user: `visible_to(user, "board")` (their board grants' regions; the
    cases they reported elsewhere are theirs to follow in the case list, not to count here)."""
    return Case.objects.visible_to(user, "board").order_by()


def _overdue_flag():
    """`is_overdue` as an expression, so that no index on it is used: that index holds every case that was
    ever late (most closed long ago); the open cases' status index finds the few open overdue ones faster."""
    return DbCase(When(is_overdue=True, then=Value(1)), default=Value(0), output_field=IntegerField())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


@dataclass
class Figures:
    """One district day's numbers (today's, unless the board is asked for another day)."""

    day: date
    reported: int
    accepted: int
    dispatched: int
    handled: int
    closed: int
    closed_timely: int
    due_close: int  # 应结案数: the day's closings and the cases whose handling deadline it passed unclosed

    @property
    def timely_closure_rate(self) -> float | None:
        """按期结案率 = 按期结案数 / 应结案数 (DOMAIN.md §4), %; None when no case was due to close that day."""
        return as_percent(Fraction(self.closed_timely, self.due_close)) if self.due_close else None

    def as_list(self) -> list[dict]:
        return [{"key": key, "label": gettext(label), "value": getattr(self, key)} for key, label in FIGURES]


# The timeline steps that make each of the day's figures. A case counts for the day it took such a step,
# whatever happened to it since: 重新办理 clears the case's closed_at and handled_at (and its 按期 facts), 返工
# clears handled_at, a second 派遣 after 退回 moves dispatched_at; the steps stay. 自行处置 is one step that
# accepts, handles and closes the case at once (the evaluation counts it in 立案数, 处置数 and 结案数 alike).
FIGURE_STEPS = {
    "reported": ("report",),
    "accepted": ("accept", "self_handle"),
    "dispatched": ("dispatch",),
    "handled": ("report_back", "self_handle"),
    "closed": ("close", "self_handle"),
}


def missed_closure(start: datetime, as_of: datetime) -> Q:
    """The cases that fell due to close in [start, as_of) without closing: as the evaluation's 应结案数
    (`due_close`: accepted, i.e. 立案 or 自行处置, not closed out nor 挂账, past the handling deadline), with the
    deadline inside the period and the case not closed by `as_of` (closed later, or not yet)."""
    accepted = Q(accepted_at__isnull=False) | Q(is_self_handled=True)
    in_loop = ~Q(status__in=[*CLOSED_OUT, Status.SUSPENDED])
    return (accepted & in_loop & (Q(deadline__gte=start, deadline__lt=as_of) | Exists(undispatched(start, as_of)))
            & ~Q(status=Status.CLOSED, closed_at__lt=as_of))


def overdue_dispatch_clocks(start: datetime, as_of: datetime):
    """The cases' dispatch clocks that fell due in [start, as_of) and were still running then (the case waited
    for its 派遣 past its time: it cannot close in time, so it is due to close then, as the evaluation's
    应结案数 counts it). A range of the `sla_kind_due` index."""
    return SlaClock.objects.filter(target_type=Case._meta.label_lower, kind=case_clocks.DISPATCH,
                                   due_at__gte=start, due_at__lt=as_of).filter(
        Q(stopped_at__isnull=True) | Q(stopped_at__gte=as_of))


def undispatched(start: datetime, as_of: datetime):
    """`overdue_dispatch_clocks` of the case in the outer query."""
    return overdue_dispatch_clocks(start, as_of).filter(target_id=Cast(OuterRef("pk"), CharField()))


def today_figures(user, day: date | None = None) -> Figures:
    """上报、立案、派遣、处置、结案, 按期结案 and 应结案 of one district day (today by default), in the user's scope."""
    day = day or timezone.localdate()
    start, end = day_bounds(day)
    now = timezone.now()
    # A past day is judged at its midnight, today now, a day still to come not at all.
    as_of = min(max(now, start), end)
    steps = CaseStep.objects.filter(at__gte=start, at__lt=end)
    # The cases to read, each found by an index: those with a step in the day (`at`) and those whose handling
    # deadline fell in it by `as_of` (`cases_deadline_idx`), both a day's worth whatever the table holds.
    touched = steps.order_by().values("case_id")
    candidates = touched.union(
        Case.objects.order_by().filter(deadline__gte=start, deadline__lt=as_of).values("pk"),
        overdue_dispatch_clocks(start, as_of).order_by().annotate(
            case_pk=Cast("target_id", IntegerField())).values("case_pk"))
    # Over those cases in the user's scope, with the day's steps joined: each figure counts the cases with one
    # of its steps. A closing of the day that is still the case's last one carries its 按期 facts on the case;
    # one since reopened (or closed again on a later day) is judged from its clocks.
    cases = board_cases(user).filter(pk__in=candidates).annotate(
        day_step=FilteredRelation("steps", condition=Q(steps__at__gte=start, steps__at__lt=end)))
    closing = Q(day_step__action__in=FIGURE_STEPS["closed"])
    kept = closing & Q(status=Status.CLOSED, closed_at__gte=start, closed_at__lt=end)
    counts = cases.aggregate(
        **{key: Count("pk", distinct=True, filter=Q(day_step__action__in=actions))
           for key, actions in FIGURE_STEPS.items()},
        still_closed=Count("pk", distinct=True, filter=kept),
        closed_timely=Count("pk", distinct=True, filter=kept & closed_timely_q()),
        due_close=Count("pk", distinct=True, filter=closing | missed_closure(start, as_of)),
    )
    if counts.pop("still_closed") < counts["closed"]:
        in_scope = board_cases(user).filter(pk__in=touched).values("pk")
        closings = list(steps.filter(case_id__in=in_scope, action__in=FIGURE_STEPS["closed"])
                        .values_list("case_id", "case__status", "case__closed_at"))
        reopened = {pk for pk, status, closed_at in closings
                    if not (status == Status.CLOSED and closed_at and start <= closed_at < end)}
        counts["closed_timely"] += _timely_closings(sorted(reopened), steps, start, end)
    return Figures(day=day, **counts)


def _timely_closings(case_ids: list[int], steps, start: datetime, end: datetime) -> int:
    """How many of these cases' closings in [start, end) were 按期 (the closing clock and every handling clock
    of the assignment round before it in time: a 返工 does not undo a late handling, see `cases.clocks`), for
    cases whose facts a later step cleared. A self-handled case is on time."""
    if not case_ids:
        return 0
    timely = set(steps.filter(case_id__in=case_ids, action="self_handle").values_list("case_id", flat=True))
    kinds = (case_clocks.DISPATCH, case_clocks.HANDLE, case_clocks.CLOSE)
    stopped = (SlaClock.objects.filter(target_type=Case._meta.label_lower, target_id__in=[str(pk) for pk in case_ids],
                                       kind__in=kinds, state=STOPPED)
               .order_by("stopped_at", "pk").values_list("target_id", "kind", "stopped_at", "on_time"))
    # A 改派 stops the handling clock of the department the case is taken from (unjudged, at the step's moment)
    # and opens a new round for the one it goes to, without a dispatch clock (on whatever day it was made).
    redirects = {(str(pk), at) for pk, at in CaseStep.objects.filter(case_id__in=case_ids, action="redirect")
                 .values_list("case_id", "at")}
    handled: dict[str, bool | None] = {}
    for target, kind, at, on_time in stopped:
        if kind == case_clocks.DISPATCH or (kind == case_clocks.HANDLE and (target, at) in redirects):
            handled[target] = None  # a 派遣 or 改派: a new round
        elif kind == case_clocks.HANDLE:
            handled[target] = case_clocks.round_on_time(handled.get(target), on_time)
        elif start <= at < end and on_time and handled.get(target):
            timely.add(int(target))
    return len(timely)


def status_counts(user) -> list[dict]:
    """How many cases stand in each status of `BOARD_STATUSES` (the open ones, then 挂账), in the loop's order;
    `open` says which count as 在办."""
    found = dict(board_cases(user).filter(status__in=BOARD_STATUSES).values_list("status")
                 .annotate(n=Count("pk")).values_list("status", "n"))
    return [{"status": str(s), "label": str(s.label), "count": found.get(str(s), 0), "open": s in OPEN_STATUSES}
            for s in BOARD_STATUSES]


# How the overdue list names the step a case is late at (its clock's kind, `cases.clocks.KINDS`).
OVERDUE_LABELS = {
    case_clocks.INTAKE: gettext_lazy("受理超期"),
    case_clocks.CHECK: gettext_lazy("核实超期"),
    case_clocks.DISPATCH: gettext_lazy("派遣超期"),
    case_clocks.HANDLE: gettext_lazy("处置超期"),
    case_clocks.VERIFY: gettext_lazy("核查超期"),
    case_clocks.CLOSE: gettext_lazy("结案超期"),
}


@dataclass
class Lateness:
    """The step clock an overdue case is late at: its kind, due time, and until when it ran past it (now for
    a step still open, its stopping for one that finished late)."""

    kind: str
    due_at: datetime
    until: datetime

    @property
    def label(self) -> str:
        return OVERDUE_LABELS.get(self.kind, self.kind)

    @property
    def late_by(self) -> timedelta:
        return self.until - self.due_at


def _late_clocks(now: datetime):
    """The two clocks a case can be late at, as querysets to take one column of per case: an open one past its
    due time (the step it is late at now; the earliest due if several), found among the case's few open clocks
    (`sla_one_open_clock`), and the one that stopped late most recently (a step finished late, as 处置 before
    核查, which keeps the case 超期 until its next round), read only when there is no open one."""
    of_case = SlaClock.objects.filter(target_type=Case._meta.label_lower,
                                      target_id=Cast(OuterRef("pk"), CharField()))
    open_late = of_case.filter(state__in=OPEN_STATES, due_at__lte=now).order_by("due_at", "pk")
    stopped_late = of_case.filter(state=STOPPED, on_time=False).order_by("-stopped_at", "-pk")
    return open_late, stopped_late


def _duration(later, earlier) -> ExpressionWrapper:
    return ExpressionWrapper(later - earlier, output_field=DurationField())


def overdue(user, limit: int = LIST_SIZE) -> tuple[list[Case], int]:
    """The open overdue cases, the latest first (a page), and how many there are; each with its `lateness`.

    One query for the page: how far each open overdue case ran past the due time of the clock it is late at
    (`_late_clocks`) picks the page, and only the page's cases read that clock's kind and due time. A case
    without such a clock (imported without its clocks) is judged by its handling deadline (`deadline`) if that
    has passed, and comes last otherwise."""
    now = timezone.now()
    at_now = Value(now, output_field=DateTimeField())
    qs = board_cases(user).filter(status__in=OPEN).alias(late=_overdue_flag()).filter(late=1)
    open_late, stopped_late = _late_clocks(now)
    # COALESCE reads the stopped clocks only for a case with no open clock past due.
    late_by = Coalesce(Subquery(open_late.annotate(by=_duration(at_now, F("due_at"))).values("by")[:1]),
                       Subquery(stopped_late.annotate(by=_duration(F("stopped_at"), F("due_at"))).values("by")[:1]),
                       _duration(at_now, F("deadline")))
    # NULL for a case with none of them: last, the same on SQLite (NULLs first by default) and PostgreSQL (last).
    ranking = (F("late_by").desc(nulls_last=True), "pk")
    page = qs.annotate(late_by=late_by).order_by(*ranking).values("pk")[:limit]
    rows = list(Case.objects.filter(pk__in=page).annotate(
        late_by=late_by, open_kind=Subquery(open_late.values("kind")[:1]),
        open_due_at=Subquery(open_late.values("due_at")[:1]), stopped_kind=Subquery(stopped_late.values("kind")[:1]),
        stopped_due_at=Subquery(stopped_late.values("due_at")[:1]),
        stopped_at=Subquery(stopped_late.values("stopped_at")[:1]),
    ).select_related("department", "category").order_by(*ranking))
    for case in rows:
        case.lateness = _lateness(case, now)
    return rows, qs.count()


def due_soon_count(user) -> int:
    """How many open cases are 即将超期 (预警): a step past its clock's warning time, not yet overdue
    (`cases.selectors.warned_case_ids`); the case list's `?due_soon=1` lists them. One count."""
    return (board_cases(user).filter(status__in=OPEN, pk__in=case_selectors.warned_case_ids(timezone.now()))
            .alias(late=_overdue_flag()).filter(late=0).count())


def _lateness(case: Case, now: datetime) -> Lateness | None:
    if case.open_kind is not None:
        return Lateness(case.open_kind, case.open_due_at, now)
    if case.stopped_kind is not None:
        return Lateness(case.stopped_kind, case.stopped_due_at, case.stopped_at)
    if case.deadline is not None and case.deadline <= now:
        return Lateness(case_clocks.HANDLE, case.deadline, now)
    return None


def latest(user, limit: int = LIST_SIZE) -> list[Case]:
    """The newest open reports."""
    return list(board_cases(user).filter(status__in=OPEN).select_related("category")
                .order_by("-reported_at", "-pk")[:limit])


def scope_regions(user) -> list[dict]:
    """The regions the board covers for this user (the district for a district-wide grant), by code."""
    scope = scope_for(user, CAPABILITY)
    regions = Region.objects.order_by("code")
    regions = regions.filter(parent__isnull=True) if scope.everything else regions.filter(code__in=sorted(scope.region_codes))
    return [{"code": code, "name": name} for code, name in regions.values_list("code", "name")]


# ------------------------------------------------------------------------------------------------ the map

def level_for_zoom(zoom: int | None) -> str:
    """Cluster by street when the whole district is in view, by community, then by grid, then single cases."""
    if zoom is None or zoom <= 12:
        return "street"
    if zoom <= 14:
        return "community"
    if zoom <= 15:
        return "grid"
    return "case"


def map_data(user, *, zoom: int | None = None, bbox: tuple[float, float, float, float] | None = None) -> dict:
    """Open cases for the map: clusters per street/community/grid (by code prefix), or single cases when few
    are open or the map is zoomed in (those within `bbox`, at most POINTS_MAX). `total` counts every open case
    in scope; `unlocated` those of it in no cluster, their region having no centre point (or no row) to put one
    at: the map says them apart (未定位), so that its clusters and `unlocated` add up to `total`."""
    open_cases = board_cases(user).filter(status__in=OPEN)
    per_grid = dict(open_cases.values_list("region_code").annotate(n=Count("pk")).values_list("region_code", "n"))
    total = sum(per_grid.values())
    level = "case" if total <= POINTS_MAX else level_for_zoom(zoom)
    if level == "case":
        return {"level": level, "total": total, "unlocated": 0, "clusters": [], "items": _points(open_cases, bbox)}
    width = LEVELS[level]
    counts: dict[str, int] = {}
    for code, n in per_grid.items():
        counts[code[:width]] = counts.get(code[:width], 0) + n
    regions = Region.objects.filter(code__in=list(counts)).values_list("code", "name", "centroid_lng", "centroid_lat")
    clusters = [{"code": code, "name": name, "count": counts[code], "lng": lng, "lat": lat}
                for code, name, lng, lat in regions if lng is not None]
    clusters.sort(key=lambda c: -c["count"])
    unlocated = total - sum(c["count"] for c in clusters)
    return {"level": level, "total": total, "unlocated": unlocated, "clusters": clusters, "items": []}


def _points(qs, bbox) -> list[dict]:
    if bbox:
        min_lng, min_lat, max_lng, max_lat = bbox
        qs = qs.filter(lng__gte=min_lng, lng__lte=max_lng, lat__gte=min_lat, lat__lte=max_lat)
    rows = qs.order_by("-reported_at", "-pk").values("pk", "number", "title", "status", "is_overdue", "lng", "lat")
    labels = dict(Status.choices)
    # the title as staff read it in the lists (`Case.title_for_staff`): phone and ID numbers masked
    return [{"id": r["pk"], "number": r["number"], "title": scrub(r["title"]), "status": r["status"],
             "status_label": str(labels.get(r["status"], r["status"])), "overdue": r["is_overdue"],
             "lng": r["lng"], "lat": r["lat"]} for r in rows[:POINTS_MAX]]

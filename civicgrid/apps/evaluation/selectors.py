"""The evaluation's reads: one aggregate query per subject kind over a period, from the scoped cases.

**Which cases a period evaluates.** The cases *reported* in the period (`reported_at` in [start, end], district
dates), as they stood at the period's end (or at `as_of`, normally now, for a period still running): a step taken
after the period (挂账, 重新办理, a late closing) belongs to a later one and does not change this one's figures.
Where a later step cleared or moved a case field (重新办理 clears `deadline`, `handled_at` and `closed_on_time`; a
new 派遣 moves `dispatched_at` and the round's `handled_on_time`), the facts come from the case's timeline steps
(status, 派遣, 处置反馈, 结案 before that moment) and its step clocks (`Facts`), computed once per case for all
the counts of a table (`FactColumns`); a case without steps (imported) is read from its fields. The cohort is an index range
(`reported_at`, or `region_code, reported_at` inside a street), so a month costs the same at 100,000 or
1,000,000 cases in the table; and every numerator below is a subset of its denominator, so no rate exceeds
100 %. A case counts for the department it was with at that moment (`Facts.department`: a 派遣 or 退回 after
the period hands a later period's work to another department, not this period's record; a case placed with a
department when it was created, without a 派遣 step, is that department's until the 退回 or 改派 that moved it),
the account that accepted it (`accepted_by`), that dispatched it last by then (`Facts.dispatcher`; 准确派遣率
counts each dispatch; a case accepted and left waiting for its first 派遣 past the dispatch clock is the
accepting account's, `Facts.answering_dispatcher`), that reported it (`reporter`), and its grid
(`region_code`, whose prefixes are its community and street).

**What each count means in case fields** (`COUNTS`; the set names are used in several definitions):

* closed-out statuses: 作废 `voided`, 合并 `merged` (a duplicate), 不予受理 `refused`; 挂账 `suspended` cases
  wait with paused clocks and are left out of the handling and closing counts while they wait.
* 上报数 `reports`: the cohort's reports that intake has decided on (all but those still 待受理 or 核实中: a
  report is counted once it is known whether it holds). 有效上报数 `valid_reports`: accepted (立案) or
  自行处置, and not 作废/合并/不予受理.
* 立案数 `accepted`: `accepted_at` set (立案), or 自行处置 (recorded and closed on the spot in one step).
  按时立案数: `accepted_on_time` (the intake clock, report → 立案, paused while 核实 runs). 作废数 `voided`:
  accepted, then 作废. 公众举报立案数 `public_accepted`: accepted from 群众上报, 12345 热线 or Open311.
* 派遣数 `dispatched`: `dispatched_at` set, not 作废/合并; 按时派遣数: and `dispatched_on_time`, and not waiting
  for a 派遣 again past the dispatch clock (both by the account whose dispatch stuck, `dispatched_by`).
  超时未派遣 `undispatched`: waiting for its 派遣 (待派遣) at the moment with the dispatch clock run out (first
  accepted, or back after 退回 or 重新办理). 应派遣数 `due_dispatch`: dispatched, or 超时未派遣 — a 派遣 the
  loop was owed (DOMAIN.md §4 divides by 应派遣数, not by 派遣数): a case left undispatched counts against the
  dispatcher who answers for it (`Facts.answering_dispatcher`: the one whose 派遣 was sent back or reopened,
  else the account that accepted it), not for nobody. 按时派遣率 = 按时派遣数 / 应派遣数, as §4's other 按时/按期
  rates divide by their 应…数.
* 准确派遣率 = (派遣数 − 返工数) / 应派遣数 is counted per 派遣, against whoever made it (`_dispatchers`):
  派遣次数 `dispatch_acts` is the dispatches the account made on the cohort's cases (not 作废/合并) — each one
  it was due to make — and 应派遣次数 `due_dispatch_acts` those plus one for each 超时未派遣 case it answers
  for (the 派遣 it still owed); 派遣返工数 `dispatch_rework`
  those of them the department sent back (退回: the case's next dispatch or send-back step before the moment is a send-back) or a
  dispatcher redirected (改派, `redirect_count`: itself a dispatch, by its actor), a dispatch that had to be
  redone. The dispatcher who sent a case to the wrong department answers for it, not the one who re-dispatched
  it correctly. A case never sent back, redirected nor reopened was dispatched once, by
  `dispatched_by` (counted in the aggregate query); only the few others have their timeline's dispatch and
  send-back steps read (a case without such steps, e.g. imported, counts as one dispatch by `dispatched_by`,
  sent back if `send_back_count` > 0). A 核查 failure (返工) is the department's, not the dispatcher's.
* 应处置数 `due_handle`: dispatched (or 自行处置), not closed out or suspended, and either handled at least once
  or past its handling deadline (`deadline` < as_of, or a handling clock of the assignment then, since its last
  派遣 or 改派, ran out before then): a case still within its time is not due yet, nor one whose earlier
  department let its deadline pass before the case was taken from it. "Handled at least once" is a 处置反馈 (or 自行处置) step before the moment.
  处置数 `handled`: of those, handled at least once (`handled_at` set, or `rework_count` > 0, which implies an
  earlier 处置反馈). 按期处置数: handled now (`handled_at` set) and `handled_on_time`, which is the assignment
  round's: every handling since the last 派遣 in time. A 返工 runs a fresh handling clock in the same round, so a
  late handling before it stays late however the rework goes; a new 派遣 (after 退回 or 重新办理) is judged
  afresh (`cases.clocks`). 返工数 `reworked`: handled and `rework_count` > 0 (a 返工 step before the moment;
  counted once per case, however many reworks). A 处置反馈 or 返工 counts for the department that did it (the
  step's department, that of the case's last 派遣 or 改派 before the moment): a case taken from it (改派, or 退回
  and 派遣 again) is neither handled nor reworked by the department it went to until that one reports back.
* 应结案数 `due_close`: accepted, not closed out or suspended, and closed (a 结案 step before the moment: a case
  closed then reopened stays due, no longer closed), past its handling deadline, or waiting for its 派遣 with the
  dispatch clock run out (立案 but not dispatched in time: it has no handling deadline yet, and can no longer
  close in time; it counts for its grid, community and street, and on the board's 按期结案率, not for a
  department, which does not have it; the dispatcher answers for it in 应派遣数).
  结案数 `closed`: status `closed`. 按期结案数 `closed_timely`: closed with both the handling (`handled_on_time`:
  every handling of the round, as for 按期处置数) and the closing step (`closed_on_time`) in time. 按时结案数
  `close_step_timely`: closed with the closing step in time (the 值班长's own step).
* 核实数 / 按时核实数: a 核实 was answered (`checked_on_time` set) / in time. 核查数 / 按时核查数: an on-site
  check (核查, passed or 返工) was done (`verified_on_time` set: a 核查 or 返工 step before the moment) / in
  time (the 核查 clock that step stopped).
* 核实派发数 `check_sent`: accepted cases that went through 核实; 核实按时派发数: of those, the intake clock (which
  runs until the 核实 is sent and again after it returns) was in time. 核查派发数 `verify_sent`: cases handled at
  least once, whose 核查 task went out: in this loop it goes to the grid's workers automatically at 处置反馈, so
  it is never late and 核查按时派发数 equals 核查派发数.

Subjects: 受理员 and 值班长 are both the account that accepted (立案) the case (`accepted_by`; the case records
no other intake actor), a 值班长's 按时结案率 reads the closing of the cases they accepted; a 派遣员 is
`dispatched_by` (for a case dispatched twice, the last dispatcher), except for 准确派遣率, which counts every
dispatch against the account that made it, and a case left waiting for its first 派遣 past the dispatch clock is
the account's that accepted it; a 监督员 (grid worker) is an account holding a
grid-worker grant, with 有效上报率 from their own reports and 漏报率, 按时核实率, 按时核查率 from the cases of
the grids they are granted (核实 and 核查 tasks go to a grid's workers).

**Who is scored and ranked.** Scores are rounded to two decimals (as shown) before they are graded and ranked:
two rows showing 86.00 share a rank. A subject is scored, graded and ranked on its own work in the period
(`formulas.own_work`), the same rule for every kind: at least one term that measures it must apply. A count band
(立案数分值, 派遣数分值, 受理数分值) is not such a term — a department with no case due would otherwise rank
first on the 100 its empty 立案数 band gives — nor are a 监督员's grid terms (漏报率, 按时核实率, 按时核查率: the
figures of their grids, shared with the grid's other workers), so a 监督员 with 上报数 0 in the period (their
only term, 有效上报率, does not apply) is not ranked above the workers who reported. Such a row is still listed,
after the ranked ones, as is every subject of the kind in the evaluator's scope without a case in the period
(`_listed`: the active organisations cases are sent to, the regions of the level, the accounts holding a role
that does the kind's work; one query with the names, whatever their number), with its counts and rates but no score, grade or rank, and the reason
(`Row.unscored_reason`: 本期无上报，不参与排名 for a 监督员, 无数据 otherwise) on the page, in the xlsx and in the API.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    Expression,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as Choose  # `Case` is the model
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Substr
from django.db.models.lookups import Exact, In, IsNull
from django.db.models.sql.datastructures import BaseTable
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.apps.cases import clocks as case_clocks
from civicgrid.apps.cases.models import SYSTEM_USERNAMES, Case, CaseStep, Source, Status, closed_timely_q
from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role, capabilities_of, roles_with
from civicgrid.foundation.access.scope import has_capability, scope_for, subtree_q, user_roles
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.orgs.models import CASE_HANDLING_KINDS, Organisation, brief_name
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.foundation.sla.clock import STOPPED
from civicgrid.foundation.sla.models import SlaClock

from . import formulas

CAPABILITY = "cases.evaluate"
PUBLIC_SOURCES = (Source.PUBLIC, Source.HOTLINE, Source.OPEN311)
CLOSED_OUT = (Status.VOIDED, Status.MERGED, Status.REFUSED)
MAX_DAYS = 366 * 5  # any period, but not an accident that asks for a century
YEARS = (2000, 2099)  # dates outside these are typing errors (and year 1 or 9999 overflow at midnight in UTC)


def counts_q(as_of: datetime, facts: Facts | FactColumns | None = None) -> dict[str, Q | None]:
    """Each count as a filter on a case (None: every case), as the case stood at `as_of` (see the module
    docstring, "As of the period's end"). Self-contained expressions (no annotations needed), so any queryset of
    cases can aggregate them; or, given `FactColumns`, read from the columns in which `grouped_counts` computed
    the facts once per case."""
    f = facts or Facts(as_of)
    accepted = Q(accepted_at__lt=as_of) | Q(is_self_handled=True)
    in_loop = ~f.status_in(*CLOSED_OUT, Status.SUSPENDED)
    dispatched = f.dispatched & ~f.status_in(Status.VOIDED, Status.MERGED)
    in_hands = (f.dispatched | Q(is_self_handled=True)) & in_loop
    handled_once = f.handled_once
    past_deadline = f.past_deadline
    closed = accepted & f.status_in(Status.CLOSED)
    by_intake = Q(accepted_at__lt=as_of)
    # 按期 facts: the case's own while nothing changed its status since `as_of`; otherwise its clocks' as they
    # stood then (a 重新办理 since cleared the closing's and a new 派遣 the round's).
    kept, changed = ~f.changed_since, f.changed_since
    handled_timely = (kept & Q(handled_at__isnull=False, handled_on_time=True)) | (
        changed & f.status_in(Status.HANDLED, Status.VERIFIED, Status.CLOSED) & f.round_on_time)
    close_step_timely = (kept & Q(closed_on_time=True)) | (changed & f.close_on_time)
    return {
        "reports": ~f.status_in(Status.REPORTED, Status.CHECKING),
        "valid_reports": accepted & ~f.status_in(*CLOSED_OUT),
        "accepted": accepted,
        "accepted_timely": accepted & Q(accepted_on_time=True),
        "voided": accepted & f.status_in(Status.VOIDED),
        "public_accepted": accepted & Q(source__in=PUBLIC_SOURCES),
        "dispatched": dispatched,
        "dispatched_once": dispatched & Q(send_back_count=0, reopen_count=0, redirect_count=0),
        # A case waiting for a 派遣 past its dispatch clock is not dispatched in time, whatever an earlier 派遣
        # (since sent back) was.
        "dispatched_timely": dispatched & Q(dispatched_on_time=True) & ~f.dispatch_overdue,
        "undispatched": f.dispatch_overdue,
        "due_dispatch": dispatched | f.dispatch_overdue,
        "due_handle": in_hands & (handled_once | f.handling_late),
        "handled": in_hands & handled_once,
        "handled_timely": in_hands & handled_timely,
        "reworked": in_hands & handled_once & f.reworked,
        "due_close": accepted & in_loop & (f.closed_once | past_deadline | f.dispatch_overdue),
        "closed": closed,
        "closed_timely": closed & (kept & closed_timely_q()
                                   | changed & f.close_on_time & f.round_on_time),
        "close_step_timely": closed & close_step_timely,
        "checked": Q(checked_on_time__isnull=False),
        "checked_timely": Q(checked_on_time=True),
        "verified": f.verified,
        "verified_timely": f.verified_timely,
        "check_sent": by_intake & Q(checked_on_time__isnull=False),
        "check_sent_timely": by_intake & Q(checked_on_time__isnull=False, accepted_on_time=True),
        "verify_sent": handled_once & Q(is_self_handled=False),
        "verify_sent_timely": handled_once & Q(is_self_handled=False),
    }


class Facts:
    """What a case's timeline and clocks say about it at `as_of`, as filter expressions on the case (correlated
    subqueries: each an index probe of the case's few steps, `cases_casestep.case_id`, or clocks, `sla_target`).

    A later step clears or moves case fields (重新办理 clears `deadline`, `handled_at` and `closed_on_time`, 挂账
    changes `status`, a new 派遣 moves `dispatched_at`); the steps stay. A case without steps (imported, or a
    test's row) is read from its fields."""

    HANDLING = ("report_back", "self_handle")
    CLOSING = ("close", "self_handle")

    def __init__(self, as_of: datetime):
        self.as_of = as_of
        steps = CaseStep.objects.filter(case=OuterRef("pk"), at__lt=as_of)
        # The status the case was in at `as_of`: the one the first status-changing step since then moved it from
        # (every change of status is a step: it stayed so until then), else, with none since, its own. Not the
        # last such step's before `as_of`: a case placed in a status when it was created (imported, or placed
        # with a department at intake) has no step that set it, and would read as still 待受理.
        moved = (CaseStep.objects.filter(case=OuterRef("pk"), at__gte=as_of).exclude(to_status="")
                 .order_by("at", "pk").values("from_status")[:1])
        self.status = Coalesce(NullIf(Subquery(moved), Value("")), F("status"))
        self.has_steps = Exists(CaseStep.objects.filter(case=OuterRef("pk")))
        self.changed_since = Exists(CaseStep.objects.filter(case=OuterRef("pk"), at__gte=as_of).exclude(to_status=""))
        # A 处置反馈 or 返工 is the work of the department the case was with then (the step's `department`), and
        # counts for that department only: not for one the case went to since (改派, or 退回 and 派遣 again), which
        # has not handled it yet. The department holding the case at `as_of` is the one its last 派遣 or 改派
        # before then named (without one, a case placed with a department when it was created: every step).
        # (Inside a subquery over a case's steps or clocks: hence the outer case's pk two levels out.)
        last_move = (CaseStep.objects.filter(case=OuterRef(OuterRef("pk")), at__lt=as_of,
                                             action__in=("dispatch", "redirect")).order_by("-at", "-pk"))
        held = Subquery(last_move.values("department_id")[:1])
        of_holder = Q(department_id=held) | Q(IsNull(held, True))
        self.handled_once = (Exists(steps.filter(of_holder, action__in=self.HANDLING)) | Q(handled_at__lt=as_of)
                             | (Q(rework_count__gt=0) & ~self.has_steps))
        # Dispatched by `as_of`: a 派遣 step before it, or `dispatched_at` (a later 派遣 or 改派 moves it); or, for a
        # case placed with a department when it was created (no 派遣 step), a 退回 or 改派 as the first move since:
        # only a case in a department's hands is sent back or redirected.
        moves = ("dispatch", "redirect", "send_back")
        first_move_since = (CaseStep.objects.filter(case=OuterRef("pk"), at__gte=as_of, action__in=moves)
                            .order_by("at", "pk"))
        # (The case's own column first: most cases are answered by it, without reading a step.)
        self.dispatched = (Q(dispatched_at__lt=as_of) | Exists(steps.filter(action="dispatch"))
                           | Q(In(Subquery(first_move_since.values("action")[:1]), ["send_back", "redirect"])))
        self.closed_once = Exists(steps.filter(action__in=self.CLOSING)) | Q(In(self.status, [str(Status.CLOSED)]))
        clocks = SlaClock.objects.filter(target_type=Case._meta.label_lower,
                                         target_id=Cast(OuterRef("pk"), CharField()))
        # A handling clock that ran past its deadline before `as_of` (stopped late, or not stopped): the case was
        # due, whatever a 退回 or 重新办理 since did to `deadline`.
        # The kind is compared as `kind || ''`: on (kind, due_at) itself SQLite, without statistics, reads the
        # clocks by `sla_kind_due` (every handling clock due before the moment, for each case) instead of the
        # case's few by `sla_target` (measured in benchmarks/bench_evaluation.py's plan line).
        clocks = clocks.alias(kind_text=Concat("kind", Value("")))
        self.past_deadline = Q(deadline__lt=as_of) | Exists(clocks.filter(
            kind_text=case_clocks.HANDLE, due_at__lt=as_of).filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=F("due_at"))))
        # Waiting for a 派遣 at `as_of` with the dispatch clock past its deadline: already too late to close in
        # time, so due to close (it has no handling deadline yet: that is set at 派遣), and a 派遣 its dispatcher
        # owes. A case dispatched before `as_of` and never sent back nor reopened (most of them) waited for no
        # 派遣 then: its clocks are not read.
        self.dispatch_late = ~Q(dispatched_at__lt=as_of, send_back_count=0, reopen_count=0) & Exists(
            clocks.filter(kind_text=case_clocks.DISPATCH, started_at__lt=as_of, due_at__lt=as_of)
            .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=as_of)))
        # The same for the department holding the case at `as_of`: a handling clock of its own assignment (started
        # at or after the last 派遣 or 改派 before then) ran out. A late department's clock does not make the one
        # the case went to since (改派, or 退回 and 派遣 again) due to report back before its own deadline.
        holder_since_step = Subquery(last_move.values("at")[:1])
        holder_since = Coalesce(holder_since_step, OuterRef("reported_at"))
        self.handling_late = Q(deadline__lt=as_of) | Exists(clocks.filter(
            kind_text=case_clocks.HANDLE, due_at__lt=as_of, started_at__gte=holder_since).filter(
            Q(stopped_at__isnull=True) | Q(stopped_at__gt=F("due_at"))))
        stopped = clocks.filter(state=STOPPED, stopped_at__lt=as_of)
        # 按时结案 at `as_of`: the last closing clock stopped before it was in time.
        self.close_on_time = Q(Exact(Subquery(stopped.filter(kind=case_clocks.CLOSE).order_by("-stopped_at", "-pk")
                                              .values("on_time")[:1]), True))
        # 按期处置 at `as_of`: every handling clock of the assignment round then (started since its 派遣 or 改派:
        # the last such step before `as_of`, else the last dispatch clock stopped before it) in time, and at least
        # one. A 改派 stops no dispatch clock: the round it opens is read from its step, so the clock of the
        # department the case was taken from (stopped at the 改派, late or not) is not the new one's.
        round_start = Coalesce(holder_since_step, Subquery(
            SlaClock.objects.filter(target_type=Case._meta.label_lower,
                                    target_id=Cast(OuterRef(OuterRef("pk")), CharField()), kind=case_clocks.DISPATCH,
                                    state=STOPPED, stopped_at__lt=as_of)
            .order_by("-stopped_at").values("stopped_at")[:1]), OuterRef("reported_at"))
        handlings = stopped.filter(kind=case_clocks.HANDLE, started_at__gte=round_start)
        self.round_on_time = Exists(handlings.filter(on_time=True)) & ~Exists(handlings.exclude(on_time=True))
        # 核查数 and 返工数: `verified_on_time` and `rework_count` change only at a 核查 or 返工 step, so a case with
        # none since `as_of` is as those fields say. One with such a step since reads its steps before then: a 核查
        # (passed, or failed: 返工), timed by the 核查 clock the last one stopped (a clock 作废 stopped records no
        # fact); a 返工.
        since = CaseStep.objects.filter(case=OuterRef("pk"), at__gte=as_of)
        checks = ("verify", "rework")
        last_check = (CaseStep.objects.filter(case=OuterRef(OuterRef("pk")), at__lt=as_of, action__in=checks)
                      .order_by("-at", "-pk").values("at")[:1])
        checked_since = Exists(since.filter(action__in=checks))
        self.verified = _either(checked_since, Exists(steps.filter(action__in=checks)),
                                Q(verified_on_time__isnull=False))
        self.verified_timely = _either(checked_since, Q(Exact(Subquery(
            stopped.filter(kind=case_clocks.VERIFY, stopped_at=Subquery(last_check)).values("on_time")[:1]), True)),
            Q(verified_on_time=True))
        # (`rework_count` counts every department's 返工: a case that changed hands reads its steps.)
        self.reworked = _either(checked_since | Q(redirect_count__gt=0) | Q(send_back_count__gt=0)
                                | Q(reopen_count__gt=0), Exists(steps.filter(of_holder, action="rework")),
                                Q(rework_count__gt=0))
        # The department the case was with at `as_of` and the account whose 派遣 it was: the fields change only at
        # 派遣 and 改派 (to the department named, by the step's actor) and 退回 (to none), so a case with none of
        # these since is as its fields say; one with such a step since reads the last before then. With none
        # before, the first since says what it moved the case from: a 退回 records the department sending it back
        # (`CaseStep.department`), a 改派 the one it was taken from (`from_department`), so a case placed with a
        # department when it was created, without a 派遣 step (imported, or routed at intake), counts for that
        # department; a 派遣 moved it from no department (it was waiting for its first).
        last_move = steps.filter(action__in=moves).order_by("-at", "-pk").annotate(held=Choose(
            When(action="send_back", then=Value(None)), default=F("department_id"), output_field=IntegerField()))
        first_move_since = first_move_since.annotate(held_before=Choose(
            When(action="send_back", then=F("department_id")),
            When(action="redirect", then=Cast(KeyTextTransform("from_department", "data"), IntegerField())),
            default=Value(None), output_field=IntegerField()))
        self.department = Choose(
            When(~Exists(since.filter(action__in=moves)), then=F("department_id")),
            When(Exists(steps.filter(action__in=moves)), then=Subquery(last_move.values("held")[:1])),
            default=Subquery(first_move_since.values("held_before")[:1]), output_field=IntegerField())
        dispatches = ("dispatch", "redirect")
        last_dispatch = steps.filter(action__in=dispatches).order_by("-at", "-pk").values("actor_id")[:1]
        self.dispatcher = Choose(When(~Exists(since.filter(action__in=dispatches)), then=F("dispatched_by_id")),
                                 default=Subquery(last_dispatch), output_field=IntegerField())
        # Most cases need none of that: one not saved since `as_of`, never sent back, redirected nor reopened, is as its fields
        # say, and the subqueries, written after that test, are not run for it. The others cost about 0.1 ms each
        # on SQLite (benchmarks/bench_evaluation.py, whose cases were all saved after the month: 849 cases, the
        # department table 19 → 107 ms).
        fast = self.fast = Q(updated_at__lt=as_of, reopen_count=0, send_back_count=0, redirect_count=0)
        self.handled_once = (fast & (Q(handled_at__isnull=False) | Q(rework_count__gt=0))) | (~fast & self.handled_once)
        self.dispatched = (fast & Q(dispatched_at__isnull=False)) | (~fast & self.dispatched)
        self.closed_once = (fast & Q(status=Status.CLOSED)) | (~fast & self.closed_once)
        self.past_deadline = (fast & Q(deadline__lt=as_of)) | (~fast & self.past_deadline)
        self.handling_late = (fast & Q(deadline__lt=as_of)) | (~fast & self.handling_late)
        self.dispatch_overdue = self.status_in(Status.ACCEPTED) & self.dispatch_late
        self.changed_since = ~fast & self.changed_since
        self.verified = (fast & Q(verified_on_time__isnull=False)) | (~fast & self.verified)
        self.verified_timely = (fast & Q(verified_on_time=True)) | (~fast & self.verified_timely)
        self.reworked = (fast & Q(rework_count__gt=0)) | (~fast & self.reworked)
        self.department = Choose(When(fast, then=F("department_id")), default=self.department,
                                 output_field=IntegerField())
        self.dispatcher = Choose(When(fast, then=F("dispatched_by_id")), default=self.dispatcher,
                                 output_field=IntegerField())
        # Who answers for the case in the dispatcher table: the account whose 派遣 it was at `as_of`; a case never
        # dispatched by then and waiting for its 派遣 past the dispatch clock (`dispatch_overdue`) is the account's
        # that accepted it (立案 put it in that account's hands: in this loop the same dispatchers accept and
        # dispatch), so that its 应派遣数 holds it (DOMAIN.md §4). One sent back or reopened since its 派遣 stays
        # with the dispatcher whose 派遣 it was, to whom it came back.
        self.answering_dispatcher = Coalesce(
            self.dispatcher, Choose(When(self.dispatch_overdue, then=F("accepted_by_id")), output_field=IntegerField()),
            output_field=IntegerField())

    def status_in(self, *statuses) -> Q:
        """The case was in one of `statuses` at `as_of`."""
        codes = [str(s) for s in statuses]
        return (self.fast & Q(status__in=codes)) | (~self.fast & Q(In(self.status, codes)))


class FactColumns:
    """The facts of `Facts`, each computed once per case as a column of a derived table (`grouped_counts`), and
    read from there by every count (`counts_q(as_of, FactColumns(...))`).

    Aggregated straight from the cases, each count repeats the subqueries its definition holds: for the
    department table the status at `as_of` was probed nine times per case, the 派遣 and 处置反馈 steps four and
    three times. A column is a CASE that tests first what `Facts` tests first (`fast`, `changed_since`), so a
    case that needed no subquery still runs none; only the columns the counts read are computed (`needed`)."""

    def __init__(self, facts: Facts):
        self.as_of = facts.as_of
        changed = facts.changed_since
        self.expressions = {
            "as_of_status": Choose(When(facts.fast, then=F("status")), default=facts.status),
            "as_of_dispatched": _flag(facts.dispatched),
            "as_of_handled_once": _flag(facts.handled_once),
            "as_of_closed_once": _flag(facts.closed_once),
            "as_of_past_deadline": _flag(facts.past_deadline),
            "as_of_handling_late": _flag(facts.handling_late),
            # The dispatch clock alone, read with `as_of_status` (waiting for its 派遣, below), not with the
            # status subquery again; a case unchanged since `as_of` whose status is another needs no probe.
            "as_of_dispatch_late": Choose(When(facts.fast & ~Q(status=Status.ACCEPTED), then=Value(False)),
                                          default=_flag(facts.dispatch_late), output_field=BooleanField()),
            "as_of_changed": _flag(changed),
            "as_of_close_on_time": _flag(changed & facts.close_on_time),
            "as_of_round_on_time": _flag(changed & facts.round_on_time),
            "as_of_verified": _flag(facts.verified),
            "as_of_verified_timely": _flag(facts.verified_timely),
            "as_of_reworked": _flag(facts.reworked),
        }
        self.status = _Column("as_of_status", CharField())
        column = {name: Q(_Column(name, BooleanField())) for name in self.expressions if name != "as_of_status"}
        self.dispatched = column["as_of_dispatched"]
        self.handled_once = column["as_of_handled_once"]
        self.closed_once = column["as_of_closed_once"]
        self.past_deadline = column["as_of_past_deadline"]
        self.handling_late = column["as_of_handling_late"]
        self.dispatch_overdue = self.status_in(Status.ACCEPTED) & column["as_of_dispatch_late"]
        self.changed_since = column["as_of_changed"]
        self.close_on_time = column["as_of_close_on_time"]
        self.round_on_time = column["as_of_round_on_time"]
        self.verified = column["as_of_verified"]
        self.verified_timely = column["as_of_verified_timely"]
        self.reworked = column["as_of_reworked"]

    def status_in(self, *statuses) -> Q:
        """The case was in one of `statuses` at `as_of`."""
        return Q(In(self.status, [str(s) for s in statuses]))

    def needed(self, expressions) -> tuple[list[str], dict]:
        """What `expressions` read: the case fields, and the columns with their definitions."""
        parts = [e for x in expressions for e in x.flatten()]
        fields = {"pk"} | {e.name for e in parts if isinstance(e, F)}
        fields |= {child[0].split(LOOKUP_SEP)[0] for e in parts if isinstance(e, Q)
                   for child in e.children if isinstance(child, tuple)}
        # Selected under their column names (`id`, `department_id`), which the outer query's columns read.
        columns = sorted(Case._meta.pk.attname if f == "pk" else Case._meta.get_field(f).attname for f in fields)
        names = {e.name for e in parts if isinstance(e, _Column)}
        return columns, {name: expr for name, expr in self.expressions.items() if name in names}


def _either(test, then: Q, otherwise: Q) -> Q:
    """`then` where `test` holds, else `otherwise`, as one filter that probes `test` once (a CASE)."""
    return Q(Choose(When(test, then=_flag(then)), default=_flag(otherwise), output_field=BooleanField()))


def _flag(condition: Q) -> Choose:
    """A filter as a column: true or false (a CASE, so its terms are tested in order and stop at the answer)."""
    return Choose(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


class _Column(Expression):
    """A column of the derived table `grouped_counts` aggregates over (named as the cases table, so the counts' case
    fields read its columns of the same names)."""

    def __init__(self, name: str, output_field):
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler, connection):
        return f"{compiler.quote_name(Case._meta.db_table)}.{connection.ops.quote_name(self.name)}", []


class _Derived(BaseTable):
    """`FROM (<query>) "cases_case"`: the cases of `query` with the columns it computed.

    The subquery is fenced (a LIMIT on SQLite, OFFSET 0 on PostgreSQL: neither drops a row) so that neither
    database merges it into the aggregate: SQLite's flattener and PostgreSQL's pull-up would copy each column's
    definition into every count that reads it, the repetition this table is for avoiding (measured on SQLite:
    the department table's query 69 ms merged, 34 ms fenced)."""

    def __init__(self, query):
        super().__init__(Case._meta.db_table, Case._meta.db_table)
        self.query = query

    def as_sql(self, compiler, connection):
        sql, params = self.query.get_compiler(connection=connection).as_sql()
        fence = "LIMIT -1" if connection.vendor == "sqlite" else "OFFSET 0"
        return f"({sql} {fence}) {compiler.quote_name(self.table_alias)}", params


def aggregates(names, as_of: datetime, facts: Facts | FactColumns | None = None) -> dict:
    """`Count` expressions for the named counts (conditional counts: one pass over the rows)."""
    qs = counts_q(as_of, facts)
    return {name: Count("pk", filter=qs[name]) if qs[name] is not None else Count("pk") for name in names}


# ------------------------------------------------------------------------------------------------ subjects

@dataclass(frozen=True)
class SubjectKind:
    """Who is evaluated and which case field (or region code prefix) groups their cases."""

    key: str
    label: str
    group: object  # a field name or an expression
    names: str  # how the group keys are named: "department" | "region" | "user"


SUBJECTS: dict[str, SubjectKind] = {s.key: s for s in (
    SubjectKind("department", gettext_noop("专业部门"), "department_id", "department"),
    SubjectKind("grid", gettext_noop("网格"), "region_code", "region"),
    SubjectKind("community", gettext_noop("社区"), Substr("region_code", 1, 12), "region"),
    SubjectKind("street", gettext_noop("街道"), Substr("region_code", 1, 9), "region"),
    SubjectKind("grid_worker", gettext_noop("监督员（网格员）"), "reporter_id", "user"),
    SubjectKind("dispatcher", gettext_noop("派遣员"), "dispatched_by_id", "user"),
    SubjectKind("intake", gettext_noop("受理员"), "accepted_by_id", "user"),
    SubjectKind("shift_lead", gettext_noop("值班长"), "accepted_by_id", "user"),
)}
# The counts a grid worker's grids contribute (the rest come from their own reports).
GRID_WORKER_AREA_COUNTS = ("accepted", "public_accepted", "checked", "checked_timely", "verified",
                           "verified_timely")


def needed_counts(kind: str) -> list[str]:
    """The counts a kind's rates and bands read."""
    names: list[str] = []
    for key in formulas.needed_rates(kind):
        d = formulas.RATES[key]
        names += [d.numerator, d.denominator] + ([d.minus] if d.minus else [])
    names += [t.source for t in formulas.formula(kind) if t.kind == "band"]
    order = list(formulas.COUNT_LABELS)  # the tables' column order: the loop's order
    return sorted(set(names), key=order.index)


@dataclass
class Row:
    """One evaluated subject: its counts, rates, composite score, grade and rank (or why it has none)."""

    key: str  # department id, region code or user id
    name: str
    code: str  # organisation code, region code or account name
    counts: dict[str, int]
    rates: dict[str, Fraction | None] = field(default_factory=dict)
    score: Fraction | None = None
    grade: str | None = None
    rank: int | None = None
    unscored_reason: str | None = None  # why there is no score (Chinese, see `formulas.unscored_reason`)
    system: bool = False  # an account the system acts under (auto-dispatch): shown apart, never ranked
    brief: str = ""  # the name in the page's table when shorter (a department's short name); exports keep `name`


@dataclass
class Evaluation:
    """A ranking table: one subject kind over one period, best score first."""

    kind: SubjectKind
    start: date
    end: date  # inclusive
    as_of: datetime
    terms: tuple[formulas.Term, ...]
    rate_keys: list[str]
    count_keys: list[str]
    rows: list[Row]  # the ranking
    system_rows: list[Row] = field(default_factory=list)  # staff tables: system accounts, below, unranked


# ------------------------------------------------------------------------------------------------ periods

MONTH_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}")
DAY_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAY_FIELDS = {"start": ("起始日期", "start date"), "end": ("截止日期", "end date")}


def month_period(text: str) -> tuple[date, date]:
    """'YYYY-MM' → the month's first and last day. Exactly that form: '2026-011' is refused, never read as
    January or November."""
    text = str(text).strip()
    try:
        if not MONTH_FORMAT.fullmatch(text):
            raise ValueError
        year, month = int(text[:4]), int(text[5:])
        first = date(year, month, 1)
    except ValueError:
        raise ValidationFailed("月份格式应为 YYYY-MM / month must be YYYY-MM", field="month") from None
    return first, first.replace(day=calendar.monthrange(year, month)[1])


def parse_day(text: str | None, field: str) -> date | None:
    """'YYYY-MM-DD' → the date (None when empty), for `field` 'start' or 'end'. Exactly that form: '2026-11-0199'
    is refused, not read as 11-01 (and `date.fromisoformat`'s other forms, '20261101' or '2026-W44-1', too)."""
    text = str(text or "").strip()
    if not text:
        return None
    zh, en = DAY_FIELDS[field]
    if not DAY_FORMAT.fullmatch(text):
        raise ValidationFailed(f"{zh}格式应为 YYYY-MM-DD / the {en} must be YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{zh}不存在：{text} / the {en} {text} does not exist", field=field) from None


# A time may carry fractions of a second and an offset: the API's `as_of` answer (2026-11-13T18:00:00.123+08:00)
# is taken back as it was given, so a client recomputes the table it stored.
MOMENT_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                           r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")
AS_OF_WORDS = ("统计时点格式应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM[:SS] / the as-of moment must be YYYY-MM-DD or "
               "YYYY-MM-DD HH:MM[:SS]")


def parse_as_of(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """'YYYY-MM-DD' (the end of that district day) or 'YYYY-MM-DDTHH:MM[:SS]' (district time; or with fractions and
    an offset, as the API answers it) → the moment a table is computed at (None when empty: now). A moment still to come is refused: the figures are not known yet."""
    text = str(text or "").strip()
    if not text:
        return None
    if not MOMENT_FORMAT.fullmatch(text):
        raise ValidationFailed(AS_OF_WORDS, field="as_of")
    try:
        day = date.fromisoformat(text[:10])
        clock = time.fromisoformat(text[11:]) if len(text) > 10 else None
        if clock is not None and clock.tzinfo is not None:  # given with its offset: that instant, in district time
            clock = timezone.localtime(datetime.combine(day, clock)).replace(tzinfo=None)
            day, clock = clock.date(), clock.time()
    except (ValueError, OverflowError):
        raise ValidationFailed(f"统计时点不存在：{text} / the as-of moment {text} does not exist", field="as_of") from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ValidationFailed(f"日期须在 {YEARS[0]}–{YEARS[1]} 年之间 / dates must lie in {YEARS[0]}–{YEARS[1]}",
                               field="as_of")
    moment = (datetime.combine(day, clock, tzinfo=timezone.get_current_timezone()) if clock is not None
              else _midnight(day + timedelta(days=1)))
    now = now or timezone.now()
    if moment > now:
        if clock is None and day == timezone.localdate(now):
            return None  # today, to its end: as it stands now
        raise ValidationFailed(f"统计时点 {text} 尚未到来 / the as-of moment {text} has not come yet", field="as_of")
    return moment


REVERSED = "结束日期早于开始日期 / end is before start"


def period(*, month: str | None = None, start: date | None = None, end: date | None = None,
           today: date | None = None) -> tuple[date, date]:
    """The period asked for: a month, or start..end (inclusive), or by default the current month. A period
    that has not begun (its first day after today, district date) is refused: nothing was reported in it yet,
    and an empty table would look like a quiet period."""
    if month and (start or end):
        raise ValidationFailed("请按月份或按起止日期统计，不能同时给出 / give a month or start/end, not both", field="month")
    today = today or timezone.localdate()
    if month:
        return _bounded(*month_period(month), today=today, field="month")
    if not start and not end:
        return today.replace(day=1), today
    if start and end and end < start:  # reversed, wherever it lies: said so before "has not begun"
        raise ValidationFailed(REVERSED, field="end")
    start = start or (end or today).replace(day=1)
    end = end or today
    return _bounded(start, end, today=today, field="start")


def _bounded(start: date, end: date, *, today: date, field: str) -> tuple[date, date]:
    for name, day in (("start", start), ("end", end)):
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise ValidationFailed(f"日期须在 {YEARS[0]}–{YEARS[1]} 年之间 / dates must lie in {YEARS[0]}–{YEARS[1]}",
                                   field=name)
    if start > today:  # before "end is before start": a start alone in the future made today the end
        raise ValidationFailed(f"统计期间尚未开始：起始日期 {start} 晚于今天（{today}） / the period has not begun: "
                               f"its first day {start} is after today ({today})", field=field)
    if end < start:
        raise ValidationFailed(REVERSED, field="end")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed("统计期间过长（最长五年） / the period is too long (five years at most)", field="start")
    return start, end


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def cohort(user, start: date, end: date):
    """The cases the user may evaluate that were reported in the period (scoped: `visible_to(user, "evaluate")`:
    the evaluation grants' regions only, never the cases the user reported elsewhere).

    The period is also given as the range of case ids it spans (one index-only query on `reported_at`). The
    condition is redundant — every case of the period lies inside it — but it keeps SQLite, which has no
    statistics unless ANALYZE ran, on the period's rows: given a district-wide region range and a period range,
    it otherwise picks the `(region_code, reported_at)` index and reads the whole district (measured at 100,000
    cases: 200 ms instead of 15 ms, growing with the table). Case ids follow report times, so the range holds
    about the period's cases; if they did not (a bulk import of old cases), the range would be wider, never
    wrong.
    """
    since, until = _midnight(start), _midnight(end + timedelta(days=1))
    # `id + 0`, not `id`: PostgreSQL would answer MIN(id)/MAX(id) by walking the primary key from either end
    # until it meets the period (most of the table for a recent month); on the expression it reads the
    # period's range of the `reported_at` index instead.
    bounds = (Case.objects.filter(reported_at__gte=since, reported_at__lt=until)
              .aggregate(lo=Min(F("pk") + 0), hi=Max(F("pk") + 0)))
    qs = Case.objects.visible_to(user, "evaluate").order_by()  # no default ordering: it would join the GROUP BY
    if bounds["lo"] is None:
        return qs.none()
    return qs.filter(pk__gte=bounds["lo"], pk__lte=bounds["hi"], reported_at__gte=since, reported_at__lt=until)


# 街道、社区工作人员 see the evaluation of their own region (DOMAIN §4 evaluates streets and communities): its
# street or community, its grids and its grid workers, over the cases of their grants' regions (`cohort`). The
# district's tables — departments, the command centre's dispatchers, intake and shift leads — stay with the roles
# that evaluate the whole loop (command centre, leaders): a street's share of a department's cases is no ranking.
REGIONAL_SUBJECTS: dict[str, tuple[str, ...]] = {
    Role.STREET_STAFF: ("community", "grid", "grid_worker", "street"),
    Role.COMMUNITY_STAFF: ("community", "grid", "grid_worker"),
}
NOT_YOUR_SUBJECT = ("您只能查看本辖区的街道、社区、网格和监督员评价 / you may view the evaluation of your own "
                    "street or community, its grids and grid workers only")


def subjects_for(user) -> list[str]:
    """The subject kinds `user` may evaluate, in the tables' order (the first is their default): every kind
    for a role that evaluates the loop (or a superuser), the regional kinds for street and community staff,
    none without `cases.evaluate`."""
    if not has_capability(user, CAPABILITY):
        return []
    roles = {str(role) for role in user_roles(user)}
    if user.is_superuser or any(CAPABILITY in capabilities_of(r) and r not in REGIONAL_SUBJECTS for r in roles):
        return list(SUBJECTS)
    allowed = {kind for r in roles for kind in REGIONAL_SUBJECTS.get(r, ())}
    first = next((REGIONAL_SUBJECTS[r][0] for r in REGIONAL_SUBJECTS if r in roles), None)
    return sorted(allowed, key=lambda kind: (kind != first, list(SUBJECTS).index(kind)))


# ------------------------------------------------------------------------------------------------ evaluate

def evaluate(user, kind: str, start: date, end: date, *, as_of: datetime | None = None) -> Evaluation:
    """The ranking table of one subject kind over [start, end] within the user's evaluation scope."""
    if not has_capability(user, CAPABILITY):
        raise PermissionDenied("您无权查看综合评价 / you may not view evaluations")
    if kind not in SUBJECTS:
        raise ValidationFailed(f"未知的评价对象：{str(kind)[:20]} / unknown subject", field="subject")
    if kind not in subjects_for(user):
        raise PermissionDenied(NOT_YOUR_SUBJECT)
    subject = SUBJECTS[kind]
    as_of = as_of or timezone.now()
    if as_of <= _midnight(start):  # nothing of the period was reported yet: an empty table would mislead
        shown = timezone.localtime(as_of).strftime("%Y-%m-%d %H:%M")
        raise ValidationFailed(f"统计时点 {shown} 早于统计期间的第一天 {start} / the as-of moment {shown} is before "
                               f"the period's first day {start}", field="as_of")
    # The period's figures are the cases as they stood at its end (or now, for a period still running): a step
    # taken after it (挂账, 重新办理, a late closing) belongs to a later period, not to this one.
    moment = min(as_of, _midnight(end + timedelta(days=1)))
    names = needed_counts(kind)
    qs = cohort(user, start, end).filter(reported_at__lt=moment)  # an earlier as_of: not yet reported then
    if kind == "grid_worker":
        grouped = _grid_workers(user, qs, names, moment)
    elif kind == "dispatcher":
        grouped = _dispatchers(qs, names, moment)
    else:
        grouped = _grouped(qs, subject.group, names, moment)
    rows = _named(subject, grouped, _listed(user, subject), names)
    rate_keys = formulas.needed_rates(kind)
    terms = formulas.formula(kind)
    for row in rows:
        row.rates = formulas.rates_of(row.counts, rate_keys)
        # Graded and ranked on the score as shown (two decimals), never on a difference no one can see.
        row.score = formulas.shown(formulas.composite(kind, row.counts, row.rates, terms=terms))
        row.grade = formulas.grade(row.score)
        row.unscored_reason = formulas.unscored_reason(kind) if row.score is None else None
    # Staff rankings compare people: an account the system acts under (the router's auto-dispatch) would take
    # first place with work no person did, and push everyone down a rank.
    system_rows = sorted((r for r in rows if subject.names == "user" and r.code in SYSTEM_USERNAMES),
                         key=lambda r: r.code)
    for row in system_rows:
        row.system = True
    rows = [r for r in rows if not r.system]
    _rank(rows)
    return Evaluation(subject, start, end, as_of, terms, rate_keys, names, rows, system_rows)


def _grouped(qs, group, names, as_of, facts: Facts | None = None) -> dict[str, dict[str, int]]:
    """One GROUP BY query: {group key: {count: n}} (cases without the group's field are left out)."""
    return {str(r.pop("subject_key")): r for r in grouped_counts(qs, group, names, as_of, facts)
            if r["subject_key"] not in (None, "")}


def grouped_counts(qs, group, names, as_of, facts: Facts | None = None):
    """The query of `_grouped`: rows of `subject_key` and the named counts. Where a count reads a fact of the
    timeline or the clocks, the facts are computed once per case in a derived table (`FactColumns`) and the
    counts aggregate its columns; counts of case fields alone aggregate the cases. `facts`: the `Facts` of
    `as_of` when the caller has them (building them is most of a small table's time)."""
    facts = facts or Facts(as_of)
    # A department's cases are those it had at `as_of`, a dispatcher's those it had dispatched (and those it
    # accepted that waited for their 派遣 past the dispatch clock then): a 派遣 or 退回 since is a later period's.
    at_moment = {"department_id": facts.department, "dispatched_by_id": facts.answering_dispatcher}
    expr = at_moment.get(group, F(group)) if isinstance(group, str) else group
    columns = FactColumns(facts)
    counts = aggregates(names, as_of, columns)
    key_field = Case._meta.get_field(group) if isinstance(group, str) else group.output_field
    key = _Column("subject_key", key_field)
    inner_key = expr
    if group == "dispatched_by_id":
        # The accepting account's, for a case without a dispatcher, read from the columns the counts read anyway
        # (the status and the dispatch clock then), not from those facts again.
        inner_key = facts.dispatcher
        key = Coalesce(key, Choose(When(columns.dispatch_overdue, then=F("accepted_by")), output_field=key_field),
                       output_field=key_field)
    fields, needed = columns.needed([*counts.values(), key])
    if not needed or qs.query.is_empty():
        return qs.annotate(subject_key=expr).values("subject_key").annotate(**aggregates(names, as_of))
    outer = Case._base_manager.order_by()
    outer.query.alias_map[outer.query.get_initial_alias()] = _Derived(
        qs.values(*fields, subject_key=inner_key, **needed).query)
    return outer.annotate(subject_key=key).values("subject_key").annotate(**counts)


def _grid_workers(user, qs, names, as_of) -> dict[str, dict[str, int]]:
    """监督员: own reports (grouped by reporter) plus the counts of the grids their grants cover (grouped by
    grid). Listed: every account holding a grid-worker grant inside the evaluation scope, reports or not."""
    scope = scope_for(user, CAPABILITY)
    grants = Grant.objects.active().filter(role=Role.GRID_WORKER, region__isnull=False)
    if not scope.everything:
        within = Q(pk__in=[])
        for code in scope.region_codes:
            within |= subtree_q("region__code", code)
        grants = grants.filter(within)
    areas: dict[str, list[str]] = {}
    for user_id, code in grants.values_list("user_id", "region__code"):
        areas.setdefault(str(user_id), []).append(code)
    if not areas:
        return {}
    own = [n for n in names if n not in GRID_WORKER_AREA_COUNTS]
    area_names = [n for n in names if n in GRID_WORKER_AREA_COUNTS]
    # Grouped over the whole cohort (the same index range as every other table), not filtered by a list of
    # reporters: an IN list of a district's workers would make the database read all their reports ever.
    reports = _grouped(qs, "reporter_id", own, as_of)
    grids = _grouped(qs, "region_code", area_names, as_of)
    # Sums per code prefix (district, street, community, grid), so a grant at any level is one lookup.
    by_prefix: dict[str, dict[str, int]] = {}
    for grid, counts in grids.items():
        for n in (6, 9, 12, 15):
            sums = by_prefix.setdefault(grid[:n], dict.fromkeys(area_names, 0))
            for name in area_names:
                sums[name] += counts[name]
    out = {}
    for user_id, codes in areas.items():
        counts = {n: reports.get(user_id, {}).get(n, 0) for n in own}
        counts.update(dict.fromkeys(area_names, 0))
        # A grant inside another of the same worker's grants adds nothing.
        kept = [c for c in codes if not any(c != o and c.startswith(o) for o in codes)]
        for code in dict.fromkeys(kept):
            for name in area_names:
                counts[name] += by_prefix.get(code, {}).get(name, 0)
        out[user_id] = counts
    return out


DISPATCH_ACT_COUNTS = ("dispatch_acts", "dispatch_rework", "due_dispatch_acts")


def _dispatchers(qs, names, as_of) -> dict[str, dict[str, int]]:
    """派遣员: the counts of the cases each account dispatched last (or accepted and left waiting for their 派遣
    past the dispatch clock, `Facts.answering_dispatcher`), plus 派遣次数, 派遣返工数 and 应派遣次数 per dispatch
    (see the module docstring). Two queries whatever the number of cases: the aggregate, and the cases
    dispatched more than once or sent back (a few per cent) with their dispatch and send-back steps."""
    per_case = [n for n in names if n not in DISPATCH_ACT_COUNTS]
    facts = Facts(as_of)  # both queries read them: built once
    grouped = _grouped(qs, "dispatched_by_id", [*per_case, "dispatched_once", "undispatched"], as_of, facts)
    acts: Counter[str] = Counter({key: counts.pop("dispatched_once") for key, counts in grouped.items()})
    waiting: Counter[str] = Counter({key: counts.pop("undispatched") for key, counts in grouped.items()})
    wrong: Counter[str] = Counter()
    # The cases dispatched more than once or sent back, each with its dispatch and send-back steps in order (a
    # left join: a case without them, e.g. imported, comes once with none and counts by its own facts).
    # Those taken after `as_of` belong to a later period.
    redone = (qs.filter(counts_q(as_of, facts)["dispatched"]
                        & (Q(send_back_count__gt=0) | Q(reopen_count__gt=0) | Q(redirect_count__gt=0)))
              .annotate(moves=FilteredRelation("steps", condition=Q(steps__action__in=("dispatch", "redirect",
                                                                                         "send_back"),
                                                                      steps__at__lt=as_of)))
              .order_by("pk", "moves__id")
              .values_list("pk", "dispatched_by_id", "send_back_count", "moves__action", "moves__actor_id"))
    current, last = None, None
    for case_id, by, sent_back, step, actor_id in redone.iterator(chunk_size=5000):
        if case_id != current:
            current, last = case_id, None
        if step is None:  # no timeline of its dispatches: one dispatch by `dispatched_by`, sent back or not
            if by is not None:
                acts[str(by)] += 1
                wrong[str(by)] += 1 if sent_back else 0
        elif step == "redirect":  # 改派: the dispatch before it was wrong, and the redirect is a dispatch made
            if last is not None:
                wrong[last] += 1
            last = str(actor_id) if actor_id is not None else None
            if last is not None:
                acts[last] += 1
        elif step == "dispatch":
            last = str(actor_id) if actor_id is not None else None
            if last is not None:
                acts[last] += 1
        elif last is not None:  # sent back: the dispatch before it was wrong
            wrong[last] += 1
            last = None
    for key in set(acts) | set(wrong) | set(waiting):
        counts = grouped.setdefault(key, dict.fromkeys(per_case, 0))
        # 应派遣次数: the dispatches the account made, each one it was due to make, and the one each case it
        # answers for still waited for past the dispatch clock.
        counts["dispatch_acts"], counts["dispatch_rework"] = acts[key], wrong[key]
        counts["due_dispatch_acts"] = acts[key] + waiting[key]
    for counts in grouped.values():
        for name in DISPATCH_ACT_COUNTS:
            counts.setdefault(name, 0)
    return {key: {n: counts[n] for n in names} for key, counts in grouped.items()}


# Who else is listed, without a case in the period: the subjects of the kind in the evaluator's scope (a row of
# 无数据, unranked). Departments: the organisations cases are sent to (`orgs.CASE_HANDLING_KINDS`), active; regions:
# those of the kind's level; staff: the accounts holding a role that does the kind's work (a region grant). A
# grid worker's table lists the grid-worker grants already (`_grid_workers`).
LISTED_LEVELS = {"grid": (Level.GRID,), "community": (Level.COMMUNITY, Level.VILLAGE), "street": (Level.STREET,)}
LISTED_STAFF = {"dispatcher": "cases.dispatch", "intake": "cases.intake", "shift_lead": "cases.intake"}


def _within(scope, field: str) -> Q:
    """The rows whose region code lies in the scope's subtrees (every row for a district-wide scope)."""
    if scope.everything:
        return Q()
    within = Q(pk__in=[])
    for code in scope.region_codes:
        within |= subtree_q(field, code)
    return within


def _listed(user, subject: SubjectKind) -> Q:
    """The subjects of the kind to list whether or not they had a case (a filter on the names' model)."""
    scope = scope_for(user, CAPABILITY)
    if subject.names == "department":
        return Q(kind__in=CASE_HANDLING_KINDS, is_active=True) & _within(scope, "region_code")
    if subject.names == "region":
        return Q(level__in=LISTED_LEVELS[subject.key]) & _within(scope, "code")
    if subject.key in LISTED_STAFF:
        holders = (Grant.objects.active().filter(role__in=roles_with(LISTED_STAFF[subject.key]), region__isnull=False)
                   .filter(_within(scope, "region__code")).values("user_id"))
        return Q(pk__in=holders, is_active=True) & ~Q(username__in=SYSTEM_USERNAMES)
    return Q(pk__in=[])


def _named(subject: SubjectKind, grouped: dict[str, dict[str, int]], listed: Q, names: list[str]) -> list[Row]:
    """Rows with the subjects' names and codes, and a row of zeros for each subject `listed` without a case in the
    period (one query per kind, whatever the number of subjects)."""
    keys = list(grouped)
    labels: dict[str, tuple[str, str]] = {}
    briefs: dict[str, str] = {}
    if subject.names == "department":
        ids = [int(k) for k in keys]
        named = list(Organisation.objects.filter(Q(pk__in=ids) | listed)
                     .values_list("pk", "name", "short_name", "code"))
        labels = {str(pk): (name, code) for pk, name, _short, code in named}
        briefs = {str(pk): brief_name(name, short) for pk, name, short, _code in named}
    elif subject.names == "region":
        labels = {code: (name, code) for code, name in
                  Region.objects.filter(Q(code__in=keys) | listed).values_list("code", "name")}
    else:
        labels = {str(pk): (display or username, username) for pk, display, username in
                  User.objects.filter(Q(pk__in=[int(k) for k in keys]) | listed)
                  .values_list("pk", "display_name", "username")}
    rows = [Row(key, *labels.get(key, (key, key)), counts) for key, counts in grouped.items()]
    rows += [Row(key, *label, dict.fromkeys(names, 0)) for key, label in labels.items() if key not in grouped]
    for row in rows:
        row.brief = briefs.get(row.key, "")
    return rows


def _rank(rows: list[Row]) -> None:
    """Best score first (no score last), ties by code; equal scores share a rank (1, 2, 2, 4)."""
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.code))
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        if row.score is None:
            row.rank = None
            continue
        if row.score != previous:
            rank, previous = position, row.score
        row.rank = rank

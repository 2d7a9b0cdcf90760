"""Whom a case counts for in a period's table when it moves after the period ends: the department that held it at
the period's end, also when it was placed with that department when it was created (no 派遣 step), and the
dispatcher who answers for a 派遣 it still waited for then (DOMAIN.md §4: 按时派遣率 and 准确派遣率 divide by
应派遣数, so a case left waiting for its 派遣 past the dispatch clock counts against a dispatcher)."""

from __future__ import annotations

from datetime import date, datetime, time
from fractions import Fraction

import pytest
from django.utils import timezone

from civicgrid.apps.cases import clocks
from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.evaluation import selectors
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import category, user_with
from civicgrid.testing.clock import clock_at

pytestmark = pytest.mark.django_db
POINT = (113.21, 40.01)  # grid 140213050001001 of the builders' tree
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
AFTER = datetime(2026, 12, 2, 12, tzinfo=timezone.get_current_timezone())  # November's table, computed later


def moment(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(
        date(2026, month, day), time(hour, minute), tzinfo=timezone.get_current_timezone()
    )


def step(when: datetime, actor, case, action: str, **inputs):
    with clock_at(when):
        return act(actor=actor, case=case, action=action, **inputs)


def reported(d, when: datetime) -> Case:
    with clock_at(when):
        case, _ = submit_case(
            actor=d.worker,
            title="井盖缺失",
            lng=POINT[0],
            lat=POINT[1],
            source="grid_worker",
            category=category("井盖缺失", "01001").pk,
        )
    return case


def placed_at_creation(d, when: datetime) -> Case:
    """A case that came in already with 区城管局 (placed there at intake, as an import or a contract's routing
    does): accepted and with the department from its report on, its handling clock running, and no 立案 or 派遣
    step on its timeline."""
    case = reported(d, when)
    with clock_at(when):
        clocks.stop(case, clocks.INTAKE, when, record_fact=False)
        clocks.start(case, clocks.HANDLE, when)
    Case.objects.filter(pk=case.pk).update(
        status=Status.DISPATCHED,
        department=d.dept,
        accepted_at=when,
        accepted_on_time=True,
        dispatched_at=when,
        deadline=case.deadline,
        updated_at=when,
    )
    case.refresh_from_db()
    assert not CaseStep.objects.filter(case=case, action__in=("accept", "dispatch")).exists()
    return case


def tables(d, *kinds) -> dict:
    """November's tables of these kinds as computed on 12-02: {kind: {code: counts}}."""
    return {
        kind: {r.code: r.counts for r in selectors.evaluate(d.leader, kind, *NOVEMBER, as_of=AFTER).rows}
        for kind in kinds
    }


@pytest.fixture
def staff(district):
    """Handlers in both departments and a second command dispatcher, all holding their roles through November."""
    made = {
        "h-cg": user_with(Role.DEPARTMENT_HANDLER, department=district.dept, username="h-cg"),
        "h-zj": user_with(Role.DEPARTMENT_HANDLER, department=district.other_dept, username="h-zj"),
        "cd-b": user_with(Role.COMMAND_DISPATCHER, region=district.tree["140213"], username="cd-b"),
    }
    Grant.objects.update(valid_from=moment(10, 1))
    return made


@pytest.mark.parametrize("move", ["send_back", "redirect"])
def test_a_case_placed_with_a_department_at_creation_counts_for_it_when_moved_after_the_month(
    district, staff, move
):
    """Placed with 区城管局 on 11-20, overdue by the month's end, then sent back by it (退回) or redirected to 区住建局
    (改派) on 12-01: November's department table counts the case for 区城管局, before and after the move, and not
    for 区住建局. Without a 派遣 step before the month's end the case used to count for no department at all."""
    d = district
    case = placed_at_creation(d, moment(11, 20, 9))
    assert case.deadline < moment(11, 30, 23)
    before = tables(d, "department", "grid")
    if move == "send_back":
        step(moment(12, 1, 9), staff["h-cg"], case, "send_back", reason="供水井盖归住建")
    else:
        step(
            moment(12, 1, 9),
            staff["cd-b"],
            case,
            "redirect",
            department=d.other_dept.pk,
            reason="供水井盖归住建",
        )
    case.refresh_from_db()
    assert case.department_id == (None if move == "send_back" else d.other_dept.pk)
    after = tables(d, "department", "grid")

    assert after == before
    held = after["department"]["D-CG"]
    assert (held["accepted"], held["due_handle"], held["handled"], held["due_close"], held["closed"]) == (
        1,
        1,
        0,
        1,
        0,
    )
    assert not any(after["department"]["D-ZJ"].values())  # its case since 12-01 is not November's record


def test_a_case_placed_at_creation_and_moved_within_the_month_counts_for_where_it_went(district, staff):
    """The other side: 改派 to 区住建局 on 11-21, within the month: November counts it for 区住建局."""
    d = district
    case = placed_at_creation(d, moment(11, 20, 9))
    step(
        moment(11, 21, 9),
        staff["cd-b"],
        case,
        "redirect",
        department=d.other_dept.pk,
        reason="供水井盖归住建",
    )
    got = tables(d, "department")["department"]
    assert got["D-ZJ"]["accepted"] == 1 and got["D-CG"]["accepted"] == 0


def test_a_case_left_waiting_for_its_dispatch_counts_against_the_dispatcher(district, staff):
    """On 11-30 (a Monday; the dispatch limit is one working hour) cd accepts four cases:
    * `waiting` is never dispatched: at the month's end it has waited past its dispatch clock;
    * `late` is dispatched on 12-01 by cd-b: at the month's end it too was still waiting, so November charges
      cd, who had it, and not cd-b, whose 派遣 is December's;
    * `returned` cd dispatches to 区城管局, which sends it back the same morning; nobody dispatches it again;
    * `done` cd dispatches in time.
    A case accepted at 17:50, still within its dispatch time at the month's end, is charged to nobody yet.
    Before, cd's 按时派遣率 was 1/2 and its 准确派遣率 1/2 with the three waiting cases counting for no one."""
    d = district
    waiting, late, returned, done, evening = (reported(d, moment(11, 30, 9)) for _ in range(5))
    for case in (waiting, late, returned, done):
        step(moment(11, 30, 9, 10), d.dispatcher, case, "accept")
    step(moment(11, 30, 17, 50), d.dispatcher, evening, "accept")
    step(moment(11, 30, 9, 20), d.dispatcher, returned, "dispatch", department=d.dept.pk)
    step(moment(11, 30, 9, 20), d.dispatcher, done, "dispatch", department=d.dept.pk)
    step(moment(11, 30, 10), staff["h-cg"], returned, "send_back", reason="不属本部门")
    step(moment(12, 1, 9), staff["cd-b"], late, "dispatch", department=d.dept.pk)

    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", *NOVEMBER, as_of=AFTER).rows}
    cd = rows["cd"]
    # 应派遣数: done, returned (dispatched), and waiting, late, returned (waiting past the clock) — 4 cases;
    # 按时派遣数: done only (returned waits again, late).
    assert cd.counts == {
        "due_dispatch": 4,
        "dispatched": 2,
        "dispatched_timely": 1,
        "due_dispatch_acts": 5,
        "dispatch_acts": 2,
        "dispatch_rework": 1,
    }
    assert cd.rates == {"timely_dispatch_rate": Fraction(1, 4), "accurate_dispatch_rate": Fraction(1, 5)}
    assert cd.rank == 1 and cd.score is not None
    assert (
        not any(rows["cd-b"].counts.values()) and rows["cd-b"].score is None
    )  # its 派遣 of 12-01 is December's

    # the grid had the waiting cases due to close, as before (unchanged by who answers for them)
    grid = next(
        r
        for r in selectors.evaluate(d.leader, "grid", *NOVEMBER, as_of=AFTER).rows
        if r.code == "140213050001001"
    )
    assert grid.counts["due_close"] == 3


def test_a_case_waiting_within_its_dispatch_time_is_charged_to_no_one(district, staff):
    d = district
    case = reported(d, moment(11, 30, 17))
    step(moment(11, 30, 17, 50), d.dispatcher, case, "accept")
    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", *NOVEMBER, as_of=AFTER).rows}
    assert not any(rows["cd"].counts.values()) and rows["cd"].score is None

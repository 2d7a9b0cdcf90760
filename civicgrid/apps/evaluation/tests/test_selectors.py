"""The aggregate selectors against rows with explicit facts (every count definition, hand-computed), the period's
edges, scope, and a fixed number of queries whatever the number of cases."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.cases.models import Source, Status
from civicgrid.apps.evaluation import selectors
from civicgrid.foundation.access.models import User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.testing.builders import user_with

from .conftest import AS_OF, MAY, at, closed_case, make_case

pytestmark = pytest.mark.django_db


def table(user, kind, period=MAY):
    ev = selectors.evaluate(user, kind, *period, as_of=AS_OF)
    return ev, {r.code: r for r in ev.rows}


def departments(d):
    """Seven cases of 区城管局 in every state that matters, two of 区住建局, two outside May."""
    dept = dict(department=d.dept, accepted_at=at(10, 11), accepted_by=d.dispatcher, dispatched_at=at(10, 12),
                dispatched_by=d.dispatcher)
    closed_case(d)  # on time
    closed_case(d, on_time=False)  # handled late
    closed_case(d, rework_count=1)  # reworked once, then on time
    make_case(d, status=Status.HANDLING, deadline=at(20), **dept)  # past its deadline, not handled
    make_case(d, status=Status.HANDLING, deadline=at(1, month=6) + (at(2) - at(1)), **dept)  # still in time
    make_case(d, status=Status.DISPATCHED, rework_count=1, handled_on_time=True, deadline=at(3, month=6),
              **dept)  # in rework now
    make_case(d, status=Status.SUSPENDED, deadline=at(20), **dept)  # 挂账
    closed_case(d, department=d.other_dept)
    closed_case(d, department=d.other_dept, reported=at(1, 0))  # the first moment of May counts
    closed_case(d, reported=at(30, 23, month=4).replace(minute=59, second=59))  # April
    closed_case(d, reported=at(1, 0, month=6))  # June


def test_department_counts_rates_and_score(district):
    departments(district)
    ev, rows = table(district.leader, "department")
    cg = rows["D-CG"]
    assert cg.counts == {"closed": 3, "due_close": 4, "handled_timely": 2, "due_handle": 5, "reworked": 2,
                         "handled": 4, "accepted": 7}
    assert cg.rates == {"closure_rate": Fraction(3, 4), "timely_handling_rate": Fraction(2, 5),
                        "rework_rate": Fraction(2, 4)}
    # 100×10% + 75×30% + 40×30% + 50×30% = 10 + 22.5 + 12 + 15 = 59.5
    assert cg.score == Fraction(595, 10) and cg.grade == "D" and cg.name == "区城管局"
    zj = rows["D-ZJ"]
    assert zj.counts["accepted"] == 2 and zj.score == 100 and zj.grade == "A"
    assert [r.code for r in ev.rows] == ["D-ZJ", "D-CG", "D-SW"] and [r.rank for r in ev.rows] == [1, 2, None]


def regions(d):
    """Grid 0: a worker's case, a public one, a refused and a voided report, a self-handled case; grid 1: a
    hotline case handled late; grid 2: a report waiting for intake; grid 3 (the other street): one case."""
    closed_case(d, 0, reporter=d.worker)
    closed_case(d, 0, source=Source.PUBLIC, verified_on_time=False)
    make_case(d, 0, source=Source.PUBLIC, status=Status.REFUSED)
    make_case(d, 0, status=Status.VOIDED, accepted_at=at(10, 11), accepted_by=d.dispatcher)
    make_case(d, 0, status=Status.CLOSED, is_self_handled=True, reporter=d.worker, handled_at=at(10),
              closed_at=at(10), verified_at=at(10), handled_on_time=True, closed_on_time=True)
    closed_case(d, 1, source=Source.HOTLINE, on_time=False)
    make_case(d, 2)
    closed_case(d, 3, reporter=d.worker2)


def test_grid_community_and_street_counts(district):
    regions(district)
    _, grids = table(district.leader, "grid")
    g0 = grids["140213050001001"]
    assert g0.counts == {"closed": 3, "due_close": 3, "closed_timely": 3, "public_accepted": 1, "accepted": 4,
                         "valid_reports": 3, "reports": 5, "verified_timely": 1, "verified": 2}
    # 100×25% + 100×25% + 75×20% + 60×15% + 50×15% = 81.5
    assert g0.score == Fraction(815, 10) and g0.grade == "B" and g0.name.endswith("第1网格")

    _, communities = table(district.leader, "community")
    c = communities["140213050001"]
    assert (c.counts["reports"], c.counts["valid_reports"], c.counts["public_accepted"], c.counts["accepted"]) == (6, 4, 2, 5)
    # 100×25% + 75×25% + 60×20% + 66.67×15% + 66.67×15% = 75.75
    assert c.score == Fraction(7575, 100)

    _, streets = table(district.leader, "street")
    assert set(streets) == {"140213050", "140213051"}
    s = streets["140213050"]
    # The report still waiting for intake (grid 2) is not counted until intake decides on it.
    assert s.counts["reports"] == 6 and s.counts["valid_reports"] == 4
    assert s.score == Fraction(7575, 100) and s.grade == "B"
    assert streets["140213051"].score == 100 and streets["140213051"].name == "古城街道"


def test_grid_workers_combine_their_reports_and_their_grids(district):
    regions(district)
    user_with(Role.GRID_WORKER, region=district.tree["140213050002001"], username="wg-idle")
    _, rows = table(district.leader, "grid_worker")
    w = rows["wg1"]
    assert w.counts == {"valid_reports": 2, "reports": 2, "public_accepted": 1, "accepted": 4, "checked_timely": 0,
                        "checked": 0, "verified_timely": 1, "verified": 2}
    # 按时核实率 does not apply: (100×40% + 75×20% + 50×20%) / 80% = 81.25
    assert w.rates["timely_check_rate"] is None and w.score == Fraction(8125, 100) and w.grade == "B"
    assert rows["wg2"].score == 100
    idle = rows["wg-idle"]  # listed without reports; its grid had one report, still waiting for intake
    assert idle.counts["reports"] == 0 and idle.score is None and idle.rank is None
    assert idle.unscored_reason == "本期无上报，不参与排名" and w.unscored_reason is None
    # A street leader sees the workers of their street only.
    _, street_rows = table(district.street_leader, "grid_worker")
    assert set(street_rows) == {"wg1", "wg-idle"}


def test_a_grid_worker_without_reports_is_not_ranked_above_those_who_reported(district):
    """wg-quiet reported nothing in May; their grid's cases (reported by others) were all found by the workers,
    checked and verified in time. They used to rank first with 100.00 / A on those shared grid figures alone;
    now they are listed after the ranking with their rates, unscored, and the reason."""
    d = district
    regions(d)
    user_with(Role.GRID_WORKER, region=d.tree["140213050001002"], username="wg-quiet")
    closed_case(d, 1, checked_on_time=True)  # grid 1: found by a worker, checked and verified in time
    ev, rows = table(d.leader, "grid_worker")
    quiet = rows["wg-quiet"]
    assert quiet.counts["reports"] == 0 and quiet.rates["valid_report_rate"] is None
    assert quiet.rates["timely_verify_rate"] == 1 and quiet.rates["timely_check_rate"] == 1  # shown
    assert (quiet.score, quiet.grade, quiet.rank) == (None, None, None)
    assert quiet.unscored_reason == "本期无上报，不参与排名"
    ranked = [r.code for r in ev.rows if r.rank is not None]
    assert ranked == ["wg2", "wg1"] and [r.rank for r in ev.rows[:2]] == [1, 2]
    assert {r.code for r in ev.rows[2:]} == {"wg-quiet"}


def staff(d):
    b = user_with(Role.COMMAND_DISPATCHER, region=d.tree["140213"], username="cd-b")
    a = d.dispatcher
    closed_case(d)
    closed_case(d, dispatched_on_time=False, send_back_count=1)
    make_case(d, status=Status.ACCEPTED, accepted_at=at(10, 11), accepted_by=b, accepted_on_time=True,
              dispatched_at=at(10, 12), dispatched_by=b, dispatched_on_time=True, send_back_count=1)
    make_case(d, status=Status.VOIDED, accepted_at=at(10, 11), accepted_by=b, accepted_on_time=False)
    make_case(d, status=Status.DISPATCHED, accepted_at=at(10, 11), accepted_by=b, accepted_on_time=True,
              checked_on_time=True, dispatched_at=at(10, 12), dispatched_by=b, dispatched_on_time=True,
              department=d.dept, deadline=at(3, month=6))
    return a, b


def test_dispatchers_intake_and_shift_leads(district):
    staff(district)
    _, dispatchers = table(district.leader, "dispatcher")
    # A: 2 dispatched, 1 on time, 1 sent back: 0×20% + 50×40% + 50×40% = 40, exactly the D edge
    assert dispatchers["cd"].counts == {"dispatched_timely": 1, "dispatched": 2, "due_dispatch": 2,
                                        "dispatch_acts": 2, "due_dispatch_acts": 2, "dispatch_rework": 1}
    assert dispatchers["cd"].score == 40 and dispatchers["cd"].grade == "D"
    assert dispatchers["cd-b"].score == 60 and dispatchers["cd-b"].grade == "C"

    _, intake = table(district.leader, "intake")
    # A: 核实 none (not applicable), 核查 2/2: (0×25% + 100×35%) / 60% = 58.33
    assert intake["cd"].counts["verify_sent"] == 2 and intake["cd"].rates["timely_check_dispatch_rate"] is None
    assert intake["cd"].score == Fraction(5833, 100)  # as shown: ranked and graded on two decimals
    # B: 核实 1/1, no case handled yet: (0×25% + 100×40%) / 65%
    assert intake["cd-b"].counts["check_sent"] == 1 and intake["cd-b"].score == Fraction(6154, 100)

    _, leads = table(district.leader, "shift_lead")
    assert leads["cd"].score == 100
    b = leads["cd-b"]
    assert b.counts["accepted"] == 3 and b.counts["voided"] == 1 and b.counts["accepted_timely"] == 2
    assert b.rates["timely_close_step_rate"] is None and b.score == Fraction(6667, 100) and b.grade == "C"


def test_scope_counts_only_the_evaluators_cases(district):
    regions(district)
    departments(district)
    _, everything = table(district.leader, "department")
    _, street = table(district.street_leader, "department")
    assert street["D-CG"].counts["accepted"] < everything["D-CG"].counts["accepted"]
    street_only = selectors.cohort(district.street_leader, *MAY)
    assert not street_only.exclude(region_code__startswith="140213050").exists()
    _, grids = table(district.street_leader, "grid")
    assert all(code.startswith("140213050") for code in grids) and "140213051001001" not in grids
    for user in (district.street_dispatcher, district.worker, district.handler):
        with pytest.raises(PermissionDenied):
            selectors.evaluate(user, "department", *MAY)


def test_unknown_subject_and_bad_periods_are_refused(district):
    with pytest.raises(ValidationFailed):
        selectors.evaluate(district.leader, "weather", *MAY)
    assert selectors.period(month="2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert selectors.period(today=date(2026, 5, 17)) == (date(2026, 5, 1), date(2026, 5, 17))
    for kwargs in ({"month": "2026-13"}, {"month": "9999-12"}, {"start": date(2026, 5, 2), "end": date(2026, 5, 1)},
                   {"start": date(1, 1, 1), "end": date(2026, 1, 1)}, {"month": "2026-05", "start": date(2026, 5, 1)},
                   {"start": date(2000, 1, 1), "end": date(2099, 1, 1)}):
        with pytest.raises(ValidationFailed):
            selectors.period(**kwargs)


def test_periods_are_read_exactly_and_must_have_begun():
    with pytest.raises(ValidationFailed, match="月份格式应为 YYYY-MM"):
        selectors.month_period("2026-011")
    for text in ("2026-11-0199", "20261101", "2026-W44-1", "2026-11-1"):
        with pytest.raises(ValidationFailed, match="起始日期格式应为 YYYY-MM-DD") as refused:
            selectors.parse_day(text, "start")
        assert refused.value.field == "start"
    assert selectors.parse_day(" 2026-11-01 ", "end") == date(2026, 11, 1) and selectors.parse_day("", "end") is None
    today = date(2026, 11, 30)
    for kwargs, field in (({"month": "2026-12"}, "month"), ({"start": date(2026, 12, 1)}, "start"),
                          ({"start": date(2026, 12, 1), "end": date(2026, 12, 31)}, "start")):
        with pytest.raises(ValidationFailed, match="统计期间尚未开始：起始日期 2026-12-01 晚于今天") as refused:
            selectors.period(**kwargs, today=today)
        assert refused.value.field == field
    assert selectors.period(month="2026-11", today=today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert selectors.period(start=date(2026, 11, 30), end=date(2026, 12, 31), today=today) == (
        date(2026, 11, 30), date(2026, 12, 31))


@pytest.mark.parametrize("kind", list(selectors.SUBJECTS))
def test_the_number_of_queries_does_not_grow_with_the_cases(district, kind):
    def count() -> int:
        user = User.objects.get(pk=district.leader.pk)  # no cached grants
        with CaptureQueriesContext(connection) as ctx:
            selectors.evaluate(user, kind, *MAY, as_of=AS_OF)
        return len(ctx.captured_queries)

    regions(district)
    few = count()
    regions(district)
    departments(district)
    staff(district)
    # grants, the period's id range, the aggregate(s), the names (grid workers: their grants too; dispatchers:
    # the cases dispatched more than once, with their steps)
    assert count() == few == {"grid_worker": 6, "dispatcher": 5}.get(kind, 4)


def test_rows_showing_the_same_score_share_the_rank_and_the_grade(district, monkeypatch):
    """89.996 is shown as 90.00: ranked and graded as the 90 beside it (both 1st, both A), not 2nd with a B."""
    closed_case(district)  # 区城管局: one case
    closed_case(district, department=district.other_dept)
    closed_case(district, department=district.other_dept)  # 区住建局: two
    exact = {1: Fraction(89996, 1000), 2: Fraction(90)}
    monkeypatch.setattr(selectors.formulas, "composite", lambda kind, counts, rates, terms: exact.get(counts["accepted"]))
    ev, rows = table(district.leader, "department")
    assert rows["D-CG"].score == rows["D-ZJ"].score == 90
    assert (rows["D-CG"].rank, rows["D-CG"].grade) == (rows["D-ZJ"].rank, rows["D-ZJ"].grade) == (1, "A")
    assert [r.code for r in ev.rows][:2] == ["D-CG", "D-ZJ"]  # equal scores: by code


def test_subjects_without_a_case_are_listed_unranked(district):
    """Every subject of the kind in the evaluator's scope has a row: those without a case in the period with
    无数据, after the ranking, with no score, grade or rank."""
    closed_case(district, 0)
    ev, grids = table(district.street_leader, "grid")  # street 140213050: its four grids, one with a case
    assert set(grids) == {"140213050001001", "140213050001002", "140213050002001", "140213050002002"}
    assert [r.code for r in ev.rows][0] == "140213050001001" and ev.rows[0].rank == 1
    empty = grids["140213050002002"]
    assert (empty.score, empty.grade, empty.rank, empty.unscored_reason) == (None, None, None, "无数据")
    assert empty.counts == dict.fromkeys(ev.count_keys, 0) and empty.name.endswith("第2网格")
    _, communities = table(district.street_leader, "community")
    assert set(communities) == {"140213050001", "140213050002"}
    _, streets = table(district.leader, "street")
    assert set(streets) == {"140213050", "140213051"} and streets["140213051"].rank is None

    ev, depts = table(district.leader, "department")
    assert [r.code for r in ev.rows] == ["D-CG", "D-SW", "D-ZJ"]  # ranked first, then the others by code
    assert depts["D-ZJ"].unscored_reason == "无数据" and depts["D-ZJ"].counts["accepted"] == 0
    _, dispatchers = table(district.leader, "dispatcher")
    assert dispatchers["cd"].rank == 1 and dispatchers["sd"].rank is None  # the street dispatcher: no case
    assert "leader" not in dispatchers  # a leader does not dispatch

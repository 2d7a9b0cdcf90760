"""The command-centre board's figures over 100,000 and 1,000,000 cases, on SQLite and PostgreSQL.

    python benchmarks/bench_board.py                        # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_board.py --sizes 100000,300000  # other sizes
    python benchmarks/bench_board.py --only postgres        # or sqlite

The same synthetic district and cases as `bench_evaluation.py` (three years of reports up to 10:00 today),
with the timeline steps each milestone leaves (report, 立案, 派遣, 处置反馈, 核查, 结案: about five per case),
bulk-inserted into a fresh database (a temporary SQLite file; PostgreSQL `bench_board`, dropped afterwards).

Measured (first call, then best and median of 5), for a district command dispatcher and a street dispatcher:
the goal — the figures partial the board refreshes every 30 s (today's 上报/立案/派遣/处置/结案 and 按期结案率,
plus the counts by status) — and, for the record, its parts, the overdue and newest lists and the map's
clusters and points, and the home page's 我的待办 lanes (each a count bounded at 1,000). The growth from the smallest to the largest size is printed. Figures are printed, never
asserted.
"""

from __future__ import annotations

import sys
from zoneinfo import ZoneInfo

import bench_evaluation as be
import common

PG_DB = "bench_board"
KEY = "figures partial (goal)"


def child(vendor: str, n: int) -> dict:
    common.setup_django()
    from civicgrid.apps.cases.models import CaseStep
    from civicgrid.apps.cases.selectors import my_work
    from civicgrid.dashboards.command import selectors as board
    from civicgrid.foundation.access.models import User

    common.migrate()
    timed = common.first_best_median
    world, populate_s, steps = be.populate(vendor, n, steps=True)
    day = be.NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
    start, end = board.day_bounds(day)
    results = {"vendor": vendor, "cases": n, "steps": steps, "populate_s": populate_s, "timings": {}}
    users = {"district": User.objects.get(pk=world["dispatchers"][0]),
             "street": User.objects.get(pk=world["street_dispatcher"])}
    for who, user in users.items():
        figures = board.today_figures(user, day)
        results[f"today_{who}"] = {"reported": figures.reported, "accepted": figures.accepted,
                                   "dispatched": figures.dispatched, "handled": figures.handled,
                                   "closed": figures.closed, "rate": figures.timely_closure_rate,
                                   "open": board.board_cases(user).filter(status__in=board.OPEN).count()}
        prefix = "" if who == "district" else "street: "
        results["timings"][prefix + ("figures partial (goal)" if who == "district" else "figures partial")] = \
            timed(lambda u=user: (board.today_figures(u, day), board.status_counts(u)))
        results["timings"][prefix + "today's figures"] = timed(lambda u=user: board.today_figures(u, day))
        results["timings"][prefix + "counts by status"] = timed(lambda u=user: board.status_counts(u))
        results["timings"][prefix + "overdue list"] = timed(lambda u=user: board.overdue(u))
        results["timings"][prefix + "newest list"] = timed(lambda u=user: board.latest(u))
        results["timings"][prefix + "map, street clusters"] = timed(lambda u=user: board.map_data(u, zoom=11))
        results["timings"][prefix + "home page 我的待办 (one count per lane)"] = timed(lambda u=user: my_work(u))
    grid = world["grids"][0]
    bbox = (grid[2] - 0.01, grid[3] - 0.01, grid[2] + 0.01, grid[3] + 0.01)
    results["timings"]["map, points in a bbox"] = timed(
        lambda: board.map_data(users["district"], zoom=17, bbox=bbox))
    touched = CaseStep.objects.filter(at__gte=start, at__lt=end).values("case_id")
    results["plan"] = common.plan(board.board_cases(users["street"]).filter(pk__in=touched).values("pk"))
    results["plan_status"] = common.plan(board.board_cases(users["street"])
                                         .filter(status__in=board.BOARD_STATUSES).values("status"))
    return results


def report(r: dict) -> None:
    d, s = r["today_district"], r["today_street"]
    print(f"{r['vendor']:>9}: {r['cases']:,} cases, {r['steps']:,} steps (inserted in {r['populate_s']:.1f} s); "
          f"today so far: {d['reported']} reported, {d['accepted']} accepted, {d['dispatched']} dispatched, "
          f"{d['handled']} handled, {d['closed']} closed, 按期结案率 {d['rate']}%, {d['open']:,} open "
          f"(a street: {s['reported']} reported, {s['open']:,} open)")
    for name, t in r["timings"].items():
        print(common.timing_line(name, t, 34))
    print(f"           plan (today, a street): {r['plan']}\n           plan (statuses, a street): {r['plan_status']}",
          flush=True)


if __name__ == "__main__":
    sys.exit(be.main(script=__file__, db=PG_DB, child_fn=child, report_fn=report, key=KEY, doc=__doc__))

"""A month's evaluation (综合评价) over 100,000 and 1,000,000 cases, on SQLite and PostgreSQL.

    python benchmarks/bench_evaluation.py                       # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_evaluation.py --sizes 100000,300000 # other sizes
    python benchmarks/bench_evaluation.py --only sqlite         # or postgres

Each size runs in a fresh database (a temporary SQLite file; a PostgreSQL database `bench_eval`, UTF-8, from
template0, dropped afterwards). The cases are bulk-inserted straight into the cases table (executemany on
SQLite, COPY on PostgreSQL) with facts drawn the way a district's loop leaves them: three years of reports
(the month's volume grows with the table), 900 grids in 18 streets, 40 departments, 30 dispatchers; 2 %
refused, 2 % voided, 1 % merged, 1 % suspended, 2 % self-handled, the rest through the loop, recent ones still
open, 1 % of older ones stuck overdue; 5 % of intakes, 7 % of dispatches, 15 % of handlings, 3 % of closings
late; 20 % sent for 核实; 6 % reworked, 4 % sent back; sources 60 % grid workers, 15 % public, 15 % hotline.
The timeline steps of the cases sent back (the wrong dispatch, the 退回, the dispatch that stuck) are inserted
too: the dispatcher table's 准确派遣率 reads them.

Measured (first call, then best and median of 5): the goal — one month's evaluation of every department by a
district leader (`evaluation.selectors.evaluate(user, "department", …)`: the aggregate query plus the names) —
and, for the record, every other subject kind, and the departments as a street's leader sees them. The
growth from the smallest to the largest size is printed. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime

import common

PG_DB = "bench_eval"
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
SPAN_DAYS = 3 * 365
MONTH = (date(2026, 5, 1), date(2026, 5, 31))
DEPARTMENTS, DISPATCHERS = 40, 30
HOUR, DAY = 3600, 86400
CASE_COLUMNS = (
    "id", "number", "title", "description", "source", "status", "is_major", "lng", "lat", "crs_in", "address",
    "grid_id", "region_code", "reporter_id", "reporter_name", "reporter_phone_enc", "reporter_phone_masked",
    "reporter_email_enc", "hotline_ticket", "department_id", "auto_dispatched", "idempotency_digest",
    "external_id", "reported_at", "accepted_at", "dispatched_at", "handled_at", "verified_at", "closed_at",
    "deadline", "accepted_on_time", "dispatched_on_time", "handled_on_time", "closed_on_time", "checked_on_time",
    "verified_on_time", "is_overdue", "is_supervised", "rework_count", "send_back_count", "reopen_count", "redirect_count",
    "extension_pending", "is_self_handled", "suspended_from", "accepted_by_id", "dispatched_by_id", "updated_at",
    "title_masked",
)
STEP_COLUMNS = ("case_id", "action", "from_status", "to_status", "actor_name", "note", "actor_id", "at")
# Milestones: offset after the report (seconds), the status the case reaches, the step it leaves.
MILESTONES = (("accepted_at", 1.5 * HOUR, "accepted", "accept"), ("dispatched_at", 3 * HOUR, "dispatched", "dispatch"),
              ("handled_at", 1.5 * DAY, "handled", "report_back"), ("verified_at", 2.2 * DAY, "verified", "verify"),
              ("closed_at", 2.35 * DAY, "closed", "close"))
SOURCES = ["grid_worker"] * 60 + ["public"] * 15 + ["hotline"] * 15 + ["video"] * 5 + ["open311"] * 3 + ["superior"] * 2


# ---- the district and the synthetic cases ---------------------------------------------------------------

def build_world() -> dict:
    """Regions (18 streets, 180 communities, 900 grids), departments, dispatchers, a grid worker per grid with
    a grant, and the users whose views are timed: a district leader, a street leader, a street dispatcher."""
    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    district, streets, _, grids = common.build_district(first_street=1)
    departments = Organisation.objects.bulk_create([
        Organisation(code=f"D{d:03d}", name=f"区部门{d}", kind=OrgKind.DEPARTMENT, region=district,
                     region_code=district.code) for d in range(DEPARTMENTS)])
    users = User.objects.bulk_create(
        [User(username=f"cd{i}", display_name=f"派遣员{i}") for i in range(DISPATCHERS)]
        + [User(username=f"wg{g.code}", display_name=f"网格员{g.code[-6:]}") for g in grids]
        + [User(username=u) for u in ("leader", "street-leader", "street-dispatcher")])
    dispatchers, workers = users[:DISPATCHERS], users[DISPATCHERS:DISPATCHERS + len(grids)]
    leader, street_leader, street_dispatcher = users[-3:]
    grants = [Grant(user=u, role=Role.COMMAND_DISPATCHER, region=district) for u in dispatchers]
    grants += [Grant(user=w, role=Role.GRID_WORKER, region=g) for w, g in zip(workers, grids, strict=True)]
    grants += [Grant(user=leader, role=Role.LEADER, region=district),
               Grant(user=street_leader, role=Role.LEADER, region=streets[0]),
               Grant(user=street_dispatcher, role=Role.STREET_DISPATCHER, region=streets[0])]
    Grant.objects.bulk_create(grants)
    return {
        "grids": [(g.pk, g.code, g.centroid_lng, g.centroid_lat) for g in grids],
        "workers": [w.pk for w in workers],
        "departments": [d.pk for d in departments],
        "dispatchers": [u.pk for u in dispatchers],
        "leader": leader.pk, "street_leader": street_leader.pk, "street_dispatcher": street_dispatcher.pk,
    }


def generate(n: int, world: dict, *, steps: bool | str, seed: int = 2026):
    """Yield (case row, [step rows]) for n cases, oldest first, their report times spread over three years
    up to NOW; datetimes as epoch seconds (converted per database by the caller)."""
    rng = random.Random(seed)
    steps_rng = random.Random(seed + 1)
    now = NOW.timestamp()
    start = now - SPAN_DAYS * DAY
    grids, workers = world["grids"], world["workers"]
    departments, dispatchers = world["departments"], world["dispatchers"]
    for i in range(1, n + 1):
        reported = start + (i - 0.5) * SPAN_DAYS * DAY / n + rng.uniform(-600, 600)
        age = now - reported
        g = rng.randrange(len(grids))
        grid_id, code, lng, lat = grids[g]
        source = rng.choice(SOURCES)
        roll = rng.random()
        kind = ("refused" if roll < 0.02 else "voided" if roll < 0.04 else "merged" if roll < 0.05
                else "suspended" if roll < 0.06 else "self" if roll < 0.08 else "loop")
        m = dict.fromkeys(("accepted_at", "dispatched_at", "handled_at", "verified_at", "closed_at"))
        status, dept, overdue = "reported", None, False
        step_rows = [(i, "report", "", "reported", "", "", None, reported)]
        # How far along the loop the case got: self-handled at once; voided/merged after 立案; suspended after
        # 派遣; refused before anything; the others as far as their age allows (a few stuck and overdue).
        depth = {"self": 0, "refused": 0, "voided": 1, "merged": 1, "suspended": 2}.get(kind, len(MILESTONES))
        for f, off, st, act in MILESTONES[:depth]:
            if age < off:
                break
            m[f] = reported + off
            step_rows.append((i, act, status, st, "", "", None, reported + off))
            status = st
        if kind == "self":
            status = "closed"
            m["handled_at"] = m["verified_at"] = m["closed_at"] = reported
            step_rows.append((i, "self_handle", "reported", "closed", "", "自行处置", None, reported))
        elif kind == "loop" and status == "closed" and rng.random() < 0.01:
            status, overdue = "handling", True
            m["handled_at"] = m["verified_at"] = m["closed_at"] = None
            step_rows = step_rows[:3]
        elif kind == "loop" and status == "dispatched" and age >= DAY:
            status = "handling"
        elif kind in ("voided", "merged") or (kind == "suspended" and status == "dispatched"):
            status = kind
        elif kind == "refused" and age >= HOUR:
            status = "refused"
        if m["dispatched_at"]:
            dept = rng.choice(departments)
        accepted_by = rng.choice(dispatchers) if m["accepted_at"] else None
        dispatched_by = rng.choice(dispatchers) if m["dispatched_at"] else None
        handled_on_time = (rng.random() >= 0.15) if m["handled_at"] else (True if kind == "self" else None)
        overdue = overdue or handled_on_time is False
        row = (
            i, f"B{i:012d}", "测试事件", "", source if kind != "self" else "self_handled", status, False,
            lng + rng.uniform(-0.004, 0.004), lat + rng.uniform(-0.004, 0.004), "wgs84", "", grid_id, code,
            workers[g] if source == "grid_worker" or kind == "self" else None, "", "", "", "", "", dept, False, "",
            "", reported, m["accepted_at"], m["dispatched_at"], m["handled_at"], m["verified_at"], m["closed_at"],
            m["dispatched_at"] + 3 * DAY if m["dispatched_at"] else None,
            (rng.random() >= 0.05) if m["accepted_at"] else None,
            (rng.random() >= 0.07) if m["dispatched_at"] else None,
            handled_on_time,
            (rng.random() >= 0.03) if m["closed_at"] and kind != "self" else (True if kind == "self" else None),
            (rng.random() >= 0.1) if m["accepted_at"] and rng.random() < 0.2 else None,
            (rng.random() >= 0.08) if m["verified_at"] and kind != "self" else None,
            overdue, overdue, 1 if m["handled_at"] and rng.random() < 0.06 else 0,
            1 if m["dispatched_at"] and rng.random() < 0.04 else 0, 0, 0, False, kind == "self",
            "dispatched" if kind == "suspended" else "", accepted_by, dispatched_by, now,
            "测试事件",
        )
        if steps:
            step_rows = _dispatch_steps(step_rows, dispatched_by, row[SENT_BACK], dispatchers, steps_rng)
            if steps == "sent_back" and not row[SENT_BACK]:
                step_rows = []
        yield row, (step_rows if steps else [])


SENT_BACK = CASE_COLUMNS.index("send_back_count")


def _dispatch_steps(step_rows: list[tuple], dispatched_by, sent_back: int, dispatchers, rng) -> list[tuple]:
    """The dispatch step names its dispatcher; a case sent back was first dispatched by another (its own
    random stream, so the case rows stay those of earlier runs) and came back a day before the dispatch that
    stuck: what 准确派遣率 reads (`evaluation.selectors._dispatchers`)."""
    out = []
    for step in step_rows:
        if step[1] == "dispatch":
            if sent_back:
                wrong = rng.choice([d for d in dispatchers if d != dispatched_by] or dispatchers)
                out.append(step[:6] + (wrong, step[7] - DAY))
                out.append(step[:1] + ("send_back", "dispatched", "accepted", "", "退回", None, step[7] - DAY / 2))
            step = step[:6] + (dispatched_by, step[7])
        out.append(step)
    return out


def _dt_sqlite(value):
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value is not None else None


def _dt_pg(value):
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def populate(vendor: str, n: int, *, steps: bool | str = False) -> tuple[dict, float, int]:
    """Build the world and bulk-insert n cases (and their steps: all with `steps=True`, those of the cases sent
    back with `steps="sent_back"`); returns (world, seconds, steps inserted)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        world = build_world()
    dt = _dt_sqlite if vendor == "sqlite" else _dt_pg
    time_cols = {CASE_COLUMNS.index(c) for c in ("reported_at", "accepted_at", "dispatched_at", "handled_at",
                                                 "verified_at", "closed_at", "deadline", "updated_at")}
    case_sql = f"INSERT INTO cases_case ({', '.join(CASE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(CASE_COLUMNS))})"
    step_sql = (f"INSERT INTO cases_casestep ({', '.join(STEP_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(STEP_COLUMNS))})")
    cases, step_rows, total_steps = [], [], 0

    def flush():
        nonlocal total_steps
        if vendor == "sqlite":
            with connection.cursor() as cur:
                cur.executemany(case_sql, cases)
                if step_rows:
                    cur.executemany(step_sql, step_rows)
        else:
            raw = connection.connection
            with raw.cursor() as cur:
                with cur.copy(f"COPY cases_case ({', '.join(CASE_COLUMNS)}) FROM STDIN") as copy:
                    for r in cases:
                        copy.write_row(r)
                if step_rows:
                    with cur.copy(f"COPY cases_casestep ({', '.join(STEP_COLUMNS)}) FROM STDIN") as copy:
                        for r in step_rows:
                            copy.write_row(r)
        total_steps += len(step_rows)
        cases.clear()
        step_rows.clear()

    with transaction.atomic():
        for row, its_steps in generate(n, world, steps=steps):
            cases.append(tuple(dt(v) if k in time_cols else v for k, v in enumerate(row)))
            step_rows.extend(s[:-1] + (dt(s[-1]),) for s in its_steps)
            if len(cases) >= 20_000:
                flush()
        flush()
    if vendor == "postgres":
        with connection.cursor() as cur:
            cur.execute("SELECT setval(pg_get_serial_sequence('cases_case', 'id'), %s)", [n])
            cur.execute("VACUUM ANALYZE cases_case")
            if steps:
                cur.execute("VACUUM ANALYZE cases_casestep")
    return world, time.perf_counter() - started, total_steps


# ---- child: one database, one size -----------------------------------------------------------------------

def child(vendor: str, n: int) -> dict:
    common.setup_django()
    from django.db.models import Count

    from civicgrid.apps.evaluation import selectors
    from civicgrid.foundation.access.models import User

    common.migrate()
    timed = common.first_best_median
    # The steps of the cases sent back: the dispatcher table reads them (the other tables read no steps).
    world, populate_s, _ = populate(vendor, n, steps="sent_back")
    leader = User.objects.get(pk=world["leader"])
    street_leader = User.objects.get(pk=world["street_leader"])
    as_of = NOW
    ev = selectors.evaluate(leader, "department", *MONTH, as_of=as_of)
    month_cases = selectors.cohort(leader, *MONTH).count()
    results = {"vendor": vendor, "cases": n, "populate_s": populate_s, "month_cases": month_cases,
               "departments": len(ev.rows), "grades": {}, "timings": {}}
    for r in ev.rows:
        results["grades"][r.grade or "-"] = results["grades"].get(r.grade or "-", 0) + 1
    results["timings"]["department (goal)"] = timed(lambda: selectors.evaluate(leader, "department", *MONTH, as_of=as_of))
    for kind in ("street", "community", "grid", "grid_worker", "dispatcher", "intake", "shift_lead"):
        results["timings"][kind] = timed(lambda k=kind: selectors.evaluate(leader, k, *MONTH, as_of=as_of), runs=3)
    results["timings"]["department, street leader"] = timed(
        lambda: selectors.evaluate(street_leader, "department", *MONTH, as_of=as_of))
    names = selectors.needed_counts("department")
    qs = selectors.grouped_counts(selectors.cohort(leader, *MONTH), "department_id", names, as_of)
    results["plan"] = common.plan(qs)
    results["plan_street"] = common.plan(selectors.cohort(street_leader, *MONTH).values("department_id")
                                         .annotate(n=Count("pk")))
    return results


# ---- parent ---------------------------------------------------------------------------------------------

def report(r: dict) -> None:
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (inserted in {r['populate_s']:.1f} s); May 2026: "
          f"{r['month_cases']:,} cases, {r['departments']} departments, grades {r['grades']}")
    for name, t in r["timings"].items():
        print(common.timing_line(name, t, 28))
    print(f"           plan: {r['plan']}\n           plan (street): {r['plan_street']}", flush=True)


def growth(results: list[dict], key: str) -> None:
    """How the key timing grew from the smallest to the largest size, per database."""
    by_vendor: dict[str, list[dict]] = {}
    for r in results:
        by_vendor.setdefault(r["vendor"], []).append(r)
    for vendor, rows in by_vendor.items():
        rows.sort(key=lambda r: r["cases"])
        if len(rows) < 2:
            continue
        a, b = rows[0], rows[-1]
        ta, tb = a["timings"][key]["median_ms"], b["timings"][key]["median_ms"]
        month = (f", {b['month_cases'] / max(1, a['month_cases']):.1f}× the month's cases" if "month_cases" in a
                 else "")
        print(f"{vendor:>9}: {key}: {a['cases']:,} → {b['cases']:,} cases ({b['cases'] / a['cases']:.0f}× the "
              f"table{month}): median {ta:.1f} → {tb:.1f} ms ({tb / max(ta, 1e-9):.1f}×)", flush=True)


def main(script: str = __file__, db: str = PG_DB, child_fn=child, report_fn=report, key: str = "department (goal)",
         doc: str = __doc__) -> int:
    parser = common.argument_parser(doc)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated case counts")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = common.parse_sizes(args.sizes)
    if args.child:
        common.reply(child_fn(args.child, sizes[0]))
        return 0
    results = []
    for vendor in ("sqlite", "postgres"):
        if args.only not in (None, vendor):
            continue
        for n in sizes:
            for r in common.each_database(script, [vendor], lambda v, n=n: ["--child", v, "--sizes", str(n)], db=db,
                                          prefix="bench-cases-"):
                report_fn(r)
                results.append(r)
    growth(results, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The retention pass over reporters' data (`core.retention`, set `cases.reporter`) at 100,000 and 1,000,000 cases,
on SQLite and PostgreSQL, against a full read of the case table in the same run.

    python benchmarks/bench_retention.py                        # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_retention.py --sizes 10000,50000    # smaller
    python benchmarks/bench_retention.py --only sqlite          # or postgres

The cases are those of `bench_evaluation.py` (three years of reports up to 2026-06-15, every status the loop
leaves), bulk-inserted into a fresh database (a temporary SQLite file; PostgreSQL `bench_retention`, or
`BENCH_PG_DB`, dropped afterwards), each given a reporter's name, phone and email, the refused, voided and merged
ones the moment they ended (`ended_at`). With the default period (730 days after the loop ended) about a third
of them are past it. Measured:

  * baseline: `SELECT count(*) FROM cases_case WHERE reporter_name <> ''`, a read of every case row (best of 3);
  * backlog: the first pass (`retention.apply_one`), which blanks every case past its period, 1,000 rows and
    one audit entry per transaction - what enabling retention on a deployment with years of cases costs once;
  * idle: the same pass again, nothing left to blank (best of 3) - what the worker pays every hour (with the
    planner's statistics refreshed after the backlog's updates, as PostgreSQL's autovacuum does);
  * next day: a pass a day later, which blanks the rows whose period ran out that day (a few hundred at
    1,000,000 cases) - the work should follow what is due, not the size of the table;

each for the case's own reporter (`cases.reporter`) and for its followers (`cases.followers`, one row per case,
the reporter, as intake writes it); then `retention.apply`, every registered set with nothing due (best of 3).

Printed: the times, the rows blanked, the ratios to the baseline, and the next-day pass's plan. Figures are
printed, never asserted; compare ratios within one run (the machines are noisy).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

import bench_evaluation as be
import common

PG_DB = "bench_retention"


def child(vendor: str, n: int) -> dict:
    common.setup_django()
    from django.db import connection

    from civicgrid.foundation.core import context, retention

    common.migrate()
    _, populate_s, _ = be.populate(vendor, n)
    with connection.cursor() as cur:
        cur.execute("UPDATE cases_case SET reporter_name = '张三', reporter_phone_enc = 'sealed-phone', "
                    "reporter_phone_masked = '138****5678', reporter_email_enc = 'sealed-email'")
        # Every case's reporter also follows it (what intake writes): the `cases.followers` set.
        token = "'t' || id" if vendor == "sqlite" else "'t' || id::text"
        cur.execute("INSERT INTO cases_casereporter (case_id, original_case_id, name, contact_enc, email_enc, "
                    f"follow_token, rating_comment, told, created_at) SELECT id, id, '张三', 'sealed-phone', "
                    f"'sealed-email', {token}, '', '{{}}', reported_at FROM cases_case")
        # The refused, voided and merged cases ended when they were (about their 立案, or their report), not
        # at the bulk load's moment: their period runs from `ended_at`.
        cur.execute("UPDATE cases_case SET ended_at = COALESCE(accepted_at, reported_at) "
                    "WHERE status IN ('refused', 'voided', 'merged')")
        cur.execute("ANALYZE" if vendor == "sqlite" else "VACUUM ANALYZE")
    now = be.NOW
    day = now + timedelta(days=1)

    def baseline() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM cases_case WHERE reporter_name <> ''")
            return cur.fetchone()[0]

    base = common.best_of(3, baseline)
    sets = {}
    with context.acting(channel="command"):
        for key in ("cases.reporter", "cases.followers"):
            data_set = next(s for s in retention.registered() if s.key == key)
            due = data_set.due(now).count()
            started = time.perf_counter()
            blanked = retention.apply_one(data_set, now)
            backlog = time.perf_counter() - started
            assert blanked == due, (key, blanked, due)
            # Planner statistics as they stand after so many updates (PostgreSQL's autovacuum analyses a table
            # once a tenth of it changed; on SQLite `dbstats.refresh_statistics`).
            with connection.cursor() as cur:
                cur.execute("ANALYZE" if vendor == "sqlite" else "ANALYZE cases_case, cases_casereporter")
            idle = common.best_of(3, lambda data_set=data_set: retention.apply_one(data_set, now))
            def plan_of(due, data_set=data_set):  # the read `retention._batches` makes
                ids = due.values_list("pk", flat=True)
                return ids.order_by() if data_set.per_branch else ids.order_by("pk")[:1000]

            # An hour-like pass a day later: the cases whose period ran out that day.
            next_due = data_set.due(day).count()
            started = time.perf_counter()
            next_blanked = retention.apply_one(data_set, day)
            next_s = time.perf_counter() - started
            assert next_blanked == next_due, (key, next_blanked, next_due)
            sets[key] = {"due": due, "backlog_s": backlog, "idle_s": idle, "next_due": next_due, "next_s": next_s,
                         "plan": common.plan(plan_of(data_set.due(day)))}
        # What the worker runs every hour: every registered set, nothing due.
        hourly = common.best_of(3, lambda: retention.apply(day))
    cutoff = now - timedelta(days=730)
    return {"vendor": vendor, "cases": n, "populate_s": populate_s, "baseline_s": base, "sets": sets,
            "hourly_s": hourly, "left": baseline(), "cutoff": cutoff.isoformat()}


def report(r: dict) -> None:
    b = r["baseline_s"]
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (populated in {r['populate_s']:.1f} s), period ends {r['cutoff'][:10]}\n"
          f"           baseline  full read of the table   {b * 1000:9.1f} ms")
    for key, s in r["sets"].items():
        print(f"           {key}\n"
              f"             backlog   first pass, {s['due']:,} blanked  {s['backlog_s'] * 1000:9.1f} ms   "
              f"× {s['backlog_s'] / b:.2f} of the baseline   {s['backlog_s'] * 1e6 / max(1, s['due']):.1f} µs a row\n"
              f"             idle      hourly pass, none due   {s['idle_s'] * 1000:9.1f} ms   "
              f"× {s['idle_s'] / b:.3f} of the baseline\n"
              f"             next day  {s['next_due']:,} due, blanked   {s['next_s'] * 1000:9.1f} ms   "
              f"× {s['next_s'] / b:.3f} of the baseline\n"
              f"             plan (next day): {s['plan'][:400]}")
    print(f"           hourly    every set, none due     {r['hourly_s'] * 1000:9.1f} ms   "
          f"× {r['hourly_s'] / b:.3f} of the baseline\n"
          f"           cases still holding reporter data: {r['left']:,}", flush=True)


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        common.reply(child(args.child, args.cases))
        return 0
    vendors = [v for v in ("sqlite", "postgres") if args.only in (None, v)]
    for n in common.parse_sizes(args.sizes):
        for result in common.each_database(__file__, vendors, lambda v, n=n: ["--child", v, "--cases", str(n)],
                                           db=PG_DB, prefix="bench-retention-"):
            report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

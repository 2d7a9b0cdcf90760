"""The retention pass over reporters' data (`core.retention`, set `cases.reporter`) at 100,000 and 1,000,000 cases,
on SQLite and PostgreSQL, against a full read of the case table in the same run.

    python benchmarks/bench_retention.py                        # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_retention.py --sizes 10000,50000    # smaller
    python benchmarks/bench_retention.py --only sqlite          # or postgres

The cases are those of `bench_evaluation.py` (three years of reports up to 2026-06-15, every status the loop
leaves), bulk-inserted into a fresh database (a temporary SQLite file; PostgreSQL `bench_retention`, dropped
afterwards), each given a reporter's name, phone and email. With the default period (730 days after the loop
ended) about a third of them are past it. Measured:

  * baseline: `SELECT count(*) FROM cases_case WHERE reporter_name <> ''`, a read of every case row (best of 3);
  * backlog: the first pass (`retention.apply_one`), which blanks every case past its period, 1,000 rows and
    one audit entry per transaction - what enabling retention on a deployment with years of cases costs once;
  * idle: the same pass again, nothing left to blank (best of 3) - what the worker pays every hour.

Printed: the times, the rows blanked, the ratios to the baseline, and the idle pass's plan. Figures are
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
        cur.execute("ANALYZE" if vendor == "sqlite" else "VACUUM ANALYZE cases_case")
    data_set = next(s for s in retention.registered() if s.key == "cases.reporter")
    now = be.NOW

    def baseline() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM cases_case WHERE reporter_name <> ''")
            return cur.fetchone()[0]

    base = common.best_of(3, baseline)
    due = data_set.due(now).count()
    with context.acting(channel="command"):
        started = time.perf_counter()
        blanked = retention.apply_one(data_set, now)
        backlog = time.perf_counter() - started
        idle = common.best_of(3, lambda: retention.apply_one(data_set, now))
    assert blanked == due, (blanked, due)
    cutoff = now - timedelta(days=data_set.days())
    return {"vendor": vendor, "cases": n, "populate_s": populate_s, "baseline_s": base, "due": due,
            "backlog_s": backlog, "idle_s": idle, "left": baseline(),
            "plan": common.plan(data_set.due(now).order_by("pk").values_list("pk", flat=True)[:1000]),
            "cutoff": cutoff.isoformat()}


def report(r: dict) -> None:
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (populated in {r['populate_s']:.1f} s), period ends {r['cutoff'][:10]}\n"
          f"           baseline  full read of the table   {r['baseline_s'] * 1000:9.1f} ms\n"
          f"           backlog   first pass, {r['due']:,} blanked  {r['backlog_s'] * 1000:9.1f} ms   "
          f"× {r['backlog_s'] / r['baseline_s']:.1f} of the baseline   "
          f"{r['backlog_s'] * 1e6 / max(1, r['due']):.1f} µs a case\n"
          f"           idle      hourly pass, none due   {r['idle_s'] * 1000:9.1f} ms   "
          f"× {r['idle_s'] / r['baseline_s']:.1f} of the baseline\n"
          f"           cases still holding reporter data: {r['left']:,}\n"
          f"           plan: {r['plan'][:200]}", flush=True)


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

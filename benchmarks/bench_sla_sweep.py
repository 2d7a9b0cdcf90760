"""SLA sweep over many open clocks, on SQLite and PostgreSQL, against a bare indexed SELECT in the same run.

    python benchmarks/bench_sla_sweep.py                  # 1,000,000 running clocks on both databases
    python benchmarks/bench_sla_sweep.py --clocks 100000  # smaller
    python benchmarks/bench_sla_sweep.py --only sqlite    # or postgres

Each database is fresh (a temporary SQLite file; a PostgreSQL database `bench_sla`, UTF-8, from
template0, dropped afterwards). The clocks are generated inside the database: 1 % are past their deadline
(and were warned earlier), another 1 % have just reached their warning instant, the rest are due later.

Measured:
  * baseline: `SELECT id FROM sla_slaclock WHERE state='running' AND due_at <= now` on an index
    (state, due_at) made for it, all ids fetched - the least any sweep has to do to find the due clocks;
  * sweep: `sla.sweep.sweep(now)` for the burst of 10,000 warnings and 10,000 breaches - reading the due
    range above each watermark, writing one outbox row per clock and moving the watermark, committed in
    batches of 5,000 (the sweep writes no clock row: see `sla/sweep.py`) - started right after a checkpoint (PostgreSQL `CHECKPOINT`, SQLite `wal_checkpoint(TRUNCATE)`), as in a
    deployment where one ran at most minutes ago: the first change to a page after a checkpoint writes the
    whole page to the WAL (PostgreSQL) and a commit that grows the WAL past 1,000 pages copies it back into
    the database file (SQLite). Printed with it: the time spent in the commits, and on PostgreSQL the WAL
    bytes the server wrote meanwhile (other clients of the same server would count too);
  * idle sweep: the same call once everything is emitted (what the worker pays every second), best of 5.
Figures are printed, never asserted; compare the ratio within one run (the machines are noisy). The goal
line compares the burst with the target "the sweep over 1,000,000 open clocks within 1 s".
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import common

PG_DB = "bench_sla"
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Beijing on a Monday
NOW_EPOCH = int(NOW.timestamp())

# One INSERT … SELECT per database, generating every row server-side (1 M rows in seconds, not minutes).
# DUE rows are overdue (and were warned earlier), WARN rows have just reached their warning instant, the
# rest fall due later. Layout "spread": every 100th row (each due clock on its own page: the worst case
# for reading them); "oldest": the first 1 % and the next 1 % (clocks started together fall due together).
LAYOUTS = {
    "spread": ("n % 100 = 0", "n % 100 = 50"),
    "oldest": ("n <= CLOCKS / 100", "n > CLOCKS / 100 AND n <= CLOCKS / 50"),
}
COLUMNS = (
    "target_type, target_id, kind, region_code, limit_amount, mode, budget, warn_ratio, state, "
    "started_at, running_since, consumed, due_at, warn_at, warned_at, updated_at"
)
ROWS = """
  SELECT n,
    CASE WHEN DUE THEN NOW - 60 - n % 3600 WHEN WARN THEN NOW + 3600 ELSE NOW + 600 + n % 864000 END AS due,
    CASE WHEN DUE THEN NOW - 3000 - n % 3600 WHEN WARN THEN NOW - 30 - n % 600 ELSE NOW + 60 + n % 864000 END AS warn
"""
SQLITE_INSERT = f"""
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < CLOCKS),
rows AS ({ROWS} FROM seq)
INSERT INTO sla_slaclock ({COLUMNS})
SELECT 'cases.case', CAST(n AS TEXT), 'case.handle', '140213050' || printf('%03d', n % 1000), 4,
       'working_hours', 240, 0.8, 'running',
       datetime(warn - 86400, 'unixepoch'), datetime(warn - 86400, 'unixepoch'), 0,
       datetime(due, 'unixepoch'), datetime(warn, 'unixepoch'),
       CASE WHEN DUE THEN datetime(warn, 'unixepoch') END, datetime(NOW, 'unixepoch')
FROM rows
"""
PG_INSERT = f"""
INSERT INTO sla_slaclock ({COLUMNS})
SELECT 'cases.case', n::text, 'case.handle', '140213050' || lpad((n % 1000)::text, 3, '0'), 4,
       'working_hours', 240, 0.8, 'running',
       to_timestamp(warn - 86400), to_timestamp(warn - 86400), 0,
       to_timestamp(due), to_timestamp(warn),
       CASE WHEN DUE THEN to_timestamp(warn) END, to_timestamp(NOW)
FROM ({ROWS} FROM generate_series(1, CLOCKS) AS n) AS rows
"""


def insert_sql(vendor: str, clocks: int, layout: str) -> str:
    """The populating statement (no parameters, so its % signs are SQL's own)."""
    due, warn = LAYOUTS[layout]
    sql = SQLITE_INSERT if vendor == "sqlite" else PG_INSERT
    sql = sql.replace("DUE", f"({due})").replace("WARN", f"({warn})")
    return sql.replace("CLOCKS", str(clocks)).replace("NOW", str(NOW_EPOCH))


def wal_lsn(connection):
    """PostgreSQL's current WAL position (None on SQLite)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        return cur.fetchone()[0]


def wal_since(connection, before) -> int | None:
    """WAL bytes written by the whole server since ``before`` (other clients' writes count too)."""
    if before is None:
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [before])
        return int(cur.fetchone()[0])


# ---- child: one database ----------------------------------------------------------------------------


def child(vendor: str, clocks: int, layout: str) -> dict:
    common.setup_django()
    from django.db import connection, transaction

    from civicgrid.foundation.core.management.commands.worker import tune_sqlite
    from civicgrid.foundation.events.models import OutboxEvent
    from civicgrid.foundation.sla.models import SlaClock
    from civicgrid.foundation.sla.sweep import sweep

    common.migrate("events", "sla")  # only the two schemas the sweep touches

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(insert_sql(vendor, clocks, layout))
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    populate = time.perf_counter() - started
    assert SlaClock.objects.count() == clocks

    def baseline() -> tuple[float, int]:
        with connection.cursor() as cur:
            t = time.perf_counter()
            cur.execute("SELECT id FROM sla_slaclock WHERE state = %s AND due_at <= %s", ["running", NOW])
            n = len(cur.fetchall())
            return time.perf_counter() - t, n

    # The baseline's (state, due_at) index exists only while the baseline runs: the application does not
    # need it, and every index slows each report's clock insert down.
    with connection.cursor() as cur:
        cur.execute("CREATE INDEX bench_state_due ON sla_slaclock (state, due_at)")
        cur.execute("ANALYZE sla_slaclock")
    base_runs = [baseline() for _ in range(5)]
    base_time, due = min(t for t, _ in base_runs), base_runs[0][1]
    base_plan = common.explain("SELECT id FROM sla_slaclock WHERE state = %s AND due_at <= %s", ["running", NOW],
                               indent=True)
    with connection.cursor() as cur:
        cur.execute("DROP INDEX bench_state_due")

    tune_sqlite(connection=connection)  # the sweep as the worker runs it (its SQLite page cache)
    # Start the burst from a checkpoint, as a deployment does (PostgreSQL checkpoints at least every
    # checkpoint_timeout, SQLite whenever its WAL passes 1,000 pages): the first change to each table or
    # index page after a checkpoint then costs what it costs in production (PostgreSQL writes the whole
    # 8 kB page to the WAL), and nothing the populating left behind is written during the sweep.
    with connection.cursor() as cur:
        cur.execute("CHECKPOINT" if vendor == "postgres" else "PRAGMA wal_checkpoint(TRUNCATE)")
    wal_before = wal_lsn(connection)
    # Time the commits apart from the statements: committing is where the changed pages are written
    # (SQLite: to the WAL, then copied back by the automatic checkpoint of a commit that grew it past
    # 1,000 pages; PostgreSQL: the WAL flush).
    commits = []
    plain_commit = connection._commit

    def timed_commit():
        started = time.perf_counter()
        try:
            return plain_commit()
        finally:
            commits.append(time.perf_counter() - started)

    connection._commit = timed_commit
    t = time.perf_counter()
    try:
        warned, breached = sweep(now=NOW)
    finally:
        connection._commit = plain_commit
    sweep_time = time.perf_counter() - t
    wal_bytes = wal_since(connection, wal_before)

    def idle_sweep() -> None:
        assert sweep(now=NOW) == (0, 0)

    idle = common.best_of(5, idle_sweep)

    # The idle sweep again after PostgreSQL's VACUUM ANALYZE: the steady state, once statistics and the
    # visibility map have caught up with the burst.
    if vendor == "postgres":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE sla_slaclock")
    idle_vacuumed = common.best_of(5, idle_sweep)

    events = OutboxEvent.objects.count()
    assert events == warned + breached, (events, warned, breached)
    pending_sql = (
        "SELECT id FROM sla_slaclock WHERE breached_at IS NULL AND state IN ('running', 'paused') "
        "AND due_at > %s AND due_at <= %s ORDER BY due_at, id"
    )
    return {
        "vendor": vendor,
        "clocks": clocks,
        "layout": layout,
        "populate_s": populate,
        "baseline_s": base_time,
        "baseline_rows": due,
        "sweep_s": sweep_time,
        "warned": warned,
        "breached": breached,
        "commit_s": sum(commits),
        "commits": len(commits),
        "wal_bytes": wal_bytes,
        "idle_sweep_s": idle,
        "idle_vacuumed_s": idle_vacuumed,
        "ratio": sweep_time / base_time if base_time else float("nan"),
        "baseline_plan": base_plan,
        "sweep_plan": common.explain(pending_sql, [NOW - timedelta(seconds=1), NOW], indent=True),
    }


# ---- parent: one child process per database --------------------------------------------------------------


def goal(r: dict) -> str:
    if r["clocks"] != 1_000_000:
        return "not measured (it is stated for 1,000,000 clocks)"
    return "met" if r["sweep_s"] <= 1 else f"NOT met ({r['sweep_s']:.2f} s)"


def report(r: dict) -> None:
    print(
        f"{r['vendor']:>9}: {r['clocks']:,} running clocks, due ones {r['layout']} (populated in {r['populate_s']:.1f} s)\n"
        f"           baseline  SELECT due ids       {r['baseline_s'] * 1000:8.1f} ms  ({r['baseline_rows']:,} rows)\n"
        f"           sweep     find+outbox+mark     {r['sweep_s'] * 1000:8.1f} ms  "
        f"({r['warned']:,} warnings + {r['breached']:,} breaches = {r['warned'] + r['breached']:,} events)\n"
        f"             of which {r['commits']} commits             {r['commit_s'] * 1000:8.1f} ms"
        + (f"  (WAL written: {r['wal_bytes'] / 2**20:,.0f} MiB, whole server)" if r["wal_bytes"] is not None else "")
        + "\n"
        f"           per event                      {r['sweep_s'] * 1e6 / max(1, r['warned'] + r['breached']):8.1f} µs\n"
        f"           goal (1 M clocks, burst ≤ 1 s)  {goal(r)}\n"
        f"           idle sweep (nothing due)       {r['idle_sweep_s'] * 1000:8.1f} ms right after the burst, "
        f"{r['idle_vacuumed_s'] * 1000:.1f} ms after vacuum\n"
        f"           ratio sweep / baseline         {r['ratio']:8.1f} ×\n"
        f"           plan baseline: {r['baseline_plan']}\n"
        f"           plan sweep:    {r['sweep_plan']}",
        flush=True,
    )


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--layout", choices=sorted(LAYOUTS), default="spread", help="where the due clocks lie"
    )
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        common.reply(child(args.child, args.clocks, args.layout))
        return 0

    def child_args(vendor: str) -> list[str]:
        return ["--child", vendor, "--clocks", str(args.clocks), "--layout", args.layout]

    vendors = [v for v in ("sqlite", "postgres") if args.only in (None, v)]
    for result in common.each_database(__file__, vendors, child_args, db=PG_DB, prefix="bench-sla-"):
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The worker's outbox poll as the outbox grows, on SQLite and PostgreSQL, against the same poll at the smallest size.

    python benchmarks/bench_outbox_poll.py                        # 10,000 then 1,000,000 delivered events
    python benchmarks/bench_outbox_poll.py --sizes 10000,100000   # smaller
    python benchmarks/bench_outbox_poll.py --only sqlite          # or postgres

Every second the worker asks the outbox for the undelivered events that are due (`events.bus.due_events`, 500
at a time). Delivered events stay for 30 days (`CIVICGRID_OUTBOX_KEEP_DAYS`): a district writes tens of
thousands a day, so the table holds hundreds of thousands to millions of rows the poll must not read.

Each database is fresh (a temporary SQLite file; a PostgreSQL database `bench_outbox`, UTF-8, from template0,
dropped afterwards), with only the events schema. The planner's statistics are taken first while the outbox holds
a few delivered events of one instant (as after a demo load or a first import), then the outbox is grown, in
the database, to each size in turn: delivered events spread over 30 days, then 20 pending ones. At each size
the poll is timed (median of 21 calls, the 20 pending ids fetched):

  * stale:   with those first statistics (SQLite keeps them until the next ANALYZE);
  * fresh:   after ANALYZE;
  * without: with the partial index `outbox_due` dropped (the schema before it), stale and fresh statistics.

Printed: the times, each as a ratio to the same poll at the smallest size (the baseline of this run: a poll
that reads only the pending events stays near 1 as the outbox grows), the plans, and the ratio without/with
the index. Figures are printed, never asserted (the machines are noisy; compare within one run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import common

PG_DB = "bench_outbox"
PENDING = 20
START = 1_780_000_000  # 2026-05-28, seconds since the epoch: the oldest kept event
SPAN = 30 * 86400  # the events kept: 30 days

COLUMNS = ("topic, aggregate_type, aggregate_id, region_code, payload, request_id, created_at, available_at, "
           "dispatched_at, attempts, last_error")
SQLITE_FILL = f"""
WITH RECURSIVE seq(n) AS (SELECT FIRST UNION ALL SELECT n + 1 FROM seq WHERE n < LAST)
INSERT INTO events_outboxevent ({COLUMNS})
SELECT 'case.handled', 'cases.case', CAST(n AS TEXT), '140213050001', '{{"n": ' || n || '}}', '',
       datetime(START + n * SPAN / LAST, 'unixepoch'), datetime(START + n * SPAN / LAST, 'unixepoch'),
       datetime(START + n * SPAN / LAST + 1, 'unixepoch'), 1, ''
FROM seq
"""
PG_FILL = f"""
INSERT INTO events_outboxevent ({COLUMNS})
SELECT 'case.handled', 'cases.case', n::text, '140213050001', jsonb_build_object('n', n), '',
       to_timestamp(START + n * SPAN / LAST), to_timestamp(START + n * SPAN / LAST),
       to_timestamp(START + n * SPAN / LAST + 1), 1, ''
FROM generate_series(FIRST::bigint, LAST::bigint) AS n
"""


def fill_sql(vendor: str, first: int, last: int) -> str:
    sql = SQLITE_FILL if vendor == "sqlite" else PG_FILL
    return (sql.replace("FIRST", str(first)).replace("LAST", str(last)).replace("START", str(START))
            .replace("SPAN", str(SPAN)))


# ---- child: one database ----------------------------------------------------------------------------------


def child(vendor: str, sizes: list[int]) -> dict:
    common.setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from civicgrid.foundation.core import dbstats
    from civicgrid.foundation.events import bus
    from civicgrid.foundation.events.models import OutboxEvent

    common.migrate("events")
    with connection.cursor() as cur:
        if vendor == "sqlite":
            cur.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox_due'")
        else:
            cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_due'")
        index_sql = cur.fetchone()[0]

    # A few delivered events of one instant, and the statistics taken then.
    at = timezone.now()
    OutboxEvent.objects.bulk_create([OutboxEvent(topic="demo.loaded", created_at=at, available_at=at,
                                                 dispatched_at=at, attempts=1) for _ in range(50)])
    dbstats.refresh_statistics([OutboxEvent])
    stale_stats = None
    if vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = 'events_outboxevent'")
            stale_stats = cur.fetchall()

    def poll():  # as `bus.dispatch_pending` asks, at the time of asking
        return bus.due_events().values_list("id", flat=True)[:500]

    def timed() -> float:
        times = []
        for _ in range(21):
            t = time.perf_counter()
            ids = list(poll())
            times.append(time.perf_counter() - t)
            assert len(ids) == PENDING, len(ids)
        return statistics.median(times)

    def restore_stale() -> None:
        """SQLite: the first statistics back, exactly (it keeps what the last ANALYZE wrote until the next).
        PostgreSQL cannot be set back: its stale statistics are whatever autovacuum left since the fill."""
        if vendor == "sqlite":
            with connection.cursor() as cur:
                cur.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'events_outboxevent'")
                cur.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (%s, %s, %s)", stale_stats)
                cur.execute("ANALYZE sqlite_schema")  # reload them into this connection's planner

    def measure() -> dict:
        # stale statistics with and without the index, then fresh ones without and with it
        out = {"with": {}, "without": {}}
        restore_stale()
        out["with"]["stale"] = (timed(), common.plan(poll()))
        with connection.cursor() as cur:
            cur.execute("DROP INDEX outbox_due")
        restore_stale()
        out["without"]["stale"] = (timed(), common.plan(poll()))
        dbstats.refresh_statistics([OutboxEvent])
        out["without"]["fresh"] = (timed(), common.plan(poll()))
        with connection.cursor() as cur:
            cur.execute(index_sql)
        dbstats.refresh_statistics([OutboxEvent])
        out["with"]["fresh"] = (timed(), common.plan(poll()))
        return {key: {f"{stats}_s": v[0] for stats, v in d.items()} | {f"{stats}_plan": v[1] for stats, v in d.items()}
                for key, d in out.items()}

    results, filled = [], 0
    with connection.cursor() as cur:
        cur.execute("DELETE FROM events_outboxevent WHERE topic = 'demo.loaded'")
    for size in sizes:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM events_outboxevent WHERE dispatched_at IS NULL")
            if size > filled:
                cur.execute(fill_sql(vendor, filled + 1, size))
            filled = max(filled, size)
        for _ in range(PENDING):
            bus.publish("case.reported", payload={"bench": True})
        populate = time.perf_counter() - started
        results.append({"size": filled, "populate_s": populate, **measure()})
    return {"vendor": vendor, "results": results}


# ---- parent: one child process per database ----------------------------------------------------------------


def report(r: dict) -> None:
    base = r["results"][0]
    print(f"{r['vendor']:>9}: the poll for {PENDING} pending events (median of 21), as the delivered events grow")
    for row in r["results"]:
        print(f"           {row['size']:>10,} delivered (populated in {row['populate_s']:.1f} s)")
        for key, label in (("with", "outbox_due"), ("without", "no outbox_due")):
            for stats in ("stale", "fresh"):
                t, t0 = row[key][f"{stats}_s"], base[key][f"{stats}_s"]
                print(f"             {label:<14} {stats} statistics  {t * 1000:9.3f} ms   "
                      f"× {t / t0:7.1f} of the smallest size   plan: {row[key][f'{stats}_plan'][:110]}")
        for stats in ("stale", "fresh"):
            print(f"             without / with outbox_due, {stats} statistics: "
                  f"{row['without'][f'{stats}_s'] / row['with'][f'{stats}_s']:7.1f} ×")
    print(flush=True)


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="10000,1000000", help="delivered events, in increasing order")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = common.parse_sizes(args.sizes)
    if sizes != sorted(sizes) or not sizes or sizes[0] < 1:
        parser.error("--sizes: positive sizes in increasing order, such as 10000,1000000")
    if args.child:
        common.reply(child(args.child, sizes))
        return 0

    def child_args(vendor: str) -> list[str]:
        return ["--child", vendor, "--sizes", args.sizes]

    vendors = [v for v in ("sqlite", "postgres") if args.only in (None, v)]
    for result in common.each_database(__file__, vendors, child_args, db=PG_DB, prefix="bench-outbox-"):
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The audit log page's object-type list (`audit.export.object_types`) over 100,000 and 1,000,000 audit records,
on SQLite and PostgreSQL, against the DISTINCT the page ran before, in the same run.

    python benchmarks/bench_audit_types.py                        # 100,000 and 1,000,000 records, both databases
    python benchmarks/bench_audit_types.py --sizes 10000,50000    # smaller
    python benchmarks/bench_audit_types.py --only postgres        # or sqlite
    python benchmarks/bench_audit_types.py --types 120            # more object types (default 40)

Each size runs in a fresh database (a temporary SQLite file; PostgreSQL `bench_audit_types`, dropped
afterwards). The records are inserted by one INSERT … SELECT over a generated series: a second apart, actions
and object types spread evenly over `--types` types (`app<k>.model<k>`), every ninth record without an object
(a login, a setting), each with a small `data` object as most records carry. The table is ANALYZEd, not
vacuumed, as a trail that is only ever appended to stands between autovacuum runs. Measured (first call, then
best and median of 5):

  * baseline: the page's former query, `SELECT DISTINCT target_type … WHERE target_type <> '' ORDER BY 1`
    through the ORM - a read of every record;
  * types: `recorded_target_types()`, the loose index scan the page runs now (one index probe per type);
  * page list: `object_types()`, the same with each model's name, as the page renders it.

Printed: the times, the ratios to the baseline, both plans; the lists are checked to be equal. Figures are
printed, never asserted; compare ratios within one run (the machines are noisy).
"""

from __future__ import annotations

import argparse
import sys
import time

import common

PG_DB = "bench_audit_types"

# One statement per database: SQLite generates the series with a recursive CTE, PostgreSQL with generate_series.
SERIES = {
    "sqlite": "WITH RECURSIVE series(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM series WHERE g < @N) ",
    "postgres": "",
}
FROM = {"sqlite": "FROM series", "postgres": "FROM generate_series(1, @N) AS series(g)"}
AT = {"sqlite": "datetime('2026-06-15', '-' || g || ' seconds')",
      "postgres": "timestamptz '2026-06-15 00:00:00+00' - g * interval '1 second'"}


def populate(vendor: str, n: int, types: int) -> float:
    """Insert n audit records over `types` object types (see the module's docstring); returns seconds taken."""
    from django.db import connection

    started = time.perf_counter()
    sql = (SERIES[vendor]
           + "INSERT INTO audit_auditentry (at, actor_name, source_ip, channel, request_id, action, target_type,"
             " target_id, target_repr, region_code, data, result) "
           + f"SELECT {AT[vendor]}, 'user' || (g % 50), '10.0.0.' || (g % 200), 'web', '', "
             "'app' || (g % @TYPES) || '.changed', "
             "CASE WHEN g % 9 = 0 THEN '' ELSE 'app' || (g % @TYPES) || '.model' || (g % @TYPES) END, "
             "CAST(g % 5000 AS TEXT), '对象 ' || (g % 5000), '140213' || (g % 18), "
             "'{\"field\": \"name\", \"note\": \"一条普通的修改记录\"}', 'ok' "
           + FROM[vendor])
    with connection.cursor() as cur:
        cur.execute(sql.replace("@N", str(int(n))).replace("@TYPES", str(int(types))))
        cur.execute("ANALYZE" if vendor == "sqlite" else "ANALYZE audit_auditentry")
    return time.perf_counter() - started


def child(vendor: str, n: int, types: int) -> dict:
    common.setup_django()
    from django.db import connection

    from civicgrid.foundation.audit.export import object_types, recorded_target_types, target_types_sql
    from civicgrid.foundation.audit.models import AuditEntry

    common.migrate("audit")
    populate_s = populate(vendor, n, types)
    before = (AuditEntry.objects.exclude(target_type="").order_by("target_type")
              .values_list("target_type", flat=True).distinct())
    assert list(before) == recorded_target_types(), "the loose index scan must find exactly the DISTINCT's types"
    timed = common.first_best_median
    return {
        "vendor": vendor, "records": n, "types": len(recorded_target_types()), "populate_s": populate_s,
        "baseline": timed(lambda: list(before.all())),  # .all(): a new query each time, never the cache
        "loose": timed(recorded_target_types),
        "page": timed(object_types),
        "plan_before": common.plan(before),
        "plan_after": common.explain(target_types_sql(connection), [""])[:700],
    }


def report(r: dict) -> None:
    base = r["baseline"]["best_ms"]
    print(f"{r['vendor']:>9}: {r['records']:,} audit records, {r['types']} object types "
          f"(inserted in {r['populate_s']:.1f} s)")
    width = 34
    print(common.timing_line("baseline  DISTINCT (before)", r["baseline"], width))
    for key, name in (("loose", "types     loose index scan (now)"), ("page", "page list with model names (now)")):
        t = r[key]
        print(common.timing_line(name, t, width) + f"   × {t['best_ms'] / base:.4f} of the baseline")
    print(f"           plan before: {r['plan_before'][:300]}\n"
          f"           plan now:    {r['plan_after'][:300]}", flush=True)


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--types", type=int, default=40)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        common.reply(child(args.child, args.records, args.types))
        return 0
    vendors = [v for v in ("sqlite", "postgres") if args.only in (None, v)]
    for n in common.parse_sizes(args.sizes):
        for result in common.each_database(
                __file__, vendors,
                lambda v, n=n: ["--child", v, "--records", str(n), "--types", str(args.types)],
                db=PG_DB, prefix="bench-audit-types-"):
            report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

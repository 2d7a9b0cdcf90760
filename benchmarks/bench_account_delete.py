"""Deleting an account (`User.delete()`, Django's collector) at 100,000 and 1,000,000 cases, on SQLite and
PostgreSQL, with the case table's indexes on `accepted_by` and `dispatched_by` (migration cases 0007) and, in the
same run, without them, as before that migration.

    python benchmarks/bench_account_delete.py                        # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_account_delete.py --sizes 10000,50000    # smaller
    python benchmarks/bench_account_delete.py --only postgres        # or sqlite

The cases are those of `bench_evaluation.py` (three years of reports, 30 dispatchers, every status the loop
leaves), bulk-inserted into a fresh database (a temporary SQLite file; PostgreSQL `bench_account_delete`, dropped
afterwards). Two accounts are deleted, each inside a transaction that is rolled back, so the same deletion is
timed again (first call, then best and median of 5); on PostgreSQL the foreign keys are checked at once (SET
CONSTRAINTS ALL IMMEDIATE), as they would be at the COMMIT the rollback skips:

  * newcomer: an account that touched nothing (only its grant goes) - what every deletion pays at least;
  * clerk: an account that reported, accepted and dispatched 200 cases, wrote their steps and was notified
    about them - its cases stay, those columns become NULL.

Each is timed with the migrated schema ("now"), then the two indexes are dropped and both are timed again
("before"). Printed: the times, before ÷ now, and the slowest statements of one deletion with their plans.
Figures are printed, never asserted; compare within one run (the machines are noisy).
"""

from __future__ import annotations

import argparse
import sys

import bench_evaluation as be
import common

PG_DB = "bench_account_delete"
INDEXES = ("cases_accepted_by_idx", "cases_dispatched_by_idx")
CLERK_CASES = 200


def make_accounts(n: int) -> tuple[int, int]:
    """The newcomer (a grant, nothing else) and the clerk (200 cases spread over the table); their ids."""
    from django.db import connection

    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.notify.models import Notification
    from civicgrid.foundation.regions.models import Region

    district = Region.objects.get(code="140213")
    newcomer = User.objects.create(username="newcomer")
    clerk = User.objects.create(username="clerk")
    for user in (newcomer, clerk):
        Grant.objects.create(user=user, role=Role.COMMAND_DISPATCHER, region=district)
    step = max(1, n // CLERK_CASES)
    ids = list(range(1, n + 1, step))[:CLERK_CASES]
    with connection.cursor() as cur:
        cur.execute("UPDATE cases_case SET reporter_id = %s, accepted_by_id = %s, dispatched_by_id = %s "
                    f"WHERE id IN ({', '.join(['%s'] * len(ids))})", [clerk.pk, clerk.pk, clerk.pk, *ids])
        cur.execute("INSERT INTO cases_casestep (case_id, action, from_status, to_status, actor_id, actor_name, "
                    "note, at) SELECT id, 'dispatch', 'accepted', 'dispatched', %s, 'clerk', '', reported_at "
                    f"FROM cases_case WHERE id IN ({', '.join(['%s'] * len(ids))})", [clerk.pk, *ids])
    Notification.objects.bulk_create([Notification(user=clerk, kind="case", title=f"新任务：{i}",
                                                    target_type="cases.case", target_id=str(i)) for i in ids])
    return newcomer.pk, clerk.pk


def delete_rolled_back(pk: int) -> None:
    """Delete the account and roll the deletion back, so that it can be timed again. PostgreSQL checks the
    foreign keys (deferred) at COMMIT, which a rollback skips: they are made immediate so that the checks (a
    lookup of the account in each referencing column) are timed too."""
    from django.db import connection, transaction

    from civicgrid.foundation.access.models import User

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        User.objects.get(pk=pk).delete()
        transaction.set_rollback(True)


def slowest_statements(pk: int, count: int = 3) -> list[dict]:
    """The `count` slowest statements of one (rolled-back) deletion, with their plans."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        delete_rolled_back(pk)
    statements = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:count]
    out = []
    for q in statements:
        sql = q["sql"]
        plan = ""
        if sql.startswith(("UPDATE", "SELECT", "DELETE")):
            from django.db import transaction

            with transaction.atomic():  # EXPLAIN only: nothing runs, but keep it inside a rolled-back block
                plan = common.explain(sql)[:300]
                transaction.set_rollback(True)
        out.append({"ms": float(q["time"]) * 1000, "sql": sql[:160], "plan": plan})
    return out


def child(vendor: str, n: int) -> dict:
    common.setup_django()
    from django.db import connection

    from civicgrid.apps.cases.models import Case
    from civicgrid.foundation.access.models import User

    common.migrate()
    _, populate_s, _ = be.populate(vendor, n)
    newcomer, clerk = make_accounts(n)
    with connection.cursor() as cur:
        cur.execute("ANALYZE" if vendor == "sqlite" else "VACUUM ANALYZE")
    timed = common.first_best_median
    result = {"vendor": vendor, "cases": n, "populate_s": populate_s}
    result["now"] = {"newcomer": timed(lambda: delete_rolled_back(newcomer)),
                     "clerk": timed(lambda: delete_rolled_back(clerk)),
                     "slowest": slowest_statements(clerk)}
    with connection.cursor() as cur:
        for name in INDEXES:
            cur.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cur.execute("ANALYZE" if vendor == "sqlite" else "ANALYZE cases_case")
    result["before"] = {"newcomer": timed(lambda: delete_rolled_back(newcomer)),
                        "clerk": timed(lambda: delete_rolled_back(clerk)),
                        "slowest": slowest_statements(clerk)}
    # What the deletion does, once for real: the cases stay, the account's columns are emptied.
    total = Case.objects.count()
    User.objects.get(pk=clerk).delete()
    result["kept"] = (Case.objects.count() == total and not Case.objects.filter(accepted_by_id=clerk).exists()
                      and Case.objects.filter(pk=1, accepted_by__isnull=True, reporter__isnull=True).exists())
    return result


def report(r: dict) -> None:
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (populated in {r['populate_s']:.1f} s); after the deletion every "
          f"case is kept with its account columns emptied: {r['kept']}")
    width = 28
    for who, name in (("newcomer", "newcomer (no cases)"), ("clerk", f"clerk ({CLERK_CASES} cases)")):
        before, now = r["before"][who], r["now"][who]
        print(common.timing_line(f"{name}, before", before, width))
        print(common.timing_line(f"{name}, now", now, width)
              + f"   before ÷ now × {before['best_ms'] / now['best_ms']:.1f}")
    for when in ("before", "now"):
        print(f"           slowest statements of the clerk's deletion, {when}:")
        for q in r[when]["slowest"]:
            print(f"             {q['ms']:8.1f} ms  {q['sql']}\n                          plan: {q['plan'][:200]}")
    sys.stdout.flush()


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
                                           db=PG_DB, prefix="bench-account-delete-"):
            report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""HOT updates of ordinary case saves on PostgreSQL: a burst of progress notes (处置进展, `act(..., "progress")`,
which changes only `updated_at` on the case), with the case table's indexes as migrated and, in the same run,
with an index on `updated_at` added back as `cases_retention_ended_idx` had it before migration cases 0011.

    python benchmarks/bench_case_saves.py                               # 100,000 cases
    python benchmarks/bench_case_saves.py --sizes 10000 --cases 300 --notes 3

PostgreSQL writes an UPDATE as a heap-only tuple (HOT) when no indexed column changes (a partial index's
condition columns count) and the page has room: then no index gets a new entry. An index on `updated_at`, which
every save changes, makes every save write an entry in every index of `cases_case`. The cases are those of
`bench_evaluation.py` (PostgreSQL `bench_case_saves`, or `BENCH_PG_DB`, dropped afterwards); one department
handler, granted every department, adds `--notes` notes to each of `--cases` cases in hand, round by round, after
a VACUUM ANALYZE. Printed for each schema: the updates of `cases_case` and how many were HOT
(`pg_stat_user_tables`), in all and round by round, and the time a note took. Even with no indexed column
changed, an update is HOT only if the row's page has room: the bulk load fills its pages, so the first note on a
case often moves it to another page, and the later ones find room. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time

import bench_evaluation as be
import common

PG_DB = "bench_case_saves"


def handler_of_every_department() -> object:
    """A department handler granted every department, so that every case in hand is theirs to note."""
    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.orgs.models import Organisation

    user = User.objects.create(username="bench-handler", display_name="处置人员")
    Grant.objects.bulk_create([Grant(user=user, role=Role.DEPARTMENT_HANDLER, department=d)
                               for d in Organisation.objects.all()])
    return user


def counters() -> tuple[int, int]:
    """(updates, HOT updates) of cases_case since the counters were reset, this backend's included."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")  # flushed when this statement's transaction ends
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'cases_case'")
        return cur.fetchone()


def burst(actor, ids: list[int], notes: int) -> dict:
    """`notes` progress notes on each case (round by round), after VACUUM ANALYZE and with the counters reset."""
    from django.db import connection

    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.cases.services import act
    from civicgrid.foundation.core import context

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE cases_case")
        cur.execute("SELECT pg_stat_reset_single_table_counters('cases_case'::regclass)")
    assert counters() == (0, 0)
    seconds, rounds = 0.0, []
    with context.acting(channel="web"):
        for round_ in range(notes):
            started = time.perf_counter()
            for pk in ids:
                act(actor=actor, case=Case.objects.get(pk=pk), action="progress", note=f"第{round_ + 1}次进展")
            seconds += time.perf_counter() - started
            rounds.append(counters())
    updates, hot = rounds[-1]
    return {"notes": notes * len(ids), "updates": updates, "hot": hot, "ms_per_note": seconds * 1000 / (notes * len(ids)),
            "hot_by_round": [b[1] - a[1] for a, b in zip([(0, 0), *rounds], rounds, strict=False)]}


def child(vendor: str, n: int, cases: int, notes: int) -> dict:
    common.setup_django()
    from django.db import connection, models

    from civicgrid.apps.cases.models import Case, _ended_holding_reporter_data, _ended_unclosed

    common.migrate()
    _, populate_s, _ = be.populate(vendor, n)
    actor = handler_of_every_department()
    in_hand = list(Case.objects.filter(status__in=("dispatched", "handling")).order_by("pk")
                   .values_list("pk", flat=True))
    # Two sets of cases spread over the table, one for each schema, so that each burst starts from the pages
    # the bulk load left (a case moved by one burst's update is not the next burst's).
    spread = in_hand[:: max(1, len(in_hand) // (2 * cases))][: 2 * cases]
    ids, other_ids = spread[0::2], spread[1::2]
    with connection.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'cases_case' ORDER BY 1")
        indexes = [r[0] for r in cur.fetchall()]
    result = {"vendor": vendor, "cases": n, "populate_s": populate_s, "noted": len(ids), "indexes": indexes}
    result["now"] = burst(actor, ids, notes)
    # As before: the same partial index, on (status, updated_at).
    with connection.schema_editor(atomic=False) as editor:
        editor.add_index(Case, models.Index(fields=["status", "updated_at"], name="bench_updated_at_idx",
                                            condition=_ended_holding_reporter_data(_ended_unclosed())))
    result["updated_at_indexed"] = burst(actor, other_ids, notes)
    return result


def report(r: dict) -> None:
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (populated in {r['populate_s']:.1f} s); notes on {r['noted']} "
          f"cases in hand; {len(r['indexes'])} indexes on cases_case")
    for key, name in (("now", "as migrated"), ("updated_at_indexed", "with updated_at indexed")):
        b = r[key]
        print(f"           {name:<26} {b['notes']:>6} notes   {b['updates']:>6} updates   {b['hot']:>6} HOT   "
              f"HOT ratio {b['hot'] / max(1, b['updates']):.3f}   {b['ms_per_note']:.1f} ms a note   "
              f"HOT by round {b['hot_by_round']} of {r['noted']}")
    sys.stdout.flush()


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--cases", type=int, default=500, help="cases in hand that get notes")
    parser.add_argument("--notes", type=int, default=3, help="notes on each")
    parser.add_argument("--child", choices=["postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        common.reply(child(args.child, args.n, args.cases, args.notes))
        return 0
    for n in common.parse_sizes(args.sizes):
        result = common.on_postgres(__file__, ["--child", "postgres", "--n", str(n), "--cases", str(args.cases),
                                               "--notes", str(args.notes)], db=PG_DB, prefix="bench-case-saves-")
        if result is not None:
            report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The case list's first page (事件办理, `/cases/` and `GET /api/v1/cases`) over 100,000 and 1,000,000 cases, on
SQLite and PostgreSQL.

    python benchmarks/bench_case_list.py                        # 100,000 and 1,000,000 cases, both databases
    python benchmarks/bench_case_list.py --sizes 100000,300000  # other sizes
    python benchmarks/bench_case_list.py --only sqlite          # or postgres
    python benchmarks/bench_case_list.py --sqlite-analyze       # SQLite with planner statistics (ANALYZE)
    python benchmarks/bench_case_list.py --skip-plain           # without the plain (former) read
    python benchmarks/bench_case_list.py --deep-only            # only the deep pages (--deep N rows down)
    python benchmarks/run.py --quick case_list                  # a smoke check: 10,000 and 50,000 cases

The same synthetic district and cases as `bench_evaluation.py` (three years of reports, 900 grids in 18
streets, 40 departments), bulk-inserted into a fresh database (a temporary SQLite file; PostgreSQL
`bench_case_list` or `BENCH_PG_DB`, dropped afterwards), with 30 categories (6 classes of 5 subclasses) spread over the cases and
a few reports by the street user and the department handler outside their scope (their own reports, which they
follow wherever they are).

Measured (first call, then best and median of 5): the read the API makes for its first page of 50 with its exact
total — `pagination.page` over `cases.selectors.CaseListing` (the page made the same reads until its count was
capped) — for a district leader, a street's staff member, a grid worker and a department handler, without filters
and with the list's common ones (open, overdue, not overdue, a category class, the last 30 days). For comparison,
the same page read plainly from the scoped, sorted queryset (`selectors.case_list`, what the list read before
`CaseListing`; first, then best and median of 3; left out with --skip-plain), and a check that both give the same
rows in the same order and the same total. Then the totals alone, each on a fresh listing: the exact count
(`CaseListing.count()`, what the API's `total` costs) and the page's capped count (`capped_count(COUNT_CAP)` of
`ui.pages.cases_list`: at most 10,001 rows counted, "10,000+" past them), and the page's whole read as `/cases/`
makes it (`read_page`, the first page by cursor, and the capped count). The baseline, measured in the same run, is
the bare table's newest 50 (`SELECT … FROM cases_case ORDER BY reported_at DESC LIMIT 50`); each line prints its
median's ratio to it. The plans of the slowest read's queries are printed, and a digest of every first page (ids in
order, and the total) so that runs can be compared row for row. Deep pages (`--deep`, 100,000 rows down by
default): each user's page that far down without filters, read by offset and by cursor (`CaseListing.after`,
after the row before it), the queries each makes and whether they give the same rows; and the web page itself,
`/cases/` through the test client (middleware, session, template), its first page and the page that far down,
reached as its own 下一页 link pages (`?page=` or `?cursor=`; by cursor, also from the page below by `?before=`),
with its queries and how much of the database's time went to the count and to the other reads of cases. Figures are printed, never asserted.
"""

from __future__ import annotations

import hashlib
import html
import re
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

import bench_evaluation as be
import common

PG_DB = "bench_case_list"
KEY = "district, no filter"
PAGE = 50
OWN_OUTSIDE = 12  # reports of the street user and of the department handler outside their scope


def _categories() -> tuple[list[int], list[int]]:
    """6 classes of 5 subclasses; returns (class ids, subclass ids)."""
    from civicgrid.apps.categories.models import Category, CategoryKind, Taxonomy

    taxonomy = Taxonomy.objects.create(code="bench", name="基准分类")
    classes = Category.objects.bulk_create([
        Category(taxonomy=taxonomy, code=f"{c + 1:02d}", name=f"大类{c + 1}", kind=CategoryKind.EVENT)
        for c in range(6)])
    subs = Category.objects.bulk_create([
        Category(taxonomy=taxonomy, code=f"{p.code}{s + 1:02d}", name=f"{p.name}小类{s + 1}", parent=p,
                 kind=CategoryKind.EVENT) for p in classes for s in range(5)])
    return [c.pk for c in classes], [s.pk for s in subs]


def prepare(vendor: str, n: int, analyze: bool) -> tuple[dict, float]:
    """The district and n cases (`bench_evaluation.populate`), then categories, the street staff member, the
    department handler and their own reports outside their scope. SQLite gets planner statistics only with
    `analyze` (a file grown by reports has none; `dbstats.refresh_statistics` runs after bulk loads)."""
    import time

    from django.db import connection, transaction

    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.regions.models import Region

    world, populate_s, _ = be.populate(vendor, n)
    started = time.perf_counter()
    with transaction.atomic():
        classes, subs = _categories()
        street = Region.objects.get(code="140213001")
        staff, handler = User.objects.bulk_create([User(username="street-staff"), User(username="handler")])
        Grant.objects.bulk_create([Grant(user=staff, role=Role.STREET_STAFF, region=street),
                                   Grant(user=handler, role=Role.DEPARTMENT_HANDLER,
                                         department_id=world["departments"][0])])
        with connection.cursor() as cur:
            # Every subclass in turn (the class filter then matches a sixth of the table).
            cur.execute(f"UPDATE cases_case SET category_id = CASE (id % 30) "
                        f"{' '.join(f'WHEN {i} THEN {pk}' for i, pk in enumerate(subs))} END")
            # Own reports outside the user's scope, spread over the years (newest and oldest among them).
            step = max(1, n // OWN_OUTSIDE)
            for k, user in enumerate((staff, handler)):
                ids = [i for i in range(1 + k, n + 1, step)][:OWN_OUTSIDE]
                cur.execute(f"UPDATE cases_case SET reporter_id = %s WHERE id IN ({', '.join(['%s'] * len(ids))}) "
                            "AND region_code NOT LIKE '140213001%%'", [user.pk, *ids])
            if vendor == "postgres":
                cur.execute("ANALYZE cases_case")
            elif analyze:
                cur.execute("ANALYZE")
    world.update(classes=classes, staff=staff.pk, handler=handler.pk)
    return world, populate_s + time.perf_counter() - started


def deep_pages(users: dict, depth: int) -> dict:
    """For each user, no filter: the page of PAGE rows `depth` rows down, read by offset (`listing[depth:…]`,
    what `?offset=` and `?page=` read) and by seeking past the row before it (`listing.after`, the API's
    `cursor`; left out when the code has none), with the queries each makes and whether the rows agree."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicgrid.apps.cases import selectors
    from civicgrid.foundation.access.models import User

    out = {}
    for who, pk in users.items():
        user = User.objects.get(pk=pk)

        def listing(user=user):
            return selectors.CaseListing(user, selectors.CaseFilter(), shape=lambda qs: qs.defer("grid__geometry"))

        at = max(0, min(depth, listing().count() - PAGE)) // PAGE * PAGE  # where a page of the web list starts
        with CaptureQueriesContext(connection) as q:
            rows = listing()[at : at + PAGE]
        r = {"at": at, "offset": common.first_best_median(lambda at=at, listing=listing: listing()[at : at + PAGE],
                                                          runs=3),
             "offset_queries": len(q.captured_queries)}
        if hasattr(selectors.CaseListing, "after") and at:
            cursor = selectors.cursor_of(listing()[at - 1])
            with CaptureQueriesContext(connection) as q:
                seek = listing().after(cursor, PAGE)
            r.update(cursor=common.first_best_median(lambda c=cursor, listing=listing: listing().after(c, PAGE)),
                     cursor_queries=len(q.captured_queries), same=[c.pk for c in seek] == [c.pk for c in rows])
        r["web"] = web_page(user, at, [c.pk for c in rows], listing)
        out[who] = r
    return out


_NEXT = re.compile(r'<a href="\?([^"]*)" rel="next"')
_ROW = re.compile(r'<tr data-oid="(\d+)"')


def web_page(user, at: int, expected: list[int], listing) -> dict:
    """`/cases/` itself (the test client: middleware, session, view, template), first page and `at` rows down,
    reached the way the page's own 下一页 link pages: `?page=` (an offset) or `?cursor=` (after the row before,
    `cursor_of`), whichever its first page links to. Each request's queries: how many, the time the database
    reports for the count (`COUNT(`) and for the rest of the reads of cases, and whether the rows shown are
    the offset read's."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from civicgrid.apps.cases import selectors

    client = Client()
    client.force_login(user)
    first = client.get("/cases/")
    link = _NEXT.search(first.content.decode())
    scheme = ("cursor" if "cursor=" in html.unescape(link[1]) else "page") if link else "(one page)"
    if not at or not link:
        params = {}
    elif scheme == "cursor":
        params = {"cursor": selectors.cursor_of(listing()[at - 1])}
    else:
        params = {"page": at // PAGE + 1}
    pages = [("first", {}), ("deep", params)]
    below = listing()[at + PAGE : at + PAGE + 1] if at and scheme == "cursor" else []
    if below:  # the same page reached from the one below it, by its 上一页 link
        pages.append(("back", {"before": selectors.cursor_of(below[0])}))
    out = {"scheme": scheme}
    for name, query in pages:
        reset_queries()  # as the request's start does: the context counts from an empty log
        with CaptureQueriesContext(connection) as q:
            response = client.get("/cases/", query)
        assert response.status_code == 200, (name, response.status_code)
        captured = q.captured_queries  # read now: every request empties the log the context reads
        cases = [s for s in captured if "cases_case" in s["sql"]]
        out[name] = common.first_best_median(lambda query=query: client.get("/cases/", query), runs=3)
        out[name].update(queries=len(captured),
                         count_ms=sum(float(s["time"]) * 1000 for s in cases if "COUNT(" in s["sql"]),
                         rows_ms=sum(float(s["time"]) * 1000 for s in cases if "COUNT(" not in s["sql"]))
        if name != "first":
            out[name]["same"] = [int(pk) for pk in _ROW.findall(response.content.decode())] == expected
    return out


def child(vendor: str, n: int, analyze: bool = False, plain: bool = True, depth: int = 0,
          deep_only: bool = False) -> dict:
    common.setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicgrid.apps.cases import selectors
    from civicgrid.apps.cases.models import Case
    from civicgrid.foundation.access.models import User
    from civicgrid.foundation.core.pagination import page
    from civicgrid.ui.pages.cases_list import COUNT_CAP, ROW_FIELDS, read_page

    common.migrate()
    timed = common.first_best_median
    world, populate_s = prepare(vendor, n, analyze)
    today = be.NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
    users = {"district": world["leader"], "street": world["staff"], "grid worker": world["workers"][0],
             "department": world["handler"]}
    filters = {
        "no filter": {},
        "open": {"status": "open"},
        "overdue=1": {"overdue": True},
        "overdue=0": {"overdue": False},
        "category": {"category": world["classes"][2]},
        "last 30 days": {"date_from": today - timedelta(days=30), "date_to": today},
    }
    columns = [f.column for f in Case._meta.concrete_fields]
    baseline_sql = (f"SELECT {', '.join(columns)} FROM cases_case ORDER BY reported_at DESC LIMIT {PAGE}")

    def baseline():
        with connection.cursor() as cur:
            cur.execute(baseline_sql)
            return cur.fetchall()

    def first_page(user, f):
        # What `api.list_cases` does for its first page (the page view's `paginate` makes the same reads).
        listing = selectors.CaseListing(user, f, shape=lambda qs: qs.defer("grid__geometry"))
        return page(listing, limit=PAGE, offset=0)

    def plain_page(user, f):
        # The same page read plainly: the scoped queryset, sorted, and its count.
        return page(selectors.case_list(user, f).defer("grid__geometry"), limit=PAGE, offset=0)

    def exact_count(user, f):
        return selectors.CaseListing(user, f).count()

    def capped_count(user, f):
        return selectors.CaseListing(user, f).capped_count(COUNT_CAP)

    def capped_page(user, f):
        # What the page view (`/cases/`) reads: its first page (by cursor) and the capped count.
        listing = selectors.CaseListing(user, f, shape=lambda qs: qs.only(*ROW_FIELDS))
        rows = read_page(listing, {})[0].rows
        listing.capped_count(COUNT_CAP)
        return rows

    def digest(rows, total) -> str:
        return hashlib.sha256((",".join(str(c.pk) for c in rows) + f"|{total}").encode()).hexdigest()[:12]

    results = {"vendor": vendor, "cases": n, "analyzed": analyze or vendor == "postgres", "populate_s": populate_s,
               "timings": {}, "plain": {}, "digests": {}, "same": {}, "totals": {}, "cap": COUNT_CAP,
               "exact": {}, "capped": {}, "capped_totals": {}, "page": {}}
    results["timings"]["baseline: newest 50, bare table"] = timed(baseline)
    if depth:
        results["deep"] = deep_pages(users, depth)
    for who, pk in (() if deep_only else users.items()):
        user = User.objects.get(pk=pk)
        for name, kwargs in filters.items():
            f = selectors.CaseFilter(**kwargs)
            label = f"{who}, {name}"
            rows, total = first_page(user, f)
            results["totals"][label] = total
            results["digests"][label] = digest(rows, total)
            results["timings"][label] = timed(lambda u=user, f=f: first_page(u, f))
            results["exact"][label] = timed(lambda u=user, f=f: exact_count(u, f))
            results["capped_totals"][label] = capped_count(user, f)
            results["capped"][label] = timed(lambda u=user, f=f: capped_count(u, f))
            results["page"][label] = timed(lambda u=user, f=f: capped_page(u, f))
            if plain:
                rows, total = plain_page(user, f)
                results["same"][label] = digest(rows, total) == results["digests"][label]
                results["plain"][label] = timed(lambda u=user, f=f: plain_page(u, f), runs=3)
    if deep_only:
        return results
    slowest = max((k for k in results["timings"] if not k.startswith("baseline")),
                  key=lambda k: results["timings"][k]["median_ms"])
    who, name = slowest.split(", ", 1)
    user, f = User.objects.get(pk=users[who]), selectors.CaseFilter(**filters[name])
    with CaptureQueriesContext(connection) as ctx:
        first_page(user, f)
    results["slowest"] = slowest
    results["plans"] = [(round(float(q["time"]) * 1000, 1), common.explain(q["sql"])[:700])
                        for q in ctx.captured_queries if "cases_case" in q["sql"]]
    results["plan_baseline"] = common.explain(baseline_sql)[:300]
    return results


def report(r: dict) -> None:
    base = r["timings"]["baseline: newest 50, bare table"]["median_ms"]
    print(f"{r['vendor']:>9}: {r['cases']:,} cases (inserted in {r['populate_s']:.1f} s, planner statistics: "
          f"{'yes' if r['analyzed'] else 'none'}); first page of {PAGE} with its total; ratio = median / "
          f"baseline median ({base:.2f} ms)")
    for name, t in r["timings"].items():
        total = r["totals"].get(name)
        extra = (f"   ×{t['median_ms'] / max(base, 1e-9):7.1f}   total {total:>9,}   rows {r['digests'][name]}"
                 if total is not None else "")
        print(common.timing_line(name, t, 32) + extra)
        if name in r["plain"]:
            p = r["plain"][name]
            print(common.timing_line("  plain (sorted scope)", p, 32)
                  + f"   ×{p['median_ms'] / max(base, 1e-9):7.1f}   "
                  + ("same rows and total" if r["same"][name] else "DIFFERENT ROWS OR TOTAL"))
        if name in r["exact"]:
            e, c = r["exact"][name], r["capped"][name]
            capped = r["capped_totals"][name]
            shown = f"{r['cap']:,}+" if capped > r["cap"] else f"{capped:,}"
            print(common.timing_line("  count, exact", e, 32) + f"   ×{e['median_ms'] / max(base, 1e-9):7.1f}")
            print(common.timing_line(f"  count, capped ≤{r['cap']:,}", c, 32)
                  + f"   ×{c['median_ms'] / max(base, 1e-9):7.1f}   shows {shown:>9}   "
                  + f"exact ÷ capped {e['median_ms'] / max(c['median_ms'], 1e-9):.1f}")
            g = r["page"][name]
            print(common.timing_line("  page: capped count + rows", g, 32)
                  + f"   ×{g['median_ms'] / max(base, 1e-9):7.1f}")
    for who, d in r.get("deep", {}).items():
        o = d["offset"]
        print(common.timing_line(f"deep {who}, rows {d['at']:,}+, offset", o, 32)
              + f"   ×{o['median_ms'] / max(base, 1e-9):7.1f}   {d['offset_queries']} queries")
        if "cursor" in d:
            c = d["cursor"]
            print(common.timing_line(f"deep {who}, rows {d['at']:,}+, cursor", c, 32)
                  + f"   ×{c['median_ms'] / max(base, 1e-9):7.1f}   {d['cursor_queries']} queries   "
                  + ("same rows" if d["same"] else "DIFFERENT ROWS") + f"   offset ÷ cursor "
                  f"{o['median_ms'] / max(c['median_ms'], 1e-9):.0f}")
        w = d["web"]
        for name, label in (("first", f"first page, ?{w['scheme']}"), ("deep", f"rows {d['at']:,}+, ?{w['scheme']}"),
                            ("back", f"rows {d['at']:,}+, ?before")):
            if name not in w:
                continue
            t = w[name]
            print(common.timing_line(f"/cases/ {who}, {label}", t, 32)
                  + f"   ×{t['median_ms'] / max(base, 1e-9):7.1f}   {t['queries']} queries   "
                  + f"count {t["count_ms"]:.0f} ms, other reads of cases {t["rows_ms"]:.0f} ms"
                  + ("" if name == "first" else "   " + ("same rows" if t["same"] else "DIFFERENT ROWS")
                     + f"   ÷ first page {t['median_ms'] / max(w['first']['median_ms'], 1e-9):.1f}"))
    if "slowest" not in r:
        return
    print(f"           slowest: {r['slowest']}; its queries (ms, plan):")
    for ms, plan in r["plans"]:
        print(f"             {ms:8.1f} ms  {plan}")
    print(f"           plan (baseline): {r['plan_baseline']}", flush=True)


def main() -> int:
    import argparse

    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated case counts")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--sqlite-analyze", action="store_true",
                        help="give SQLite planner statistics (ANALYZE) after the load; without, it has none")
    parser.add_argument("--skip-plain", action="store_true", help="time only the list's read, not the plain one")
    parser.add_argument("--deep", type=int, default=100_000,
                        help="also read the page this many rows down, by offset and by cursor (0: not)")
    parser.add_argument("--deep-only", action="store_true", help="only the deep pages (and the baseline)")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = common.parse_sizes(args.sizes)
    if args.child:
        common.reply(child(args.child, sizes[0], args.sqlite_analyze, not args.skip_plain, args.deep,
                           args.deep_only))
        return 0
    results = []
    for vendor in ("sqlite", "postgres"):
        if args.only not in (None, vendor):
            continue
        for n in sizes:
            for r in common.each_database(__file__, [vendor], lambda v, n=n: ["--child", v, "--sizes", str(n),
                                                                     *(["--sqlite-analyze"] if args.sqlite_analyze else []),
                                                                     *(["--skip-plain"] if args.skip_plain else []),
                                                                     "--deep", str(args.deep),
                                                                     *(["--deep-only"] if args.deep_only else [])],
                                          db=PG_DB, prefix="bench-case-list-"):
                report(r)
                results.append(r)
    if not args.deep_only:
        be.growth(results, KEY)
    return 0


if __name__ == "__main__":
    sys.exit(main())

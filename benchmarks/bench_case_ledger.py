"""The case ledger (事件台账, /documents/cases/ledger.xlsx) of 1,000 and 10,000 cases, against plain openpyxl writing.

    python benchmarks/bench_case_ledger.py                     # SQLite (a temporary database)
    python benchmarks/bench_case_ledger.py --postgres          # and PostgreSQL (database bench_case_ledger)
    python benchmarks/bench_case_ledger.py --sizes 1000,10000 --repeat 3
    python benchmarks/run.py --quick case_ledger               # a smoke check: 200 and 2,000 cases

Each database run is a child process with its own fresh database holding the synthetic district and cases of
`bench_evaluation.py` (three years of reports, 900 grids, 40 departments; the largest size bulk-inserted). The
ledger is read as a district command dispatcher reads it (`ledger.ledger_cases`: the case list's scope and
order, narrowed to the first N cases).

Timed for each size N (best of --repeat runs, after one warm-up):

  (a) baseline: openpyxl write-only writing N rows of the ledger's width of plain values already in memory
      (text, numbers, datetimes), saved to bytes — the file format's floor through openpyxl's own cells;
  (b) the ledger as the page builds it (`ledger._build`): the queries (cases, names, clocks, overdue steps),
      the lines and the file through `office_xlsx.plain_rows`, and its audit record;
  (c) for comparison, the ledger as it was built before: a model instance per case (with category, grid and
      department), `get_FIELD_display` per line and openpyxl's cells.

Printed: seconds, microseconds per line, (b)/(a) and (c)/(b), and the growth from the smallest to the largest
size (10.0 is linear). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import sys

import bench_evaluation as be
import common

PG_DB = "bench_case_ledger"


def plain_rows(n: int, width: int) -> list[list]:
    from datetime import datetime

    at = datetime(2026, 5, 1, 9, 30)
    row = ["B000000000001", "测试事件", "已结案", "", "市容环境", "网格员上报", "否", "否", "街道1", "街道1社区1",
           "街道1社区1网格1", "140213001001001", "御河西路88号", 113.2051, 40.0812, "张**", "139****0001", "",
           "区部门1", "D001", "区部门1", at, at, at, at, at, at, at, "", None, "是", "是", "否", "", None, "否",
           0, 0, 5, "人行道井盖缺失，存在安全隐患"]
    row = (row * (width // len(row) + 1))[:width]
    return [list(row) for _ in range(n)]


def write_plain(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet("plain")
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def former(qs, headers: list[str]) -> bytes:
    """The ledger's lines as they were built before (model rows, per-line choice labels, openpyxl cells)."""
    from django.db.models import F
    from django.utils import timezone
    from openpyxl import Workbook

    from civicgrid.foundation.core.pii import mask_name
    from civicgrid.foundation.regions.models import Level, Region

    units = dict(Region.objects.filter(level__in=[Level.STREET, Level.COMMUNITY, Level.VILLAGE])
                 .values_list("code", "name"))

    def when(value):
        return timezone.localtime(value).replace(tzinfo=None) if value else None

    def yes(value):
        return "是" if value else "否"

    book = Workbook(write_only=True)
    ws = book.create_sheet("事件台账")
    ws.append(headers)
    for c in qs.select_related("category", "grid", "department").annotate(parent_number=F("parent__number")) \
            .iterator(chunk_size=2000):
        code = c.region_code
        ws.append([
            c.number, c.title, c.get_status_display(), c.parent_number or "", c.category.name if c.category_id else "",
            c.get_source_display(), yes(c.is_major), yes(c.is_self_handled), units.get(code[:9], ""),
            units.get(code[:12], ""), c.grid.name, code, c.address, round(c.lng, 6), round(c.lat, 6),
            mask_name(c.reporter_name), c.reporter_phone_masked, c.hotline_ticket,
            c.department.name if c.department_id else "", c.department.code if c.department_id else "",
            c.department.name if c.department_id else "", when(c.reported_at), when(c.accepted_at),
            when(c.dispatched_at), when(c.handled_at), when(c.verified_at), when(c.closed_at), when(c.deadline), "",
            None, yes(c.handled_on_time), yes(c.closed_on_time), yes(c.is_overdue), "", None, yes(c.is_supervised),
            c.rework_count, c.send_back_count, c.redirect_count, c.satisfaction, c.description,
        ])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def child(vendor: str, sizes: list[int], repeat: int, skip_former: bool) -> dict:
    common.setup_django()
    from django.db import connection
    from openpyxl import load_workbook

    from civicgrid.apps.cases.selectors import CaseFilter
    from civicgrid.apps.cases_documents import ledger
    from civicgrid.foundation.access.models import User

    common.migrate()
    world, populate_s, _ = be.populate("sqlite" if vendor == "sqlite" else "postgres", max(sizes))
    if vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    user = User.objects.get(pk=world["dispatchers"][0])
    f = CaseFilter()
    results = {"vendor": vendor, "populate_s": populate_s, "sizes": {}}
    width = len(ledger.HEADERS)
    for n in sizes:
        def cases(n=n):
            return ledger.ledger_cases(user, f).filter(pk__lte=n)

        rows = plain_rows(n, width)
        write_plain(rows)  # warm-up
        entry = {"plain": common.best_of(repeat, lambda rows=rows: write_plain(rows))}
        body, _ = ledger._build(user, f, cases(), n)  # warm-up (its file is checked below)
        entry["ledger"] = common.best_of(repeat, lambda n=n: ledger._build(user, f, cases(n), n))
        entry["bytes"] = len(body)
        if not skip_former:
            former(cases(), ledger.HEADERS)
            entry["former"] = common.best_of(repeat, lambda: former(cases(), ledger.HEADERS))
        if n == sizes[0]:  # check the file before trusting the timing
            sheet = load_workbook(io.BytesIO(body), read_only=True).active
            lines = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r and r[0]]
            assert len(lines) == n and len(lines[0]) == width, f"{len(lines)} lines, expected {n}"
        results["sizes"][str(n)] = entry
    return results


def child_args(vendor: str, args) -> list[str]:
    return ["--child", vendor, "--sizes", args.sizes, "--repeat", str(args.repeat),
            *(["--skip-former"] if args.skip_former else [])]


def report(r: dict) -> None:
    print(f"\n{r['vendor']}: cases inserted in {r['populate_s']:.1f} s")
    sizes = sorted(r["sizes"], key=int)
    for n in sizes:
        t, count = r["sizes"][n], int(n)

        def per(seconds: float, count: int = count) -> str:
            return f"{seconds:7.3f} s {seconds / count * 1e6:7.0f} µs/line"

        line = (f"  N = {count:>7,}  (a) plain openpyxl {per(t['plain'])}   (b) ledger {per(t['ledger'])}   "
                f"(b)/(a) {t['ledger'] / t['plain']:5.2f}")
        if "former" in t:
            line += f"   (c) former {per(t['former'])}   (c)/(b) {t['former'] / t['ledger']:5.1f}"
        print(line + f"   {t['bytes'] / 1024:,.0f} KiB")
    if len(sizes) > 1:
        lo, hi = r["sizes"][sizes[0]], r["sizes"][sizes[-1]]
        factor = int(sizes[-1]) / int(sizes[0])
        print(f"  growth {int(sizes[0]):,} → {int(sizes[-1]):,} cases (×{factor:g}): ledger ×{hi['ledger'] / lo['ledger']:.2f}"
              f" (plain ×{hi['plain'] / lo['plain']:.2f})")


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of cases")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant; the best is kept")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--skip-former", action="store_true", help="without (c), the former way")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(common.parse_sizes(args.sizes))
    if args.child:
        common.reply(child(args.child, sizes, args.repeat, args.skip_former))
        return 0
    vendors = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    for result in common.each_database(__file__, vendors, lambda vendor: child_args(vendor, args), db=PG_DB,
                                       prefix="bench-case-ledger-"):
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

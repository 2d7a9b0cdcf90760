"""Ledger export (问题清单, 责任清单, 整改台账) of 1,000 and 10,000 hazards, against plain openpyxl writing.

    python benchmarks/bench_hazard_ledger.py                     # SQLite (a temporary database)
    python benchmarks/bench_hazard_ledger.py --postgres          # and PostgreSQL (database bench_hazard_ledger)
    python benchmarks/bench_hazard_ledger.py --sizes 1000,10000 --repeat 3

Each database run is a child process with its own fresh database: a district of 18 streets, 180 communities and
900 grids, four 包保 departments, and the largest size of hazards bulk-inserted with their ledger lines (half
of them under rectification with measures, budget and deadline, a quarter closed with a check) and a photo
before and after for one in five. The exports read through the scoped path as a district command dispatcher
(`selectors.hazard_list(user, action="export")`), exactly as the API does.

Timed for each size N (best of --repeat runs, after one warm-up):

  (a) baseline: openpyxl write-only writing N rows of the same width of plain values already in memory (strings,
      numbers, dates as text; no styles), saved to bytes — the floor of the file format alone;
  (b) `xlsx.export_list(which, queryset)` for issues, responsibility and ledger: the query, the related rows,
      the photo counts, the office layout (merged title, borders, wrapping) and the file.

Printed: seconds, rows/s, the ratio (b)/(a) for each list, and the growth from the smallest to the largest size
(time ratio; 10.0 is linear). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import common

PG_DB = "bench_hazard_ledger"
LISTS = ("issues", "responsibility", "ledger")


def populate(n: int, seed: int) -> dict:
    """The district, departments, 包保 rows, n hazards with their ledger lines and some photo rows (bulk)."""
    import datetime as dt
    import random
    from decimal import Decimal

    from django.utils import timezone

    from civicgrid.apps.hazards.models import (
        FLOOD_CATEGORIES,
        Hazard,
        HazardPhoto,
        PatronAssignment,
        Rectification,
    )
    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    rng = random.Random(seed)
    district, streets, _, grids = common.build_district(first_street=50)
    departments = Organisation.objects.bulk_create([
        Organisation(code=f"D{d}", name=name, kind=OrgKind.DEPARTMENT, region=district, region_code=district.code)
        for d, name in enumerate(["平城区水务局", "平城区应急管理局", "平城区城市管理局", "平城区自然资源局"])])
    offices = {st.code: o for st, o in zip(streets, Organisation.objects.bulk_create([
        Organisation(code=f"S{st.code}", name=f"{st.name}办事处", kind=OrgKind.STREET_OFFICE, region=st,
                     region_code=st.code) for st in streets]), strict=True)}
    patron = {st.code: departments[i % 4] for i, st in enumerate(streets)}
    PatronAssignment.objects.bulk_create([PatronAssignment(department=patron[st.code], street=st,
                                                           street_code=st.code) for st in streets])
    user = User.objects.create(username="centre", display_name="区指挥中心")
    Grant.objects.create(user=user, role=Role.COMMAND_DISPATCHER, region=district)

    categories = [c for c, _ in FLOOD_CATEGORIES]
    now = timezone.now()
    today = timezone.localdate()
    hazards = []
    for i in range(n):
        g = grids[rng.randrange(len(grids))]
        status = rng.choice(["registered"] * 2 + ["rectifying"] * 4 + ["checking", "passed"] + ["closed"] * 2)
        hazards.append(Hazard(
            code=f"FX-2023-{i + 1:05d}", name=f"第{i + 1}号路口低洼积水点", kind="flood",
            category=rng.choice(categories), grade="major" if rng.random() < 0.05 else "general", status=status,
            description="强降雨时路面积水深约40厘米，雨水篦子堵塞，下水道年久失修，影响行人车辆通行",
            found_by="seasonal", found_on=dt.date(2023, 5, 1 + i % 30), inspector="社区网格员",
            lng=g.centroid_lng, lat=g.centroid_lat, address=f"{g.name}附近", grid=g, region_code=g.code,
            street_code=g.code[:9], owner_unit="区市政设施养护中心", owner_person="王主任",
            owner_phone_enc="", owner_phone_masked="139****0001", patron_department=patron[g.code[:9]],
            supervising_street=offices[g.code[:9]], threatened_people=rng.randrange(500),
            threatened_households=rng.randrange(200), registered_at=now, is_synthetic=True,
        ))
    Hazard.objects.bulk_create(hazards, batch_size=2000)
    ids = dict(Hazard.objects.values_list("code", "id"))
    rects, photos = [], []
    for h in hazards:
        pk = ids[h.code]
        started = h.status != "registered"
        closed = h.status == "closed"
        rects.append(Rectification(
            hazard_id=pk, measures="清淤疏通管网，更换破损井盖，配备移动泵车" if started else "",
            budget=Decimal(rng.randrange(5, 300) * 1000) if started else None,
            responsible_unit="区市政设施养护中心" if started else "", responsible_person="李工" if started else "",
            deadline=today + dt.timedelta(days=30) if started else None,
            interim_measures="设置警示标志，雨天专人值守" if started else "", started_at=now if started else None,
            checker="张科长" if h.status in ("passed", "closed") else "",
            checked_on=today if h.status in ("passed", "closed") else None,
            check_passed=True if h.status in ("passed", "closed") else None,
            closed_on=today if closed else None, rounds=1 if started else 0,
        ))
        if started and rng.random() < 0.2:
            for stage in ("before", "after"):
                photos.append(HazardPhoto(hazard_id=pk, stage=stage, path=f"hazards/x/{pk}{stage}.jpg",
                                          sha256=f"{pk:064d}", content_type="image/jpeg", size=1000))
    Rectification.objects.bulk_create(rects, batch_size=2000)
    HazardPhoto.objects.bulk_create(photos, batch_size=2000)
    return {"user": user.pk, "photos": len(photos)}


def plain_rows(n: int, width: int) -> list[list]:
    row = ["FX-2023-00001", "第1号路口低洼积水点", "防汛隐患", "低洼易涝点", "街道1", "街道1社区1网格1", "附近地址",
           113.25, 40.08, "2023-05-01", "社区网格员", "季节性检查", "强降雨时路面积水深约40厘米，雨水篦子堵塞", "一般隐患",
           120, 40, "整改中", "否", "区市政设施养护中心", "李工", "2023-06-30", 12000.0, "张科长"]
    row = (row * (width // len(row) + 1))[:width]
    return [[i + 1, *row[1:]] for i in range(n)]


def write_plain(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet("plain")
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def child(vendor: str, sizes: list[int], repeat: int, seed: int) -> dict:
    common.setup_django()
    from django.db import connection

    from civicgrid.apps.hazards import selectors, xlsx
    from civicgrid.apps.hazards.models import Hazard
    from civicgrid.foundation.access.models import User

    common.migrate()
    start = time.perf_counter()
    world = populate(max(sizes), seed)
    populate_s = time.perf_counter() - start
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    user = User.objects.get(pk=world["user"])
    codes = list(Hazard.objects.order_by("code").values_list("code", flat=True))
    results = {"vendor": vendor, "populate_s": populate_s, "photos": world["photos"], "sizes": {}}

    for n in sizes:
        last = codes[n - 1]
        entry = {}
        for which in LISTS:
            width = len(xlsx.headers(which))
            rows = plain_rows(n, width)
            write_plain(rows)  # warm-up
            entry[f"plain_{which}"] = common.best_of(repeat, lambda rows=rows: write_plain(rows))

            def export(which=which, last=last):
                qs = selectors.hazard_list(user, kind="flood", action="export").filter(code__lte=last)
                return xlsx.export_list(which, qs)

            body = export()  # warm-up (its file is checked below)
            entry[which] = common.best_of(repeat, export)
            entry[f"bytes_{which}"] = len(body)
            if n == sizes[0]:  # check the file before trusting the timing
                from openpyxl import load_workbook

                sheet = load_workbook(io.BytesIO(body), read_only=True).active
                data = [r for r in sheet.iter_rows(min_row=4, values_only=True) if r and isinstance(r[0], int)]
                assert len(data) == n, f"{which}: {len(data)} rows, expected {n}"
        results["sizes"][str(n)] = entry
    return results


def child_args(vendor: str, args) -> list[str]:
    return ["--child", vendor, "--sizes", args.sizes, "--repeat", str(args.repeat), "--seed", str(args.seed)]


def report(r: dict) -> None:
    print(f"\n{r['vendor']}: hazards inserted in {r['populate_s']:.1f} s ({r['photos']:,} photo rows)")
    sizes = sorted(r["sizes"], key=int)
    for n in sizes:
        t = r["sizes"][n]
        print(f"  N = {int(n):,} hazards")
        for which in LISTS:
            plain, ours = t[f"plain_{which}"], t[which]
            print(f"    {which:<15} (a) plain {plain:7.3f} s {int(n) / plain:10,.0f} rows/s   "
                  f"(b) export_list {ours:7.3f} s {int(n) / ours:10,.0f} rows/s   "
                  f"(b)/(a) {ours / plain:5.2f}   {t[f'bytes_{which}'] / 1024:,.0f} KiB")
    if len(sizes) > 1:
        lo, hi = r["sizes"][sizes[0]], r["sizes"][sizes[-1]]
        factor = int(sizes[-1]) / int(sizes[0])
        growth = "   ".join(f"{w} ×{hi[w] / lo[w]:.2f} (plain ×{hi['plain_' + w] / lo['plain_' + w]:.2f})"
                           for w in LISTS)
        print(f"  growth {int(sizes[0]):,} → {int(sizes[-1]):,} hazards (×{factor:g}): {growth}")


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of hazards")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant; the best is kept")
    parser.add_argument("--seed", type=int, default=20230531)
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(common.parse_sizes(args.sizes))
    if args.child:
        common.reply(child(args.child, sizes, args.repeat, args.seed))
        return 0
    vendors = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    for result in common.each_database(__file__, vendors, lambda vendor: child_args(vendor, args), db=PG_DB,
                                       prefix="bench-ledger-"):
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

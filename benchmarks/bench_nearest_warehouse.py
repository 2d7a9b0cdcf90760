"""Nearest warehouses holding at least Q of an item, for 1,000 and 10,000 hazard points against 500 warehouses.

    python benchmarks/bench_nearest_warehouse.py                   # SQLite (a temporary database)
    python benchmarks/bench_nearest_warehouse.py --postgres        # and PostgreSQL (database bench_nearest)
    python benchmarks/bench_nearest_warehouse.py --warehouses 500 --sizes 1000,10000

Each database run is a child process with its own fresh database: a district with 18 streets and 180
communities, 500 warehouses spread over the district (one in ten at street level), each holding 1–3 lots of
sandbags (some good, some under repair, some expired) and of four other items; a street-level user whose scope
is one street. The hazard points are drawn in the district's bounding box (seeded).

Timed for each size N (first the small, then the large one):

  (a) baseline, bare query: N times the stock rows of the item fetched (`values_list` of warehouse and
      quantity, no join, no aggregate, no distance) — the floor any database-backed answer pays per point;
  (b) baseline, brute force numpy: N times the haversine distances to the same 500 warehouses (coordinates and
      quantities already in memory) and a sort — the floor of the computation alone;
  (c) `selectors.nearest_warehouses(lat, lng, item, Q, limit=5)` called N times (what the API does per request);
  (d) the same as a street user (the scope filter in the query);
  (e) `selectors.nearest_many(lats, lngs, item, Q, limit=5)`: all N points with one query;
  (f) `POST /api/v1/materials/nearest/batch` with the N points in one request (JSON in and out, auth, scope).

Printed: seconds and points/s for each, the growth from the small to the large size (time ratio; 10.0 is
linear), and the ratios (c)/(a), (c)/(b), (e)/(b). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import common

PG_DB = "bench_nearest"
BBOX = (113.10, 39.95, 113.45, 40.20)  # lng/lat of the district, generously
QUANTITY = 500
LIMIT = 5


def populate(n_warehouses: int, seed: int) -> dict:
    """Regions, warehouses, items and lots, bulk-inserted; returns what the timings need."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.materials.models import Condition, Group, MaterialItem, StockLot, Warehouse
    from civicgrid.foundation.access.models import Grant, User
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.regions.models import Level, Region

    rng = random.Random(seed)
    district = Region.objects.create(code="140213", name="平城区", level=Level.DISTRICT, centroid_lng=113.3,
                                     centroid_lat=40.08)
    streets = Region.objects.bulk_create([Region(code=f"140213{s + 50:03d}", name=f"街道{s + 1}", level=Level.STREET,
                                                 parent=district) for s in range(18)])
    communities = Region.objects.bulk_create([
        Region(code=f"{st.code}{c + 1:03d}", name=f"{st.name}社区{c + 1}", level=Level.COMMUNITY, parent=st)
        for st in streets for c in range(10)])
    items = MaterialItem.objects.bulk_create([
        MaterialItem(code=code, name=code, unit="件", group=Group.RESCUE)
        for code in ("sandbag", "shovel", "pump", "light", "life_jacket")])
    warehouses = []
    for i in range(n_warehouses):
        region = streets[i % 18] if i % 10 == 0 else communities[rng.randrange(len(communities))]
        warehouses.append(Warehouse(code=f"WH{i:05d}", name=f"仓库{i}", region=region, region_code=region.code,
                                    street_code=region.code[:9], level="street" if len(region.code) == 9 else "community",
                                    lat=rng.uniform(BBOX[1], BBOX[3]), lng=rng.uniform(BBOX[0], BBOX[2])))
    warehouses = Warehouse.objects.bulk_create(warehouses)
    today = timezone.localdate()
    lots = []
    for wh in warehouses:
        for item in items:
            for b in range(rng.randint(1, 3)):
                roll = rng.random()
                condition = Condition.REPAIR if roll < 0.1 else Condition.GOOD
                expiry = today - timedelta(days=5) if 0.1 <= roll < 0.15 else None
                lots.append(StockLot(warehouse=wh, item=item, batch=f"B{b}", condition=condition, expiry_date=expiry,
                                     quantity=rng.randint(0, 1200), region_code=wh.region_code))
    StockLot.objects.bulk_create(lots, batch_size=2000)
    user = User.objects.create_user("bench-street", password=None)
    Grant.objects.create(user=user, role=Role.STREET_STAFF, region=streets[0])
    return {"user": user.pk, "lots": len(lots), "warehouses": len(warehouses)}


def child(vendor: str, sizes: list[int], n_warehouses: int, seed: int, bulk_only: bool = False) -> dict:
    common.setup_django()
    import numpy as np
    from django.db import connection
    from django.test import Client

    from civicgrid.apps.materials import selectors
    from civicgrid.apps.materials.models import MaterialItem, StockLot
    from civicgrid.foundation.access.models import ApiToken, User

    common.migrate()
    start = time.perf_counter()
    world = populate(n_warehouses, seed)
    populate_s = time.perf_counter() - start
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # planner statistics on both databases
    user = User.objects.get(pk=world["user"])
    admin = User.objects.create_superuser("bench-admin", password=None)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(admin, label='bench')[1]}"}
    item = MaterialItem.objects.get(code="sandbag")
    rng = np.random.default_rng(seed)
    big = max(sizes)
    lats_all = rng.uniform(BBOX[1], BBOX[3], big)
    lngs_all = rng.uniform(BBOX[0], BBOX[2], big)
    rows = selectors.candidates(item, QUANTITY)
    w_lat = np.array([r[5] for r in rows])
    w_lng = np.array([r[6] for r in rows])
    results = {"vendor": vendor, "warehouses": world["warehouses"], "lots": world["lots"], "candidates": len(rows),
               "populate_s": populate_s, "sizes": {}}
    # Warm up (connections, statement caches, numpy).
    selectors.nearest_warehouses(lats_all[0], lngs_all[0], item, QUANTITY, LIMIT)

    for n in sizes:
        lats, lngs = lats_all[:n], lngs_all[:n]

        def bare(n=n):
            for _ in range(n):
                list(StockLot.objects.filter(item=item, condition="good").values_list("warehouse_id", "quantity"))

        def brute(n=n, lats=lats, lngs=lngs):
            for i in range(n):
                d = selectors.haversine_m(lats[i], lngs[i], w_lat, w_lng)
                np.argsort(d, kind="stable")[:LIMIT]

        def per_point(n=n, lats=lats, lngs=lngs):
            for i in range(n):
                selectors.nearest_warehouses(lats[i], lngs[i], item, QUANTITY, LIMIT)

        def per_point_scoped(n=n, lats=lats, lngs=lngs):
            for i in range(n):
                selectors.nearest_warehouses(lats[i], lngs[i], item, QUANTITY, LIMIT, user=user)

        def bulk(lats=lats, lngs=lngs):
            selectors.nearest_many(lats, lngs, item, QUANTITY, LIMIT)

        body = json.dumps({"item": "sandbag", "quantity": QUANTITY, "limit": LIMIT,
                           "points": [{"lat": float(a), "lng": float(b)} for a, b in zip(lats, lngs, strict=True)]})

        def api(body=body, n=n):
            r = client.post("/api/v1/materials/nearest/batch", body, content_type="application/json", **auth)
            assert r.status_code == 200 and len(r.json()["items"]) == n, r.content[:300]

        # Check before timing: the bulk answer is the per-point answer.
        idx, dist, cand = selectors.nearest_many(lats[:50], lngs[:50], item, QUANTITY, LIMIT)
        for i in range(50):
            one = selectors.nearest_warehouses(lats[i], lngs[i], item, QUANTITY, LIMIT)
            assert [cand[j][0] for j in idx[i]] == [w.id for w in one], "bulk and per-point answers differ"
        skip = float("nan")
        once = common.seconds
        results["sizes"][str(n)] = {"bare": skip if bulk_only else once(bare), "brute": once(brute),
                                    "per_point": skip if bulk_only else once(per_point),
                                    "per_point_scoped": skip if bulk_only else once(per_point_scoped),
                                    "bulk": common.best_of(3, bulk),
                                    "api": common.best_of(3, api)}
    return results


def child_args(vendor: str, args) -> list[str]:
    return ["--child", vendor, "--sizes", args.sizes, "--warehouses", str(args.warehouses), "--seed", str(args.seed),
            *(["--bulk-only"] if args.bulk_only else [])]


def report(r: dict) -> None:
    print(f"\n{r['vendor']}: {r['warehouses']} warehouses, {r['lots']:,} lots (inserted in {r['populate_s']:.1f} s); "
          f"{r['candidates']} warehouses hold ≥ {QUANTITY} usable sandbags; limit {LIMIT}")
    names = {"bare": "(a) bare stock query × N", "brute": "(b) numpy brute force × N",
             "per_point": "(c) nearest_warehouses × N", "per_point_scoped": "(d) … as a street user",
             "bulk": "(e) nearest_many, one query", "api": "(f) POST …/nearest/batch"}
    sizes = sorted(r["sizes"], key=int)
    for n in sizes:
        t = r["sizes"][n]
        print(f"  N = {int(n):,} points")
        for key, label in names.items():
            print(f"    {label:<30} {t[key]:8.3f} s  {int(n) / t[key]:12,.0f} points/s")
        print(f"    ratio (c)/(a) {t['per_point'] / t['bare']:.2f}   (c)/(b) {t['per_point'] / t['brute']:.2f}   "
              f"(e)/(b) {t['bulk'] / t['brute']:.3f}")
    if len(sizes) > 1:
        lo, hi = r["sizes"][sizes[0]], r["sizes"][sizes[-1]]
        factor = int(sizes[-1]) / int(sizes[0])
        growth = "   ".join(f"{k} ×{hi[k] / lo[k]:.2f}" for k in names)
        print(f"  growth {int(sizes[0]):,} → {int(sizes[-1]):,} points (×{factor:g} points): {growth}")


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of hazard points")
    parser.add_argument("--warehouses", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20230601)
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--bulk-only", action="store_true", help="skip the per-point loops (a), (c), (d)")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(common.parse_sizes(args.sizes))
    if args.child:
        common.reply(child(args.child, sizes, args.warehouses, args.seed, args.bulk_only))
        return 0
    vendors = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    for result in common.each_database(__file__, vendors, lambda vendor: child_args(vendor, args), db=PG_DB,
                                       prefix="bench-nearest-"):
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

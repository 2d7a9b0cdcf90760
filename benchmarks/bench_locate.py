"""Benchmark point → grid lookup on the demo Pingcheng grids.

    python benchmarks/bench_locate.py [--points N] [--repeat R] [--seed S]

Builds the demo grids from the real district outline, draws N deterministic random points in the district's
bounding box and times, best of R runs each:

  (a) baseline: a bare shapely ``STRtree.query(points, predicate="intersects")`` over the same grids, on
      shapely points made beforehand (point creation is not timed; no tie-break, no codes);
  (b) ``Locator.locate_many(lngs, lats)`` from raw coordinate arrays to an array of codes, with the bulk
      raster already built (it is built once per process; its build time is printed separately);
  (c) the same without the raster (``raster=False``): points are created and queried exactly.

Prints points/s for each and the ratio (b)/(a) (goal >= 0.70). Results are printed, never asserted.
"""

from __future__ import annotations

import argparse
import time

import common  # puts the repository on the path for civicgrid
import numpy as np
import shapely

from civicgrid.foundation.regions.geometry import demo_partition_from_data
from civicgrid.foundation.regions.locator import Locator


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--points", type=int, default=1_000_000, help="number of random points (default 1,000,000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per variant; the best is kept (default 3)"
    )
    parser.add_argument("--seed", type=int, default=20260701, help="random seed for the points")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    partition = demo_partition_from_data()
    grids = {code: geom for code, geom in partition.items() if len(code) == 15}
    print(f"demo partition: {len(grids)} grids in {time.perf_counter() - start:.2f} s")

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = partition["140213"].bounds
    lngs = rng.uniform(minx, maxx, args.points)
    lats = rng.uniform(miny, maxy, args.points)
    points = shapely.points(lngs, lats)

    start = time.perf_counter()
    tree = shapely.STRtree(list(grids.values()))
    tree_build = time.perf_counter() - start
    start = time.perf_counter()
    locator = Locator.from_mapping(grids)
    locator_build = time.perf_counter() - start
    start = time.perf_counter()
    locator.warm()
    raster_build = time.perf_counter() - start
    exact = Locator.from_mapping(grids, raster=False)
    print(
        f"build: STRtree {tree_build * 1e3:.1f} ms, Locator {locator_build * 1e3:.1f} ms, raster {raster_build * 1e3:.1f} ms"
    )

    baseline = common.best_of(args.repeat, lambda: tree.query(points, predicate="intersects"))
    located = common.best_of(args.repeat, lambda: locator.locate_many(lngs, lats))
    exact_only = common.best_of(args.repeat, lambda: exact.locate_many(lngs, lats))

    codes = locator.locate_many(lngs, lats)
    assert codes.tolist() == exact.locate_many(lngs, lats).tolist(), "raster and exact answers differ"
    found = int(np.count_nonzero(codes != None))  # noqa: E711 - elementwise on an object array

    n = args.points
    print(
        f"points: {n:,} in the district bbox, {found:,} ({found / n:.1%}) inside a grid; best of {args.repeat}"
    )
    print(f"(a) baseline STRtree.query(intersects): {n / baseline:12,.0f} points/s  ({baseline:.3f} s)")
    print(f"(b) Locator.locate_many:                {n / located:12,.0f} points/s  ({located:.3f} s)")
    print(f"(c) Locator.locate_many, no raster:     {n / exact_only:12,.0f} points/s  ({exact_only:.3f} s)")
    print(f"ratio (b)/(a): {baseline / located:.2f}   (goal >= 0.70)")
    print(f"ratio (c)/(a): {baseline / exact_only:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

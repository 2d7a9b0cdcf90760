"""Point → grid lookup on shapely 2's STRtree, for one point per request or millions in bulk.

Semantics are "covered by": a point on a grid's boundary belongs to that grid, so a point on a shared edge or
vertex is never lost between neighbours (``within`` would drop it). When several grids cover a point, the grid
with the smallest code wins, so every caller gets the same answer.

For a point and a polygon, "intersects" and "covered by" are the same relation (a point meets a polygon exactly
when it lies in its interior or on its boundary); the tree is queried with ``intersects`` because GEOS
evaluates it faster on prepared polygons.

Bulk lookups spend more time creating shapely points (~0.5 µs each) than querying the tree. ``locate_many``
therefore first looks each point up in a raster of small cells built with the index: a cell that no grid
boundary comes near lies wholly inside one face of the grid arrangement, so every point in it has the answer of
the cell's representative, which was computed once with the exact tree query. Only points in cells crossed by
a boundary (a small fraction) become shapely points and take the exact path. The answers are identical to
:meth:`Locator.locate` by construction (see ``_Raster``); the tests check it on edges and vertices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["Locator"]

# Raster size: about this many cells across a typical grid, and never more cells than _MAX_CELLS (4 MB).
_CELLS_PER_GRID = 12
_MAX_CELLS = 1_000_000
# Margin (degrees) around every cell, far above the rounding error of binning a coordinate (~1e-13).
_EPS = 1e-9
_MIXED = -2  # cell crossed by a boundary: answer with the exact query
# Below this many points the exact path is cheaper than building the raster (~0.1 s for 1,000 grids).
_RASTER_MIN_POINTS = 20_000
_NONE = -1  # cell covered by no grid
# A process that has answered this many single points serves reports: the raster is built for them too (once,
# about 0.1 s and at most 4 MB for 1,000 grids), and most points then skip the tree.
_RASTER_AFTER_LOOKUPS = 1_000


class _Raster:
    """Cells labelled with the covering grid index, or _NONE, or _MIXED (a boundary passes within _EPS).

    Soundness: every boundary point (exterior and interior rings) is within ``spacing/2`` of a sample; each
    sample marks all cells meeting the box of half-width ``spacing/2 + _EPS`` around it. So a cell left
    unmarked has no boundary within _EPS of it: for each grid it is wholly inside or wholly outside, and a run
    of such cells along a row shares one covering set, the one found by the exact query at the run's first
    cell centre.
    """

    __slots__ = ("cell", "minx", "miny", "maxx", "maxy", "nx", "ny", "table")

    def __init__(self, tree: shapely.STRtree, polygons: np.ndarray) -> None:
        self.minx, self.miny, self.maxx, self.maxy = (float(v) for v in shapely.total_bounds(polygons))
        width, height = self.maxx - self.minx, self.maxy - self.miny
        bounds = shapely.bounds(polygons)
        typical = float(np.median(np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])))
        if not (width > 0 and height > 0 and typical > 0):
            raise ValueError("degenerate extent")
        cell = max(typical / _CELLS_PER_GRID, math.sqrt(width * height / _MAX_CELLS))
        self.cell = cell
        self.nx = max(1, math.ceil(width / cell))
        self.ny = max(1, math.ceil(height / cell))
        mixed = self._boundary_cells(polygons)
        self.table = self._label_runs(tree, mixed)

    def _axis_index(self, v: np.ndarray, origin: float, n: int) -> np.ndarray:
        return np.clip(np.floor((v - origin) / self.cell), 0, n - 1).astype(np.intp)

    def _cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._axis_index(y, self.miny, self.ny) * self.nx + self._axis_index(x, self.minx, self.nx)

    def _boundary_cells(self, polygons: np.ndarray) -> np.ndarray:
        rings = shapely.get_rings(shapely.get_parts(polygons))
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        same_ring = ring_of[1:] == ring_of[:-1]
        segments = np.hstack([coords[:-1][same_ring], coords[1:][same_ring]])
        # Neighbours share most edges: orient every segment one way and sample each once.
        flip = (segments[:, 0] > segments[:, 2]) | (
            (segments[:, 0] == segments[:, 2]) & (segments[:, 1] > segments[:, 3])
        )
        segments[flip] = segments[flip][:, [2, 3, 0, 1]]
        segments = np.unique(segments, axis=0)
        start, end = segments[:, :2], segments[:, 2:]
        spacing = self.cell / 4.0
        length = np.hypot(*(end - start).T)
        samples = np.ceil(length / spacing).astype(np.intp) + 1  # both ends included: gaps <= spacing
        seg = np.repeat(np.arange(len(start)), samples)
        first = np.cumsum(samples) - samples
        t = (np.arange(seg.size) - first[seg]) / np.maximum(samples[seg] - 1, 1)
        pts = start[seg] + t[:, None] * (end - start)[seg]
        reach = spacing / 2.0 + _EPS
        # The box of half-width ``reach`` is smaller than a cell, so the cells of its corners are all it meets.
        cols = [self._axis_index(pts[:, 0] + d, self.minx, self.nx) for d in (-reach, reach)]
        rows = [self._axis_index(pts[:, 1] + d, self.miny, self.ny) for d in (-reach, reach)]
        mixed = np.zeros(self.nx * self.ny, dtype=bool)
        for iy in rows:
            for ix in cols:
                mixed[iy * self.nx + ix] = True
        return mixed

    def _label_runs(self, tree: shapely.STRtree, mixed: np.ndarray) -> np.ndarray:
        pure = ~mixed
        col = np.arange(pure.size) % self.nx
        prev_pure = np.concatenate(([False], pure[:-1]))
        starts = pure & ((col == 0) | ~prev_pure)
        run_id = np.cumsum(starts) - 1
        start_cells = np.flatnonzero(starts)
        cx = self.minx + (start_cells % self.nx + 0.5) * self.cell
        cy = self.miny + (start_cells // self.nx + 0.5) * self.cell
        answers = _min_hit(tree, shapely.points(cx, cy), len(start_cells))
        table = np.full(pure.size, _MIXED, dtype=np.int32)
        table[pure] = answers[run_id[pure]]
        return table

    def lookup_one(self, x: float, y: float) -> int:
        """`lookup` for one point, in plain Python (the same arithmetic as `_cells`, so the same cell)."""
        if not (self.minx <= x <= self.maxx and self.miny <= y <= self.maxy):  # NaN fails every comparison
            return _NONE
        ix = min(max(math.floor((x - self.minx) / self.cell), 0), self.nx - 1)
        iy = min(max(math.floor((y - self.miny) / self.cell), 0), self.ny - 1)
        return int(self.table[iy * self.nx + ix])

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Grid index, _NONE or _MIXED for each point (non-finite and out-of-extent points are _NONE)."""
        with np.errstate(invalid="ignore"):
            inside = (x >= self.minx) & (x <= self.maxx) & (y >= self.miny) & (y <= self.maxy)
        out = np.full(x.size, _NONE, dtype=np.int32)
        out[inside] = self.table[self._cells(x[inside], y[inside])]
        return out


def _min_hit(tree: shapely.STRtree, points: np.ndarray, n: int) -> np.ndarray:
    """Smallest tree index covering each point, or _NONE."""
    point_idx, grid_idx = tree.query(points, predicate="intersects")
    best = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    np.minimum.at(best, point_idx, grid_idx)
    return np.where(best == np.iinfo(np.int32).max, _NONE, best).astype(np.int32)


class Locator:
    """Find the grid code covering a WGS-84 point; ties go to the smallest code."""

    __slots__ = ("_codes", "_lookups", "_polygons", "_raster", "_raster_state", "_tree")

    def __init__(
        self, codes: Sequence[str], polygons: Sequence[BaseGeometry], *, raster: bool = True
    ) -> None:
        """Index ``polygons`` (grids) under unique ``codes``.

        The raster is built lazily by the first large :meth:`locate_many` call, after many single
        :meth:`locate` calls, or by :meth:`warm`, so a process that locates a few points never pays for it;
        ``raster=False`` disables it.
        """
        if len(codes) != len(polygons):
            raise ValueError(f"{len(codes)} codes but {len(polygons)} polygons")
        codes = [str(c) for c in codes]
        if len(set(codes)) != len(codes):
            raise ValueError("grid codes must be unique")
        # Store in code order, so the smallest tree index covering a point is also the smallest code.
        order = sorted(range(len(codes)), key=codes.__getitem__)
        self._codes = np.array([codes[i] for i in order], dtype=object)
        self._polygons = np.empty(len(order), dtype=object)
        self._polygons[:] = [polygons[i] for i in order]
        if self._polygons.size and not shapely.is_geometry(self._polygons).all():
            raise ValueError("every polygon must be a shapely geometry")
        self._tree = shapely.STRtree(self._polygons)
        shapely.prepare(self._polygons)
        self._raster: _Raster | None = None
        self._lookups = 0  # single points answered before the raster is built (`locate`)
        # "off" (disabled or degenerate), "pending" (not built yet) or "ready".
        self._raster_state = "pending" if raster and self._polygons.size else "off"

    def warm(self) -> Locator:
        """Build the bulk raster now (normally done by the first large :meth:`locate_many`); returns self."""
        if self._raster_state == "pending":
            try:
                self._raster = _Raster(self._tree, self._polygons)
                self._raster_state = "ready"
            except ValueError:
                self._raster_state = "off"  # degenerate extent: every point takes the exact path
        return self

    @classmethod
    def from_mapping(cls, grids: Mapping[str, BaseGeometry], *, raster: bool = True) -> Locator:
        """Build from a code → polygon mapping."""
        return cls(list(grids), list(grids.values()), raster=raster)

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def codes(self) -> list[str]:
        """The indexed codes, in ascending order."""
        return list(self._codes)

    # STRtree wraps a C structure that does not pickle; the codes and polygons are all that is needed to
    # rebuild it (a few milliseconds for ~1,000 grids). The raster is rebuilt lazily on first bulk use.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "codes": list(self._codes),
            "wkb": list(shapely.to_wkb(self._polygons)),
            "raster": self._raster_state != "off",
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        polygons = list(shapely.from_wkb(np.array(state["wkb"], dtype=object)))
        Locator.__init__(self, state["codes"], polygons, raster=state["raster"])

    def locate(self, lng: float, lat: float) -> str | None:
        """Code of the grid covering (lng, lat), the smallest code if several do, None if none does. Once this
        locator has answered `_RASTER_AFTER_LOOKUPS` single points (a serving process), the raster answers
        the points in cells no boundary crosses, without making a shapely point."""
        x, y = float(lng), float(lat)
        if self._raster is not None:
            found = self._raster.lookup_one(x, y)
            if found != _MIXED:
                return None if found == _NONE else self._codes[found]
        elif self._raster_state == "pending":
            self._lookups += 1
            if self._lookups >= _RASTER_AFTER_LOOKUPS:
                self.warm()
        hits = self._tree.query(shapely.points(x, y), predicate="intersects")
        if hits.size == 0:
            return None
        return self._codes[int(hits.min())]

    def locate_many(self, lngs: Any, lats: Any) -> np.ndarray:
        """Vectorised :meth:`locate`: an object array of codes (None where no grid covers the point)."""
        x = np.asarray(lngs, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lngs and lats differ in length: {x.size} != {y.size}")
        result = np.full(x.size, None, dtype=object)
        if x.size == 0 or len(self._codes) == 0:
            return result
        if x.size >= _RASTER_MIN_POINTS:
            self.warm()
        if self._raster is not None:
            index = self._raster.lookup(x, y)
            exact = np.flatnonzero(index == _MIXED)
        else:
            index = np.full(x.size, _NONE, dtype=np.int32)
            exact = np.arange(x.size)
        if exact.size:
            index[exact] = _min_hit(self._tree, shapely.points(x[exact], y[exact]), exact.size)
        found = index >= 0
        result[found] = self._codes[index[found]]
        return result

"""The public outline of the district: its own boundary and those of its streets and communities/villages, with
their names and codes and nothing else, simplified, for maps that anyone who may report a problem can see.

The names and codes are the public administrative directory (the NBS division codes) and the boundaries are
drawn coarsely, a few metres off at most: enough to see where a tap on the map falls, no survey. Grids are left
out (their boundaries and the workers who serve them are the staff's), as is every count and person.

Built once per process and kept until the region data changes (the locator's stamp, read again at most every
`CIVICGRID_LOCATOR_RECHECK_SECONDS`): a district's outline is tens of kilobytes of JSON, the same for everybody,
so each request is a dictionary read. Features are ordered finest first (communities and villages, then streets,
then the district), so a map drawing them in order puts the larger units' lines on top.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely

from .geometry import from_geojson_geometry, to_geojson_geometry
from .models import Level, Region
from .selectors import recheck_seconds, region_stamp

log = logging.getLogger(__name__)

# Finest first: see the module docstring.
OUTLINE_LEVELS = ((Level.COMMUNITY, Level.VILLAGE), (Level.STREET,), (Level.DISTRICT,))
# Degrees: about 5 m at the district's latitude. Vertices whose removal moves a line by less go (a boundary drawn
# from a survey has a vertex every metre or two; a phone map needs one every few dozen).
TOLERANCE = 0.00005
# Decimal places kept: 1e-5 degrees is about a metre.
PRECISION = 5


@dataclass(frozen=True)
class PublicOutline:
    """The outline as the JSON a map loads (UTF-8 bytes of a GeoJSON FeatureCollection) and its entity tag."""

    body: bytes
    etag: str
    features: int


def _simplified(geometries: list) -> list:
    """The boundaries of one level, simplified. Neighbours that share their edges exactly (a coverage, as the
    demo's and most surveyed data are) are simplified together, so they still share them and no sliver opens
    between two communities; other data is simplified boundary by boundary."""
    array = np.array(geometries, dtype=object)
    try:
        if len(geometries) > 1 and bool(shapely.coverage_is_valid(array)):
            simple = shapely.coverage_simplify(array, TOLERANCE)
        else:
            simple = shapely.simplify(array, TOLERANCE, preserve_topology=True)
    except shapely.errors.ShapelyError:
        log.warning("public outline: boundaries that could not be simplified are served as stored", exc_info=True)
        return geometries
    # A boundary simplified to nothing (a sliver far below the tolerance) is served as stored.
    return [original if g is None or g.is_empty else g for original, g in zip(geometries, simple, strict=True)]


def build_outline() -> PublicOutline:
    """The outline of the region data as it is now (a query per level; no cache)."""
    features = []
    for levels in OUTLINE_LEVELS:
        rows = []
        for code, name, level, geometry in (Region.objects.filter(level__in=levels, geometry__isnull=False)
                                            .order_by("code").values_list("code", "name", "level", "geometry")):
            try:
                rows.append((code, name, level, from_geojson_geometry(geometry)))
            except ValueError:
                continue  # a stored boundary that does not parse is not drawn (imports refuse such data)
        shapes = _simplified([row[3] for row in rows])
        for (code, name, level, _), shape in zip(rows, shapes, strict=True):
            features.append({
                "type": "Feature",
                "geometry": to_geojson_geometry(shape, PRECISION),
                "properties": {"code": code, "name": name, "level": level},
            })
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False,
                      separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return PublicOutline(body=body, etag=etag, features=len(features))


_lock = threading.Lock()
_cached: dict = {"outline": None, "stamp": None, "checked_at": 0.0}


def public_outline() -> PublicOutline:
    """The outline for the data as it is now, built again only when the region data changed."""
    with _lock:
        now = time.monotonic()
        outline = _cached["outline"]
        if outline is not None and now - _cached["checked_at"] < recheck_seconds():
            return outline
        stamp = region_stamp()
        if outline is None or _cached["stamp"] != stamp:
            outline = build_outline()
        _cached.update(outline=outline, stamp=stamp, checked_at=now)
        return outline


def forget_outline() -> None:
    """Drop this process's outline (tests; the next request builds it again)."""
    with _lock:
        _cached.update(outline=None, stamp=None, checked_at=0.0)

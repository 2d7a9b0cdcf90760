"""Place from text (地名识别): find the places a message names and propose the grid.

The index is built once per process from the platform's own data and rebuilt when that data changes:

* regions: streets, communities, villages (centroids), each also under its short name (永泰街道 → 永泰,
  铁牛里社区 → 铁牛里, 某某村民委员会 → 某某);
* base data: places (场所) by name, buildings by standard address and name, estates (小区) at the mean
  position of their buildings, also under a street's or community's name followed by the estate's (永泰街道云冈苑,
  铁牛里社区云冈苑), for the buildings of that estate there. Districts repeat estate names: when the buildings
  of one name lie farther than :data:`ESTATE_RADIUS_M` from their mean, the name is no place (their mean would
  be kilometres from every one of them) but an *ambiguous* name, which `find` leaves out and `ambiguous_place`
  reports with the communities where it exists;
* a small built-in list of Pingcheng roads and landmarks (:data:`LANDMARKS`), with **approximate** WGS-84
  coordinates (marked ``approximate``), below every name the district loaded itself.

Matching is longest-match-first and non-overlapping: at each position of the normalised text the longest
indexed name starting there wins (a dict lookup per indexed name length, so thousands of names cost little).

    find_place("鼓楼东街华严寺门口垃圾") → [{"name": "华严寺", "kind": "landmark", "lng", "lat", "grid_code",
                                           "score", "approximate": True}, …]
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

# (name, kind, lng, lat, aliases): approximate positions (± a few hundred metres), WGS-84, inside Pingcheng.
LANDMARKS: list[tuple[str, str, float, float, tuple[str, ...]]] = [
    ("鼓楼", "landmark", 113.3006, 40.0905, ("大同鼓楼",)),
    ("华严寺", "landmark", 113.2937, 40.0917, ("上华严寺", "下华严寺")),
    ("善化寺", "landmark", 113.2985, 40.0838, ("南寺",)),
    ("九龙壁", "landmark", 113.3049, 40.0933, ("大同九龙壁",)),
    ("古城墙", "landmark", 113.3000, 40.0966, ("大同古城墙", "城墙")),
    ("代王府", "landmark", 113.3040, 40.0925, ()),
    ("法华寺", "landmark", 113.3012, 40.0921, ()),
    ("关帝庙", "landmark", 113.3016, 40.0893, ()),
    ("文瀛湖", "landmark", 113.3560, 40.0795, ("文瀛湖公园",)),
    ("大同站", "landmark", 113.3022, 40.1143, ("大同火车站", "火车站")),
    ("御河", "river", 113.3195, 40.0930, ("御河生态公园",)),
    ("大西街", "road", 113.2955, 40.0922, ()),
    ("大东街", "road", 113.3055, 40.0922, ()),
    ("大北街", "road", 113.3004, 40.0955, ()),
    ("大南街", "road", 113.3004, 40.0880, ()),
    ("魏都大道", "road", 113.3170, 40.0800, ()),
    ("御河西路", "road", 113.3150, 40.0960, ()),
    ("御河东路", "road", 113.3245, 40.0960, ()),
    ("新建北路", "road", 113.2890, 40.1010, ()),
    ("新建南路", "road", 113.2890, 40.0760, ()),
    ("迎宾街", "road", 113.3050, 40.0720, ("迎宾路",)),
    ("永泰街", "road", 113.2800, 40.0900, ()),
    ("云中路", "road", 113.2950, 40.0680, ()),
    ("太和路", "road", 113.3350, 40.0700, ()),
]

KIND_WEIGHT = {"building": 1.0, "place": 0.95, "estate": 0.9, "community": 0.85, "village": 0.85,
               "landmark": 0.85, "river": 0.8, "road": 0.8, "street": 0.7}
# Region suffixes people leave out ("铁牛里社区" is "铁牛里").
_SUFFIXES = ("社区居民委员会", "村民委员会", "居民委员会", "街道办事处", "村委会", "居委会", "街道", "社区", "村", "镇", "乡")
_SPACE = re.compile(r"\s+")
MIN_NAME = 2


def norm(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(text or ""))).lower()


def aliases(name: str) -> set[str]:
    """A region's name and its short forms."""
    name = norm(name)
    out = {name}
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= MIN_NAME:
            out.add(name[: -len(suffix)])
    return out


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    lng: float
    lat: float
    grid_code: str | None = None  # known from the data (places, buildings); else located on demand
    approximate: bool = False
    # An estate name whose buildings are too far apart to be one place: the areas (street + community) where
    # it exists. Such an entry is matched (so that no shorter name inside it is) but never found as a place.
    areas: tuple[str, ...] = ()


class Gazetteer:
    """Names → entries, matched longest-first."""

    def __init__(self, entries: list[tuple[str, Entry]]):
        self.index: dict[str, list[Entry]] = {}
        for key, entry in entries:
            key = norm(key)
            if len(key) < MIN_NAME:
                continue
            bucket = self.index.setdefault(key, [])
            if entry not in bucket:
                bucket.append(entry)
        for bucket in self.index.values():  # most specific first
            bucket.sort(key=lambda e: -KIND_WEIGHT.get(e.kind, 0.5))
        self.lengths = sorted({len(k) for k in self.index}, reverse=True)

    def __len__(self) -> int:
        return len(self.index)

    def matches(self, text: str) -> list[tuple[int, str, list[Entry]]]:
        """(position, matched text, entries) for each non-overlapping longest match, in text order."""
        t = norm(text)
        found, i, n = [], 0, len(t)
        while i < n:
            for length in self.lengths:
                if i + length > n:
                    continue
                key = t[i : i + length]
                hit = self.index.get(key)
                if hit:
                    found.append((i, key, hit))
                    i += length
                    break
            else:
                i += 1
        return found

    def find(self, text: str, *, limit: int = 10) -> list[dict]:
        results, seen = [], set()
        for _pos, key, entries in self.matches(text):
            for e in entries:
                if e.areas or (e.name, e.kind, e.lng, e.lat) in seen:
                    continue
                seen.add((e.name, e.kind, e.lng, e.lat))
                score = round(min(1.0, len(key) / 6) * KIND_WEIGHT.get(e.kind, 0.5), 3)
                results.append({"name": e.name, "matched": key, "kind": e.kind, "lng": round(e.lng, 6),
                                "lat": round(e.lat, 6), "grid_code": e.grid_code, "score": score,
                                "approximate": e.approximate})
        results.sort(key=lambda r: (-len(r["matched"]), -r["score"]))
        results = results[:limit]
        for r in results:
            if r["grid_code"] is None:
                r["grid_code"] = _grid_of(r["lng"], r["lat"])
        return results


    def ambiguous(self, text: str) -> list[dict]:
        """The estate names in the text that stand for several places: name and the areas where it exists."""
        out = []
        for _pos, key, entries in self.matches(text):
            areas = sorted({a for e in entries for a in e.areas})
            if areas and all(e.areas for e in entries):
                out.append({"name": entries[0].name, "matched": key, "areas": areas})
        return out


def _grid_of(lng: float, lat: float) -> str | None:
    from civicgrid.foundation.core.errors import CivicgridError
    from civicgrid.foundation.regions.selectors import locate

    try:
        found = locate(lng, lat, "wgs84")
    except (CivicgridError, ValueError, LookupError):
        return None
    ref = found.grid or found.community
    return ref.code if ref else None


def _entries() -> list[tuple[str, Entry]]:
    from civicgrid.foundation.people.models import Building, Place
    from civicgrid.foundation.regions.models import Level, Region

    out: list[tuple[str, Entry]] = []
    for name, kind, lng, lat, extra in LANDMARKS:
        e = Entry(name, kind, lng, lat, approximate=True)
        out += [(name, e)] + [(a, e) for a in extra]
    levels = {Level.STREET: "street", Level.COMMUNITY: "community", Level.VILLAGE: "village"}
    for name, level, lng, lat in Region.objects.filter(level__in=list(levels), centroid_lng__isnull=False) \
            .values_list("name", "level", "centroid_lng", "centroid_lat").iterator():
        e = Entry(name, levels[level], lng, lat)
        out += [(a, e) for a in aliases(name)]
    for name, address, lng, lat, grid in Place.objects.filter(lng__isnull=False, lat__isnull=False) \
            .values_list("name", "address", "lng", "lat", "grid__code").iterator():
        e = Entry(name, "place", lng, lat, grid)
        out.append((name, e))
        if address:
            out.append((address, e))
    estates: dict[str, list[tuple[float, float, str, str]]] = {}
    for name, address, estate, lng, lat, grid, community, street in (
            Building.objects.filter(lng__isnull=False, lat__isnull=False)
            .values_list("name", "address", "estate", "lng", "lat", "grid__code", "grid__parent__name",
                         "grid__parent__parent__name").iterator()):
        e = Entry(address or name, "building", lng, lat, grid)
        out.append((address, e))
        if estate and name:
            out.append((f"{estate}{name}", e))
        if estate:
            estates.setdefault(estate, []).append((lng, lat, community or "", street or ""))
    for estate, points in estates.items():
        out.append((estate, _estate_entry(estate, points)))
        # 永泰街道云冈苑, 铁牛里云冈苑: the estate's buildings in that street or community.
        for column in (2, 3):
            for region in {p[column] for p in points if p[column]}:
                local = [p for p in points if p[column] == region]
                entry = _estate_entry(estate, local)
                out += [(f"{alias}{estate}", entry) for alias in aliases(region)]
    return out


#: How far the buildings of one estate (小区) may lie from their mean and still be one place, in metres. A large
#: Pingcheng estate is 500-800 m corner to corner, so its buildings lie within about 400 m of their mean; buildings
#: of one name spread wider are several estates sharing the name (districts repeat 和平小区, 新华苑 …), and their
#: mean is a point between them, possibly kilometres from each.
ESTATE_RADIUS_M = 400.0


def _estate_entry(estate: str, points: list[tuple[float, float, str, str]]) -> Entry:
    """The estate at the mean of its buildings, or, when they are spread beyond :data:`ESTATE_RADIUS_M`, the
    ambiguous name with the areas (street and community) where it exists."""
    from civicgrid.apps.cases.duplicates import haversine_m

    lng = sum(p[0] for p in points) / len(points)
    lat = sum(p[1] for p in points) / len(points)
    if all(haversine_m(p[0], p[1], lng, lat) <= ESTATE_RADIUS_M for p in points):
        return Entry(estate, "estate", lng, lat)
    areas = tuple(sorted({f"{p[3]}{p[2]}" for p in points if p[2] or p[3]})) or (estate,)
    return Entry(estate, "estate", lng, lat, areas=areas)


def _stamp() -> tuple:
    from django.db.models import Count, Max

    from civicgrid.foundation.people.models import Building, Place
    from civicgrid.foundation.regions.models import Region

    return tuple(tuple(m.objects.aggregate(n=Count("pk"), t=Max("updated_at")).values())
                 for m in (Region, Place, Building))


_LOCK = threading.Lock()
_CACHE: dict = {"stamp": None, "gazetteer": None}


def current() -> Gazetteer:
    """The gazetteer of the current data (rebuilt when regions, places or buildings changed)."""
    stamp = _stamp()
    with _LOCK:
        if _CACHE["stamp"] == stamp and _CACHE["gazetteer"] is not None:
            return _CACHE["gazetteer"]
    g = Gazetteer(_entries())
    with _LOCK:
        _CACHE.update(stamp=stamp, gazetteer=g)
    return g


def clear_cache() -> None:
    with _LOCK:
        _CACHE.update(stamp=None, gazetteer=None)


def find_place(text: str, *, limit: int = 10) -> list[dict]:
    """Places the text names, longest match first: name, kind, lng, lat, grid_code, score (and `matched`,
    `approximate`). Unknown text → []."""
    if not str(text or "").strip():
        return []
    return current().find(text, limit=limit)


def ambiguous_place(text: str) -> list[dict]:
    """The names in the text that stand for several places far apart (an estate name the district repeats):
    each as {"name", "matched", "areas"}, the areas (street and community) where it exists. [] when none."""
    if not str(text or "").strip():
        return []
    return current().ambiguous(text)


#: A place found in text is used without a person confirming it (Open311 address_string) from this score on:
#: a name of at least three characters of a landmark, or of four of a street, or any building/place name.
CONFIDENT_SCORE = 0.4
AMBIGUOUS_M = 1000.0


def confident_place(text: str) -> dict | None:
    """The one place a text clearly names, inside a grid of the district, or None.

    The longest match wins; it must score at least :data:`CONFIDENT_SCORE` and have a grid. When the longest
    matches are equally long but name different places more than a kilometre apart, the text is ambiguous."""
    from civicgrid.apps.cases.duplicates import haversine_m

    everything = find_place(text, limit=5)
    found = [r for r in everything if r["grid_code"]]
    if not found or found[0]["score"] < CONFIDENT_SCORE:
        return None
    top = found[0]
    rivals = [r for r in everything if r is not top and len(r["matched"]) == len(top["matched"])
              and r["score"] >= top["score"]
              and haversine_m(r["lng"], r["lat"], top["lng"], top["lat"]) > AMBIGUOUS_M]
    return None if rivals else top

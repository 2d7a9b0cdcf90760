"""Reads of the materials app, every one starting from `visible_to(user, "view")`.

`nearest_warehouses` answers "the nearest warehouses holding at least Q of item X for this point": one
aggregate query gives every warehouse (in the user's scope) with enough usable stock, with its coordinates;
the great-circle distances (haversine, metres) to all of them are computed at once with numpy and the nearest
`limit` kept. `nearest_many` does the same for many points with the one query, for dispatch planning and the
benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Count, Q, Sum
from django.utils import timezone

from civicgrid.foundation.access.scope import subtree_q
from civicgrid.foundation.core.errors import ValidationFailed

from .models import Condition, MaterialItem, Movement, StockCount, StockLot, StockTarget, Warehouse
from .services.stock import available_q

EARTH_RADIUS_M = 6_371_008.8
MAX_NEAREST = 50


# ---- lists -------------------------------------------------------------------------------------------------

def warehouse_list(user, *, region: str = "", level: str = "", q: str = "", active_only: bool = False):
    qs = Warehouse.objects.visible_to(user, "view").select_related("region", "department").with_patron()
    if region:
        qs = qs.filter(subtree_q("region_code", region))
    if level:
        qs = qs.filter(level=level)
    if q:
        qs = qs.filter(Q(name__icontains=q[:40]) | Q(code__icontains=q[:40]) | Q(address__icontains=q[:40]))
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.annotate(lot_count=Count("lots", filter=Q(lots__quantity__gt=0))).order_by("region_code", "code")


def stock_list(user, *, warehouse=None, item=None, region: str = "", condition: str = ""):
    qs = StockLot.objects.visible_to(user, "view").select_related("warehouse", "item").with_patron()
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    if item is not None:
        qs = qs.filter(item=item)
    if region:
        qs = qs.filter(subtree_q("region_code", region))
    if condition:
        qs = qs.filter(condition=condition)
    return qs.order_by("warehouse__region_code", "warehouse__code", "item__group", "item__code", "expiry_date", "pk")


def movement_list(user, *, warehouse=None, item=None, kind: str = "", incident_ref: str = ""):
    qs = (Movement.objects.visible_to(user, "view").select_related("warehouse", "item", "lot", "counterpart")
          .with_patron())
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    if item is not None:
        qs = qs.filter(item=item)
    if kind:
        qs = qs.filter(kind=kind)
    if incident_ref:
        qs = qs.filter(incident_ref=incident_ref[:64])
    return qs.order_by("-at", "-pk")


def count_list(user, *, warehouse=None):
    qs = StockCount.objects.visible_to(user, "view").select_related("warehouse", "started_by", "confirmed_by")
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    return qs.annotate(line_count=Count("lines")).order_by("-started_at", "-pk")


def warehouse_summary(warehouse: Warehouse, today=None) -> list[dict]:
    """Per item: usable, under repair, scrapped, expired and total quantities of one warehouse (one query)."""
    today = today or timezone.localdate()
    expired = Q(expiry_date__lt=today)
    rows = (StockLot.objects.filter(warehouse=warehouse).values("item_id")
            .annotate(total=Sum("quantity"),
                      usable=Sum("quantity", filter=available_q(today)),
                      repair=Sum("quantity", filter=Q(condition=Condition.REPAIR)),
                      scrapped=Sum("quantity", filter=Q(condition=Condition.SCRAPPED)),
                      expired=Sum("quantity", filter=Q(condition=Condition.GOOD) & expired)))
    items = MaterialItem.objects.in_bulk([r["item_id"] for r in rows])
    out = [{"item": items[r["item_id"]], **{k: r[k] or 0 for k in ("total", "usable", "repair", "scrapped", "expired")}}
           for r in rows]
    return sorted(out, key=lambda r: (r["item"].group, r["item"].grade, r["item"].code))


# ---- shortages and expiry ----------------------------------------------------------------------------------

@dataclass
class Shortage:
    target: StockTarget
    held: int

    @property
    def missing(self) -> int:
        return max(0, self.target.min_quantity - self.held)

    @property
    def id(self) -> int:
        return self.target.pk

    @property
    def percent(self) -> int:
        return 100 if not self.target.min_quantity else int(self.held * 100 / self.target.min_quantity)


def target_status(user, *, street: str = "", item=None, only_short: bool = True, today=None) -> list[Shortage]:
    """Targets in scope with what their street holds now (usable stock), shortest first; two queries."""
    targets = (StockTarget.objects.visible_to(user, "view").select_related("street", "item", "department")
               .with_patron())
    if street:
        targets = targets.filter(subtree_q("region_code", street))
    if item is not None:
        targets = targets.filter(item=item)
    targets = list(targets)
    if not targets:
        return []
    codes = sorted({t.region_code for t in targets})
    held = {(r["warehouse__street_code"], r["item_id"]): r["t"] for r in
            StockLot.objects.filter(available_q(today), warehouse__street_code__in=codes,
                                    item_id__in={t.item_id for t in targets}, warehouse__is_active=True)
            .values("warehouse__street_code", "item_id").annotate(t=Sum("quantity"))}
    rows = [Shortage(t, held.get((t.region_code, t.item_id)) or 0) for t in targets]
    if only_short:
        rows = [r for r in rows if r.held < r.target.min_quantity]
    return sorted(rows, key=lambda r: (r.percent, r.target.region_code, r.target.item.code))


def expiring(user, *, days: int = 30, today=None):
    """Lots (with stock) expiring within `days`, and those already expired, soonest first."""
    today = today or timezone.localdate()
    days = max(0, min(int(days), 3650))
    return (StockLot.objects.visible_to(user, "view").filter(quantity__gt=0, expiry_date__isnull=False,
                                                             expiry_date__lte=today + timedelta(days=days))
            .exclude(condition=Condition.SCRAPPED).select_related("warehouse", "item").with_patron()
            .order_by("expiry_date", "pk"))


# ---- nearest stock -----------------------------------------------------------------------------------------

@dataclass
class Nearby:
    id: int
    code: str
    name: str
    level: str
    region_code: str
    lat: float
    lng: float
    available: int
    distance_m: float


def haversine_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres (numpy broadcasting: points × warehouses)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lng2) - np.radians(lng1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _check_point(lat, lng) -> tuple[float, float]:
    try:
        lat, lng = float(lat), float(lng)
    except (TypeError, ValueError):
        raise ValidationFailed("请给出位置（纬度 lat、经度 lng） / lat and lng are required", field="lat") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or np.isnan(lat) or np.isnan(lng):
        raise ValidationFailed("经纬度超出范围 / lat/lng out of range", field="lat")
    return lat, lng


def candidates(item: MaterialItem, min_quantity: int, user=None, today=None) -> list[tuple]:
    """(id, code, name, level, region_code, lat, lng, available) of active warehouses (in the user's scope when a
    user is given) holding at least `min_quantity` usable units of the item: one aggregate query."""
    lots = StockLot.objects.filter(available_q(today), item=item, warehouse__is_active=True)
    if user is not None:
        lots = lots.visible_to(user, "view")
    return list(lots.values_list("warehouse_id", "warehouse__code", "warehouse__name", "warehouse__level",
                                 "warehouse__region_code", "warehouse__lat", "warehouse__lng")
                .annotate(available=Sum("quantity")).filter(available__gte=max(1, min_quantity))
                .order_by("warehouse_id"))


def _limit(limit) -> int:
    try:
        return max(1, min(int(limit), MAX_NEAREST))
    except (TypeError, ValueError):
        return 5


def nearest_warehouses(lat, lng, item, min_quantity: int = 1, limit: int = 5, user=None,
                       outside: str = "") -> list[Nearby]:
    """The nearest warehouses holding at least `min_quantity` usable units of `item`, nearest first; with
    `outside` (a region code), only warehouses outside that region (a street short of its target borrows from
    others: its own stock is already counted in what it holds)."""
    from .services.common import resolve_item

    lat, lng = _check_point(lat, lng)
    item = resolve_item(item)
    rows = candidates(item, int(min_quantity), user)
    if outside:
        rows = [r for r in rows if not (r[4] or "").startswith(outside)]
    if not rows:
        return []
    lats = np.fromiter((r[5] for r in rows), float, len(rows))
    lngs = np.fromiter((r[6] for r in rows), float, len(rows))
    dist = haversine_m(lat, lng, lats, lngs)
    k = _limit(limit)
    order = np.lexsort((np.arange(len(rows)), dist))[:k]
    return [Nearby(*rows[i][:7], available=int(rows[i][7]), distance_m=float(dist[i])) for i in order]


def nearest_many(lats, lngs, item, min_quantity: int = 1, limit: int = 5, user=None, chunk: int = 2048):
    """For many points: (indices into `warehouses`, distances in metres), each of shape (points, k), and the
    candidate rows; one query, then numpy in chunks of points."""
    from .services.common import resolve_item

    item = resolve_item(item)
    rows = candidates(item, int(min_quantity), user)
    lats, lngs = np.asarray(lats, float), np.asarray(lngs, float)
    k = min(_limit(limit), len(rows))
    if not rows or not len(lats):
        return np.empty((len(lats), 0), int), np.empty((len(lats), 0)), rows
    w_lat = np.fromiter((r[5] for r in rows), float, len(rows))
    w_lng = np.fromiter((r[6] for r in rows), float, len(rows))
    idx = np.empty((len(lats), k), int)
    dist = np.empty((len(lats), k))
    for start in range(0, len(lats), chunk):
        stop = start + chunk
        d = haversine_m(lats[start:stop, None], lngs[start:stop, None], w_lat[None, :], w_lng[None, :])
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < len(rows) else np.tile(np.arange(len(rows)),
                                                                                     (len(d), 1))
        pd = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[start:stop] = np.take_along_axis(part, order, axis=1)
        dist[start:stop] = np.take_along_axis(pd, order, axis=1)
    return idx, dist, rows

"""Synthetic base data for the demo district: buildings, houses, households, residents, units and places.

Everything is generated from the seed and each grid's code, so two runs give the same data, and a grid that
already has demo data is skipped (idempotent). Every row is flagged `is_demo`, names carry "（演示）", and ID
numbers are synthetic with correct check characters (`pii.generate_id_number`). Rows are bulk-inserted and
personal numbers go through the same derivation as every other write (`personal`).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

from django.db import transaction
from django.utils import timezone

from ..core import keys, pii
from ..regions.models import Region
from . import personal
from .models import (
    Building,
    BuildingUse,
    House,
    Household,
    HouseUse,
    KeyGroup,
    KeyGroupLabel,
    Place,
    PlaceKind,
    Residency,
    Resident,
    Unit,
    UnitKind,
)

DEMO = "（演示）"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文斌宇浩然欣怡子涵梓萱晨阳雨轩"
ROADS = ("新建北路", "魏都大道", "御河西路", "永泰南路", "迎宾街", "大西街", "大北街", "大南街", "鼓楼东街", "华严街",
         "云路街", "平城街", "柳航里", "振华南街", "清远街", "帅府街")
ESTATES = ("和平小区", "新华苑", "御景园", "永泰花园", "文瀛家园", "古城人家", "雁塔小区", "同煤新村", "恒安新区", "云冈苑")
ETHNIC = ("汉族",) * 30 + ("回族", "蒙古族", "满族")
UNIT_NAMES = {
    UnitKind.SHOP: "便民超市", UnitKind.RESTAURANT: "刀削面馆", UnitKind.CLINIC: "社区卫生服务站",
    UnitKind.SCHOOL: "实验小学", UnitKind.COMPANY: "商贸有限公司", UnitKind.ELDERLY_CARE: "日间照料中心",
    UnitKind.HOTEL: "快捷酒店",
}
PLACE_NAMES = {
    PlaceKind.PUBLIC_TOILET: "公厕", PlaceKind.PARK: "口袋公园", PlaceKind.FIRE_HYDRANT: "消防栓",
    PlaceKind.PARKING: "停车场", PlaceKind.CARE_STATION: "爱心驿站", PlaceKind.MARKET: "农贸市场",
}
KEY_GROUPS = (KeyGroup.ELDERLY_ALONE, KeyGroup.DISABLED, KeyGroup.LOW_INCOME, KeyGroup.KEY_YOUTH)


class _Points:
    """Deterministic random points inside a grid's polygon (its centroid, or nothing, without geometry)."""

    def __init__(self, geometry: dict | None, rng: random.Random) -> None:
        self.rng = rng
        self.shape = None
        if geometry:
            import shapely
            from shapely.geometry import shape

            try:
                self.shape = shape(geometry)
                shapely.prepare(self.shape)
                self.bounds = self.shape.bounds
            except Exception:  # a broken demo polygon must not stop the demo: fall back to no coordinates
                self.shape = None

    def __call__(self) -> tuple[float | None, float | None]:
        if self.shape is None or self.shape.is_empty:
            return None, None
        import shapely

        x0, y0, x1, y1 = self.bounds
        for _ in range(64):
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if shapely.contains_xy(self.shape, x, y):
                return round(x, 6), round(y, 6)
        point = self.shape.representative_point()
        return round(point.x, 6), round(point.y, 6)


def _name(rng: random.Random, surname: str | None = None) -> str:
    return (surname or rng.choice(SURNAMES)) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


COLUMNS = {
    "building": ("code", "address", "name", "estate", "use", "floors", "built_year", "grid", "region_code", "lng",
                 "lat", "is_demo", "created_at", "updated_at"),
    "house": ("code", "building", "unit_no", "room_no", "area_m2", "use", "grid", "region_code", "lng", "lat",
              "is_demo", "created_at", "updated_at"),
    "household": ("code", "house", "address", "head_name", "registered", "size", "grid", "region_code", "lng", "lat",
                  "is_demo", "created_at", "updated_at"),
    "resident": ("name", "sex", "birth_date", "id_number_enc", "id_number_index", "id_number_masked", "phone_enc",
                 "phone_index", "phone_masked", "household", "relation", "residency", "ethnicity", "work_place",
                 "grid", "region_code", "lng", "lat", "is_demo", "created_at", "updated_at"),
    "unit": ("name", "kind", "credit_code", "address", "contact_name", "contact_phone_enc", "contact_phone_masked", "employees",
             "grid", "region_code", "lng", "lat", "is_demo", "created_at", "updated_at"),
    "place": ("name", "kind", "address", "description", "grid", "region_code", "lng", "lat", "is_demo", "created_at", "updated_at"),
}


def load_demo_people(grids: list[Region], seed: int = 2023) -> dict:
    """Create demo base data for the grids that have none yet; returns how many rows of each kind were made.

    Rows are written as plain tuples (`imports.services.insert_rows`: COPY on PostgreSQL), not model instances:
    a district's demo is tens of thousands of rows and must load in seconds.
    """
    from ..imports.services import insert_rows

    done = set(Building.objects.filter(is_demo=True, grid__in=grids).values_list("grid_id", flat=True))
    todo = [g for g in grids if g.pk not in done]
    counts = Counter(grids_skipped=len(grids) - len(todo))
    if not todo:
        return dict(counts)
    used: set[str] = set()
    # Callers often pass grids with the geometry deferred: load the polygons in one query, not one per grid.
    shapes = dict(Region.objects.filter(pk__in=[g.pk for g in todo]).values_list("pk", "geometry"))
    plans = [_plan(grid, shapes.get(grid.pk), random.Random(f"{seed}:{grid.code}"), used) for grid in todo]
    _avoid_registered_numbers(plans, used, random.Random(seed))
    now = timezone.now()
    tail = (True, now, now)
    enc = keys.encryptor()
    with transaction.atomic():
        insert_rows(Building, COLUMNS["building"], [row + tail for p in plans for row in p["building"]])
        buildings = _ids(Building, [row[0] for p in plans for row in p["building"]])
        houses = [(code, buildings[b], *rest) + tail for p in plans for code, b, *rest in p["house"]]
        insert_rows(House, COLUMNS["house"], houses)
        house_ids = _ids(House, [row[0] for row in houses])
        households = [(code, house_ids[h], *rest) + tail for p in plans for code, h, *rest in p["household"]]
        insert_rows(Household, COLUMNS["household"], households)
        household_ids = _ids(Household, [row[0] for row in households])
        residents, grouped = [], []
        for p in plans:
            for name, sex, born, number, phone, household, rest, group in p["resident"]:
                ids, phones = personal.id_columns(number), personal.phone_columns(phone)
                residents.append((
                    name, sex, born, ids["id_number_enc"], ids["id_number_index"], ids["id_number_masked"],
                    phones["phone_enc"], phones["phone_index"], phones["phone_masked"], household_ids[household],
                    *rest,
                ) + tail)
                if group:
                    grouped.append((ids["id_number_index"], group, rest[-3]))
        insert_rows(Resident, COLUMNS["resident"], residents)
        by_index = dict(
            Resident.objects.filter(id_number_index__in=[g[0] for g in grouped]).values_list("id_number_index", "id")
        )
        note = f"{DEMO}定期走访"
        labels = [
            (by_index[index], group, region, enc.encrypt(note, personal.KEY_GROUP_NOTE_CONTEXT), date(2020, 1, 1), now)
            for index, group, region in grouped
        ]
        insert_rows(KeyGroupLabel, ("resident", "group", "region_code", "note_enc", "since", "created_at"), labels)
        insert_rows(Unit, COLUMNS["unit"], [row + tail for p in plans for row in p["unit"]])
        insert_rows(Place, COLUMNS["place"], [row + tail for p in plans for row in p["place"]])
    counts.update(
        buildings=len(buildings), houses=len(houses), households=len(households), residents=len(residents),
        key_groups=len(labels), units=sum(len(p["unit"]) for p in plans), places=sum(len(p["place"]) for p in plans),
    )
    return dict(counts)


def _ids(model, codes: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(codes), 5000):
        found.update(model.objects.filter(code__in=codes[start : start + 5000]).values_list("code", "id"))
    return found


def _avoid_registered_numbers(plans: list[dict], used: set[str], rng: random.Random) -> None:
    """Synthetic numbers can, rarely, equal one already registered: draw those again (the index is unique)."""
    rows = [(p, i) for p in plans for i in range(len(p["resident"]))]
    for start in range(0, len(rows), 5000):
        by_index = {personal.id_index(p["resident"][i][3]): (p, i) for p, i in rows[start : start + 5000]}
        for index in Resident.objects.filter(id_number_index__in=list(by_index)).values_list("id_number_index", flat=True):
            p, i = by_index[index]
            name, _, _, _, phone, household, rest, group = p["resident"][i]
            number, born, sex = personal.clean_id_number(_fresh_number(rng, used))
            p["resident"][i] = (name, sex, born, number, phone, household, rest, group)


def _fresh_number(rng: random.Random, used: set[str], **kwargs) -> str:
    while True:
        number = pii.generate_id_number(rng, **kwargs)
        if number not in used:
            used.add(number)
            return number


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"


def _plan(grid: Region, geometry: dict | None, rng: random.Random, used: set[str]) -> dict:
    """The demo rows of one grid as tuples in `COLUMNS` order (without the trailing flag and timestamps);
    references are by code until the parents have ids."""
    point = _Points(geometry, rng)
    where = (grid.pk, grid.code)
    plan: dict[str, list] = {key: [] for key in COLUMNS}
    road, estate = rng.choice(ROADS), rng.choice(ESTATES)
    for b in range(1, rng.randint(2, 4) + 1):
        code = f"{grid.code}-D{b:02d}"
        lng, lat = point()
        number = rng.randint(1, 300)
        address = f"平城区{road}{number}号{estate}{b}号楼"
        plan["building"].append((
            code, address, f"{estate}{b}号楼{DEMO}", estate, BuildingUse.RESIDENTIAL, rng.randint(3, 18),
            rng.randint(1985, 2020), *where, lng, lat,
        ))
        for h in range(1, rng.randint(3, 6) + 1):
            unit_no, room = str(1 + (h - 1) // 4), f"{1 + (h - 1) % 4}0{rng.randint(1, 2)}"
            house_code = f"{code}-{unit_no}-{room}"
            vacant = rng.random() < 0.12
            use = HouseUse.VACANT if vacant else rng.choice((HouseUse.OWNER_OCCUPIED,) * 4 + (HouseUse.RENTED,))
            plan["house"].append((house_code, code, unit_no, room, rng.randint(45, 140), use, *where, lng, lat))
            if vacant:
                continue
            surname, members, floating = rng.choice(SURNAMES), rng.randint(2, 4), rng.random() < 0.15
            household_code, head = f"H{house_code}", _name(rng, surname)
            plan["household"].append((
                household_code, house_code, f"{address}{unit_no}单元{room}室", head, not floating, members,
                *where, lng, lat,
            ))
            for m in range(members):
                relation = ("户主", "配偶", "子女", "子女", "父母")[min(m, 4)]
                born_in = (date(1945, 1, 1), date(1995, 12, 31)) if m < 2 else (date(1996, 1, 1), date(2020, 12, 31))
                number_, born, sex = personal.clean_id_number(_fresh_number(rng, used, birth_range=born_in))
                name = head if m == 0 else _name(rng, surname if relation == "子女" else None)
                rest = (relation, Residency.FLOATING if floating else Residency.REGISTERED, rng.choice(ETHNIC), "",
                        *where, lng, lat)
                group = None
                if rng.random() < 0.03:
                    group = KeyGroup.ELDERLY_ALONE if born.year < 1960 else rng.choice(KEY_GROUPS[1:])
                plan["resident"].append((name, sex, born, number_, _phone(rng), household_code, rest, group))
    enc = keys.encryptor()
    for kind in rng.sample(list(UNIT_NAMES), rng.randint(1, 3)):
        lng, lat = point()
        phone = _phone(rng)
        plan["unit"].append((
            f"{road}{UNIT_NAMES[kind]}{DEMO}", kind, "", f"平城区{road}{rng.randint(1, 300)}号", _name(rng),
            enc.encrypt(phone, personal.UNIT_PHONE_CONTEXT), personal.mask_phone(phone), rng.randint(2, 60),
            *where, lng, lat,
        ))
    for kind in rng.sample(list(PLACE_NAMES), rng.randint(1, 2)):
        lng, lat = point()
        plan["place"].append((f"{road}{PLACE_NAMES[kind]}{DEMO}", kind, f"平城区{road}", "", *where, lng, lat))
    return plan


def remove_demo_people() -> dict:
    """Delete every demo base-data row (the demo's reset); real data is never touched."""
    counts = {}
    with transaction.atomic():
        counts["key_groups"] = KeyGroupLabel.objects.filter(resident__is_demo=True).delete()[0]
        for model in (Resident, Unit, Place, Household, House, Building):
            counts[model._meta.model_name] = model.objects.filter(is_demo=True).delete()[0]
    return counts

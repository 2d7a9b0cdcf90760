"""Demo emergency materials (synthetic quantities, marked 演示): the catalogue, a district warehouse, one
warehouse per street and one in the first community of each street, stocked with the seed's kinds of
material (sandbags, shovels, assault boats, pumps, water bags, generators, emergency lights …), per-street
targets (储备定额) with a few streets short, some movements (a transfer, an issue to an incident) and a few lots
close to expiry. Written through the services as the system. Idempotent: a second run writes nothing."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Level as RegionLevel
from civicgrid.foundation.regions.models import Region

from . import services
from .models import Grade, Group, Warehouse

# code, name, unit, group, grade, expires
CATALOGUE = [
    ("assault_boat", "冲锋舟", "艘", Group.LIFESAVING, Grade.A, False),
    ("rubber_boat", "橡皮艇", "艘", Group.LIFESAVING, Grade.A, False),
    ("life_jacket", "救生衣", "件", Group.LIFESAVING, Grade.A, False),
    ("life_buoy", "救生圈", "个", Group.LIFESAVING, Grade.B, False),
    ("sandbag", "编织袋/沙袋", "条", Group.RESCUE, Grade.A, False),
    ("gunny_bag", "麻袋", "条", Group.RESCUE, Grade.B, False),
    ("water_bag", "水袋", "个", Group.RESCUE, Grade.B, False),
    ("geotextile", "土工布", "平方米", Group.SPECIAL, Grade.B, False),
    ("flood_barrier", "挡水板", "块", Group.SPECIAL, Grade.B, False),
    ("pump", "水泵", "台", Group.DRAINAGE, Grade.A, False),
    ("pump_truck", "移动泵车", "台", Group.DRAINAGE, Grade.A, False),
    ("generator", "发电机组", "台", Group.ENERGY, Grade.A, False),
    ("light", "照明灯具", "套", Group.LIGHTING, Grade.B, False),
    ("shovel", "铁锹", "把", Group.TOOLS, Grade.C, False),
    ("tent", "帐篷", "顶", Group.LIVING, Grade.B, False),
    ("food", "方便食品", "箱", Group.LIVING, Grade.C, True),
    ("drinking_water", "饮用水", "箱", Group.LIVING, Grade.C, True),
    ("first_aid", "急救包", "个", Group.MEDICAL, Grade.B, True),
    ("radio", "对讲机", "台", Group.COMMUNICATION, Grade.B, False),
]
# (low, high) per warehouse level; items absent at a level are not stocked there.
STOCK = {
    "district": {"assault_boat": (6, 6), "rubber_boat": (8, 8), "life_jacket": (600, 600), "life_buoy": (300, 300),
                 "sandbag": (30000, 30000), "gunny_bag": (10000, 10000), "water_bag": (800, 800),
                 "geotextile": (5000, 5000), "flood_barrier": (400, 400), "pump": (30, 30), "pump_truck": (4, 4),
                 "generator": (12, 12), "light": (120, 120), "shovel": (1500, 1500), "tent": (150, 150),
                 "food": (400, 400), "drinking_water": (600, 600), "first_aid": (200, 200), "radio": (60, 60)},
    "street": {"sandbag": (1400, 2600), "shovel": (120, 260), "pump": (2, 6), "water_bag": (60, 200),
               "generator": (1, 3), "light": (12, 40), "life_jacket": (40, 150), "rubber_boat": (0, 2),
               "flood_barrier": (20, 80), "drinking_water": (30, 80), "radio": (6, 16)},
    "community": {"sandbag": (200, 500), "shovel": (20, 50), "light": (4, 10), "life_jacket": (10, 30),
                  "drinking_water": (10, 20)},
}
TARGETS = {"sandbag": 2000, "shovel": 150, "pump": 3, "life_jacket": 60, "light": 15}
SHORT_STREETS = 3  # streets left visibly short of sandbags (the shortage page is not empty)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高"
DONE = "已存在，未改动"


def _keeper(i: int) -> tuple[str, str]:
    return _SURNAMES[i % len(_SURNAMES)] + "保管员", f"1390352{i:04d}"


def _receive(wh: Warehouse, code: str, quantity: int, today, rng: random.Random, expires: bool) -> None:
    if quantity <= 0:
        return
    if not expires:
        services.receive(actor=None, warehouse=wh, item=code, quantity=quantity, batch="2023-05",
                         reason="汛前储备入库（演示）")
        return
    # Two batches: one close to expiry in some warehouses, one fresh.
    soon = quantity // 3
    days = rng.choice([12, 25, 200]) if soon else 300
    services.receive(actor=None, warehouse=wh, item=code, quantity=soon or quantity, batch="2022-09",
                     expiry_date=today + timedelta(days=days), reason="汛前储备入库（演示）")
    if soon:
        services.receive(actor=None, warehouse=wh, item=code, quantity=quantity - soon, batch="2023-05",
                         expiry_date=today + timedelta(days=540), reason="汛前储备入库（演示）")


def load_demo_materials() -> str:
    if Warehouse.objects.filter(code="WH-140213").exists():
        return DONE
    district = Region.objects.filter(code="140213").first()
    streets = list(Region.objects.filter(level=RegionLevel.STREET).order_by("code"))
    if district is None or not streets:
        return "跳过：尚无区域数据"
    rng = random.Random(20230601)
    today = timezone.localdate()
    expiring = {code for code, *_rest, expires in CATALOGUE if expires}
    with transaction.atomic():
        for code, name, unit, group, grade, expires in CATALOGUE:
            services.save_item(actor=None, code=code, name=name, unit=unit, group=group, grade=grade,
                               tracks_expiry=expires, note="演示目录")
        emergency = Organisation.objects.filter(code="140213-YJJ").first()
        keeper, phone = _keeper(0)
        main = services.save_warehouse(
            actor=None, code="WH-140213", name="平城区防汛抗旱物资储备库（演示）", region=district,
            lat=(district.centroid_lat or 40.08) + 0.004, lng=(district.centroid_lng or 113.30) - 0.006,
            department=emergency, address="演示地址：平城区御河西路", keeper=keeper, keeper_phone=phone,
            note="演示数据：数量为合成数据", is_demo=True)
        warehouses = [("district", main)]
        # Street and community stores are run by the street (no department of their own); the street's 包保
        # department is named on them from the 包保 table and sees them, read-only.
        for i, street in enumerate(streets, start=1):
            if street.centroid_lat is None:
                continue
            keeper, phone = _keeper(i)
            wh = services.save_warehouse(
                actor=None, code=f"WH-{street.code}", name=f"{street.name}防汛物资库（演示）", region=street,
                lat=street.centroid_lat + rng.uniform(-0.003, 0.003), lng=street.centroid_lng + rng.uniform(-0.003, 0.003),
                department=None, address=f"演示地址：{street.name}办事处院内",
                keeper=keeper, keeper_phone=phone, note="演示数据：数量为合成数据", is_demo=True)
            warehouses.append(("street", wh))
            community = (Region.objects.filter(parent=street, level__in=(RegionLevel.COMMUNITY, RegionLevel.VILLAGE),
                                               centroid_lat__isnull=False).order_by("code").first())
            if community is not None:
                keeper, phone = _keeper(100 + i)
                cw = services.save_warehouse(
                    actor=None, code=f"WH-{community.code}", name=f"{community.name}物资储备点（演示）",
                    region=community, lat=community.centroid_lat, lng=community.centroid_lng,
                    department=None, address=f"演示地址：{community.name}服务站",
                    keeper=keeper, keeper_phone=phone, note="演示数据：数量为合成数据", is_demo=True)
                warehouses.append(("community", cw))
        short = {s.code for s in rng.sample(streets, min(SHORT_STREETS, len(streets)))}
        for level, wh in warehouses:
            for code, (low, high) in STOCK[level].items():
                quantity = rng.randint(low, high)
                if code == "sandbag" and wh.street_code in short:
                    quantity = quantity // 3  # visibly below the street's 2,000
                elif code == "sandbag" and level == "street":
                    quantity = max(quantity, 2000)
                _receive(wh, code, quantity, today, rng, code in expiring)
        for street in streets:
            for code, minimum in TARGETS.items():
                services.set_target(actor=None, street=street, item=code, min_quantity=minimum,
                                    note="演示定额")
        # A little history: pumps moved forward before the season, sandbags issued to an incident.
        first = next((wh for level, wh in warehouses if level == "street"), None)
        if first is not None:
            services.transfer(actor=None, source=main, destination=first, item="pump", quantity=2,
                              reason="汛前前置（演示）")
            services.issue_to_incident(actor=None, warehouse=first, item="sandbag", quantity=120,
                                       incident_ref="演示险情-001", note="低洼路段积水封堵（演示）")
    counts = {level: sum(1 for lv, _ in warehouses if lv == level) for level in ("district", "street", "community")}
    return (f"物资 {len(CATALOGUE)} 种，仓库 {len(warehouses)} 个（区级 {counts['district']}、街道 {counts['street']}、"
            f"社区 {counts['community']}），储备定额 {len(streets) * len(TARGETS)} 条，缺口街道 {len(short)} 个（演示）")

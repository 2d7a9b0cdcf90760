"""Demo hazard ledgers: the 包保 table, the 67 flood hazard points of 2023 and a safety campaign's hazards.

    load_patrons()        # civicgrid/data/baobao_flood.csv → PatronAssignment (flood) and its 包保 rules, idempotent
    load_demo_hazards()   # → a short Chinese summary; a second run creates nothing and says so

The seed gives the facts (before the 2023 flood season the district found 67 hazard points: low-lying spots
that flood, blocked drains and old sewers, leaking roofs; four departments each answer for a set of streets).
Everything else is synthetic and marked so (`is_synthetic=True`, "演示数据" in the description): names built
from a small word list, points inside demo grids (a grid's centroid jittered and checked with the locator),
owners, phones and budgets. Every hazard goes through the services as the system actor: registration, plans,
the loop's actions; the campaign rows "2023 汛前隐患排查" and "安全生产大排查大整治大提升" are made here and the
campaigns demo (`demo_campaigns.load_demo_campaigns`, when present) adds their checklists afterwards.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.core.errors import CivicgridError, PermissionDenied, ValidationFailed
from civicgrid.foundation.regions import geometry as geo
from civicgrid.foundation.regions import selectors as region_selectors
from civicgrid.foundation.regions.models import Level, Region

from . import demo_campaigns, services
from .models import Campaign, FoundBy, Grade, Hazard, Kind, PatronAssignment, PatronKind, PlanKind

BAOBAO_CSV = Path(geo.DATA_DIR) / "baobao_flood.csv"
FLOOD_CAMPAIGN = "2023 汛前隐患排查"
SAFETY_CAMPAIGN = "安全生产大排查大整治大提升"
FLOOD_POINTS = 67  # the seed's figure
SEED = 2023
UNCHANGED = "已存在，未改动"
DEMO_NOTE = "（演示数据：名称、位置、责任人和金额均为虚构）"

# ------------------------------------------------------------------------------------------------ 包保 table


@dataclass
class PatronsLoaded:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        if not (self.created or self.updated):
            return f"包保关系 {self.unchanged} 条已存在"
        return f"包保关系新建 {self.created} 条、更新 {self.updated} 条"


def _read_baobao(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)
                if (row.get("street_code") or "").strip() and (row.get("department") or "").strip()]


@transaction.atomic
def load_patrons(*, actor=None, path: Path = BAOBAO_CSV, kind: str = PatronKind.FLOOD) -> PatronsLoaded:
    """The 包保 table (department short or full name → street code) into PatronAssignment rows of `kind`.

    Departments are matched like the categories' 包保 rules do (short name "区水务局" or full name); streets by
    code. Unknown departments or streets refuse the whole table. A street already assigned to another department
    is reassigned (the table is the authority), through `categories.services.assign_patron`, so the 包保 rules
    that route the street's flood cases move with it. Each row is audited there, and the load as a whole here."""
    from civicgrid.apps.categories.selectors import organisations_by_name
    from civicgrid.apps.categories.services import assign_patron

    if actor is not None and not has_capability(actor, "hazards.manage"):
        raise PermissionDenied("您无权维护包保关系 / you may not maintain the patron table")
    if kind not in PatronKind.values:
        raise ValidationFailed("包保类型须为 flood 或 safety / unknown kind", field="kind")
    rows = _read_baobao(path)
    streets = {s.code: s for s in Region.objects.filter(code__in={r["street_code"] for r in rows},
                                                         level=Level.STREET)}
    departments = organisations_by_name([r["department"] for r in rows])
    problems = [f"第 {i} 行街道 {r['street_code']} 不存在" for i, r in enumerate(rows, start=2)
                if r["street_code"] not in streets]
    problems += [f"第 {i} 行部门「{r['department']}」不存在" for i, r in enumerate(rows, start=2)
                 if departments.get(r["department"]) is None]
    if problems:
        raise ValidationFailed("包保表无法导入：" + "；".join(problems[:20]) + " / unknown streets or departments "
                               "(load regions and organisations first)")
    have = dict(PatronAssignment.objects.filter(kind=kind, street_code__in=streets)
                .values_list("street_code", "department_id"))
    result = PatronsLoaded()
    changes = []
    for r in rows:
        dept = departments[r["department"]]
        if have.get(r["street_code"]) == dept.pk:
            result.unchanged += 1
            continue
        if r["street_code"] in have:
            result.updated += 1
            changes.append({"street": r["street_code"], "from": have[r["street_code"]], "department": dept.pk})
        else:
            result.created += 1
            changes.append({"street": r["street_code"], "department": dept.pk})
        # One service for the ledger and the 包保 rules that route the street's flood cases (audited there).
        assign_patron(actor=actor, street_code=r["street_code"], kind=kind, department=dept,
                      note=f"{r['department']}包保{r.get('street_name') or streets[r['street_code']].name}")
        have[r["street_code"]] = dept.pk
    if changes:
        audit.record(actor=actor if getattr(actor, "is_authenticated", False) else "system",
                     action="hazards.patrons_loaded", target_type="hazards.patronassignment",
                     target_repr=f"包保关系 {len(changes)} 条", data={"kind": kind, "changes": changes[:100]})
    return result


# --------------------------------------------------------------------------------------------- word lists

ROADS = ["魏都大道", "永泰南路", "御河西路", "迎宾街", "大庆路", "新建北路", "南关南街", "武定北路", "清远街",
         "鼓楼东街", "和阳街", "云中路", "文兴路", "开源街", "华林街", "向阳街", "振华南街", "马军营路", "西环路",
         "东环路", "平城街", "操场城街", "小南头街", "新华街", "水泊寺路", "白登路", "文瀛湖路", "鹿苑路", "卧虎湾路",
         "新旺路", "古城西街", "御东路"]
CROSS = ["街", "路", "巷"]
FIRMS = ["恒通", "晋北", "同煤", "云冈", "华泰", "兴业", "平安", "安泰", "瑞丰", "鑫源", "宏达", "嘉禾"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
TITLES = ["主任", "经理", "工", "站长", "所长"]
INSPECTORS = ["社区网格员", "街道城建办", "区水务局巡查组", "区应急局检查组"]

FLOOD_WEIGHTS = {  # the seed: low-lying spots, blocked drains and old sewers, leaking roofs first
    "low_lying": 26, "poor_drainage": 20, "roof_leak": 14, "underpass": 5, "culvert": 4, "underground": 6,
    "dilapidated_house": 6, "deep_pit": 4, "pump_station": 3, "river_dike": 3, "flash_flood": 2,
}
FLOOD_SUFFIX = {
    "low_lying": "低洼积水点", "poor_drainage": "排水管网淤堵点", "roof_leak": "屋顶漏雨隐患",
    "underpass": "下穿立交桥积水点", "culvert": "涵洞积水点", "underground": "地下车库进水隐患",
    "dilapidated_house": "危旧房屋隐患", "deep_pit": "在建工地深基坑隐患", "pump_station": "排水泵站隐患",
    "river_dike": "河道堤防险工段", "flash_flood": "山洪沟道隐患点",
}
FLOOD_PROBLEM = {
    "low_lying": "地势低洼，强降雨时路面积水深约{d}厘米，影响行人车辆通行",
    "poor_drainage": "雨水管网淤积、检查井堵塞，下水道年久失修，排水不畅",
    "roof_leak": "老旧楼房屋面防水层老化破损，雨天多户漏雨",
    "underpass": "下穿通道排水能力不足，暴雨时积水深约{d}厘米",
    "culvert": "涵洞淤积，照明和警示设施缺失",
    "underground": "地下车库出入口无挡水设施，排水泵老化",
    "dilapidated_house": "房屋墙体开裂、屋面渗漏，汛期存在倒塌风险",
    "deep_pit": "基坑周边排水沟不畅，支护有渗水",
    "pump_station": "泵站水泵老化，备用电源不可用",
    "river_dike": "堤防局部渗漏塌陷，河道有阻水障碍物",
    "flash_flood": "沟道行洪不畅，下游有居民",
}
FLOOD_MEASURES = {
    "low_lying": "疏通雨水篦子和支管，增设排水口，配备移动泵车和挡水板",
    "poor_drainage": "清淤疏通管网，更换破损井盖和检查井，老旧管段列入改造计划",
    "roof_leak": "屋面重做防水层，疏通落水管",
    "underpass": "泵站检修，增设积水标尺和禁行提示，配置抽排设备",
    "culvert": "清淤疏通，补设照明和警示设施，雨天专人值守",
    "underground": "出入口加装挡水板，更换排水泵，储备沙袋",
    "dilapidated_house": "组织房屋安全鉴定，汛期转移居住人员，屋面维修加固",
    "deep_pit": "完善基坑周边排水沟和截水措施，加强监测",
    "pump_station": "更换水泵，配备备用发电机组，落实24小时值守",
    "river_dike": "堤防加固，清除阻水障碍物，落实巡堤查险",
    "flash_flood": "清理沟道，设置警示牌，明确转移路线",
}
FLOOD_OWNER = {
    "low_lying": "区市政设施养护中心", "poor_drainage": "区排水管理所", "roof_leak": "{firm}物业服务有限公司",
    "underpass": "区市政设施养护中心", "culvert": "区市政设施养护中心", "underground": "{firm}物业服务有限公司",
    "dilapidated_house": "{community}居委会", "deep_pit": "{firm}建设工程有限公司", "pump_station": "区排水管理所",
    "river_dike": "区河道管理所", "flash_flood": "{community}居委会",
}
SAFETY = {  # category → (name pattern, problem, measures, owner)
    "hazchem": ("{firm}化工商贸有限公司危化品储存间", "危化品未分类分区存放，出入库台账不全",
                "分类分区存放并设置标识，建立出入库台账，配齐应急器材", "{firm}化工商贸有限公司"),
    "construction": ("{road}{n}号在建项目塔吊及临边防护", "塔吊未经验收投入使用，临边洞口防护缺失",
                     "塔吊停用并组织验收，补设临边防护", "{firm}建设工程有限公司"),
    "self_built": ("{community}{n}号自建房", "擅自加层用于经营，未取得房屋安全鉴定",
                   "停止经营，委托房屋安全鉴定，按鉴定意见加固或拆除", "房屋产权人"),
    "gas": ("{road}{n}号餐饮店燃气设施", "燃气连接软管老化超期，未安装可燃气体报警器",
            "更换金属波纹管，安装可燃气体报警器和切断阀", "{road}{n}号餐饮店"),
    "elderly_care": ("{firm}养老院", "疏散通道堆放杂物，部分灭火器过期",
                     "清理疏散通道，更换过期灭火器，开展消防演练", "{firm}养老院"),
    "fire": ("{community}{n}号楼电动自行车楼道充电", "楼道内私拉电线为电动自行车充电",
             "拆除私拉电线，设置集中充电桩，开展入户宣传", "{community}居委会"),
}


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(TITLES)


def _phone(rng: random.Random) -> str:
    return f"1390352{rng.randrange(10_000):04d}"  # synthetic numbers of one invented block


def _cross_name(rng: random.Random) -> str:
    a, b = rng.sample(ROADS, 2)
    return f"{a}与{b[:-1] if b[-1] in '路街' else b}{rng.choice(CROSS)}交叉口"


def _point_in(grid: Region, rng: random.Random) -> tuple[float, float] | None:
    """A point inside `grid`: its centroid jittered, checked with the locator (the centroid itself as fallback)."""
    if grid.centroid_lng is None or grid.centroid_lat is None:
        return None
    tries = [(grid.centroid_lng + rng.uniform(-0.0025, 0.0025), grid.centroid_lat + rng.uniform(-0.002, 0.002))
             for _ in range(12)] + [(grid.centroid_lng, grid.centroid_lat)]
    for lng, lat in tries:
        try:
            where = region_selectors.locate(lng, lat)
        except CivicgridError:
            continue
        if where.grid is not None and where.grid.code == grid.code:
            return round(lng, 6), round(lat, 6)
    return None


def _grids_by_street() -> dict[str, list[Region]]:
    grids: dict[str, list[Region]] = {}
    for g in (Region.objects.filter(level=Level.GRID).select_related("parent").defer("geometry", "parent__geometry")
              .order_by("code")):
        grids.setdefault(g.code[:9], []).append(g)
    return grids


def _campaign(name: str, kind: str, found_by: str, starts_on: dt.date, deadline: dt.date, district: Region,
              is_open: bool) -> tuple[Campaign, bool]:
    """The demo campaign row (its checklists come from the campaigns demo)."""
    campaign = Campaign.objects.filter(name=name).order_by("id").first()
    if campaign is not None:
        return campaign, False
    campaign = Campaign.objects.create(
        name=name, kind=kind, found_by=found_by, region=district, region_code=district.code, starts_on=starts_on,
        deadline=deadline, is_open=is_open, description=f"演示数据：{name}" + DEMO_NOTE)
    audit.record(actor="system", action="hazards.campaign_open", target=campaign, data={"demo": True})
    return campaign, True


def _spread(streets: list[str], total: int, rng: random.Random) -> list[str]:
    """`total` street codes with every street at least once, the rest shared out as evenly as possible."""
    base, extra = divmod(total, len(streets))
    counts = dict.fromkeys(streets, base)
    for code in rng.sample(streets, extra):
        counts[code] += 1
    return [code for code in streets for _ in range(counts[code])]


def _aware(day: dt.date, rng: random.Random) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(rng.randrange(8, 18), rng.randrange(60))))


def _later(rng: random.Random, low: int, high: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=rng.randrange(low, high))).isoformat()


def _walk(hazard: Hazard, target: str, rng: random.Random, measures: str, owner: str) -> Hazard:
    """Take a registered hazard along the loop to `target` through the services (the system acts)."""
    if hazard.grade == Grade.MAJOR:
        services.save_plan(actor=None, hazard=hazard, kind=PlanKind.GOVERNANCE, responsibility=owner,
                           measures=measures, funds=str(rng.randrange(20, 120) * 10_000),
                           deadline=_later(rng, 60, 150), emergency_plan="强降雨预警时封闭现场、设置警戒、转移人员、调集抽排设备",
                           goal="汛前消除隐患或落实管控措施", materials="沙袋、挡水板、移动泵车",
                           safety_measures="施工区域围挡，专人监护")
    if not hazard.short_term_fixable:
        services.save_plan(actor=None, hazard=hazard, kind=PlanKind.EMERGENCY, responsible_person=_person(rng),
                           procedure="接到预警后30分钟内到岗，封闭危险区域，组织人员转移，抽排积水并上报",
                           emergency_plan="见街道防汛应急预案相应章节")
    if target == "registered":
        return hazard
    hazard = services.act(actor=None, hazard=hazard, action="start", measures=measures,
                          deadline=_later(rng, 10, 90), budget=str(rng.randrange(5, 300) * 1000),
                          responsible_unit=owner, responsible_person=_person(rng),
                          interim_measures="设置警示标志和围挡，雨天专人值守，备足沙袋")
    if target == "rectifying":
        if rng.random() < 0.4:
            hazard = services.act(actor=None, hazard=hazard, action="note", note="已完成部分工程量，正在推进")
        return hazard
    hazard = services.act(actor=None, hazard=hazard, action="report_done", note="整改完成，申请验收")
    if target == "checking":
        return hazard
    hazard = services.act(actor=None, hazard=hazard, action="pass_check", checker=_person(rng),
                          note="现场复核，整改到位")
    if target == "passed":
        return hazard
    return services.act(actor=None, hazard=hazard, action="close_out", note="验收合格，予以销号")


# ---------------------------------------------------------------------------------------------- flood points


FLOOD_STATES = ["registered"] * 18 + ["rectifying"] * 27 + ["checking"] * 6 + ["passed"] * 4 + ["closed"] * 12


def _flood_points(campaign: Campaign, rng: random.Random) -> tuple[int, int]:
    grids = _grids_by_street()
    streets = sorted(grids)
    if not streets:
        return 0, 0
    categories = list(FLOOD_WEIGHTS)
    weights = [FLOOD_WEIGHTS[c] for c in categories]
    states = list(FLOOD_STATES)
    rng.shuffle(states)
    majors = set(rng.sample(range(FLOOD_POINTS), 5))
    not_fixable = set(rng.sample(sorted(set(range(FLOOD_POINTS)) - majors), 4))
    made = 0
    for index, street in enumerate(_spread(streets, FLOOD_POINTS, rng)):
        category = rng.choices(categories, weights)[0]
        point, grid = None, None
        for grid in rng.sample(grids[street], min(len(grids[street]), 8)):
            point = _point_in(grid, rng)
            if point:
                break
        if point is None:
            raise ValidationFailed(f"街道 {street} 的演示网格中找不到可用的位置 / no point inside the street's grids")
        community = grid.parent.name if grid.parent_id else ""
        if category in ("roof_leak", "dilapidated_house", "underground"):
            name = f"{community}{rng.randrange(1, 30)}号楼{FLOOD_SUFFIX[category]}"
        else:
            name = f"{_cross_name(rng)}{FLOOD_SUFFIX[category]}"
        owner = FLOOD_OWNER[category].format(firm=rng.choice(FIRMS), community=community)
        day = dt.date(2023, 5, rng.randrange(10, 31))
        grade = Grade.MAJOR if index in majors else Grade.GENERAL
        state = states[index]
        if grade == Grade.MAJOR and state == "registered":
            state = "rectifying"
        hazard = services.register_hazard(
            actor=None, campaign=campaign, is_synthetic=True, registered_at=_aware(day, rng),
            kind=Kind.FLOOD, category=category, grade=grade, name=name[:100],
            description=FLOOD_PROBLEM[category].format(d=rng.randrange(20, 60)) + "。" + DEMO_NOTE,
            lng=point[0], lat=point[1], address=f"{community}（演示位置）", found_by=FoundBy.SEASONAL,
            found_on=day, inspector=rng.choice(INSPECTORS), owner_unit=owner[:100], owner_person=_person(rng),
            owner_phone=_phone(rng), threatened_people=rng.randrange(10, 400),
            threatened_households=rng.randrange(3, 120), short_term_fixable=index not in not_fixable,
        )
        _walk(hazard, state, rng, FLOOD_MEASURES[category], owner[:100])
        made += 1
    return made, len(streets)


def _safety_points(campaign: Campaign, rng: random.Random) -> int:
    grids = _grids_by_street()
    streets = sorted(grids)
    if not streets:
        return 0
    made = 0
    states = ["registered", "rectifying", "checking", "closed"]
    for category, (pattern, problem, measures, owner_pattern) in SAFETY.items():
        for i in range(2):
            street = rng.choice(streets)
            point, grid = None, None
            for grid in rng.sample(grids[street], min(len(grids[street]), 8)):
                point = _point_in(grid, rng)
                if point:
                    break
            if point is None:
                continue
            community = grid.parent.name if grid.parent_id else ""
            words = {"firm": rng.choice(FIRMS), "road": rng.choice(ROADS), "n": rng.randrange(1, 200),
                     "community": community}
            grade = Grade.MAJOR if (category == "construction" and i == 0) else Grade.GENERAL
            day = dt.date(2023, rng.choice([6, 7]), rng.randrange(1, 29))
            hazard = services.register_hazard(
                actor=None, campaign=campaign, is_synthetic=True, registered_at=_aware(day, rng), kind=Kind.SAFETY,
                category=category, grade=grade, name=pattern.format(**words)[:100],
                description=problem + "。" + DEMO_NOTE, lng=point[0], lat=point[1],
                address=f"{community}（演示位置）", found_by=FoundBy.SPECIALIST, found_on=day,
                inspector=rng.choice(INSPECTORS), owner_unit=owner_pattern.format(**words)[:100],
                owner_person=_person(rng), owner_phone=_phone(rng), threatened_people=rng.randrange(5, 200),
                threatened_households=rng.randrange(1, 60),
            )
            state = states[(made + i) % len(states)]
            if grade == Grade.MAJOR and state == "registered":
                state = "rectifying"
            _walk(hazard, state, rng, measures, owner_pattern.format(**words)[:100])
            made += 1
    return made


# ---------------------------------------------------------------------------------------------------- entry


def _campaigns_demo() -> str:
    """The campaigns' checklists and their answers (`demo_campaigns`), after the campaign rows exist."""
    outcome = demo_campaigns.load_demo_campaigns()
    filled = sum(v.get("filled_now", 0) for v in outcome.values()) if isinstance(outcome, dict) else 0
    return f"检查表填报 {filled} 份" if filled else ""


def load_demo_hazards(seed: int = SEED) -> str:
    """The 包保 table, the 67 flood hazard points of the 2023 campaign and the safety campaign's hazards."""
    district = Region.objects.filter(level=Level.DISTRICT).order_by("code").first()
    if district is None:
        return "跳过：尚无区域数据"
    rng = random.Random(seed)
    parts = []
    try:
        patrons = load_patrons()
    except ValidationFailed as exc:  # a tree without the seed's streets (tests, a partial import)
        parts.append(f"包保表未加载：{exc.message[:80]}")
    else:
        if patrons.created or patrons.updated:
            parts.append(str(patrons))
    region_selectors.invalidate_locator()  # the demo regions may have been made in this process
    with transaction.atomic():
        flood, new_flood = _campaign(FLOOD_CAMPAIGN, Kind.FLOOD, FoundBy.SEASONAL, dt.date(2023, 5, 10),
                                     dt.date(2023, 5, 31), district, is_open=False)
        if not Hazard.objects.filter(campaign=flood, kind=Kind.FLOOD, is_synthetic=True).exists():
            made, streets = _flood_points(flood, rng)
            if made:
                majors = Hazard.objects.filter(campaign=flood, grade=Grade.MAJOR).count()
                closed = Hazard.objects.filter(campaign=flood, status="closed").count()
                parts.append(f"防汛隐患点 {made} 个（覆盖 {streets} 个街道，重大 {majors} 个，已销号 {closed} 个）")
        safety, new_safety = _campaign(SAFETY_CAMPAIGN, Kind.SAFETY, FoundBy.SPECIALIST, dt.date(2023, 6, 1),
                                       dt.date(2023, 7, 31), district, is_open=True)
        if not Hazard.objects.filter(campaign=safety, kind=Kind.SAFETY, is_synthetic=True).exists():
            made = _safety_points(safety, rng)
            if made:
                parts.append(f"安全隐患 {made} 个（危化品、建筑施工、自建房、燃气、养老机构、消防）")
        if new_flood or new_safety:
            parts.append(f"排查行动 {int(new_flood) + int(new_safety)} 个")
    campaigns = _campaigns_demo()
    if campaigns:
        parts.append(campaigns)
    return "；".join(parts) if parts else UNCHANGED

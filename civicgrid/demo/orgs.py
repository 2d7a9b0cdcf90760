"""Demo organisations of Pingcheng: district departments, the command centre, street offices, community and
village committees, property companies, rescue teams and volunteer organisations, with their posts.

Departments, offices and committees are the real kinds of bodies a district has (committee names are the
official NBS names); property companies and the social rescue team are invented for the demo and carry codes
starting with `DEMO-`. Codes are stable, so other modules and tests can find an organisation by code
(`DEPARTMENTS` maps the short name, e.g. "区城管局", to it). The flood-season 包保 table (which department
supervises which street) comes from `civicgrid/data/baobao_flood.csv`.
"""

from __future__ import annotations

import csv
from collections import defaultdict

from civicgrid.foundation.orgs.models import OrgKind
from civicgrid.foundation.orgs.services import OrgSpec, PostSpec, ensure_organisations, ensure_posts
from civicgrid.foundation.regions import geometry as geo
from civicgrid.foundation.regions.models import Level, Region

DISTRICT = "140213"
GOVERNMENT = "140213-ZF"
COMMAND_CENTRE = "140213-ZHZX"
FIRE_BRIGADE = "140213-XFJY"
CIVILIZATION_CENTRE = "140213-WMSJ"

# short name → (code, official name, duties). Short names are what people say and what the seed text uses.
DEPARTMENTS: dict[str, tuple[str, str, str]] = {
    "区委政法委": ("140213-ZFW", "中共平城区委政法委员会", "平安建设、综治中心、矛盾纠纷多元化解"),
    "区水务局": ("140213-SWJ", "平城区水务局", "防汛排涝、供排水设施、河道管理"),
    "区应急局": ("140213-YJJ", "平城区应急管理局", "安全生产监管、应急救援、防灾减灾、物资储备"),
    "区城管局": ("140213-CGJ", "平城区城市管理局", "市容环卫、违法建设、占道经营、户外广告、市政设施"),
    "区自然资源局": ("140213-ZRZYJ", "平城区自然资源局", "国土空间规划、地质灾害防治、自然资源执法"),
    "区住建局": ("140213-ZJJ", "平城区住房和城乡建设局", "房屋安全、建筑施工安全、物业管理、燃气"),
    "区市场监管局": ("140213-SCJGJ", "平城区市场监督管理局", "食品安全、特种设备、价格与市场秩序"),
    "区生态环境局": ("140213-STHJJ", "平城区生态环境局", "大气、水、噪声污染防治"),
    "区卫健局": ("140213-WJJ", "平城区卫生健康局", "公共卫生、医疗机构、爱国卫生"),
    "区教育局": ("140213-JYJ", "平城区教育局", "学校安全、校园周边治理"),
    "区公安分局": ("140213-GAFJ", "大同市公安局平城分局", "治安管理、流动人口、重点人员"),
    "区司法局": ("140213-SFJ", "平城区司法局", "人民调解、社区矫正、法律援助"),
    "区民政局": ("140213-MZJ", "平城区民政局", "社区建设、养老服务、社会救助、社会组织"),
    "区文旅局": ("140213-WLJ", "平城区文化和旅游局", "文化活动、旅游市场、文物安全"),
    "区人社局": ("140213-RSJ", "平城区人力资源和社会保障局", "就业、社会保障、劳动纠纷"),
    "区交通局": ("140213-JTJ", "平城区交通运输局", "道路交通设施、运输安全"),
    "区农业农村局": ("140213-NYJ", "平城区农业农村局", "农村治理、农业生产、农村人居环境"),
    "区商务局": ("140213-SWUJ", "平城区商务局", "商贸流通、便民生活圈"),
    "区信访局": ("140213-XFJ", "平城区信访局", "群众来信来访、12345 热线转办"),
}
# Invented for the demo (DEMO- codes): code → (served street code, name, short name).
PROPERTY_COMPANIES = {
    "DEMO-WY-01": ("140213066", "大同市平城区安泰物业服务有限公司", "安泰物业"),
    "DEMO-WY-02": ("140213053", "大同市迎宾苑物业管理有限公司", "迎宾苑物业"),
    "DEMO-WY-03": ("140213050", "大同市古都家园物业服务有限公司", "古都家园物业"),
    "DEMO-WY-04": ("140213065", "大同市文瀛湖畔物业服务有限公司", "文瀛湖畔物业"),
}


def baobao_by_department() -> dict[str, list[str]]:
    """Short department name → street codes it supervises in the flood season (包保)."""
    table: dict[str, list[str]] = defaultdict(list)
    with (geo.DATA_DIR / "baobao_flood.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            table[row["department"].strip()].append(row["street_code"].strip())
    return table


def street_office_code(street_code: str) -> str:
    return f"S{street_code}"


def committee_code(unit_code: str) -> str:
    return f"C{unit_code}"


def organisation_specs() -> list[OrgSpec]:
    """Every demo organisation (the region tree must be loaded: offices and committees follow it)."""
    streets = list(Region.objects.filter(level=Level.STREET).order_by("code").values_list("code", "name"))
    units = list(Region.objects.filter(level__in=[Level.COMMUNITY, Level.VILLAGE]).order_by("code")
                 .values_list("code", "name", "level"))
    street_names = dict(streets)
    baobao = baobao_by_department()
    patron_of = {street: dept for dept, codes in baobao.items() for street in codes}
    specs = [
        OrgSpec(GOVERNMENT, "平城区人民政府", OrgKind.OTHER, DISTRICT, short_name="区政府"),
        OrgSpec(COMMAND_CENTRE, "平城区社会治理综合指挥调度中心", OrgKind.COMMAND_CENTRE, DISTRICT,
                parent_code=GOVERNMENT, short_name="区指挥中心",
                duties="事件受理、派遣、督办、考核；对接区综治平台和 12345 热线"),
    ]
    for short, (code, name, duties) in DEPARTMENTS.items():
        patrons = "、".join(street_names.get(s, s) for s in baobao.get(short, []))
        text = duties + (f"；汛期包保街道：{patrons}" if patrons else "")
        specs.append(OrgSpec(code, name, OrgKind.DEPARTMENT, DISTRICT, parent_code=GOVERNMENT, short_name=short,
                             duties=text))
    specs.append(OrgSpec(FIRE_BRIGADE, "平城区消防救援大队", OrgKind.RESCUE_TEAM, DISTRICT, short_name="区消防救援大队",
                         duties="防汛抢险救援主力；火灾扑救；应急救援"))
    specs.append(OrgSpec("DEMO-JY-01", "平城区社会应急救援志愿队", OrgKind.RESCUE_TEAM, DISTRICT,
                         short_name="社会救援队", duties="社会力量：协助防汛抢险、搜救（演示数据）"))
    specs.append(OrgSpec(CIVILIZATION_CENTRE, "平城区新时代文明实践中心", OrgKind.VOLUNTEER_ORG, DISTRICT,
                         short_name="区文明实践中心", duties="志愿服务组织与调度、爱心驿站、送戏下乡"))
    specs.append(OrgSpec("DEMO-AX-01", "大同市爱心公益协会", OrgKind.VOLUNTEER_ORG, DISTRICT, short_name="市爱心公益协会",
                         duties="爱心驿站志愿服务、来访登记（演示数据）"))
    for code, name in streets:
        office = street_office_code(code)
        patron = patron_of.get(code)
        specs.append(OrgSpec(office, f"平城区{name}办事处", OrgKind.STREET_OFFICE, code, parent_code=GOVERNMENT,
                             short_name=f"{name}办", duties=f"汛期包保部门：{patron}" if patron else ""))
        specs.append(OrgSpec(f"R{code}", f"{name}防汛应急抢险队", OrgKind.RESCUE_TEAM, code, parent_code=office,
                             short_name=f"{name[:-2]}抢险队", duties="街道兼职抢险队伍：巡查、转移群众、先期处置"))
        specs.append(OrgSpec(f"V{code}", f"{name}新时代文明实践所", OrgKind.VOLUNTEER_ORG, code,
                             parent_code=CIVILIZATION_CENTRE, short_name=f"{name[:-2]}实践所"))
    official_names = _official_names()
    for code, short, _level in units:
        official = official_names.get(code, short)
        specs.append(OrgSpec(committee_code(code), official, OrgKind.COMMITTEE, code,
                             parent_code=street_office_code(code[:9]), short_name=short))
    for code, (street, name, short) in PROPERTY_COMPANIES.items():
        specs.append(OrgSpec(code, name, OrgKind.PROPERTY_COMPANY, street, short_name=short,
                             duties="物业服务（演示数据）：参与星级评定"))
    return specs


def _official_names() -> dict[str, str]:
    from civicgrid.foundation.regions.services import read_code_directory

    return {row.code: row.official_name for row in read_code_directory() if row.official_name}


def post_specs(accounts: dict[str, tuple[str, str]], grid_workers: dict[str, str]) -> list[PostSpec]:
    """Posts: leads (vacant), the curated demo accounts' posts and one 网格员 post per grid.

    `accounts` maps username → (organisation code, post title); `grid_workers` grid code → username.
    """
    posts = [PostSpec(COMMAND_CENTRE, "主任", is_lead=True)]
    posts += [PostSpec(code, "局长" if name.endswith("局") else "负责人", is_lead=True)
              for code, name, _ in DEPARTMENTS.values()]
    posts += [PostSpec(org, title, username) for username, (org, title) in accounts.items() if org]
    for grid_code, username in sorted(grid_workers.items()):
        posts.append(PostSpec(committee_code(grid_code[:12]), f"网格员（第{int(grid_code[12:])}网格）", username))
    return posts


def load_demo_orgs() -> int:
    """Ensure every demo organisation exists; returns how many were created now."""
    return len(ensure_organisations(actor=None, specs=organisation_specs()))


def load_demo_posts(accounts: dict[str, tuple[str, str]], grid_workers: dict[str, str]) -> int:
    """Ensure the demo posts exist (after the accounts); returns how many were created now."""
    return ensure_posts(actor=None, specs=post_specs(accounts, grid_workers))

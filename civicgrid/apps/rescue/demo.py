"""Demo rescue forces of Pingcheng, as the seed text names them: the district fire brigade as the main force,
one part-time team per street (18), and three social forces; each with synthetic members (names, phones and
certificates invented and marked 演示), plus one closed example incident with its closing report, and a team
account for the fire brigade (`rescue`, a department handler of the brigade) to try acknowledging call-outs.

Idempotent: teams are found by code, members, the example and the account are added only when missing. Written
through the rescue services as the system (actor None), so every team and member is audited like any other.
"""

from __future__ import annotations

import random

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Level, Region

from . import services
from .models import Incident, RescueMember, RescueTeam, TeamKind

FIRE_BRIGADE_ORG = "140213-XFJY"
SOCIAL_ORG = "DEMO-JY-01"
TEAM_ACCOUNT = "rescue"
EXAMPLE_TITLE = "（演示）御河西路下穿通道积水险情"

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
_GIVEN = "伟芳敏静强磊军洋勇杰涛明超华慧建国平志刚海鹏飞东春雪斌亮峰"

MAIN_EQUIPMENT = [("冲锋舟", 4, "艘"), ("橡皮艇", 6, "艘"), ("移动泵车", 3, "台"), ("发电机组", 4, "台"),
                  ("救生衣", 200, "件"), ("照明灯具", 20, "套"), ("抢险救援车", 6, "辆")]
STREET_EQUIPMENT = [("水泵", 2, "台"), ("铁锹", 30, "把"), ("救生衣", 20, "件"), ("照明灯具", 4, "套")]
SOCIAL_FORCES = [
    # code, name, organisation code (or ""), leader, headcount, equipment, note, member skills
    ("RT-SH-01", "平城区社会应急救援志愿队（演示）", SOCIAL_ORG, 30,
     [("橡皮艇", 2, "艘"), ("救生衣", 40, "件"), ("急救包", 20, "个")], "社会力量：协助搜救、转移群众",
     ["water_rescue", "first_aid", "search_rescue"]),
    ("RT-SH-02", "大同平安建设工程有限公司机械抢险队（演示）", "", 25,
     [("挖掘机", 3, "台"), ("装载机", 2, "台"), ("自卸车", 4, "辆"), ("移动泵车", 1, "台")],
     "社会力量：机械排障、清淤、封堵", ["machinery", "drainage"]),
    ("RT-SH-03", "平城区电力抢修志愿服务队（演示）", "", 12,
     [("应急发电车", 1, "辆"), ("照明灯具", 10, "套")], "社会力量：临时供电、线路排险",
     ["electrician", "communication"]),
]
MAIN_SKILLS = ["water_rescue", "drainage", "first_aid", "firefighting", "search_rescue", "evacuation"]
STREET_SKILLS = ["drainage", "evacuation", "first_aid", "electrician"]
CERTIFICATES = {"water_rescue": "水上救援资格证", "first_aid": "红十字救护员证", "electrician": "低压电工作业证",
                "machinery": "挖掘机操作证", "firefighting": "消防员职业资格"}


def _person(rng: random.Random) -> str:
    name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    return name + (rng.choice(_GIVEN) if rng.random() < 0.6 else "")


def _phone(rng: random.Random) -> str:
    """A synthetic mobile number that passes `pii.validate_mobile` (13x–19x, 11 digits)."""
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _equipment(rows) -> list[dict]:
    return [{"name": n, "quantity": q, "unit": u} for n, q, u in rows]


def _team(*, code, name, kind, region, org, headcount, equipment, note, skills, members, rng) -> tuple[RescueTeam, bool]:
    existing = RescueTeam.objects.filter(code=code).first()
    if existing is not None:
        return existing, False
    team = services.create_team(
        actor=None, region_code=region.code, code=code, name=name, kind=kind,
        organisation=org.pk if org else None, leader_name=_person(rng), leader_phone=_phone(rng),
        headcount=headcount, equipment=_equipment(equipment), note=f"{note}（演示数据）", is_synthetic=True,
        base_address=f"{region.name}（演示驻地）")
    for i in range(members):
        # Every listed skill is held by someone (members take them in turn), some members have a second one.
        chosen = sorted({skills[i % len(skills)], *(rng.sample(skills, k=1) if i % 2 else [])})
        services.add_member(actor=None, team=team, name=_person(rng), role="队长" if i == 0 else "队员",
                            phone=_phone(rng), skills=chosen, is_synthetic=True,
                            certificates="、".join(CERTIFICATES[s] for s in chosen if s in CERTIFICATES))
    return team, True


def _example_incident(brigade: RescueTeam) -> bool:
    """One closed example incident with its report (from a flood hazard when the hazards demo is there)."""
    if Incident.objects.filter(title=EXAMPLE_TITLE, is_synthetic=True).exists():
        return False
    from civicgrid.apps.hazards.models import Hazard

    hazard = Hazard.objects.filter(kind="flood", category="underpass").order_by("code").first() or \
        Hazard.objects.filter(kind="flood").order_by("code").first()
    if hazard is not None:
        incident = services.raise_incident(actor=None, hazard=hazard.pk, title=EXAMPLE_TITLE, severity="general",
                                           description="短时强降雨，通道积水约 0.6 米，一辆轿车熄火被困（演示数据）",
                                           is_synthetic=True)
    else:
        grid = Region.objects.filter(level=Level.GRID, centroid_lng__isnull=False).order_by("code").first()
        if grid is None:
            return False
        incident = services.raise_incident(actor=None, title=EXAMPLE_TITLE, kind="waterlogging", is_synthetic=True,
                                           lng=grid.centroid_lng, lat=grid.centroid_lat,
                                           description="短时强降雨，道路积水约 0.6 米（演示数据）")
    street_team = RescueTeam.objects.filter(code=f"RT-{incident.street_code}").first()
    teams = [t.pk for t in (brigade, street_team) if t is not None and t.availability == "standby"]
    callouts = services.call_out(actor=None, incident=incident, teams=teams, task="排水、救助被困人员") if teams else []
    for c in callouts:
        services.acknowledge(actor=None, callout=c.pk, note="已出发（演示）")
        services.arrive(actor=None, callout=c.pk)
    services.close_incident(
        actor=None, incident=incident,
        summary="短时强降雨致下穿通道积水约 0.6 米，一辆轿车熄火，驾乘 2 人被困。（演示数据）",
        actions="消防救援大队 12 人、街道抢险队 6 人到场，移动泵车排水 2 小时，救出被困 2 人，设置警戒。",
        losses="无人员伤亡；1 辆轿车进水。", lessons="通道入口需加装积水警示和自动封闭装置；汛前检查泵站备用电源。")
    return True


def _team_account(brigade_org: Organisation) -> bool:
    """The fire brigade's duty account (department handler of the brigade): acknowledges call-outs."""
    user = User.objects.filter(username=TEAM_ACCOUNT).first()
    created = False
    if user is None:
        user = User.objects.create(username=TEAM_ACCOUNT, display_name="消防救援大队值班员（演示）",
                                   password=make_password(settings.CIVICGRID_DEMO_PASSWORD), is_demo=True,
                                   must_change_password=False, password_changed_at=timezone.now())
        created = True
    if not Grant.objects.filter(user=user, role=Role.DEPARTMENT_HANDLER, department=brigade_org).exists():
        Grant.objects.create(user=user, role=Role.DEPARTMENT_HANDLER, department=brigade_org)
        record(actor=None, action="access.grant_added", target=user,
               data={"role": Role.DEPARTMENT_HANDLER, "department": brigade_org.code, "source": "rescue demo"})
        created = True
    return created


@transaction.atomic
def load_demo_rescue() -> str:
    """Ensure the demo teams, members, example incident and team account; returns a short Chinese summary."""
    rng = random.Random(140213)
    district = Region.objects.filter(code="140213").first()
    if district is None:
        return "跳过：尚无区域数据"
    orgs = {o.code: o for o in Organisation.objects.filter(code__startswith="R1402")}
    brigade_org = Organisation.objects.filter(code=FIRE_BRIGADE_ORG).first()
    social_org = Organisation.objects.filter(code=SOCIAL_ORG).first()
    made = 0
    brigade, new = _team(code="RT-XFJY", name="平城区消防救援大队（防汛抢险主力）", kind=TeamKind.MAIN, region=district,
                         org=brigade_org, headcount=60, equipment=MAIN_EQUIPMENT, note="防汛抢险救援主力",
                         skills=MAIN_SKILLS, members=10, rng=rng)
    made += new
    for street in Region.objects.filter(level=Level.STREET, code__startswith="140213").order_by("code"):
        _, new = _team(code=f"RT-{street.code}", name=f"{street.name}防汛应急抢险队", kind=TeamKind.STREET,
                          region=street, org=orgs.get(f"R{street.code}"), headcount=20, equipment=STREET_EQUIPMENT,
                          note="街道兼职抢险队伍：巡查、转移群众、先期处置", skills=STREET_SKILLS, members=5, rng=rng)
        made += new
    for code, name, org_code, headcount, equipment, note, skills in SOCIAL_FORCES:
        org = social_org if org_code == SOCIAL_ORG else None
        _, new = _team(code=code, name=name, kind=TeamKind.SOCIAL, region=district, org=org, headcount=headcount,
                       equipment=equipment, note=note, skills=skills, members=4, rng=rng)
        made += new
    example = _example_incident(brigade)
    account = _team_account(brigade_org) if brigade_org else False
    teams = RescueTeam.objects.filter(is_synthetic=True).count()
    members = RescueMember.objects.filter(is_synthetic=True).count()
    if not (made or example or account):
        return "已存在，未改动"
    parts = [f"队伍 {teams} 支（新建 {made}）", f"队员 {members} 人"]
    if example:
        parts.append("示例险情 1 起（已结束，含总结报告）")
    if account:
        parts.append(f"消防队值班账号 {TEAM_ACCOUNT}")
    return "，".join(parts)

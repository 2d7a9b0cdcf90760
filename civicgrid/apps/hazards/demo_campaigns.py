"""Demo inspection campaigns: checklists per category and checklists for the grids, most of them filled in.

`load_demo_campaigns()` is called by the hazards demo after it has made the campaign rows "2023 汛前隐患排查"
(flood) and "安全生产大排查大整治大提升" (safety); a missing one is made here. Idempotent: a campaign that
already has a checklist is left as it is. The checklist items are the defaults the campaign form offers too.
Campaigns and checklists go through the services as the system actor; the filled-in answers are seeded in bulk.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.regions.models import Level, Region

from .models import Campaign, ChecklistItem, FoundBy, Inspection, InspectionAnswer, InspectionStatus, Kind
from .services.campaigns import _add_items, _grid_workers, open_campaign

# Written for this project from the usual points of flood and safety checks; a district edits them per campaign.
CHECKLISTS: dict[str, list[str]] = {
    # flood (防汛)
    "low_lying": ["排水口、雨水篦子是否堵塞", "是否设置积水警示标志和水位标尺", "是否配备抽排设备并能正常启动",
                  "是否明确值守人员和封闭路段预案"],
    "underpass": ["泵站和集水井是否运转正常", "是否设置积水深度标尺和禁行提示", "是否配备挡水板、沙袋",
                  "视频监控和预警广播是否正常"],
    "culvert": ["涵洞、通道是否淤积堵塞", "照明、警示设施是否完好", "雨天是否有封闭措施和值守人员"],
    "underground": ["出入口是否配备挡水板、沙袋", "排水泵是否完好并试运行", "车辆、人员撤离预案是否张贴",
                    "配电设施是否高于可能淹没水位"],
    "dilapidated_house": ["房屋墙体、屋面是否开裂渗漏", "居住人员是否登记并明确转移安置点", "是否落实包户责任人",
                          "周边排水是否畅通"],
    "flash_flood": ["监测预警设施是否正常", "危险区人员转移路线是否明确", "是否设置警示牌"],
    "river_dike": ["堤防有无裂缝、渗漏、塌陷", "河道有无阻水障碍物", "巡堤查险人员是否落实"],
    "deep_pit": ["基坑支护和周边排水是否完好", "是否有监测数据和预警值", "汛期应急物资是否到位"],
    "pump_station": ["水泵、电机是否试运行正常", "备用电源是否可用", "值班人员和操作规程是否在岗在位"],
    "poor_drainage": ["管道、检查井是否淤堵", "井盖是否缺失破损", "是否列入疏通计划"],
    "roof_leak": ["屋面防水层是否破损", "落水管是否通畅", "住户是否已告知防范措施"],
    # safety (安全生产)
    "hazchem": ["是否取得经营（使用）许可并在有效期", "储存场所是否分类分区、标识清楚", "是否建立出入库台账",
                "应急器材和个人防护用品是否配齐"],
    "construction": ["脚手架、塔吊是否经验收合格", "临边洞口防护是否到位", "特种作业人员是否持证上岗",
                     "施工用电是否一机一闸一漏保"],
    "self_built": ["是否擅自加层、改变结构", "用于经营的是否取得安全鉴定", "墙体、梁柱有无明显裂缝变形"],
    "gas": ["是否安装可燃气体报警器并有效", "连接软管是否老化、超过使用年限", "是否使用合格的燃气具和减压阀",
            "用气场所是否通风良好、无违规存放气瓶"],
    "elderly_care": ["消防设施是否完好有效", "疏散通道和安全出口是否畅通", "是否定期开展消防演练",
                     "厨房燃气是否安装报警和切断装置"],
    "fire": ["灭火器是否在有效期内", "疏散通道是否被占用", "电动自行车是否室内充电", "电气线路是否私拉乱接"],
    "special_equipment": ["电梯、锅炉是否按期检验", "作业人员是否持证"],
    "road_traffic": ["交通标志标线是否完好", "临水临崖路段防护设施是否完好"],
    "other_safety": ["安全管理制度是否健全", "隐患自查记录是否完整"],
}

FLOOD_NAME = "2023 汛前隐患排查"
SAFETY_NAME = "安全生产大排查大整治大提升"
DEMO = {
    FLOOD_NAME: {"kind": Kind.FLOOD, "found_by": FoundBy.SEASONAL, "starts_on": dt.date(2023, 5, 10),
                 "deadline": dt.date(2023, 5, 31),
                 "categories": ["low_lying", "underpass", "underground", "dilapidated_house", "poor_drainage"]},
    SAFETY_NAME: {"kind": Kind.SAFETY, "found_by": FoundBy.SPECIALIST, "starts_on": dt.date(2023, 6, 1),
                  "deadline": dt.date(2023, 7, 31),
                  "categories": ["hazchem", "construction", "self_built", "gas", "elderly_care", "fire"]},
}
DONE_SHARE = 0.8  # most grids have filled in their checklist


def checklist_for(kind: str, categories: list[str] | None = None) -> dict[str, list[str]]:
    """The default checklist of a kind (all its categories, or those named)."""
    from .models import CATEGORIES_BY_KIND

    names = categories or list(CATEGORIES_BY_KIND[Kind(kind)])
    return {c: list(CHECKLISTS[c]) for c in names if c in CHECKLISTS}


def _district() -> Region | None:
    return Region.objects.filter(level=Level.DISTRICT).order_by("code").first()


@transaction.atomic
def _complete(campaign: Campaign, spec: dict) -> None:
    """A campaign row made by the demo without a checklist: add the checklist and the grids' checklists."""
    _add_items(campaign, checklist_for(spec["kind"], spec["categories"]))
    grids = list(Region.objects.filter(code__startswith=campaign.region_code, level=Level.GRID).order_by("code")
                 .only("id", "code"))
    workers = _grid_workers([g.code for g in grids])
    Inspection.objects.bulk_create([
        Inspection(campaign=campaign, region=g, region_code=g.code, street_code=g.code[:9], category="",
                   assignee=workers.get(g.code))
        for g in grids
    ])


def _fill_most(campaign: Campaign, rng: random.Random) -> int:
    """Fill in most pending checklists, every item passed but a few noted (findings of the demo are the hazards
    the hazards demo registers; these answers make no new ones).

    Seed data, written in bulk: through `fill_inspection` one by one this took over a minute for the ~1,600
    demo checklists (its checks, audit entry and event per checklist are what a real fill-in needs; a seed
    does not). One audit entry records the whole seeding instead."""
    if campaign.inspections.filter(status=InspectionStatus.DONE).exists():
        return 0
    pending = list(Inspection.objects.filter(campaign=campaign, status=InspectionStatus.PENDING).order_by("id")
                   .only("id", "category", "region_id"))
    chosen = rng.sample(pending, int(len(pending) * DONE_SHARE))
    items = list(ChecklistItem.objects.filter(campaign=campaign).order_by("category", "order", "id"))
    now = timezone.now()
    answers = []
    for inspection in chosen:
        for item in items:
            if inspection.category and item.category != inspection.category:
                continue
            ok = rng.random() > 0.06
            answers.append(InspectionAnswer(inspection_id=inspection.pk, item_id=item.pk, ok=ok,
                                            note="" if ok else "已现场督促整改（演示）"))
    with transaction.atomic():
        InspectionAnswer.objects.bulk_create(answers, batch_size=2000)
        ids = [i.pk for i in chosen]
        for start in range(0, len(ids), 500):
            Inspection.objects.filter(pk__in=ids[start:start + 500]).update(
                status=InspectionStatus.DONE, submitted_at=now, note="演示数据")
        audit.record(actor="system", action="hazards.demo_inspections", target=campaign,
                     data={"filled": len(chosen), "answers": len(answers)})
    return len(chosen)


def load_demo_campaigns(seed: int = 2023) -> dict:
    """Checklists and grid checklists for the two demo campaigns, most filled in. Idempotent."""
    district = _district()
    if district is None:
        return {}
    rng = random.Random(seed)
    result = {}
    for name, spec in DEMO.items():
        campaign = Campaign.objects.filter(name=name).order_by("id").first()
        if campaign is None:
            campaign = open_campaign(actor=None, name=name, kind=spec["kind"], region=district,
                                     starts_on=spec["starts_on"], deadline=spec["deadline"],
                                     found_by=spec["found_by"],
                                     checklist=checklist_for(spec["kind"], spec["categories"]),
                                     description="演示数据：检查表内容为示例")
        elif not ChecklistItem.objects.filter(campaign=campaign).exists():
            _complete(campaign, spec)
        was_open = campaign.is_open
        if not was_open:  # a demo campaign made closed still gets its answers
            Campaign.objects.filter(pk=campaign.pk).update(is_open=True)
        filled = _fill_most(campaign, rng)
        if not was_open:
            Campaign.objects.filter(pk=campaign.pk).update(is_open=False)
        result[name] = {"inspections": campaign.inspections.count(), "filled_now": filled}
    return result

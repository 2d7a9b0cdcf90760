"""Inspection campaigns (排查) and re-inspection rounds (回头看): open, fill in on a phone, follow per street.

    campaign = open_campaign(actor=street_officer, name="2023 汛前隐患排查", kind="flood", region=street,
                             starts_on=date(2023, 5, 10), deadline=date(2023, 5, 31),
                             checklist={"low_lying": ["排水口是否堵塞", "是否设置警示标志"]})
    fill_inspection(actor=grid_worker, inspection=i, answers=[{"item": 7, "ok": True},
                    {"item": 8, "ok": False, "note": "无警示牌", "hazard": {"name": ..., "lat": ..., "lng": ...}}])

One checklist (Inspection) per region at the campaign's level (every grid by default, or every community or
street) with `category=""`: it asks every item of the campaign's checklist, whatever the category, so a grid
worker fills one form per campaign rather than one per category. A 回头看 round makes one Inspection per hazard
point instead (`Inspection.hazard`, `category` = the hazard's), asking the revisit items of that category.

Every service runs in one transaction: scope and capability (404 outside the actor's view, 403 when the grant
for the work does not reach) → validation → changes → audit → event. A refusal leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import has_capability, scope_for, subtree_q
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.events import bus as events
from civicgrid.foundation.regions.models import Level, Region

from ..models import (
    CATEGORIES_BY_KIND,
    OPEN_STATUSES,
    Campaign,
    ChecklistItem,
    FoundBy,
    Hazard,
    Inspection,
    InspectionAnswer,
    InspectionStatus,
    Kind,
    Status,
)
from .common import actor_label, add_step, user_or_none
from .loop import act, parse_date, parse_deadline
from .photos import attach_photos, read_photos
from .register import register_hazard

CAMPAIGN_NOT_FOUND = "未找到该排查行动，或不在您的权限范围内 / campaign not found"
INSPECTION_NOT_FOUND = "未找到该检查表，或不在您的权限范围内 / checklist not found"
LEVELS = {"grid": (Level.GRID,), "community": (Level.COMMUNITY, Level.VILLAGE), "street": (Level.STREET,)}
LEVEL_LABELS = {"grid": "网格", "community": "社区", "street": "街道"}
MAX_ITEMS_PER_CATEGORY = 40
MAX_INSPECTIONS = 20_000
# A relapse found by a 回头看 reopens the point with this many days to rectify unless the filler gives a date.
REOPEN_DAYS = 15
REVISIT_ITEMS = ["隐患是否已消除、未复发", "整改措施和设施是否保持有效", "警示标志、临时管控措施是否仍在位"]


# --------------------------------------------------------------------------------------------- shared checks


def _region(value, field: str = "region") -> Region:
    if isinstance(value, Region):
        return value
    region = Region.objects.filter(code=refuse_nul(str(value or ""), field, "区域").strip()).first()
    if region is None:
        raise ValidationFailed(f"区域不存在：{str(value)[:15]} / unknown region", field=field)
    return region


def _ensure_may_open(actor, region: Region) -> None:
    """Opening a campaign needs `hazards.campaign` over the whole region it covers."""
    if actor is None:
        return
    if not has_capability(actor, "hazards.campaign"):
        raise PermissionDenied("您无权组织隐患排查 / you may not open inspection campaigns")
    if not scope_for(actor, "hazards.campaign").covers_code(region.code):
        raise PermissionDenied(f"「{region.name}」不在您组织排查的权限范围内 / outside the scope of your role")


def _text(value, field: str, label: str, limit: int, *, required: bool = False) -> str:
    text = refuse_nul(str(value or ""), field, label).strip()  # a NUL is refused, never stored (`core.text`)
    if required and not text:
        raise ValidationFailed(f"请填写{label} / {field} is required", field=field)
    if len(text) > limit:
        raise ValidationFailed(f"{label}最多 {limit} 个字 / {field} too long", field=field)
    return text


def _kind(value) -> str:
    kind = str(value or "").strip()
    if kind not in Kind.values:
        raise ValidationFailed("隐患类型须为 safety（安全）或 flood（防汛） / kind must be safety or flood", field="kind")
    return kind


def _dates(starts_on, deadline) -> tuple[dt.date, dt.date]:
    start = parse_date(starts_on, "starts_on", "开始日期") or timezone.localdate()
    end = parse_date(deadline, "deadline", "完成期限")
    if end is None:
        raise ValidationFailed("请填写完成期限 / deadline is required", field="deadline")
    if end < start:
        raise ValidationFailed("完成期限不能早于开始日期 / deadline is before the start", field="deadline")
    return start, end


def _checklist(kind: str, checklist) -> dict[str, list[str]]:
    """{category: [item text, …]} with known categories of the kind, non-empty, no duplicates."""
    if not isinstance(checklist, dict) or not checklist:
        raise ValidationFailed("检查表不能为空：至少为一个类别写一项检查内容 / the checklist is empty", field="checklist")
    allowed = CATEGORIES_BY_KIND[Kind(kind)]
    cleaned: dict[str, list[str]] = {}
    for category, items in checklist.items():
        if category not in allowed:
            names = "、".join(f"{k}（{v}）" for k, v in allowed.items())
            raise ValidationFailed(f"隐患类别无效：{str(category)[:32]}，可选：{names} / unknown category",
                                   field="checklist")
        texts = []
        for text in items or ():
            text = _text(text, "checklist", "检查内容", 200)
            if text and text not in texts:
                texts.append(text)
        if not texts:
            raise ValidationFailed(f"「{allowed[category]}」没有检查内容 / no items for {category}", field="checklist")
        if len(texts) > MAX_ITEMS_PER_CATEGORY:
            raise ValidationFailed(f"每个类别最多 {MAX_ITEMS_PER_CATEGORY} 项 / too many items", field="checklist")
        cleaned[category] = texts
    return cleaned


def _add_items(campaign: Campaign, checklist: dict[str, list[str]]) -> list[ChecklistItem]:
    return ChecklistItem.objects.bulk_create([
        ChecklistItem(campaign=campaign, category=category, text=text, order=i)
        for category, texts in checklist.items() for i, text in enumerate(texts, 1)
    ])


def _record(actor, action: str, target, *, before=None, data=None) -> None:
    audit.record(actor=user_or_none(actor) or actor_label(actor), action=f"hazards.{action}", target=target,
                 before=before, after=snapshot(target), data=data)


def _grid_workers(codes: list[str]) -> dict[str, object]:
    """The one grid worker holding each grid (a grid with none or several stays unassigned)."""
    found: dict[str, list] = defaultdict(list)
    rows = (Grant.objects.active().filter(role=Role.GRID_WORKER, region__code__in=codes)
            .select_related("user", "region").only("user", "region__code"))
    for grant in rows:
        if grant.user.is_active:
            found[grant.region.code].append(grant.user)
    return {code: users[0] for code, users in found.items() if len({u.pk for u in users}) == 1}


# -------------------------------------------------------------------------------------------------- campaigns


def open_campaign(*, actor, name: str, kind: str, region, starts_on, deadline, checklist: dict,
                  found_by: str = FoundBy.SPECIALIST, level: str = "grid", description: str = "") -> Campaign:
    """Open a campaign: its checklist and one checklist to fill per grid (or community, street) under `region`."""
    region = _region(region)
    _ensure_may_open(actor, region)
    name = _text(name, "name", "名称", 100, required=True)
    kind = _kind(kind)
    start, end = _dates(starts_on, deadline)
    if found_by not in FoundBy.values:
        raise ValidationFailed("排查方式无效 / unknown found_by", field="found_by")
    if level not in LEVELS:
        raise ValidationFailed("检查层级须为 grid、community 或 street / unknown level", field="level")
    items = _checklist(kind, checklist)
    description = _text(description, "description", "说明", 2000)
    targets = list(Region.objects.filter(subtree_q("code", region.code), level__in=LEVELS[level])
                   .order_by("code").only("id", "code"))
    if not targets:
        raise ValidationFailed(f"「{region.name}」下没有{LEVEL_LABELS[level]}，无法分配检查表 / nothing to inspect",
                               field="level")
    if len(targets) > MAX_INSPECTIONS:
        raise ValidationFailed("范围过大，请按街道分别组织 / too many checklists", field="region")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, kind=kind, found_by=found_by, region=region, region_code=region.code, starts_on=start,
            deadline=end, description=description, created_by=user_or_none(actor),
        )
        made = _add_items(campaign, items)
        workers = _grid_workers([r.code for r in targets]) if level == "grid" else {}
        Inspection.objects.bulk_create([
            Inspection(campaign=campaign, region=r, region_code=r.code, street_code=r.code[:9], category="",
                       assignee=workers.get(r.code))
            for r in targets
        ])
        data = {"items": len(made), "inspections": len(targets), "level": level, "categories": sorted(items)}
        _record(actor, "campaign_open", campaign, data=data)
        events.publish("hazards.campaign_opened", aggregate=campaign, payload={"name": name, "kind": kind, **data})
    return campaign


def close_campaign(*, actor, campaign: Campaign) -> Campaign:
    """End a campaign (no more filling in); its records stay."""
    with transaction.atomic():
        campaign = _lock_campaign(actor, campaign)
        if not campaign.is_open:
            raise Conflict("该排查行动已结束 / the campaign is already closed")
        before = snapshot(campaign)
        campaign.is_open = False
        campaign.save(update_fields=["is_open"])
        _record(actor, "campaign_close", campaign, before=before)
        events.publish("hazards.campaign_closed", aggregate=campaign, payload={"name": campaign.name})
    return campaign


def _lock_campaign(actor, campaign: Campaign) -> Campaign:
    qs = Campaign.objects.all() if actor is None else Campaign.objects.visible_to(actor, "view")
    if not qs.filter(pk=campaign.pk).exists():
        raise NotFound(CAMPAIGN_NOT_FOUND)
    _ensure_may_open(actor, campaign.region)
    qs = Campaign.objects.all()
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    return qs.get(pk=campaign.pk)


# ------------------------------------------------------------------------------------------ filling checklists


def items_for(inspection: Inspection) -> list[ChecklistItem]:
    """The questions of one checklist: every item of its campaign, or those of its category."""
    qs = ChecklistItem.objects.filter(campaign_id=inspection.campaign_id)
    if inspection.category:
        qs = qs.filter(category=inspection.category)
    return list(qs.order_by("category", "order", "id"))


def _lock_inspection(actor, inspection: Inspection) -> Inspection:
    if actor is not None:
        if not Inspection.objects.visible_to(actor, "view").filter(pk=inspection.pk).exists():
            raise NotFound(INSPECTION_NOT_FOUND)
        if not has_capability(actor, "hazards.inspect"):
            raise PermissionDenied("您无权填写检查表 / you may not fill in checklists")
        if not Inspection.objects.visible_to(actor, "inspect").filter(pk=inspection.pk).exists():
            raise PermissionDenied("该检查表不在您排查的权限范围内 / outside the scope of your role")
    qs = Inspection.objects.select_related("campaign", "hazard", "region")
    if connection.features.has_select_for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=inspection.pk)
    except Inspection.DoesNotExist:
        raise NotFound(INSPECTION_NOT_FOUND) from None


def _coordinate(value, field: str, label: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label}须为数字 / {field} must be a number", field=field) from None
    limit = 90 if field == "lat" else 180
    if not -limit <= number <= limit:
        raise ValidationFailed(f"{label}超出范围 / {field} out of range", field=field)
    return number


def _read_answers(inspection: Inspection, items: list[ChecklistItem], answers) -> list[dict]:
    """Every item answered exactly once, with ok/not ok; a failed item may carry a hazard to register."""
    by_id = {item.pk: item for item in items}
    seen: dict[int, dict] = {}
    for n, raw in enumerate(answers or (), 1):
        if not isinstance(raw, dict):
            raise ValidationFailed(f"第 {n} 条答案格式错误 / answer {n} is malformed", field="answers")
        try:
            item_id = int(raw.get("item"))
        except (TypeError, ValueError):
            raise ValidationFailed(f"第 {n} 条答案缺少检查项 / answer {n} has no item", field="answers") from None
        item = by_id.get(item_id)
        if item is None:
            raise ValidationFailed(f"检查项 {item_id} 不属于本检查表 / item {item_id} is not on this checklist",
                                   field="answers")
        if item_id in seen:
            raise ValidationFailed(f"「{item.text}」答了两次 / item answered twice", field="answers")
        ok = raw.get("ok")
        if isinstance(ok, str):
            ok = {"1": True, "true": True, "ok": True, "0": False, "false": False, "fail": False}.get(ok.lower())
        if not isinstance(ok, bool):
            raise ValidationFailed(f"请选择「{item.text}」合格或不合格 / answer ok or not ok", field="answers")
        hazard = raw.get("hazard") or None
        if hazard is not None and (ok or not isinstance(hazard, dict)):
            raise ValidationFailed(f"「{item.text}」合格，不能登记隐患 / only failed items become hazards",
                                   field="answers")
        if inspection.hazard_id and hazard:
            raise ValidationFailed("回头看检查表不登记新隐患，请另行登记 / revisits register no new hazards",
                                   field="answers")
        seen[item_id] = {"item": item, "ok": ok, "note": _text(raw.get("note"), "note", "说明", 500),
                         "hazard": hazard, "photos": raw.get("photos") or ()}
    missing = [item.text for item in items if item.pk not in seen]
    if missing:
        shown = "、".join(missing[:5]) + ("等" if len(missing) > 5 else "")
        raise ValidationFailed(f"还有 {len(missing)} 项未填写：{shown} / {len(missing)} items unanswered",
                               field="answers")
    return [seen[item.pk] for item in items]


def _hazard_fields(inspection: Inspection, answer: dict, actor, lat, lng) -> dict:
    """The registration of a failed item: the campaign's kind and source, the item's category, the inspection's
    point unless the finding has its own."""
    campaign = inspection.campaign
    given = dict(answer["hazard"])
    item = answer["item"]
    fields = {
        "kind": campaign.kind, "category": item.category, "found_by": campaign.found_by,
        "inspector": actor_label(actor)[:64], "lat": lat, "lng": lng,
        "description": f"{item.text}：{answer['note']}" if answer["note"] else item.text,
    }
    for key, value in given.items():
        if key in ("kind", "found_by", "campaign", "photos"):
            continue
        if value not in (None, ""):
            fields[key] = value
    if fields.get("lat") in (None, "") or fields.get("lng") in (None, ""):
        raise ValidationFailed(f"「{item.text}」的隐患须有位置（定位或在地图上选点） / the hazard needs a location",
                               field="lat")
    return fields


def fill_inspection(*, actor, inspection: Inspection, answers, lat=None, lng=None, photos=(), note: str = "",
                    deadline=None) -> Inspection:
    """Fill in one checklist: every item answered; failed items with hazard details are registered as hazards
    of the campaign (inside the same transaction: one refused registration refuses the whole checklist).

    `photos` are finding photos: a list goes to every hazard registered from this checklist, a dict
    {item id: [files]} to the hazard of that item (an answer may also carry its own `photos`).
    For a 回头看 checklist any failed item means the point relapsed: a closed hazard is reopened for
    rectification (deadline `deadline`, else REOPEN_DAYS from today), an open one gets the finding as a note.
    """
    lat = _coordinate(lat, "lat", "纬度")
    lng = _coordinate(lng, "lng", "经度")
    note = _text(note, "note", "说明", 2000)
    common_photos = [] if isinstance(photos, dict) else read_photos(photos, "finding")
    per_item = {int(k): read_photos(v, "finding") for k, v in photos.items()} if isinstance(photos, dict) else {}
    with transaction.atomic():
        inspection = _lock_inspection(actor, inspection)
        campaign = inspection.campaign
        if inspection.status == InspectionStatus.DONE:
            raise Conflict("该检查表已提交，不能重复填写 / this checklist was already filled in")
        if not campaign.is_open:
            raise Conflict("该排查行动已结束 / the campaign is closed")
        items = items_for(inspection)
        rows = _read_answers(inspection, items, answers)
        for row in rows:
            checked = read_photos(row["photos"], "finding") if row["photos"] else []
            row["checked_photos"] = checked + per_item.get(row["item"].pk, [])
        before = snapshot(inspection)
        now = timezone.now()
        found = []
        for row in rows:
            if row["hazard"] is None:
                continue
            fields = _hazard_fields(inspection, row, actor, lat, lng)
            hazard = register_hazard(actor=actor, campaign=campaign, **fields)
            if not hazard.region_code.startswith(inspection.region_code):
                raise ValidationFailed(f"「{row['item'].text}」的隐患位置不在本检查表的范围（{inspection.region.name}）内 "
                                       f"/ the hazard lies outside this checklist's region", field="lat")
            photos_here = row["checked_photos"] + common_photos
            if photos_here:
                attach_photos(hazard, photos_here, step=hazard.steps.order_by("id").first(), actor=actor)
            row["registered"] = hazard
            found.append(hazard)
        InspectionAnswer.objects.bulk_create([
            InspectionAnswer(inspection=inspection, item=row["item"], ok=row["ok"], note=row["note"],
                             hazard=row.get("registered"))
            for row in rows
        ])
        relapsed = [row for row in rows if not row["ok"]]
        inspection.status = InspectionStatus.DONE
        inspection.submitted_at = now
        inspection.submitted_by = user_or_none(actor)
        inspection.lat, inspection.lng = lat, lng
        inspection.note = note
        inspection.save()
        outcome = None
        if inspection.hazard_id:
            outcome = _revisit_outcome(actor, inspection, relapsed, note, deadline, now)
        data = {"answers": len(rows), "failed": len(relapsed), "hazards": [h.code for h in found]}
        if outcome:
            data["revisit"] = outcome
        _record(actor, "inspection_fill", inspection, before=before, data=data)
        events.publish("hazards.inspection_filled", aggregate=inspection, payload={
            "campaign_id": campaign.pk, "street_code": inspection.street_code, **data})
    return inspection


def _revisit_outcome(actor, inspection: Inspection, failed: list[dict], note: str, deadline, now) -> str:
    """回头看: "relapsed" reopens a closed point (or notes it on an open one); "fixed" is noted on the point."""
    hazard = inspection.hazard
    who = actor_label(actor)
    findings = "；".join(f"{r['item'].text}{('：' + r['note']) if r['note'] else ''}" for r in failed)
    if not failed:
        add_step(hazard, action="revisit", actor=actor, at=now, note=f"回头看：整改成效保持，未复发。{note}".strip(),
                 note_en=f"revisit: the fix holds, no relapse. {note}".strip(),
                 data={"inspection_id": inspection.pk, "outcome": "fixed"})
        _record(actor, "revisit", hazard, data={"inspection_id": inspection.pk, "outcome": "fixed"})
        return "fixed"
    reason = f"回头看发现复发（检查人：{who}）：{findings}"[:2000]
    if hazard.status == Status.CLOSED:
        day = parse_deadline(deadline, "deadline", "整改时限")
        day = day or timezone.localdate() + dt.timedelta(days=REOPEN_DAYS)
        # Reopening is the checker's action; a grid worker's revisit finding reopens the point as the system
        # would, with the worker named in the reason and in the checklist's own audit entry.
        by = actor if actor is not None and _may(actor, hazard, "check") else None
        act(actor=by, hazard=hazard, action="reopen", reason=reason, deadline=day.isoformat())
    elif hazard.status in OPEN_STATUSES:
        by = actor if actor is not None and _may(actor, hazard, "rectify") else None
        act(actor=by, hazard=hazard, action="note", note=reason)
    return "relapsed"


def _may(actor, hazard: Hazard, action: str) -> bool:
    return (has_capability(actor, f"hazards.{action}")
            and Hazard.objects.visible_to(actor, action).filter(pk=hazard.pk).exists())


def register_finding(*, actor, photos=(), **fields) -> Hazard:
    """Register a hazard found outside a checklist (the register page) with its finding photos, in one
    transaction: a refused photo or registration keeps nothing."""
    checked = read_photos(photos, "finding")
    with transaction.atomic():
        hazard = register_hazard(actor=actor, **fields)
        if checked:
            attach_photos(hazard, checked, step=hazard.steps.order_by("id").first(), actor=actor)
    return hazard


# ---------------------------------------------------------------------------------------------- 回头看 rounds


def open_revisit(*, actor, name: str, region, deadline, kind: str, include_closed: bool = True,
                 starts_on=None, checklist: dict | None = None) -> Campaign:
    """A 回头看 round: one checklist per hazard point of `kind` in `region` (open ones, and closed ones unless
    `include_closed` is False), asking the revisit items (or `checklist`) of the point's category."""
    region = _region(region)
    _ensure_may_open(actor, region)
    name = _text(name, "name", "名称", 100, required=True)
    kind = _kind(kind)
    start, end = _dates(starts_on, deadline)
    statuses = set(OPEN_STATUSES) | ({Status.CLOSED} if include_closed else set())
    hazards = list(Hazard.objects.filter(subtree_q("region_code", region.code), kind=kind, status__in=statuses)
                   .order_by("code").only("id", "grid_id", "region_code", "street_code", "category", "name"))
    if not hazards:
        raise ValidationFailed(f"「{region.name}」没有需要回头看的隐患点 / no hazard points to revisit", field="region")
    categories = sorted({h.category for h in hazards})
    items = _checklist(kind, checklist) if checklist else {c: list(REVISIT_ITEMS) for c in categories}
    lacking = [c for c in categories if c not in items]
    if lacking:
        raise ValidationFailed(f"检查表缺少类别：{'、'.join(lacking)} / checklist lacks categories", field="checklist")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, kind=kind, found_by=FoundBy.ROUTINE, region=region, region_code=region.code,
            starts_on=start, deadline=end, is_revisit=True, created_by=user_or_none(actor),
            description="回头看：复查已销号和在改隐患点" if include_closed else "回头看：复查在改隐患点",
        )
        _add_items(campaign, items)
        workers = _grid_workers(sorted({h.region_code for h in hazards}))
        Inspection.objects.bulk_create([
            Inspection(campaign=campaign, region_id=h.grid_id, region_code=h.region_code, street_code=h.street_code,
                       category=h.category, hazard=h, place=h.name[:200], assignee=workers.get(h.region_code))
            for h in hazards
        ])
        data = {"inspections": len(hazards), "include_closed": include_closed}
        _record(actor, "revisit_open", campaign, data=data)
        events.publish("hazards.campaign_opened", aggregate=campaign,
                       payload={"name": name, "kind": kind, "revisit": True, **data})
    return campaign


# --------------------------------------------------------------------------------------------------- progress


def with_inspection_counts(user, campaigns) -> list[Campaign]:
    """The campaigns (a page of a list), each given `total` and `done`: its checklists the user may see, as
    `campaign_progress` counts them (a district campaign seen from a street counts the street's). One query
    for the whole page."""
    campaigns = list(campaigns)
    counts = {}
    if campaigns:
        rows = (Inspection.objects.visible_to(user, "view").filter(campaign_id__in=[c.pk for c in campaigns])
                .values("campaign_id").order_by()
                .annotate(total=Count("id"), done=Count("id", filter=Q(status=InspectionStatus.DONE))))
        counts = {r["campaign_id"]: (r["total"], r["done"]) for r in rows}
    for campaign in campaigns:
        campaign.total, campaign.done = counts.get(campaign.pk, (0, 0))
    return campaigns


def campaign_progress(user, campaign: Campaign) -> dict:
    """Per street within the user's view: checklists total/done, failed items, the campaign's hazards by
    status; and the totals. Five queries whatever the campaign's size."""
    if not Campaign.objects.visible_to(user, "view").filter(pk=campaign.pk).exists():
        raise NotFound(CAMPAIGN_NOT_FOUND)
    streets: dict[str, dict] = {}

    def row(code: str) -> dict:
        if code not in streets:
            streets[code] = {"street_code": code, "name": code, "total": 0, "done": 0, "findings": 0,
                             "hazards": 0, "by_status": {s: 0 for s in Status.values}}
        return streets[code]

    inspections = Inspection.objects.visible_to(user, "view").filter(campaign=campaign)
    for r in inspections.values("street_code").annotate(
            total=Count("id"), done=Count("id", filter=Q(status=InspectionStatus.DONE))).order_by():
        s = row(r["street_code"])
        s["total"], s["done"] = r["total"], r["done"]
    for r in (InspectionAnswer.objects.filter(inspection__in=inspections, ok=False)
              .values("inspection__street_code").annotate(n=Count("id")).order_by()):
        row(r["inspection__street_code"])["findings"] = r["n"]
    for r in (Hazard.objects.visible_to(user, "view").filter(campaign=campaign)
              .values("street_code", "status").annotate(n=Count("id")).order_by()):
        s = row(r["street_code"])
        s["by_status"][r["status"]] = r["n"]
        s["hazards"] += r["n"]
    names = dict(Region.objects.filter(code__in=list(streets)).values_list("code", "name"))
    rows = []
    for code in sorted(streets):
        s = streets[code]
        s["name"] = names.get(code, code)
        s["percent"] = round(100 * s["done"] / s["total"]) if s["total"] else 0
        s["open_hazards"] = sum(s["by_status"][st] for st in OPEN_STATUSES)
        rows.append(s)
    totals = {key: sum(s[key] for s in rows) for key in ("total", "done", "findings", "hazards", "open_hazards")}
    totals["by_status"] = {st: sum(s["by_status"][st] for s in rows) for st in Status.values}
    totals["percent"] = round(100 * totals["done"] / totals["total"]) if totals["total"] else 0
    return {"campaign": campaign, "streets": rows, "totals": totals}

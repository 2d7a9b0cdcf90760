"""Campaigns (排查) and checklists through the API, for a phone app or another system: the campaigns in your scope
with their progress, one campaign with its checklist and progress per street, your checklists to fill in, one
checklist, and filling it in (failed items with hazard details become hazards of the campaign).

    GET  /api/v1/campaigns?limit=50                 → {"items": [...], "count": N}
    GET  /api/v1/campaigns/inspections/mine         → your pending checklists with their questions
    POST /api/v1/campaigns/inspections/{id}         {"answers": [{"item": 7, "ok": true}, ...]} → 201

Thin: reads start from `Campaign/Inspection.objects.visible_to(user)` (outside scope is 404), writes go through
`services.fill_inspection` (a refusal changes nothing)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from django.db.models import Q
from ninja import Query, Router, Schema
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.core import photos as photo_reader
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.api_json import Id, StrictIn, documented_enum
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.core.pagination import Limit, Offset, page

from . import services
from .models import CATEGORY_LABELS, Campaign, ChecklistItem, Grade, Inspection, InspectionStatus
from .schemas import HazardPhotoIn
from .services.campaigns import CAMPAIGN_NOT_FOUND, INSPECTION_NOT_FOUND
from .services.photos import MAX_PER_REQUEST

router = Router(tags=["campaigns"])


# ---------------------------------------------------------------------------------------------------- schemas


class CampaignFilterIn(Schema):
    limit: Limit = 50
    offset: Offset = 0
    open: bool | None = None  # only campaigns still open (true) or closed (false)


class CampaignItemOut(Schema):
    id: int
    category: str
    category_label: str
    text: str
    order: int


class CampaignRowOut(Schema):
    id: int
    name: str
    kind: str
    kind_label: str
    found_by: str
    region_code: str
    region_name: str
    starts_on: date
    deadline: date
    is_revisit: bool
    is_open: bool
    inspections_total: int
    inspections_done: int
    percent: int


class CampaignListOut(Schema):
    items: list[CampaignRowOut]
    count: int


class CampaignTotalsOut(Schema):
    total: int
    done: int
    percent: int
    findings: int
    hazards: int
    open_hazards: int
    by_status: dict[str, int]


class CampaignStreetOut(CampaignTotalsOut):
    street_code: str
    name: str


class CampaignDetailOut(CampaignRowOut):
    description: str
    checklist: list[CampaignItemOut]
    streets: list[CampaignStreetOut]
    totals: CampaignTotalsOut


class CampaignAnswerOut(Schema):
    item: int
    ok: bool
    note: str
    hazard_id: int | None
    hazard_code: str | None


class CampaignInspectionOut(Schema):
    id: int
    campaign_id: int
    campaign_name: str
    campaign_kind: str
    campaign_deadline: date
    campaign_is_open: bool
    region_code: str
    region_name: str
    street_code: str
    category: str
    place: str
    revisit_hazard_id: int | None
    revisit_hazard_code: str | None
    status: str
    submitted_at: datetime | None
    lat: float | None
    lng: float | None
    note: str
    items: list[CampaignItemOut]
    answers: list[CampaignAnswerOut]


class CampaignInspectionListOut(Schema):
    items: list[CampaignInspectionOut]
    count: int


class CampaignFindingIn(StrictIn):
    """The hazard registered from a failed item; the campaign gives kind and source, the item the category, the
    checklist's point the location unless lat/lng are given here."""

    name: str = ""
    description: str = ""
    grade: documented_enum(Grade.values, "general or major", blank=True) = ""
    address: str = ""
    owner_unit: str = ""
    owner_person: str = ""
    owner_phone: str = ""
    threatened_people: int | None = None
    threatened_households: int | None = None
    lat: float | None = None
    lng: float | None = None


class CampaignAnswerIn(StrictIn):
    item: Id
    ok: bool
    note: str = ""
    hazard: CampaignFindingIn | None = None
    photos: list[HazardPhotoIn] = []


class CampaignFillIn(StrictIn):
    answers: list[CampaignAnswerIn]
    lat: float | None = None
    lng: float | None = None
    note: str = ""
    deadline: str = ""  # 回头看: the rectification deadline of a relapsed point (YYYY-MM-DD)
    photos: list[HazardPhotoIn] = []  # finding photos for every hazard registered from this checklist


class CampaignHazardRefOut(Schema):
    id: int
    code: str
    item: int


class CampaignFillOut(Schema):
    id: int
    status: str
    submitted_at: datetime | None
    hazards: list[CampaignHazardRefOut]


# ---------------------------------------------------------------------------------------------------- shaping


def _item(i: ChecklistItem) -> dict:
    return {"id": i.pk, "category": i.category, "category_label": CATEGORY_LABELS.get(i.category, i.category),
            "text": i.text, "order": i.order}


def _row(c: Campaign) -> dict:
    total, done = c.total, c.done
    return {
        "id": c.pk, "name": c.name, "kind": c.kind, "kind_label": c.get_kind_display(), "found_by": c.found_by,
        "region_code": c.region_code, "region_name": c.region.name, "starts_on": c.starts_on,
        "deadline": c.deadline, "is_revisit": c.is_revisit, "is_open": c.is_open, "inspections_total": total,
        "inspections_done": done, "percent": round(100 * done / total) if total else 0,
    }


def _campaigns(user):
    return (Campaign.objects.visible_to(user).select_related("region").defer("region__geometry")
            .order_by("-starts_on", "-id"))


def _inspections(user, action: str = "view"):
    return (Inspection.objects.visible_to(user, action).select_related("campaign", "region", "hazard")
            .defer("region__geometry"))


def _items_by_campaign(inspections: list[Inspection]) -> dict[int, list[ChecklistItem]]:
    """The questions of many checklists in one query (same order as `services.items_for`)."""
    grouped: dict[int, list[ChecklistItem]] = defaultdict(list)
    ids = {i.campaign_id for i in inspections}
    for item in ChecklistItem.objects.filter(campaign_id__in=ids).order_by("category", "order", "id"):
        grouped[item.campaign_id].append(item)
    return grouped


def _inspection_out(i: Inspection, items: list[ChecklistItem], answers: list) -> dict:
    if i.category:
        items = [item for item in items if item.category == i.category]
    return {
        "id": i.pk, "campaign_id": i.campaign_id, "campaign_name": i.campaign.name,
        "campaign_kind": i.campaign.kind, "campaign_deadline": i.campaign.deadline,
        "campaign_is_open": i.campaign.is_open, "region_code": i.region_code, "region_name": i.region.name,
        "street_code": i.street_code, "category": i.category, "place": i.place,
        "revisit_hazard_id": i.hazard_id, "revisit_hazard_code": i.hazard.code if i.hazard_id else None,
        "status": i.status, "submitted_at": i.submitted_at, "lat": i.lat, "lng": i.lng, "note": i.note,
        "items": [_item(item) for item in items],
        "answers": [{"item": a.item_id, "ok": a.ok, "note": a.note, "hazard_id": a.hazard_id,
                     "hazard_code": a.hazard.code if a.hazard_id else None} for a in answers],
    }


def _one_inspection(request, inspection_id: int) -> Inspection:
    found = (_inspections(request.user).filter(pk=inspection_id).first()
             if 0 < inspection_id < 2**63 else None)
    if found is None:
        raise NotFound(INSPECTION_NOT_FOUND)
    return found


def _photos(items) -> list[bytes]:
    return [photo_reader.decode_base64(p.content_base64) for p in items]


# -------------------------------------------------------------------------------------- lists (static paths first)


@router.get("/campaigns", response={200: CampaignListOut, **errors(401, 422)}, url_name="campaign_list")
def list_campaigns(request, filters: Query[CampaignFilterIn]):
    """Campaigns in your scope (a street's campaign is seen from its grids and from above), newest first, with
    their checklists done/total, counting the checklists in your view (a district's campaign seen from a street
    counts the street's). `open=true` for running campaigns only."""
    qs = _campaigns(request.user)
    if filters.open is not None:
        qs = qs.filter(is_open=filters.open)
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": [_row(c) for c in services.with_inspection_counts(request.user, items)], "count": total}


@router.get("/campaigns/inspections/mine", response={200: CampaignInspectionListOut, **errors(401, 422)},
            url_name="campaign_inspections_mine")
def my_inspections(request, limit: Limit = 50, offset: Offset = 0):
    """Your checklists to fill in: pending, in open campaigns, in your inspecting scope, assigned to you or to
    nobody; each with its questions. Nearest deadline first."""
    qs = (_inspections(request.user, "inspect")
          .filter(Q(assignee=request.user) | Q(assignee__isnull=True), status=InspectionStatus.PENDING,
                  campaign__is_open=True)
          .order_by("campaign__deadline", "region_code", "id"))
    rows, total = page(qs, limit=limit, offset=offset)
    items = _items_by_campaign(rows) if rows else {}
    return {"items": [_inspection_out(i, items.get(i.campaign_id, []), []) for i in rows], "count": total}


@router.get("/campaigns/inspections/{inspection_id}", response={200: CampaignInspectionOut, **errors(401, 404, 422)},
            url_name="campaign_inspection_detail")
def get_inspection(request, inspection_id: int):
    """One checklist with its questions and, once filled in, its answers (404 outside your scope)."""
    inspection = _one_inspection(request, inspection_id)
    answers = list(inspection.answers.select_related("hazard").order_by("id"))
    return _inspection_out(inspection, services.items_for(inspection), answers)


@router.post("/campaigns/inspections/{inspection_id}",
             response={201: CampaignFillOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="campaign_inspection_fill")
def fill_inspection(request, inspection_id: int, payload: CampaignFillIn):
    """Fill in one checklist: every item answered once (ok true/false); a failed item with `hazard` details is
    registered as a hazard of the campaign (its point: the finding's lat/lng, else the checklist's). 404 outside
    scope, 403 without the right to inspect there, 409 when already filled in or the campaign is closed, 400 for
    missing or bad answers (422 for a malformed body); a refusal changes nothing."""
    inspection = _one_inspection(request, inspection_id)
    count = len(payload.photos) + sum(len(a.photos) for a in payload.answers)
    if count > MAX_PER_REQUEST:
        raise ValidationFailed(f"一次最多上传 {MAX_PER_REQUEST} 张照片 / too many photos", field="photos")
    answers = []
    for a in payload.answers:
        answer = {"item": a.item, "ok": a.ok, "note": a.note}
        if a.hazard is not None:
            answer["hazard"] = {k: v for k, v in a.hazard.dict().items() if v not in (None, "")}
        if a.photos:
            answer["photos"] = _photos(a.photos)
        answers.append(answer)
    inspection = services.fill_inspection(
        actor=request.user, inspection=inspection, answers=answers, lat=payload.lat, lng=payload.lng,
        note=payload.note, deadline=payload.deadline or None, photos=_photos(payload.photos),
    )
    found = [{"id": a.hazard_id, "code": a.hazard.code, "item": a.item_id}
             for a in inspection.answers.filter(hazard__isnull=False).select_related("hazard").order_by("id")]
    return Status(201, {"id": inspection.pk, "status": inspection.status, "submitted_at": inspection.submitted_at,
                        "hazards": found})


@router.get("/campaigns/{campaign_id}", response={200: CampaignDetailOut, **errors(401, 404, 422)},
            url_name="campaign_detail")
def get_campaign(request, campaign_id: int):
    """One campaign: its checklist and progress per street of your scope (checklists done, findings, its
    hazards by status) with totals (404 outside your scope)."""
    campaign = _campaigns(request.user).filter(pk=campaign_id).first() if 0 < campaign_id < 2**63 else None
    if campaign is None:
        raise NotFound(CAMPAIGN_NOT_FOUND)
    progress = services.campaign_progress(request.user, campaign)
    campaign.total, campaign.done = progress["totals"]["total"], progress["totals"]["done"]  # in your view
    return {
        **_row(campaign), "description": campaign.description,
        "checklist": [_item(i) for i in campaign.items.order_by("category", "order", "id")],
        "streets": progress["streets"], "totals": progress["totals"],
    }


data_endpoint("api:campaign_list", "hazards.Campaign", "list")
data_endpoint("api:campaign_detail", "hazards.Campaign", "detail", lookup="campaign_id")
data_endpoint("api:campaign_inspections_mine", "hazards.Inspection", "list")
data_endpoint("api:campaign_inspection_detail", "hazards.Inspection", "detail", lookup="inspection_id")
# The fill-in answers only the ids and codes of the hazards it registered; scope is enforced by the service
# (404 outside the view, 403 outside the inspecting scope), tested in the app's API tests.
non_data_endpoint("api:campaign_inspection_fill")

"""Hazards API: the register and its list (the contract outside checks rely on), detail with the ledger line,
plans and timeline, the loop's actions, plans, the three lists as xlsx, the 包保 table, a per-street summary and
the ledger import. Handlers parse, call a service or selector, and shape the answer field by field.

    GET /api/v1/hazards?kind=flood&street=140213050&limit=50 → {"items": [...], "count": <on this page>,
                                                                "total": <matching>}
"""

from __future__ import annotations

from django.db.models import Count
from ninja import File, Form, Query, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import get_visible_or_404, has_capability
from civicgrid.foundation.core import photos as photo_reader
from civicgrid.foundation.core.api_errors import ErrorOut, errors, refuse_unknown_query
from civicgrid.foundation.core.api_json import documented_enum
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pagination import MAX_LIMIT, page
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Level, Region

from . import importers, selectors, services, xlsx
from .api_campaigns import router as campaigns_router
from .models import CATEGORY_LABELS, OPEN_STATUSES, Campaign, Grade, Hazard, Kind, PatronAssignment, PlanKind
from .schemas import (
    HazardActionIn,
    HazardActionsOut,
    HazardDetailOut,
    HazardFilterIn,
    HazardImportOut,
    HazardIn,
    HazardListOut,
    HazardPatronListOut,
    HazardPlanIn,
    HazardPlanOut,
    HazardSummaryOut,
)
from .services.photos import MAX_PER_REQUEST
from .workflow import HAZARD_WORKFLOW

HazardKind = documented_enum(Kind.values, "flood or safety")
HazardGrade = documented_enum(Grade.values, "general or major")
HazardAction = documented_enum([t.name for t in HAZARD_WORKFLOW.transitions], "an action of the hazard workflow")
ExportList = documented_enum(("issues", "responsibility", "ledger"), "问题清单, 责任清单 or 整改台账")

router = Router(tags=["hazards"])
router.add_router("", campaigns_router)  # /campaigns…: campaigns and checklists (api_campaigns.py)
PREFIX = "/"
MAX_UPLOAD = 20 * 1024 * 1024


def _street_names() -> dict[str, str]:
    return dict(Region.objects.filter(level=Level.STREET).values_list("code", "name"))


def _item(h: Hazard, streets: dict[str, str]) -> dict:
    """A list row: what the contract names, plus labels a page needs (no personal data)."""
    return {
        "id": h.pk, "code": h.code, "name": h.name, "kind": h.kind, "kind_label": h.get_kind_display(),
        "category": h.category, "category_label": CATEGORY_LABELS.get(h.category, h.category),
        "grade": h.grade, "grade_label": h.get_grade_display(), "status": h.status,
        "status_label": h.get_status_display(), "street_code": h.street_code,
        "street_name": streets.get(h.street_code, ""), "grid_code": h.region_code,
        "grid_name": h.grid.name if h.grid_id else "",
        "patron_department": h.patron_department.name if h.patron_department_id else None,
        "patron_department_id": h.patron_department_id,
        "responsible_department": h.responsible_department.name if h.responsible_department_id else None,
        "responsible_department_id": h.responsible_department_id,
        "address": h.address, "lng": h.lng, "lat": h.lat, "found_on": h.found_on,
        "is_supervised": h.is_supervised, "is_overdue": h.is_overdue, "deadline": h.deadline,
        "registered_at": h.registered_at, "closed_at": h.closed_at, "is_synthetic": h.is_synthetic,
    }


def _actions(h: Hazard, user) -> list[dict]:
    return [{"name": t.name, "label": t.label, "style": t.style, "requires": list(t.requires)}
            for t in services.allowed_actions(h, user)]


def _rectification(h: Hazard) -> dict | None:
    try:
        r = h.rectification
    except Hazard.rectification.RelatedObjectDoesNotExist:
        return None
    return {
        "measures": r.measures, "budget": float(r.budget) if r.budget is not None else None,
        "responsible_unit": r.responsible_unit, "responsible_person": r.responsible_person,
        "deadline": r.deadline, "interim_measures": r.interim_measures, "started_at": r.started_at,
        "reported_done_at": r.reported_done_at, "checker": r.checker, "checked_on": r.checked_on,
        "check_passed": r.check_passed, "check_note": r.check_note, "closed_on": r.closed_on, "rounds": r.rounds,
    }


def _plan(p, in_force: bool) -> dict:
    return {
        "id": p.pk, "kind": p.kind, "kind_label": p.get_kind_display(), "responsibility": p.responsibility,
        "measures": p.measures, "funds": float(p.funds) if p.funds is not None else None, "deadline": p.deadline,
        "emergency_plan": p.emergency_plan, "goal": p.goal, "materials": p.materials,
        "safety_measures": p.safety_measures, "responsible_person": p.responsible_person,
        "procedure": p.procedure, "created_at": p.created_at, "in_force": in_force,
    }


def _detail(h: Hazard, user) -> dict:
    plans = list(h.plans.all())  # prefetched, newest first per kind
    seen: set[str] = set()
    plan_rows = []
    for p in plans:
        plan_rows.append(_plan(p, p.kind not in seen))
        seen.add(p.kind)
    governance = next((p for p in plans if p.kind == PlanKind.GOVERNANCE), None)
    streets = {h.street_code: Region.objects.filter(code=h.street_code).values_list("name", flat=True).first() or ""}
    return {
        **_item(h, streets),
        "description": h.description, "sub_grade": h.sub_grade, "found_by": h.found_by,
        "found_by_label": h.get_found_by_display(), "inspector": h.inspector,
        "campaign": {"id": h.campaign_id, "name": h.campaign.name} if h.campaign_id else None,
        "owner_unit": h.owner_unit, "owner_person": h.owner_person, "owner_phone_masked": h.owner_phone_masked,
        "supervising_street": h.supervising_street.name if h.supervising_street_id else None,
        "threatened_people": h.threatened_people, "threatened_households": h.threatened_households,
        "short_term_fixable": h.short_term_fixable, "source_case_id": h.source_case_id,
        "rectification": _rectification(h), "plans": plan_rows,
        "missing_assurances": services.missing_assurances(governance) if h.grade == "major" else [],
        "timeline": [{"id": s.pk, "action": s.action, "from_status": s.from_status, "to_status": s.to_status,
                      "actor_name": s.actor_name, "note": s.note, "data": s.data, "at": s.at,
                      "photo_ids": [p.pk for p in s.photos.all()]} for s in h.steps.all()],
        "photos": [{"id": p.pk, "stage": p.stage, "sha256": p.sha256, "size": p.size, "step_id": p.step_id,
                    "created_at": p.created_at} for p in h.photos.all()],
        "allowed_actions": _actions(h, user),
    }


def _photos(items) -> list:
    if len(items) > MAX_PER_REQUEST:
        raise ValidationFailed(f"一次最多上传 {MAX_PER_REQUEST} 张照片 / too many photos", field="photos")
    out = []
    for p in items:
        data = photo_reader.decode_base64(p.content_base64)
        out.append((p.stage, data) if p.stage else data)
    return out


def _hazard(request, hazard_id: int) -> Hazard:
    if not 0 < hazard_id < 2**63:
        raise NotFound("未找到该隐患，或不在您的权限范围内 / hazard not found")
    return selectors.hazard_detail(request.user, hazard_id)


# ------------------------------------------------------------------------------------ lists (static paths first)


@router.get("/hazards", response={200: HazardListOut, **errors(400, 401, 422)}, url_name="hazard_list")
def list_hazards(request, filters: Query[HazardFilterIn]):
    """Hazard points in your scope, ordered by code. Filters: kind (flood|safety), street (9-digit code, or any
    region code for its subtree), status (comma list or `open`), grade, category, supervised, overdue, q (code,
    name, address or unit). As on every list, `count` is the page's length and `total` the number matching;
    limit 1–1000; `status` may be repeated; an unknown parameter is a 422 naming it."""
    refuse_unknown_query(request, HazardFilterIn)
    f = filters.dict(exclude={"limit", "offset"})
    qs = selectors.hazard_list(request.user, **f).defer("grid__geometry")
    limit = max(1, min(filters.limit, MAX_LIMIT))
    items, total = page(qs, limit=limit, offset=filters.offset)
    streets = _street_names() if items else {}
    return {"items": [_item(h, streets) for h in items], "count": len(items), "total": total}


@router.get("/hazards/summary", response={200: HazardSummaryOut, **errors(400, 401, 422)}, url_name="hazard_summary")
def hazard_summary(request, kind: HazardKind | None = None):
    """Per street of your scope: hazards by status and grade, open, supervised (挂牌督办) and overdue."""
    rows = selectors.street_summary(request.user, kind=kind or None)
    return {"items": rows, "count": len(rows)}


@router.get("/hazards/patrons", response={200: HazardPatronListOut, **errors(400, 401, 403, 422)},
            url_name="hazard_patrons")
def list_patrons(request, kind: HazardKind | None = None):
    """The 包保 table: which district department answers for which street, with the open hazards you can see
    there (district reference data; needs the hazards.view capability)."""
    if not has_capability(request.user, "hazards.view"):
        raise PermissionDenied("您无权查看包保关系 / you may not view the patron table")
    qs = PatronAssignment.objects.select_related("department", "street").order_by("street_code", "kind")
    if kind:
        if kind not in ("flood", "safety"):
            raise ValidationFailed("kind 须为 flood 或 safety / kind must be flood or safety", field="kind")
        qs = qs.filter(kind=kind)
    hazards = Hazard.objects.visible_to(request.user).filter(status__in=sorted(OPEN_STATUSES))
    if kind:
        hazards = hazards.filter(kind=kind)
    open_by_street = dict(hazards.order_by().values("street_code").annotate(n=Count("id"))
                          .values_list("street_code", "n"))
    items = [{"id": a.pk, "kind": a.kind, "street_code": a.street_code, "street_name": a.street.name,
              "department_id": a.department_id, "department": a.department.name,
              "open_hazards": open_by_street.get(a.street_code, 0)} for a in qs]
    return {"items": items, "count": len(items)}


@router.get("/hazards/export.xlsx", url_name="hazard_export", response={200: None, **errors(400, 401, 403, 422)})
def export_hazards(request, list: ExportList = "ledger", kind: HazardKind | None = None,  # noqa: A002
                   street: str | None = None, status: str | None = None, grade: HazardGrade | None = None,
                   category: str | None = None,
                   supervised: bool | None = None, overdue: bool | None = None, q: str | None = None):
    """问题清单 (list=issues), 责任清单 (responsibility) or 整改台账 (ledger) as xlsx in the office layout, over the
    hazards your role may export (same filters as the list); every export is audited."""
    body, name = xlsx.export_for(actor=request.user, which=list, kind=kind or None, street=street, status=status,
                                 grade=grade, category=category, supervised=supervised, overdue=overdue, q=q)
    return file_response(body, name, XLSX_TYPE)


# A 422 is the import's own answer (every broken row) or, as everywhere, a request the schema refuses.
@router.post("/hazards/import", response={201: HazardImportOut, 422: HazardImportOut | ErrorOut,
                                          **errors(400, 401, 403)}, url_name="hazard_import")
def import_ledger(request, file: File[UploadedFile], kind: Form[str] = "", campaign: Form[int | None] = None):
    """Import a ledger of hazard points (CSV or XLSX, multipart field `file`): all rows or none; a broken file
    answers 422 with every broken row (row, column, message)."""
    if file.size and file.size > MAX_UPLOAD:
        raise ValidationFailed("文件过大（上限 20 MB） / file too large", field="file")
    result = importers.import_hazards(actor=request.user, data=file.read(MAX_UPLOAD + 1), filename=file.name or "",
                                      default_kind=kind or None, campaign=campaign)
    return Status(201 if result.ok else 422, result.as_dict())


@router.post("/hazards", response={201: HazardDetailOut, **errors(400, 401, 403, 422)}, url_name="hazard_create")
def create_hazard(request, payload: HazardIn):
    """登记 a hazard point: located to its grid, its street's 包保 department named, the owner's phone encrypted;
    a 重大 hazard goes on the supervised list at once."""
    data = payload.dict()
    department = data.pop("responsible_department")
    campaign_id = data.pop("campaign")
    campaign = None
    if campaign_id is not None:
        try:
            campaign = get_visible_or_404(Campaign, request.user, pk=campaign_id)
        except NotFound:
            raise ValidationFailed("排查行动不存在 / unknown campaign", field="campaign") from None
    if department is not None and not Organisation.objects.filter(pk=department).exists():
        raise ValidationFailed("行业主管部门不存在 / unknown responsible department", field="responsible_department")
    hazard = services.register_hazard(actor=request.user, campaign=campaign, responsible_department=department,
                                      **data)
    return Status(201, _detail(selectors.hazard_after_action(request.user, hazard), request.user))


# ------------------------------------------------------------------------------------------------- one hazard


@router.get("/hazards/{hazard_id}", response={200: HazardDetailOut, **errors(401, 404, 422)}, url_name="hazard_detail")
def get_hazard(request, hazard_id: int):
    """One hazard with its ledger line, plans, timeline, photos and the actions you may take (404 outside
    your scope). The owner's phone is masked."""
    return _detail(_hazard(request, hazard_id), request.user)


@router.get("/hazards/{hazard_id}/allowed-actions", response={200: HazardActionsOut, **errors(401, 404, 422)},
            url_name="hazard_allowed_actions")
def allowed_actions(request, hazard_id: int):
    """The loop's actions you may take on this hazard now (the page's buttons): those the action endpoint would
    accept from you, your role's and the reach of your grant over this hazard alike."""
    items = _actions(_hazard(request, hazard_id), request.user)
    return {"items": items, "count": len(items)}


@router.post("/hazards/{hazard_id}/actions/{action}",
             response={200: HazardDetailOut, **errors(400, 401, 403, 404, 409, 422)}, url_name="hazard_action")
def take_action(request, hazard_id: int, action: HazardAction, payload: HazardActionIn | None = None):
    """Take one action of the loop (start, report_done, pass_check, fail_check, close_out, supervise, unsupervise,
    note, reopen, void): 404 outside scope, 409 in the wrong state or against the loop's rules, 403 for a role
    that may not, 422 for missing inputs; a refusal changes nothing."""
    hazard = _hazard(request, hazard_id)
    payload = payload or HazardActionIn()
    photos = _photos(payload.photos)
    inputs = {k: v for k, v in payload.dict().items() if k != "photos" and v not in (None, "")}
    hazard = services.act(actor=request.user, hazard=hazard, action=action[:32], photos=photos, **inputs)
    return _detail(selectors.hazard_after_action(request.user, hazard), request.user)


@router.post("/hazards/{hazard_id}/plans", response={201: HazardPlanOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="hazard_plan")
def save_plan(request, hazard_id: int, payload: HazardPlanIn):
    """Record a governance plan (治理方案 with the five assurances: responsibility, measures, funds, deadline,
    emergency plan) or an emergency plan (应急预案: responsible person, procedure); the newest is in force."""
    hazard = _hazard(request, hazard_id)
    data = payload.dict()
    plan = services.save_plan(actor=request.user, hazard=hazard, kind=data.pop("kind"), **data)
    return Status(201, _plan(plan, True))


data_endpoint("api:hazard_list", "hazards.Hazard", "list")
data_endpoint("api:hazard_detail", "hazards.Hazard", "detail", lookup="hazard_id")
data_endpoint("api:hazard_allowed_actions", "hazards.Hazard", "detail", lookup="hazard_id")
data_endpoint("api:hazard_export", "hazards.Hazard", "export")
# Aggregates without rows of their own (counts per street, the district's 包保 table of departments and streets):
# asked unaddressed like a detail, so the contract checks that no out-of-scope hazard shows through.
data_endpoint("api:hazard_summary", "hazards.Hazard", "detail")
data_endpoint("api:hazard_patrons", "hazards.Hazard", "detail")
# Writes: scope is enforced by the services (404 outside scope, 403 outside the capability's reach); tested in
# the app's API tests.
non_data_endpoint("api:hazard_create", "api:hazard_action", "api:hazard_plan", "api:hazard_import")

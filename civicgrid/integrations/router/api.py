"""Router API (智能分拨), mounted at `/api/v1/router/`.

* `GET /router/triage?limit=&offset=&below=`: reports waiting for intake or dispatch (`reported`, `accepted`)
  with the router's suggestion, in your intake scope (`Case.objects.visible_to(user, "intake")`).
* `GET /router/versions`, `POST /router/versions/{id}/activate` (rollback = activate an older one),
  `POST /router/retrain` (from closed cases; runs as a background task): `router.manage`.
* `GET /router/place?text=`: places named in a text with the proposed grid (any staff account).
"""

from __future__ import annotations

from datetime import datetime

from ninja import Query, Router, Schema
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pagination import Limit, Offset, page

from .permissions import MANAGE
from .service import case_text, with_categories

router = Router(tags=["router"])
PREFIX = "/router"
MAX_ID = 2**63 - 1


def _require_manage(user) -> None:
    if not has_capability(user, MANAGE):
        raise PermissionDenied("您无权管理分拨模型 / router.manage required")


class TriageItem(Schema):
    id: int
    number: str
    title: str
    status: str
    region_code: str
    reported_at: datetime
    category_id: int | None
    suggested_department_id: int | None
    suggestion: dict | None
    confidence: float | None


class TriageOut(Schema):
    items: list[TriageItem]
    count: int
    total: int
    threshold: float


class TriageFilter(Schema):
    limit: Limit = 50
    offset: Offset = 0
    below: bool = False  # only cases whose suggestion is missing or below the threshold


@router.get("/triage", response={200: TriageOut, **errors(401, 422)}, url_name="router_triage")
def triage(request, filters: Query[TriageFilter]):
    """Reports awaiting intake or dispatch in your scope, with the router's suggestion and confidence."""
    from .handlers import threshold
    from .selectors import triage_queue

    limit = threshold()
    qs = triage_queue(request.user, below=limit if filters.below else None)
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    shown = with_categories([(c.suggestion, case_text(c)) for c in items])  # the subclasses, as the page shows
    out = [{"id": c.pk, "number": c.number, "title": c.title_for_staff, "status": c.status, "region_code": c.region_code,
            "reported_at": c.reported_at, "category_id": c.category_id,
            "suggested_department_id": c.suggested_department_id, "suggestion": s,
            "confidence": (c.suggestion or {}).get("confidence")} for c, s in zip(items, shown, strict=True)]
    return {"items": out, "count": len(out), "total": total, "threshold": limit}


class VersionOut(Schema):
    id: int
    version: str
    created_at: datetime
    created_by: str | None
    labels: list
    label_kind: str
    metrics: dict
    source: str
    n_samples: int
    is_active: bool
    activated_at: datetime | None
    note: str

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class VersionList(Schema):
    items: list[VersionOut]
    count: int


@router.get("/versions", response={200: VersionList, **errors(401, 403, 422)}, url_name="router_versions")
def list_versions(request):
    """Registered model versions, newest first, with their cross-validated metrics (`router.manage`)."""
    from .models import RouterModelVersion

    _require_manage(request.user)
    items = list(RouterModelVersion.objects.select_related("created_by").order_by("-created_at", "-id")[:200])
    return {"items": items, "count": len(items)}


@router.post("/versions/{version_id}/activate", response={200: VersionOut, **errors(400, 401, 403, 404, 422)},
             url_name="router_version_activate")
def activate_version(request, version_id: int):
    """Make a version the live model; activating an older one is the rollback (audited)."""
    from civicgrid.foundation.core.errors import NotFound

    from . import versions

    _require_manage(request.user)
    if not 0 < version_id <= MAX_ID:
        raise NotFound("未找到模型版本 / model version not found")
    return versions.activate_version(version_id, actor=request.user)


class RetrainOut(Schema):
    status: str
    task_id: str | None = None
    version: str | None = None
    detail: str = ""


@router.post("/retrain", response={202: RetrainOut, **errors(400, 401, 403, 422)}, url_name="router_retrain")
def retrain(request, activate: bool = True):
    """Retrain from closed cases (dispatchers' corrections included) in the background (`router.manage`).

    Refused at once (400) when there are not enough closed cases."""
    from . import versions

    _require_manage(request.user)
    run = versions.request_retrain(actor=request.user, activate=activate)
    return Status(202, {"status": run.state, "task_id": str(run.pk),
                        "version": run.version.version if run.version_id else None, "detail": run.detail})


class GazetteerPlaceOut(Schema):
    name: str
    matched: str
    kind: str
    lng: float
    lat: float
    grid_code: str | None
    score: float
    approximate: bool


class GazetteerPlaceList(Schema):
    items: list[GazetteerPlaceOut]
    count: int


@router.get("/place", response={200: GazetteerPlaceList, **errors(400, 401, 403, 422)}, url_name="router_place")
def place(request, text: str = ""):
    """Places a message names (longest match first) with the grid proposed for each (staff accounts)."""
    from .gazetteer import find_place

    if not (has_capability(request.user, "cases.intake") or has_capability(request.user, "cases.report")
            or has_capability(request.user, MANAGE)):
        raise PermissionDenied("您无权使用地名识别 / not allowed")
    text = text.replace("\x00", "")
    if len(text) > 4000:
        raise ValidationFailed("文本过长 / text too long", field="text")
    items = find_place(text)
    return {"items": items, "count": len(items)}


data_endpoint("api:router_triage", "router.TriageCase", "list")
# Model metadata and a name lookup over public place names: no region-scoped business data.
non_data_endpoint("api:router_versions", "api:router_version_activate", "api:router_retrain", "api:router_place")

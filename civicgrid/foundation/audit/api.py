"""Audit API for the audit administrator: `GET /api/v1/audit` (filtered list) and `GET /api/v1/audit/export`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import field_validator

from ..access.endpoints import data_endpoint
from ..access.scope import has_capability
from ..core.api_errors import errors
from ..core.downloads import file_response
from ..core.errors import PermissionDenied, ValidationFailed
from ..core.pagination import Limit, Offset, page
from . import labels
from .export import AuditFilter, apply_filter, clean_action, export_entries, visible_audit
from .service import shown_repr, shown_snapshot

PREFIX = "/"
router = Router(tags=["audit"])


class AuditOut(Schema):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    source_ip: str
    channel: str
    request_id: str
    action: str
    action_name: str  # the action's name in the reader's language (audit.labels); the code when unnamed
    target_type: str
    target_id: str
    target_repr: str
    region_code: str
    result: str
    before: Any = None
    after: Any = None
    data: Any = None

    @staticmethod
    def resolve_action_name(obj) -> str:
        return labels.action_name(obj.action)

    @staticmethod
    def resolve_target_repr(obj) -> str:
        return shown_repr(obj)

    @staticmethod
    def resolve_before(obj):
        return shown_snapshot(obj.target_type, obj.before)

    @staticmethod
    def resolve_after(obj):
        return shown_snapshot(obj.target_type, obj.after)


class AuditList(Schema):
    items: list[AuditOut]
    count: int  # items in this page
    total: int  # records matching the filters


class AuditQuery(Schema):
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (e.g. "auth.")
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    target_type: str | None = None
    target_id: str | None = None
    result: Literal["ok", "refused", "failed"] | None = None
    source_ip: str | None = None
    limit: Limit = 100
    offset: Offset = 0

    @field_validator("action")
    @classmethod
    def _action_code(cls, value: str | None) -> str | None:
        try:
            return clean_action(value) or None
        except ValidationFailed as exc:
            raise ValueError(exc.message) from None

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Offsets beyond ±15:59 and dates at the edge of the calendar are valid ISO 8601 but not database values.
        if value is None:
            return None
        if value.tzinfo is None:
            value = timezone.make_aware(value)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("时间超出范围 / time out of range") from None

    def to_filter(self) -> AuditFilter:
        return AuditFilter(
            actor=self.actor or "",
            action=self.action or "",
            since=self.since,
            until=self.until,
            target_type=self.target_type or "",
            target_id=self.target_id or "",
            result=self.result or "",
            source_ip=self.source_ip or "",
        )


class ExportQuery(AuditQuery):
    format: Literal["csv", "xlsx"] = "csv"


def _require_audit_view(user) -> None:
    if not has_capability(user, "audit.view"):
        raise PermissionDenied("只有审计管理员可以查看审计记录 / only the audit administrator reads the audit trail")


@router.get("/audit", response={200: AuditList, **errors(400, 401, 403, 422)}, url_name="audit_list")
def list_audit(request, filters: Query[AuditQuery]):
    """Audit records, newest first, filtered by actor, action, time range, object, result or address."""
    _require_audit_view(request.user)
    qs = apply_filter(visible_audit(request.user), filters.to_filter())
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/audit/export", url_name="audit_export", response={200: None, **errors(400, 401, 403, 422)})
def export_audit(request, filters: Query[ExportQuery]):
    """The filtered audit trail as CSV or XLSX; the export itself is recorded in the trail."""
    _require_audit_view(request.user)
    content, content_type, filename = export_entries(actor=request.user, f=filters.to_filter(), fmt=filters.format)
    return file_response(content, filename, content_type)


data_endpoint("api:audit_list", "audit.AuditEntry", "list")
data_endpoint("api:audit_export", "audit.AuditEntry", "export")

"""Inbox API: `GET /api/v1/inbox` (the caller's own messages) and `POST /api/v1/inbox/{id}/read`."""

from __future__ import annotations

from datetime import datetime

from django.utils import translation
from ninja import Query, Router, Schema

from civicgrid.foundation.core.pagination import Limit, Offset

from ..access.endpoints import data_endpoint, non_data_endpoint
from ..core.api_errors import errors
from ..core.errors import NotFound
from ..core.pagination import page
from . import services

router = Router(tags=["inbox"])
PREFIX = "/"


class NotificationOut(Schema):
    id: int
    kind: str
    title: str  # as stored, in the district's language
    title_en: str  # the title in English (its opening words translated, the rest is data: "New task: 2026…")
    body: str
    body_en: str  # the English of a body the system wrote; empty for people's words and older messages
    target_type: str
    target_id: str
    url: str
    created_at: datetime
    read_at: datetime | None
    resolved_at: datetime | None  # the work the message asked for was done (by this reader or another)
    resolution: str  # what became of it, in the district's language (e.g. 已同意)

    @staticmethod
    def resolve_title_en(obj) -> str:
        with translation.override("en"):
            return obj.shown_title


class InboxOut(Schema):
    items: list[NotificationOut]
    count: int
    total: int
    unread: int


class InboxFilter(Schema):
    unread: bool = False
    limit: Limit = 50
    offset: Offset = 0


@router.get("/inbox", response={200: InboxOut, **errors(401, 422)}, url_name="inbox_list")
def list_inbox(request, filters: Query[InboxFilter]):
    """Your inbox, newest first (`unread=true` for unread messages only)."""
    items, total = page(services.inbox(request.user, unread_only=filters.unread), limit=filters.limit,
                        offset=filters.offset)
    unread = total if filters.unread else services.inbox(request.user, unread_only=True).count()
    return {"items": items, "count": len(items), "total": total, "unread": unread}


@router.post("/inbox/{notification_id}/read", response={200: NotificationOut, **errors(401, 404, 422)},
             url_name="inbox_read")
def read_notification(request, notification_id: int):
    """Mark one of your messages read (404 for anybody else's)."""
    if not 0 < notification_id < 2**63:
        raise NotFound("未找到该消息 / message not found")
    return services.mark_read(actor=request.user, notification_id=notification_id)


data_endpoint("api:inbox_list", "notify.Notification", "list")
non_data_endpoint("api:inbox_read")  # a write on the caller's own message; answers only that message

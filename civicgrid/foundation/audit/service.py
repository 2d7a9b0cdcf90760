"""`record(...)`: the one way anything writes to the audit trail."""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.db import models
from django.utils import timezone

from ..core import context
from .models import AuditEntry

SENSITIVE_MARK = "[已加密]"


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _text(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text or jsonb: a request value carrying one is recorded with U+FFFD.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _plain(value):
    if type(value) is str:
        return _text(value)
    if type(value) in _SCALARS:
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_text(k) if isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    return value


def user_or_none(actor):
    """The signed-in account acting, or None for the system (commands, the demo, the worker)."""
    return actor if getattr(actor, "is_authenticated", False) else None


def actor_label(actor) -> str:
    """How an actor is named on timelines and audit entries: the account's display name, a named system part
    (e.g. "open311:client"), or "system"."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:150]
    if not getattr(actor, "is_authenticated", False):
        return "system"
    return (getattr(actor, "display_name", "") or actor.get_username())[:150]


def snapshot(obj: models.Model) -> dict:
    """The object's concrete field values for before/after; fields the model marks sensitive are masked.

    A model lists `audit_sensitive_fields` (stored encrypted) and `audit_exclude_fields` (bulky, e.g.
    geometry: recorded as a digest so changes still show).
    """
    sensitive = set(getattr(obj, "audit_sensitive_fields", ()))
    excluded = set(getattr(obj, "audit_exclude_fields", ()))
    data: dict = {}
    for f in obj._meta.concrete_fields:
        name = f.attname
        value = getattr(obj, name)
        if f.name in sensitive or name in sensitive:
            data[f.name] = SENSITIVE_MARK if value else None
        elif f.name in excluded:
            import hashlib
            import json

            data[f.name] = (
                "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
                if value
                else None
            )
        else:
            data[f.name] = _plain(value)
    return data


def entry(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
    data: dict | None = None,
    result: str = "ok",
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    region_code: str = "",
) -> AuditEntry:
    """The unsaved audit record `record` writes, for a write path that inserts its rows together
    (`core.rows.insert`); it must be written in the same transaction as the change it records."""
    ctx = context.current()
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
        target_repr = _text(str(target))[:200]
        region_code = region_code or getattr(target, "region_code", "") or ""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry(
        at=timezone.now(),
        actor=actor if is_user else None,
        actor_name=_text(actor.get_username() if is_user else (str(actor) if actor else "system"))[:150],
        source_ip=ctx.source_ip,
        channel=ctx.channel,
        request_id=ctx.request_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=_text(target_repr),
        region_code=region_code,
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        data=_plain(data) if data is not None else None,
        result=result,
    )


def record(**fields) -> AuditEntry:
    """Append one audit record, tagged with the current request id, address and channel (the fields of
    `entry`: actor, action, target or target_type/target_id/target_repr/region_code, before, after, data,
    result)."""
    row = entry(**fields)
    row.save(force_insert=True)
    return row


def history(obj: models.Model):
    """The audit records of one object, newest first (the caller has already checked scope on `obj`)."""
    return AuditEntry.objects.for_object(obj).select_related(None).order_by("-at", "-id")

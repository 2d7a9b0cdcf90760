"""`record(...)`: the one way anything writes to the audit trail."""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.db import models
from django.utils import timezone

from ..core import context, rows
from .models import AuditEntry

SENSITIVE_MARK = "[已加密]"
# A value the trail does not keep, though the column is not encrypted: it would give away an encrypted one (a
# resident's birth date is eight of the masked digits of their ID number). See `audit_withheld_fields`.
WITHHELD_MARK = "[不记录]"


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
        return _plain_dict(value)
    return value


def _plain_dict(value: dict) -> dict:
    # `_plain` of a dict, with its scalar values (most of a snapshot) handled inline.
    out = {}
    for k, v in value.items():
        t = type(v)
        if t is str:
            if "\x00" in v:
                v = _text(v)
        elif t not in _SCALARS:
            v = _plain(v)
        out[_text(k) if type(k) is str and "\x00" in k else k] = v
    return out


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


_SENSITIVE, _EXCLUDED, _PLAIN, _WITHHELD = range(4)
_snapshot_plans: dict[type, tuple] = {}


def _snapshot_plan(model: type) -> tuple:
    plan = _snapshot_plans.get(model)
    if plan is None:
        sensitive = set(getattr(model, "audit_sensitive_fields", ()))
        excluded = set(getattr(model, "audit_exclude_fields", ()))
        withheld = set(getattr(model, "audit_withheld_fields", ()))
        plan = _snapshot_plans[model] = tuple(
            (f.name, f.attname, _SENSITIVE if f.name in sensitive or f.attname in sensitive else
             _WITHHELD if f.name in withheld else _EXCLUDED if f.name in excluded else _PLAIN)
            for f in model._meta.concrete_fields)
    return plan


def snapshot(obj: models.Model) -> dict:
    """The object's concrete field values for before/after; fields the model marks sensitive are masked.

    A model lists `audit_sensitive_fields` (stored encrypted), `audit_withheld_fields` (plain columns that
    would give an encrypted one away: recorded as present or not, never as a value, not even a digest, which a
    small set of values such as dates would give back) and `audit_exclude_fields` (bulky, e.g. geometry:
    recorded as a digest so changes still show).
    """
    data: dict = {}
    values = obj.__dict__
    for name, attname, mode in _snapshot_plan(type(obj)):
        value = values[attname] if attname in values else getattr(obj, attname)
        if mode == _PLAIN:
            t = type(value)
            data[name] = (_text(value) if "\x00" in value else value) if t is str else \
                value if t in _SCALARS else _plain(value)
        elif mode == _SENSITIVE:
            data[name] = SENSITIVE_MARK if value else None
        elif mode == _WITHHELD:
            data[name] = WITHHELD_MARK if value not in (None, "") else None
        else:
            import hashlib
            import json

            data[name] = (
                "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
                if value
                else None
            )
    return data


def withheld_fields(target_type: str) -> frozenset[str]:
    """The `audit_withheld_fields` of the model a record's `target_type` names ("people.resident"); none for a
    type that is not a model (any more)."""
    from django.apps import apps

    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return frozenset()
    return frozenset(getattr(model, "audit_withheld_fields", ()))


def shown_snapshot(target_type: str, snapshot):
    """A recorded before/after as it may be read: the model's withheld fields as `WITHHELD_MARK`. Records
    written before a field was withheld still hold its value; every reader (the object's history, the audit
    administrator's API and export) reads them through here, and the stored record stays as it was."""
    fields = withheld_fields(target_type) if isinstance(snapshot, dict) else ()
    if not fields or not fields & snapshot.keys():
        return snapshot
    return {k: (WITHHELD_MARK if k in fields and v not in (None, "") else v) for k, v in snapshot.items()}


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
    return rows.new(
        AuditEntry,
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

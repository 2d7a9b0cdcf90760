"""`record(...)`: the one way anything writes to the audit trail."""

from __future__ import annotations

import datetime
import decimal
import functools
import hashlib
import json
import re
import uuid

from django.db import models
from django.utils import timezone

from ..core import context, pii, rows
from .models import AuditEntry
from .personal import ADDRESS, EMAIL, ID_NUMBER, KINDS, NAME, PHONE, TEXT, personal_kind  # noqa: F401  (re-exported)

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


# ------------------------------------------------------------------------------------------ personal data
#
# A snapshot is read by the audit administrator, who may not read business data by virtue of that role
# (SECURITY.md, 三员分立), and it outlives the record it copies (a reporter's data is cleared at the end of its
# retention; the trail keeps at least six months). So a snapshot keeps of a person only what a list shows: a
# name, phone, e-mail, ID number or home address masked as the UI masks it, and of free text that may speak of
# people (descriptions, notes) only its length and a digest, so that a change still shows.
#
# A model declares, beside `audit_sensitive_fields`/`audit_withheld_fields`/`audit_exclude_fields`:
#   audit_personal_fields = {"reporter_name": NAME, "description": TEXT, ...}   masked / text marker
#     (the kinds are in `personal`)
#   audit_plain_fields = ("name", ...)   named like personal data, but not about a person (a department's name)
# A text field left undeclared whose name reads as personal data (`personal_kind`) is masked all the same, and
# an undeclared `*_enc` column is recorded as encrypted: a new model is private by default. The test
# `test_snapshot_policy` asks every such field to be declared, so that the choice is made, not inherited.

TEXT_MARK = "（文本 {n} 字，已隐去）"
_TEXT_MARK_RE = re.compile(r"（文本 (\d+) 字，已隐去）(?: sha256:([0-9a-f]{16}))?")


def text_mark(value: str) -> str:
    """Free text as a snapshot keeps it: its length and a short digest (a change still shows)."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return TEXT_MARK.format(n=len(value)) + f" sha256:{digest}"


def text_mark_parts(value) -> tuple[int, str] | None:
    """The length and digest a text marker records, or None when `value` is not one."""
    m = _TEXT_MARK_RE.fullmatch(value) if isinstance(value, str) else None
    return (int(m.group(1)), m.group(2) or "") if m else None


def _mask_email(value: str) -> str:
    local, _, domain = value.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else pii.mask_name(value)


_MASKERS = {
    NAME: pii.mask_name,
    PHONE: pii.mask_phone,
    EMAIL: _mask_email,
    ID_NUMBER: pii.mask_id_number,
    ADDRESS: pii.mask_address,
    TEXT: text_mark,
}


def mask_value(kind: str, value):
    """`value` of a field of this kind as a snapshot keeps it (empty values as they are)."""
    if value is None or value == "":
        return value
    return _MASKERS[kind](value if isinstance(value, str) else str(value))


def _remask(kind: str, value):
    """`mask_value` for a value read from a record that may already hold it masked (records written before the
    policy hold it in clear): a masked value or marker is left as it is (each mask leaves a "*"; a name's mask
    is its own mask)."""
    if not isinstance(value, str) or value == "":
        return value
    if kind == TEXT:
        return value if text_mark_parts(value) is not None else text_mark(value)
    if kind != NAME and "*" in value:
        return value
    return mask_value(kind, value)


_SENSITIVE, _EXCLUDED, _PLAIN, _WITHHELD, _MASKED = range(5)
_snapshot_plans: dict[type, tuple] = {}


def field_policy(model: type) -> dict[str, tuple[int, str | None]]:
    """Each concrete field's mode in a snapshot, with the kind of a masked one: the model's declarations, and
    for the fields it does not declare, the defaults by name (`personal_kind`; `*_enc` as encrypted)."""
    sensitive = set(getattr(model, "audit_sensitive_fields", ()))
    excluded = set(getattr(model, "audit_exclude_fields", ()))
    withheld = set(getattr(model, "audit_withheld_fields", ()))
    plain = set(getattr(model, "audit_plain_fields", ()))
    personal = dict(getattr(model, "audit_personal_fields", {}))
    policy = {}
    for f in model._meta.concrete_fields:
        if f.name in sensitive or f.attname in sensitive:
            policy[f.name] = (_SENSITIVE, None)
        elif f.name in withheld:
            policy[f.name] = (_WITHHELD, None)
        elif f.name in excluded:
            policy[f.name] = (_EXCLUDED, None)
        elif f.name in personal:
            policy[f.name] = (_MASKED, personal[f.name])
        elif f.name in plain or not isinstance(f, models.CharField | models.TextField):
            policy[f.name] = (_PLAIN, None)
        elif f.name.endswith("_enc"):
            policy[f.name] = (_SENSITIVE, None)
        elif kind := personal_kind(f.name):
            policy[f.name] = (_MASKED, kind)
        else:
            policy[f.name] = (_PLAIN, None)
    return policy


def _snapshot_plan(model: type) -> tuple:
    plan = _snapshot_plans.get(model)
    if plan is None:
        policy = field_policy(model)
        plan = _snapshot_plans[model] = tuple(
            (f.name, f.attname, *policy[f.name]) for f in model._meta.concrete_fields)
    return plan


def snapshot(obj: models.Model) -> dict:
    """The object's concrete field values for before/after, each as the model's policy says (`field_policy`).

    A model lists `audit_sensitive_fields` (stored encrypted), `audit_withheld_fields` (plain columns that
    would give an encrypted one away: recorded as present or not, never as a value, not even a digest, which a
    small set of values such as dates would give back), `audit_exclude_fields` (bulky, e.g. geometry:
    recorded as a digest so changes still show), `audit_personal_fields` (a person's name, phone, e-mail, ID
    number or address, recorded masked; free text, recorded as its length and a digest) and
    `audit_plain_fields` (named like personal data but not about a person).
    """
    data: dict = {}
    values = obj.__dict__
    for name, attname, mode, kind in _snapshot_plan(type(obj)):
        value = values[attname] if attname in values else getattr(obj, attname)
        if mode == _PLAIN:
            t = type(value)
            data[name] = (_text(value) if "\x00" in value else value) if t is str else \
                value if t in _SCALARS else _plain(value)
        elif mode == _MASKED:
            data[name] = mask_value(kind, _text(value) if type(value) is str else value)
        elif mode == _SENSITIVE:
            data[name] = SENSITIVE_MARK if value else None
        elif mode == _WITHHELD:
            data[name] = WITHHELD_MARK if value not in (None, "") else None
        else:
            data[name] = (
                "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
                if value
                else None
            )
    return data


@functools.cache
def _read_policy(target_type: str) -> dict[str, tuple[int, str | None]]:
    """The fields of a record's `target_type` ("people.resident") that are read masked: withheld and personal
    ones; none for a type that is not a model (any more)."""
    from django.apps import apps

    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return {}
    return {name: rule for name, rule in field_policy(model).items() if rule[0] in (_WITHHELD, _MASKED)}


def withheld_fields(target_type: str) -> frozenset[str]:
    """The `audit_withheld_fields` of the model a record's `target_type` names ("people.resident"); none for a
    type that is not a model (any more)."""
    return frozenset(name for name, (mode, _kind) in _read_policy(target_type).items() if mode == _WITHHELD)


def shown_snapshot(target_type: str, snapshot):
    """A recorded before/after as it may be read: the model's withheld fields as `WITHHELD_MARK`, its personal
    fields masked and its free text as a marker (`field_policy`). Records written before a field was withheld or
    masked still hold its value; every reader (the object's history, the audit administrator's page, API and
    export) reads them through here, and the stored record stays as it was (the trail is append-only)."""
    rules = _read_policy(target_type) if isinstance(snapshot, dict) else None
    if not rules or not rules.keys() & snapshot.keys():
        return snapshot
    shown = {}
    for k, v in snapshot.items():
        mode, kind = rules.get(k, (_PLAIN, None))
        if mode == _WITHHELD:
            v = WITHHELD_MARK if v not in (None, "") else v
        elif mode == _MASKED:
            v = _remask(kind, v)
        shown[k] = v
    return shown


def masked_repr(obj: models.Model) -> str:
    """How a record names its object: `str(obj)` with the object's personal values in it masked as its snapshot
    keeps them (a resident is named by name, a household by its head's)."""
    text = str(obj)
    model = obj._meta.model  # not type(obj): the signed-in user arrives wrapped in a lazy object
    values = obj.__dict__ if type(obj) is model else None
    for _name, attname, mode, kind in _snapshot_plan(model):
        # Not free text: a title that repeats the description is the title, which the snapshot keeps too.
        if mode == _MASKED and kind != TEXT:
            value = values.get(attname) if values is not None else getattr(obj, attname, None)
            if isinstance(value, str) and value.strip() and value in text:
                text = text.replace(value, mask_value(kind, value))
    return text


def shown_repr(entry: AuditEntry) -> str:
    """A record's `target_repr` as it may be read. Records written before `masked_repr` name a resident by name:
    the personal values the record's own before/after hold in clear are masked where the name repeats them."""
    text = entry.target_repr
    rules = _read_policy(entry.target_type) if text else None
    if not rules:
        return text
    for recorded in (entry.before, entry.after):
        if not isinstance(recorded, dict):
            continue
        for name, (mode, kind) in rules.items():
            value = recorded.get(name)
            if (mode == _MASKED and kind != TEXT and isinstance(value, str) and value.strip() and "*" not in value
                    and value in text):
                text = text.replace(value, mask_value(kind, value))
    return text


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
        target_repr = _text(masked_repr(target))[:200]
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

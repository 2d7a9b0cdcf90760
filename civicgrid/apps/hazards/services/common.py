"""Helpers shared by the hazard services: locking, scope checks, timeline steps, audit and events."""

from __future__ import annotations

from django.db import connection

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit.service import actor_label, snapshot, user_or_none  # noqa: F401  (used by the services)
from civicgrid.foundation.core.errors import NotFound, PermissionDenied
from civicgrid.foundation.events import bus as events

from ..models import Hazard, HazardStep

NOT_FOUND = "未找到该隐患，或不在您的权限范围内 / hazard not found"
# What the services outside the loop's table ask of the actor (the page asks the same before it offers them).
PLAN_CAPABILITY = "hazards.plan"  # save_plan: a governance or emergency plan
REVEAL_CAPABILITY = "hazards.rectify"  # reveal_owner_phone: those who may work on the hazard


def lock(hazard: Hazard) -> Hazard:
    """The hazard re-read inside the transaction (row-locked on PostgreSQL), so checks see its current state."""
    qs = Hazard.objects.all()
    if connection.features.has_select_for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=hazard.pk)
    except Hazard.DoesNotExist:
        raise NotFound(NOT_FOUND) from None


def ensure_visible(actor, hazard: Hazard) -> None:
    """404 unless the hazard is within the actor's view scope (missing and out of scope look alike)."""
    if actor is None:
        return  # the system (commands, demo) acts everywhere
    if not Hazard.objects.visible_to(actor, "view").filter(pk=hazard.pk).exists():
        raise NotFound(NOT_FOUND)


def ensure_capability_scope(actor, hazard: Hazard, capability: str, label: str) -> None:
    """403 when the actor sees the hazard but their grant for `capability` does not reach it."""
    if actor is None:
        return
    if not has_capability(actor, capability):
        raise PermissionDenied(f"您无权执行「{label}」 / you may not do this")
    if capability not in hazard.capabilities_in_scope(actor, {capability}):  # the buttons ask the same
        raise PermissionDenied(f"该隐患不在您「{label}」的权限范围内 / outside the scope of your role")


def add_step(hazard: Hazard, *, action: str, actor, at, from_status: str = "", to_status: str = "",
             note: str = "", data: dict | None = None, note_en: str = "") -> HazardStep:
    """One entry of the hazard's timeline (`note_en`: the English of a note the system wrote)."""
    return HazardStep.record_step(hazard=hazard, action=action, actor=actor, at=at, from_status=from_status,
                                  to_status=to_status, note=note, data=data, note_en=note_en)


def record(hazard: Hazard, *, actor, action: str, before: dict | None, data: dict | None = None) -> None:
    """The audit entry of one hazard action (before/after snapshots; the owner's phone masked)."""
    audit.record(actor=user_or_none(actor) or actor_label(actor), action=f"hazards.{action}", target=hazard,
                 before=before, after=snapshot(hazard), data=data)


def publish(hazard: Hazard, topic: str, **payload) -> None:
    """`hazards.<topic>` to the outbox, with what subscribers need without reading the hazard."""
    events.publish(f"hazards.{topic}", aggregate=hazard, payload={
        "code": hazard.code, "kind": hazard.kind, "status": hazard.status, "grade": hazard.grade,
        "street_code": hazard.street_code, "patron_department_id": hazard.patron_department_id, **payload,
    })

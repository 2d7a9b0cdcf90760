"""Reactions to SLA events on hazards' rectification clocks: an overdue hazard goes on the supervised list."""

from __future__ import annotations

from civicgrid.foundation.events import bus as events

from .services.loop import RECTIFY_CLOCK, mark_overdue


@events.handler("sla.breached", name="hazards.sla_breached")
def on_sla_breached(event) -> None:
    payload = event.payload or {}
    if payload.get("target_type") != "hazards.hazard" or payload.get("kind") != RECTIFY_CLOCK:
        return
    if payload.get("state") == "stopped":
        return
    try:
        mark_overdue(int(payload["target_id"]))
    except (KeyError, TypeError, ValueError):
        return

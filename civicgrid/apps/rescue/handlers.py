"""Reactions to the call-out acknowledgement clock: when a team has not answered in time
(`CIVICGRID_RESCUE_ACK_MINUTES`), whoever called it out and the team's own accounts are told, and the incident's
timeline says so. Delivered at least once by the worker: the step is keyed by clock and the inbox messages by a
dedupe key, so a redelivered event changes nothing."""

from __future__ import annotations

from django.db import transaction

from civicgrid.foundation.events import bus as events
from civicgrid.foundation.notify.services import notify

from .models import CallOut, CallOutStatus, IncidentStep
from .services import ACK_CLOCK, incident_url, team_accounts


@events.handler("sla.breached", name="rescue.ack_overdue")
def on_ack_overdue(event) -> None:
    payload = event.payload or {}
    if payload.get("target_type") != "rescue.callout" or payload.get("kind") != ACK_CLOCK:
        return
    if payload.get("state") == "stopped":
        return  # answered late: the acknowledgement time on the call-out says so
    try:
        callout = CallOut.objects.select_related("incident", "team", "called_by").get(pk=int(payload["target_id"]))
    except (CallOut.DoesNotExist, KeyError, TypeError, ValueError):
        return
    if callout.status != CallOutStatus.CALLED or not callout.incident.is_open:
        return
    incident, team, clock = callout.incident, callout.team, payload.get("clock_id")
    with transaction.atomic():
        if not IncidentStep.objects.filter(incident=incident, action="ack_overdue", data__clock=clock).exists():
            IncidentStep.record_step(incident=incident, action="ack_overdue", team=team, actor=None,
                                     note=f"{team.name}调派后未在时限内响应", data={"clock": clock},
                                     at=payload.get("at") or callout.called_at)
        title = f"队伍未响应：{team.name}"
        body = f"险情 {incident.code} {incident.title}：{team.name}尚未响应调派，请电话联系负责人 {team.leader_name}。"
        url = incident_url(incident)
        for user in [callout.called_by, *team_accounts(team)]:
            if user is not None:
                notify(user, "rescue_overdue", title, body, target=incident,
                       dedupe_key=f"rescue.ack_overdue:{callout.pk}:{user.pk}", url=url)

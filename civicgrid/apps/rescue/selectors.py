"""Reads of the rescue app, always from `visible_to`: lists run a fixed number of queries whatever their length."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q

from civicgrid.foundation.access.scope import get_visible_or_404, subtree_q

from .models import (
    ACTIVE_CALLOUT_STATUSES,
    OPEN_INCIDENT_STATUSES,
    SKILL_LABELS,
    Availability,
    CallOut,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentStep,
    RescueMember,
    RescueTeam,
    Severity,
    TeamKind,
)
from .workflow import INCIDENT_WORKFLOW


def _code(value: str | None) -> str:
    value = (value or "").strip()
    return value if value.isdigit() and 6 <= len(value) <= 15 else ""


@dataclass
class TeamFilter:
    skill: str = ""
    availability: str = ""
    kind: str = ""
    region: str = ""  # a region code: the teams serving it (its own, its street's, the district's)
    q: str = ""


def team_list(user, f: TeamFilter | None = None):
    f = f or TeamFilter()
    qs = (RescueTeam.objects.visible_to(user, "view").select_related("region", "organisation")
          .annotate(member_count=Count("members", filter=Q(members__is_active=True))))
    if f.skill in SKILL_LABELS:
        qs = qs.filter(skills__contains=f",{f.skill},")
    if f.availability in Availability.values:
        qs = qs.filter(availability=f.availability)
    if f.kind in TeamKind.values:
        qs = qs.filter(kind=f.kind)
    code = _code(f.region)
    if code:
        # Teams in the region's subtree and those above it (the district's main force serves every street).
        parents = [code[:n] for n in (6, 9, 12) if n < len(code)]
        qs = qs.filter(subtree_q("region_code", code) | Q(region_code__in=parents))
    q = (f.q or "").strip()[:50]
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(code__icontains=q) | Q(leader_name__icontains=q))
    return qs.order_by("kind", "region_code", "code")


def team_detail(user, pk: int) -> RescueTeam:
    qs = RescueTeam.objects.select_related("region", "organisation").prefetch_related(
        Prefetch("members", queryset=RescueMember.objects.filter(is_active=True).order_by("id")),
        Prefetch("callouts", queryset=CallOut.objects.filter(status__in=ACTIVE_CALLOUT_STATUSES)
                 .select_related("incident"), to_attr="active_callouts"),
    )
    return get_visible_or_404(qs, user, "view", pk=pk)


@dataclass
class IncidentFilter:
    status: str = ""  # a status, or "open"
    kind: str = ""
    severity: str = ""
    region: str = ""
    q: str = ""


def incident_list(user, f: IncidentFilter | None = None):
    f = f or IncidentFilter()
    qs = (Incident.objects.visible_to(user, "view").select_related("grid", "hazard").with_patron()
          .annotate(team_count=Count("callouts", filter=Q(callouts__status__in=ACTIVE_CALLOUT_STATUSES))))
    if f.status == "open":
        qs = qs.filter(status__in=OPEN_INCIDENT_STATUSES)
    elif f.status in IncidentStatus.values:
        qs = qs.filter(status=f.status)
    if f.kind in IncidentKind.values:
        qs = qs.filter(kind=f.kind)
    if f.severity in Severity.values:
        qs = qs.filter(severity=f.severity)
    code = _code(f.region)
    if code:
        qs = qs.filter(subtree_q("region_code", code))
    q = (f.q or "").strip()[:50]
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q) | Q(address__icontains=q))
    return qs.order_by("-opened_at", "-id")


def incident_detail(user, pk: int) -> Incident:
    qs = Incident.objects.select_related("grid", "hazard", "opened_by", "closed_by").with_patron().prefetch_related(
        Prefetch("callouts", queryset=CallOut.objects.select_related("team", "team__organisation")
                 .order_by("called_at", "id")),
        "materials",
        Prefetch("steps", queryset=IncidentStep.objects.select_related("team")
                 .order_by("at", "id")),
    )
    return get_visible_or_404(qs, user, "view", pk=pk)


def allowed_actions(incident: Incident, user) -> list:
    """The incident transitions this user may take now (command scope is checked by the service too)."""
    from .services import _covers

    if not _covers(user, "rescue.command", incident.region_code):
        return []
    return INCIDENT_WORKFLOW.allowed(incident, user)


def callout_actions(callout: CallOut, incident: Incident, user) -> list[str]:
    """What this user may do with one call-out now: acknowledge, arrive, release."""
    from civicgrid.foundation.access.scope import has_capability

    from .models import CallOutStatus
    from .services import _covers, may_respond

    if not callout.is_active or not incident.is_open:
        return []
    responds = has_capability(user, "rescue.respond") and may_respond(user, callout)
    commands = has_capability(user, "rescue.command") and _covers(user, "rescue.command", incident.region_code)
    actions = []
    if responds and callout.status == CallOutStatus.CALLED:
        actions.append("acknowledge")
    if responds and callout.status in (CallOutStatus.CALLED, CallOutStatus.ACKNOWLEDGED):
        actions.append("arrive")
    if responds or commands:
        actions.append("release")
    return actions


def standby_teams(user, incident: Incident | None = None):
    """Teams the user may call out now: visible, active, 待命; those serving the incident's street first."""
    qs = RescueTeam.objects.visible_to(user, "view").filter(is_active=True, availability=Availability.STANDBY)
    teams = list(qs.select_related("region").order_by("kind", "region_code", "code"))
    if incident is not None:
        street = incident.street_code
        teams.sort(key=lambda t: (0 if t.region_code == street else 1 if street.startswith(t.region_code) else 2,
                                  t.kind, t.code))
    return teams

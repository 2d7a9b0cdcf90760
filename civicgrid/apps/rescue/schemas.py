"""Input and output shapes of the rescue API (explicit fields; phones leave only masked).

Schema class names start with `Rescue` so they stay unique across the whole OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ninja import Schema

from civicgrid.foundation.core.api_json import Id, StrictIn, documented_enum

from .models import Availability, IncidentKind, Severity, TeamKind


class RescueEquipmentLine(Schema):
    name: str
    quantity: int = 0
    unit: str = ""


TeamKindName = documented_enum(TeamKind.values, "a team's kind")
AvailabilityName = documented_enum(Availability.values, "a team's availability")


class RescueTeamIn(StrictIn):
    region_code: str
    name: str
    kind: TeamKindName
    leader_name: str
    leader_phone: str
    code: str = ""
    organisation: Id | None = None
    headcount: int = 0
    equipment: list[RescueEquipmentLine] = []
    equipment_note: str = ""
    base_address: str = ""
    lng: float | None = None
    lat: float | None = None
    note: str = ""


class RescueTeamPatch(StrictIn):
    name: str | None = None
    kind: TeamKindName | None = None
    leader_name: str | None = None
    leader_phone: str | None = None
    organisation: Id | None = None
    headcount: int | None = None
    equipment: list[RescueEquipmentLine] | None = None
    equipment_note: str | None = None
    base_address: str | None = None
    note: str | None = None
    availability: AvailabilityName | None = None
    is_active: bool | None = None


class RescueAvailabilityIn(StrictIn):
    availability: AvailabilityName
    note: str = ""


class RescueMemberIn(StrictIn):
    name: str
    role: str = ""
    phone: str = ""
    skills: list[str] = []
    certificates: str = ""


class RescueMemberPatch(StrictIn):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    skills: list[str] | None = None
    certificates: str | None = None
    is_active: bool | None = None


class RescueMemberOut(Schema):
    id: int
    name: str
    role: str
    phone: str  # masked
    skills: list[str]
    skill_labels: list[str]
    certificates: str
    is_synthetic: bool


class RescueTeamOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    kind_label: str
    region_code: str
    region_name: str
    organisation: int | None
    organisation_name: str
    leader_name: str
    leader_phone: str  # masked
    availability: AvailabilityName
    availability_label: str
    headcount: int
    member_count: int
    skills: list[str]
    skill_labels: list[str]
    equipment: list[RescueEquipmentLine]
    is_active: bool
    is_synthetic: bool


class RescueTeamDetailOut(RescueTeamOut):
    equipment_note: str
    base_address: str
    lng: float | None
    lat: float | None
    note: str
    members: list[RescueMemberOut]
    active_incidents: list[str]


class RescueTeamListOut(Schema):
    items: list[RescueTeamOut]
    count: int
    total: int


class RescueIncidentIn(StrictIn):
    title: str = ""
    description: str = ""
    kind: documented_enum(IncidentKind.values, "an incident kind", blank=True) = ""
    severity: documented_enum(Severity.values, "an incident severity") = "general"
    hazard: Id | None = None
    case: str | None = None  # a case number (13 digits) or id
    reading_ref: str = ""
    station: str = ""
    lng: float | None = None
    lat: float | None = None
    address: str = ""


class RescueCallOutIn(StrictIn):
    teams: list[Id]
    task: str = ""


class RescueAckIn(StrictIn):
    people: int | None = None
    note: str = ""


class RescueReleaseIn(StrictIn):
    availability: AvailabilityName = "standby"
    note: str = ""


class RescueCloseIn(StrictIn):
    summary: str = ""
    actions: str = ""
    losses: str = ""
    lessons: str = ""


class RescueNoteIn(StrictIn):
    note: str = ""


class RescueMaterialIn(StrictIn):
    warehouse: Id
    item: Id
    quantity: Decimal
    note: str = ""


class RescueCallOutOut(Schema):
    id: int
    team: int
    team_name: str
    team_leader: str
    team_phone: str  # masked
    status: str
    status_label: str
    task: str
    called_at: datetime
    acknowledged_at: datetime | None
    arrived_at: datetime | None
    released_at: datetime | None
    people: int | None
    note: str
    actions: list[str] = []


class RescueMaterialOut(Schema):
    id: int
    warehouse_id: int
    warehouse_name: str
    item_id: int
    item_name: str
    unit: str
    quantity: Decimal
    issued_at: datetime
    note: str


class RescueStepOut(Schema):
    action: str
    label: str
    from_status: str
    to_status: str
    team: str
    actor: str
    note: str
    at: datetime


class RescueIncidentOut(Schema):
    id: int
    code: str
    title: str
    kind: str
    kind_label: str
    severity: str
    severity_label: str
    status: str
    status_label: str
    source: str
    hazard: int | None
    hazard_code: str
    case_number: str
    reading_ref: str
    station: str
    lng: float
    lat: float
    address: str
    grid_code: str
    grid_name: str
    region_code: str
    street_code: str
    patron_department: str | None  # the street's 包保 department (flood or safety, by the incident's kind)
    patron_department_id: int | None
    opened_at: datetime
    closed_at: datetime | None
    team_count: int


class RescueIncidentDetailOut(RescueIncidentOut):
    description: str
    controlled_at: datetime | None
    report_summary: str
    report_actions: str
    report_losses: str
    report_lessons: str
    callouts: list[RescueCallOutOut]
    materials: list[RescueMaterialOut]
    timeline: list[RescueStepOut]
    allowed_actions: list[str]


class RescueIncidentListOut(Schema):
    items: list[RescueIncidentOut]
    count: int
    total: int

"""Input and output shapes of the hazards API. Outputs are built field by field in `api.py` (nothing leaves by
accident: the owner's phone only masked). Class names carry the `Hazard` prefix (unique across the API)."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Schema

from civicgrid.foundation.core.api_json import Id, StrictIn, documented_enum
from civicgrid.foundation.core.pagination import Limit, Offset
from civicgrid.foundation.regions.crs import SUPPORTED_CRS

from .models import Grade, Kind, PlanKind
from .models import Status as HazardStatus


class HazardPhotoIn(StrictIn):
    stage: str | None = None  # finding | before | after | check (default: the action's own stage)
    content_base64: str  # the image, base64 (a data: URL is accepted too)


class HazardIn(StrictIn):
    kind: documented_enum(Kind.values, "flood or safety")
    category: str  # a key of the kind's categories (low_lying, hazchem, …)
    name: str
    description: str
    lng: float
    lat: float
    crs: documented_enum(SUPPORTED_CRS, "the coordinates' system") = "wgs84"
    address: str = ""
    grade: documented_enum(Grade.values, "general or major") = "general"
    sub_grade: str = ""
    found_by: str = "routine"
    found_on: date | None = None
    inspector: str = ""
    owner_unit: str = ""
    owner_person: str = ""
    owner_phone: str = ""
    threatened_people: int = 0
    threatened_households: int = 0
    short_term_fixable: bool = True
    responsible_department: Id | None = None
    campaign: Id | None = None


class HazardActionIn(StrictIn):
    note: str = ""
    reason: str = ""
    measures: str = ""  # start
    deadline: str = ""  # start, fail_check, reopen: YYYY-MM-DD
    budget: str = ""  # start: yuan
    responsible_unit: str = ""
    responsible_person: str = ""
    interim_measures: str = ""
    checker: str = ""  # pass_check / fail_check
    checked_on: str = ""  # pass_check: YYYY-MM-DD
    photos: list[HazardPhotoIn] = []


class HazardPlanIn(StrictIn):
    kind: documented_enum(PlanKind.values, "governance (治理方案) or emergency (应急预案)")
    responsibility: str = ""
    measures: str = ""
    funds: str = ""
    deadline: str = ""
    emergency_plan: str = ""
    goal: str = ""
    materials: str = ""
    safety_measures: str = ""
    responsible_person: str = ""
    procedure: str = ""


class HazardFilterIn(Schema):
    kind: documented_enum(Kind.values, "flood or safety") | None = None
    street: str | None = None  # a 9-digit street code (or any region code: its subtree)
    status: tuple[documented_enum([*HazardStatus.values, "open"], "a hazard status; open = any open one"), ...] | None = None  # one, several (commas, or repeated: any of them), or "open"
    grade: documented_enum(Grade.values, "general or major") | None = None
    category: str | None = None
    supervised: bool | None = None
    overdue: bool | None = None
    q: str | None = None
    limit: Limit = 50
    offset: Offset = 0


class HazardItemOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    kind_label: str
    category: str
    category_label: str
    grade: str
    grade_label: str
    status: str
    status_label: str
    street_code: str
    street_name: str
    grid_code: str
    grid_name: str
    patron_department: str | None
    patron_department_id: int | None
    responsible_department: str | None
    responsible_department_id: int | None
    address: str
    lng: float
    lat: float
    found_on: date
    is_supervised: bool
    is_overdue: bool
    deadline: datetime | None
    registered_at: datetime
    closed_at: datetime | None
    is_synthetic: bool


class HazardListOut(Schema):
    items: list[HazardItemOut]
    count: int  # on this page
    total: int  # matching the filters


class HazardRectificationOut(Schema):
    measures: str
    budget: float | None
    responsible_unit: str
    responsible_person: str
    deadline: date | None
    interim_measures: str
    started_at: datetime | None
    reported_done_at: datetime | None
    checker: str
    checked_on: date | None
    check_passed: bool | None
    check_note: str
    closed_on: date | None
    rounds: int


class HazardPlanOut(Schema):
    id: int
    kind: str
    kind_label: str
    responsibility: str
    measures: str
    funds: float | None
    deadline: date | None
    emergency_plan: str
    goal: str
    materials: str
    safety_measures: str
    responsible_person: str
    procedure: str
    created_at: datetime
    in_force: bool


class HazardPhotoOut(Schema):
    id: int
    stage: str
    sha256: str
    size: int
    step_id: int | None
    created_at: datetime


class HazardStepOut(Schema):
    id: int
    action: str
    from_status: str
    to_status: str
    actor_name: str
    note: str
    data: dict | None
    at: datetime
    photo_ids: list[int]


class HazardAllowedActionOut(Schema):
    name: str
    label: str
    style: str
    requires: list[str]


class HazardRefOut(Schema):
    id: int
    name: str


class HazardDetailOut(HazardItemOut):
    description: str
    sub_grade: str
    found_by: str
    found_by_label: str
    inspector: str
    campaign: HazardRefOut | None
    owner_unit: str
    owner_person: str
    owner_phone_masked: str
    supervising_street: str | None
    threatened_people: int
    threatened_households: int
    short_term_fixable: bool
    source_case_id: int | None
    rectification: HazardRectificationOut | None
    plans: list[HazardPlanOut]
    missing_assurances: list[str]
    timeline: list[HazardStepOut]
    photos: list[HazardPhotoOut]
    allowed_actions: list[HazardAllowedActionOut]


class HazardActionsOut(Schema):
    items: list[HazardAllowedActionOut]
    count: int


class HazardPatronOut(Schema):
    id: int
    kind: str
    street_code: str
    street_name: str
    department_id: int
    department: str
    open_hazards: int


class HazardPatronListOut(Schema):
    items: list[HazardPatronOut]
    count: int


class HazardStreetSummaryOut(Schema):
    street_code: str
    street_name: str
    patron_department: str
    patron_department_id: int | None
    total: int
    open: int
    supervised: int
    overdue: int
    by_status: dict[str, int]
    by_grade: dict[str, int]


class HazardSummaryOut(Schema):
    items: list[HazardStreetSummaryOut]
    count: int


class HazardImportErrorOut(Schema):
    row: int
    column: str
    message: str


class HazardImportOut(Schema):
    ok: bool
    created: int
    codes: list[str]
    errors: list[HazardImportErrorOut]

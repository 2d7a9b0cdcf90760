"""Input and output shapes of the materials API (names prefixed `Materials…`: unique across the API)."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Schema

from civicgrid.foundation.core.api_json import Id, StrictIn, documented_enum

from .models import Condition, Grade, Group, MovementKind


class MaterialsItemOut(Schema):
    id: int
    code: str
    name: str
    unit: str
    group: str
    group_label: str
    grade: str
    spec: str
    tracks_expiry: bool
    is_active: bool


class MaterialsItemIn(StrictIn):
    code: str
    name: str
    unit: str
    group: documented_enum(Group.values, "the catalogue group")
    grade: documented_enum(Grade.values, "the item's grade") = "B"
    spec: str = ""
    tracks_expiry: bool = False
    is_active: bool = True
    note: str = ""


class MaterialsItemListOut(Schema):
    items: list[MaterialsItemOut]
    count: int
    total: int


class MaterialsWarehouseOut(Schema):
    id: int
    code: str
    name: str
    level: str
    level_label: str
    region_code: str
    street_code: str
    department: str | None  # the department running it (changes stock with the street)
    patron_department: str | None  # the street's flood 包保 department (sees, supervises)
    patron_department_id: int | None
    address: str
    lat: float
    lng: float
    keeper: str
    keeper_phone: str  # masked
    is_active: bool
    is_demo: bool


class MaterialsWarehouseIn(StrictIn):
    code: str
    name: str
    region: str  # region code: district, street or community
    lat: float
    lng: float
    department: str | None = None  # organisation id or code
    address: str = ""
    keeper: str = ""
    keeper_phone: str | None = None
    is_active: bool = True
    note: str = ""


class MaterialsWarehouseListOut(Schema):
    items: list[MaterialsWarehouseOut]
    count: int
    total: int


class MaterialsHoldingOut(Schema):
    item: str
    name: str
    unit: str
    usable: int
    repair: int
    scrapped: int
    expired: int
    total: int


class MaterialsWarehouseDetailOut(MaterialsWarehouseOut):
    holdings: list[MaterialsHoldingOut]


class MaterialsLotOut(Schema):
    id: int
    warehouse: str
    warehouse_name: str
    item: str
    item_name: str
    unit: str
    batch: str
    condition: str
    expiry_date: date | None
    quantity: int
    updated_at: datetime
    patron_department: str | None  # the 包保 department of the warehouse's street (flood 包保)
    patron_department_id: int | None


class MaterialsLotListOut(Schema):
    items: list[MaterialsLotOut]
    count: int
    total: int


class MaterialsMovementOut(Schema):
    id: int
    warehouse: str
    item: str
    kind: str
    kind_label: str
    quantity: int
    balance_after: int
    batch: str
    condition: str
    counterpart: str | None
    transfer_ref: str
    incident_ref: str
    reason: str
    actor_name: str
    at: datetime
    patron_department: str | None  # the 包保 department of the warehouse's street (flood 包保)
    patron_department_id: int | None


class MaterialsMovementListOut(Schema):
    items: list[MaterialsMovementOut]
    count: int
    total: int


class MaterialsMovementIn(StrictIn):
    kind: documented_enum(MovementKind.values, "in, out, issue, transfer or condition")
    warehouse: str  # id or code
    item: str  # code
    quantity: int
    reason: str = ""
    batch: str = ""
    expiry_date: date | None = None
    condition: documented_enum(Condition.values, "a lot's condition") = "good"  # in: the lot's condition; condition: the condition units leave
    to_condition: str = ""  # condition: the condition units go to
    destination: str | None = None  # transfer: id or code
    incident_ref: str = ""  # issue


class MaterialsMovementResultOut(Schema):
    items: list[MaterialsMovementOut]
    count: int


class MaterialsShortageOut(Schema):
    id: int  # the target
    street_code: str
    street: str
    item: str
    item_name: str
    unit: str
    min_quantity: int
    held: int
    missing: int
    department: str | None
    patron_department: str | None  # the street's flood 包保 department now


class MaterialsShortageListOut(Schema):
    items: list[MaterialsShortageOut]
    count: int
    total: int


class MaterialsTargetIn(StrictIn):
    street: str
    item: str
    min_quantity: int
    note: str = ""


class MaterialsNearestOut(Schema):
    id: int
    code: str
    name: str
    level: str
    region_code: str
    lat: float
    lng: float
    available: int
    distance_m: float


class MaterialsNearestListOut(Schema):
    items: list[MaterialsNearestOut]
    count: int
    item: str
    quantity: int
    lat: float
    lng: float


class MaterialsPointIn(StrictIn):
    lat: float
    lng: float
    ref: str = ""  # the caller's name for the point, echoed back


class MaterialsNearestBatchIn(StrictIn):
    item: str
    quantity: int = 1
    limit: int = 5
    points: list[MaterialsPointIn] = []
    hazards: list[Id] = []  # hazard ids you may see (their points are used)


class MaterialsNearestPointOut(Schema):
    ref: str
    lat: float
    lng: float
    warehouses: list[MaterialsNearestOut]


class MaterialsNearestBatchOut(Schema):
    items: list[MaterialsNearestPointOut]
    count: int
    item: str
    quantity: int


class MaterialsCountLineOut(Schema):
    id: int
    item: str
    item_name: str
    batch: str
    condition: str
    expected: int
    counted: int | None
    difference: int | None


class MaterialsCountOut(Schema):
    id: int
    warehouse: str
    status: str
    note: str
    started_at: datetime
    confirmed_at: datetime | None
    lines: list[MaterialsCountLineOut]


class MaterialsCountListItemOut(Schema):
    id: int
    warehouse: str
    status: str
    note: str
    started_at: datetime
    confirmed_at: datetime | None


class MaterialsCountListOut(Schema):
    items: list[MaterialsCountListItemOut]
    count: int
    total: int


class MaterialsCountStartIn(StrictIn):
    warehouse: str
    note: str = ""


class MaterialsCountEntryIn(StrictIn):
    line: Id | None = None
    item: str | None = None
    batch: str = ""
    condition: documented_enum(Condition.values, "a lot's condition") = "good"
    expiry_date: date | None = None
    counted: int


class MaterialsCountEntriesIn(StrictIn):
    lines: list[MaterialsCountEntryIn]


class MaterialsImportOut(Schema):
    rows: int
    movements: int

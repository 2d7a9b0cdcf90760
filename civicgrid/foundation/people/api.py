"""Base-data API: residents (masked), buildings, houses, households, units, places; reveal for allowed roles.

Lists answer `{"items": [...], "count": <items in page>, "total": <matching>}` and take `limit`, `offset`,
`region` (a region code: its subtree) and `q`. Personal numbers are only ever masked here, except through
`POST /residents/{id}/reveal`, which checks `people.reveal` and is audited.
"""

from __future__ import annotations

import json

from ninja import Query, Router, Schema

from civicgrid.foundation.core.api_errors import errors, reads_own_body, refuse_unknown_body
from civicgrid.foundation.core.pagination import Limit, Offset

from ..access.endpoints import data_endpoint
from ..core.api_json import documented_enum
from ..core.errors import ValidationFailed
from ..core.pagination import page
from . import selectors, services
from .models import PlaceKind, UnitKind

router = Router(tags=["people"])
PREFIX = "/"


class ListFilter(Schema):
    region: str | None = None
    q: str | None = None
    limit: Limit = 50
    offset: Offset = 0


class ResidentOut(Schema):
    id: int
    name: str
    sex: str
    age: int | None
    id_number: str  # masked
    phone: str  # masked
    household_id: int | None
    household_code: str | None
    relation: str
    residency: str
    ethnicity: str
    grid_code: str
    grid_name: str | None
    key_groups: list[str] | None  # null: your roles do not work with key groups

    @staticmethod
    def resolve_age(obj) -> int | None:
        return obj.age()  # never the birth date: beside the masked number it gives the ID number away

    @staticmethod
    def resolve_id_number(obj) -> str:
        return obj.id_number_masked

    @staticmethod
    def resolve_phone(obj) -> str:
        return obj.phone_masked

    @staticmethod
    def resolve_household_code(obj) -> str | None:
        return obj.household.code if obj.household_id else None

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code

    @staticmethod
    def resolve_grid_name(obj) -> str | None:
        return obj.grid.name if obj.grid_id else None

    @staticmethod
    def resolve_key_groups(obj) -> list[str] | None:
        labels = getattr(obj, "visible_key_groups", None)
        return None if labels is None else [label.group for label in labels]


class BuildingOut(Schema):
    id: int
    code: str
    address: str
    name: str
    estate: str
    use: str
    floors: int | None
    built_year: int | None
    grid_code: str
    grid_name: str | None
    lng: float | None
    lat: float | None

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code

    @staticmethod
    def resolve_grid_name(obj) -> str | None:
        return obj.grid.name if obj.grid_id else None


class HouseOut(Schema):
    id: int
    code: str
    building_id: int
    building_code: str
    address: str
    unit_no: str
    room_no: str
    area_m2: float | None
    use: str
    grid_code: str

    @staticmethod
    def resolve_building_code(obj) -> str:
        return obj.building.code

    @staticmethod
    def resolve_address(obj) -> str:
        return str(obj)

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code


class HouseholdOut(Schema):
    id: int
    code: str
    address: str
    head_name: str
    registered: bool
    size: int
    house_id: int | None
    house_code: str | None
    grid_code: str

    @staticmethod
    def resolve_house_code(obj) -> str | None:
        return obj.house.code if obj.house_id else None

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code


class HouseholdDetailOut(HouseholdOut):
    members: list[ResidentOut]

    @staticmethod
    def resolve_members(obj) -> list:
        return getattr(obj, "visible_members", [])


class UnitOut(Schema):
    id: int
    name: str
    kind: str
    credit_code: str
    address: str
    building_id: int | None
    contact_name: str
    contact_phone: str  # masked
    employees: int | None
    grid_code: str
    lng: float | None
    lat: float | None

    @staticmethod
    def resolve_contact_phone(obj) -> str:
        return obj.contact_phone_masked

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code


class PlaceOut(Schema):
    id: int
    name: str
    kind: str
    address: str
    description: str
    grid_code: str
    lng: float | None
    lat: float | None

    @staticmethod
    def resolve_grid_code(obj) -> str:
        return obj.region_code


class ResidentList(Schema):
    items: list[ResidentOut]
    count: int  # items in this page
    total: int  # items matching the filters in your scope


class BuildingList(Schema):
    items: list[BuildingOut]
    count: int
    total: int


class HouseList(Schema):
    items: list[HouseOut]
    count: int
    total: int


class HouseholdList(Schema):
    items: list[HouseholdOut]
    count: int
    total: int


class UnitList(Schema):
    items: list[UnitOut]
    count: int
    total: int


class PlaceList(Schema):
    items: list[PlaceOut]
    count: int
    total: int


def _page(qs, filters: ListFilter) -> dict:
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


class RevealOut(Schema):
    field: str
    value: str


# ---------------------------------------------------------------------------------------------- routes


@router.get("/residents", response={200: ResidentList, **errors(401, 422)}, url_name="resident_list")
def list_residents(request, filters: Query[ListFilter]):
    """Residents in your scope (numbers masked); `q` is a name fragment, or an exact ID number or phone."""
    return _page(selectors.residents(request.user, region=filters.region, q=filters.q), filters)


@router.get("/residents/{resident_id}", response={200: ResidentOut, **errors(401, 404, 422)},
            url_name="resident_detail")
def get_resident(request, resident_id: int):
    """One resident in your scope (numbers masked)."""
    return selectors.resident(request.user, resident_id)


_REVEAL_BODY = {
    "requestBody": {
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["field"], "additionalProperties": False,
            "properties": {"field": {"type": "string", "enum": sorted(services.REVEALABLE)}},
        }}},
    }
}


@router.post("/residents/{resident_id}/reveal", response={200: RevealOut, **errors(400, 401, 403, 404, 422)},
             url_name="resident_reveal", openapi_extra=_REVEAL_BODY)
@reads_own_body("field")
def reveal_resident(request, resident_id: int):
    """The clear ID number or phone (`{"field": "id_number"|"phone"}`), for roles that may see it; audited.

    The body is read after the resident is found, so a missing or out-of-scope resident answers 404 whatever
    the body says.
    """
    resident = selectors.resident(request.user, resident_id)
    refuse_unknown_body(request, ("field",))
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = {}
    field = body.get("field") if isinstance(body, dict) else None
    if field not in services.REVEALABLE:
        raise ValidationFailed("请指明要查看的字段：id_number 或 phone / field must be id_number or phone", field="field")
    return {"field": field, "value": services.reveal(actor=request.user, resident=resident, field=field)}


@router.get("/buildings", response={200: BuildingList, **errors(401, 422)}, url_name="building_list")
def list_buildings(request, filters: Query[ListFilter]):
    """Buildings in your scope; `q` is an address or name fragment, or a building code."""
    return _page(selectors.buildings(request.user, region=filters.region, q=filters.q), filters)


@router.get("/buildings/{building_id}", response={200: BuildingOut, **errors(401, 404, 422)},
            url_name="building_detail")
def get_building(request, building_id: int):
    """One building in your scope."""
    return selectors.building(request.user, building_id)


@router.get("/houses", response={200: HouseList, **errors(400, 401, 422)}, url_name="house_list")
def list_houses(request, filters: Query[ListFilter], building: int | None = None):
    """Houses in your scope, optionally of one building (`building` = its id)."""
    return _page(selectors.houses(request.user, region=filters.region, q=filters.q, building_id=building), filters)


@router.get("/houses/{house_id}", response={200: HouseOut, **errors(401, 404, 422)}, url_name="house_detail")
def get_house(request, house_id: int):
    """One house in your scope."""
    return selectors.house(request.user, house_id)


@router.get("/households", response={200: HouseholdList, **errors(401, 422)}, url_name="household_list")
def list_households(request, filters: Query[ListFilter]):
    """Households in your scope; `q` is an address or head-of-household fragment, or a household code."""
    return _page(selectors.households(request.user, region=filters.region, q=filters.q), filters)


@router.get("/households/{household_id}", response={200: HouseholdDetailOut, **errors(401, 404, 422)},
            url_name="household_detail")
def get_household(request, household_id: int):
    """One household in your scope with its members (masked)."""
    obj = selectors.household(request.user, household_id)
    obj.visible_members = list(selectors.household_members(request.user, obj)[:200])
    return obj


@router.get("/units", response={200: UnitList, **errors(401, 422)}, url_name="unit_list")
def list_units(request, filters: Query[ListFilter],
               kind: documented_enum(UnitKind.values, "a unit's kind") | None = None):
    """Units in your scope (contact phones masked)."""
    return _page(selectors.units(request.user, region=filters.region, q=filters.q, kind=kind), filters)


@router.get("/units/{unit_id}", response={200: UnitOut, **errors(401, 404, 422)}, url_name="unit_detail")
def get_unit(request, unit_id: int):
    """One unit in your scope."""
    return selectors.unit(request.user, unit_id)


@router.get("/places", response={200: PlaceList, **errors(401, 422)}, url_name="place_list")
def list_places(request, filters: Query[ListFilter],
                kind: documented_enum(PlaceKind.values, "a place's kind") | None = None):
    """Places and facilities in your scope."""
    return _page(selectors.places(request.user, region=filters.region, q=filters.q, kind=kind), filters)


@router.get("/places/{place_id}", response={200: PlaceOut, **errors(401, 404, 422)}, url_name="place_detail")
def get_place(request, place_id: int):
    """One place or facility in your scope."""
    return selectors.place(request.user, place_id)


# The scope contract test walks these (and fails on any URL left undeclared).
for _name, _model, _lookup in (
    ("resident", "people.Resident", "resident_id"),
    ("building", "people.Building", "building_id"),
    ("house", "people.House", "house_id"),
    ("household", "people.Household", "household_id"),
    ("unit", "people.Unit", "unit_id"),
    ("place", "people.Place", "place_id"),
):
    data_endpoint(f"api:{_name}_list", _model, "list")
    data_endpoint(f"api:{_name}_detail", _model, "detail", lookup=_lookup)
data_endpoint("api:resident_reveal", "people.Resident", "reveal", lookup="resident_id")

"""Buildings, houses, households, units and places as importable/exportable tables (Chinese headers)."""

from __future__ import annotations

from ...core import keys, pii
from ...imports.registry import Column
from .. import personal
from ..models import Building, BuildingUse, House, Household, HouseUse, Place, PlaceKind, Unit, UnitKind
from .base import GRID, LAT, LNG, BaseDataTable, _label, area, choice, credit_code, integer, text, yes_no


class BuildingTable(BaseDataTable):
    key, label, model = "building", "楼栋", Building
    columns = (
        Column("楼栋编码", "code", required=True, aliases=("楼栋编号",)),
        Column("标准地址", "address", required=True),
        Column(GRID.header, GRID.key, required=True, hint=GRID.hint, aliases=GRID.aliases),
        Column("楼栋名称", "name"),
        Column("小区", "estate"),
        Column("用途", "use", hint="、".join(str(label) for _, label in BuildingUse.choices)),
        Column("层数", "floors"),
        Column("建成年份", "built_year"),
        Column("经度", "lng"),
        Column("纬度", "lat"),
    )
    converters = {
        "code": text(32), "address": text(200), "grid_code": text(15), "name": text(100), "estate": text(100),
        "use": choice(BuildingUse), "floors": integer(1, 200), "built_year": integer(1900, 2100),
        "lng": LNG, "lat": LAT,
    }
    db_columns = (
        "code", "address", "name", "estate", "use", "floors", "built_year", "grid", "region_code", "lng", "lat",
    )

    def db_row(self, v):
        return (
            v["code"], v["address"], v.get("name", ""), v.get("estate", ""), v.get("use", BuildingUse.RESIDENTIAL),
            v.get("floors"), v.get("built_year"), v["grid_id"], v["grid_code"], v.get("lng"), v.get("lat"),
        )

    def export_values(self, obj, clear):
        return {
            "code": obj.code, "address": obj.address, "grid_code": obj.region_code, "name": obj.name,
            "estate": obj.estate, "use": _label(BuildingUse, obj.use), "floors": obj.floors,
            "built_year": obj.built_year, "lng": obj.lng, "lat": obj.lat,
        }


class HouseTable(BaseDataTable):
    key, label, model = "house", "房屋", House
    columns = (
        Column("房屋编码", "code", required=True, aliases=("房屋编号",)),
        Column("楼栋编码", "building_code", required=True, aliases=("楼栋编号",)),
        Column("单元", "unit_no"),
        Column("房号", "room_no", required=True),
        Column("面积（平方米）", "area_m2", aliases=("面积",)),
        Column("使用情况", "use", hint="、".join(str(label) for _, label in HouseUse.choices)),
    )
    converters = {
        "code": text(40), "building_code": text(32), "unit_no": text(16), "room_no": text(16), "area_m2": area,
        "use": choice(HouseUse),
    }
    db_columns = (
        "code", "building", "unit_no", "room_no", "area_m2", "use", "grid", "region_code",
    )
    select = ("building",)

    def link(self, ctx, batch):
        found = self.parents(ctx, batch, "building_code", Building, "楼栋编码")
        for _, values in batch:
            values["building"] = found.get(values["building_code"])
        return [values for _, values in batch if values["building"]]

    def db_row(self, v):
        building_id, region_code, grid_id = v["building"]
        return (
            v["code"], building_id, v.get("unit_no", ""), v["room_no"],
            str(v["area_m2"]) if v.get("area_m2") is not None else None,
            v.get("use", HouseUse.OWNER_OCCUPIED), grid_id, region_code,
        )

    def export_values(self, obj, clear):
        return {
            "code": obj.code, "building_code": obj.building.code, "unit_no": obj.unit_no, "room_no": obj.room_no,
            "area_m2": obj.area_m2, "use": _label(HouseUse, obj.use),
        }


class HouseholdTable(BaseDataTable):
    key, label, model = "household", "户", Household
    columns = (
        Column("户编号", "code", required=True, aliases=("户号",)),
        Column("住址", "address", required=True),
        Column(GRID.header, GRID.key, hint="有房屋编码时可空", aliases=GRID.aliases),
        Column("房屋编码", "house_code", aliases=("房屋编号",)),
        Column("户主姓名", "head_name"),
        Column("户籍户", "registered", hint="是/否"),
    )
    converters = {
        "code": text(40), "address": text(200), "grid_code": text(15), "house_code": text(40),
        "head_name": text(64), "registered": yes_no,
    }
    db_columns = (
        "code", "house", "address", "head_name", "registered", "size", "grid", "region_code",
    )
    select = ("house",)

    def parse(self, ctx, number, row):
        out = super().parse(ctx, number, row)
        if out is not None and not out.get("grid_code") and not out.get("house_code"):
            ctx.error(number, GRID.header, "所属网格代码与房屋编码至少填一项 / grid code or house code required")
            return None
        return out

    def link(self, ctx, batch):
        found = self.parents(ctx, batch, "house_code", House, "房屋编码")
        kept = []
        for number, values in batch:
            house = found.get(values.get("house_code", ""))
            if values.get("house_code") and house is None:
                continue
            if house and values.get("grid_code") and house[1] != values["grid_code"]:
                ctx.error(number, GRID.header, "与房屋所在网格不一致 / differs from the house's grid")
                continue
            values["house"] = house
            kept.append(values)
        return kept

    def db_row(self, v):
        house = v["house"]
        grid_id, region_code = (house[2], house[1]) if house else (v["grid_id"], v["grid_code"])
        return (
            v["code"], house[0] if house else None, v["address"], v.get("head_name", ""), v.get("registered", True),
            0, grid_id, region_code,
        )

    def export_values(self, obj, clear):
        return {
            "code": obj.code, "address": obj.address, "grid_code": obj.region_code,
            "house_code": obj.house.code if obj.house_id else "", "head_name": obj.head_name,
            "registered": "是" if obj.registered else "否",
        }


class UnitTable(BaseDataTable):
    key, label, model = "unit", "实有单位", Unit
    unique_code = False
    columns = (
        Column("单位名称", "name", required=True),
        Column("单位类型", "kind", required=True, hint="、".join(str(label) for _, label in UnitKind.choices)),
        Column("统一社会信用代码", "credit_code"),
        Column("地址", "address"),
        Column(GRID.header, GRID.key, required=True, hint=GRID.hint, aliases=GRID.aliases),
        Column("楼栋编码", "building_code", aliases=("楼栋编号",)),
        Column("负责人", "contact_name"),
        Column("联系电话", "contact_phone", aliases=("电话", "手机号"), mask=pii.mask_phone),
        Column("从业人数", "employees"),
        Column("经度", "lng"),
        Column("纬度", "lat"),
    )
    converters = {
        "name": text(100), "kind": choice(UnitKind), "credit_code": credit_code, "address": text(200),
        "grid_code": text(15), "building_code": text(32), "contact_name": text(64),
        "contact_phone": personal.clean_phone, "employees": integer(0, 1_000_000), "lng": LNG, "lat": LAT,
    }
    db_columns = (
        "name", "kind", "credit_code", "address", "building", "contact_name", "contact_phone_enc",
        "contact_phone_masked", "employees", "grid", "region_code", "lng", "lat",
    )
    select = ("building",)

    def link(self, ctx, batch):
        found = self.parents(ctx, batch, "building_code", Building, "楼栋编码")
        for _, values in batch:
            values["building"] = found.get(values.get("building_code", ""))
        return [values for _, values in batch if values["building"] or not values.get("building_code")]

    def db_row(self, v):
        phone = v.get("contact_phone", "")
        return (
            v["name"], v["kind"], v.get("credit_code", ""), v.get("address", ""),
            v["building"][0] if v["building"] else None, v.get("contact_name", ""),
            keys.encrypt(phone, personal.UNIT_PHONE_CONTEXT), personal.mask_phone(phone) if phone else "",
            v.get("employees"), v["grid_id"], v["grid_code"], v.get("lng"), v.get("lat"),
        )

    def export_values(self, obj, clear):
        phone = keys.decrypt(obj.contact_phone_enc, personal.UNIT_PHONE_CONTEXT) if clear else obj.contact_phone_masked
        return {
            "name": obj.name, "kind": _label(UnitKind, obj.kind), "credit_code": obj.credit_code,
            "address": obj.address, "grid_code": obj.region_code,
            "building_code": obj.building.code if obj.building_id else "", "contact_name": obj.contact_name,
            "contact_phone": phone, "employees": obj.employees, "lng": obj.lng, "lat": obj.lat,
        }


class PlaceTable(BaseDataTable):
    key, label, model = "place", "场所设施", Place
    unique_code = False
    columns = (
        Column("名称", "name", required=True),
        Column("类型", "kind", required=True, hint="、".join(str(label) for _, label in PlaceKind.choices)),
        Column("地址", "address"),
        Column(GRID.header, GRID.key, required=True, hint=GRID.hint, aliases=GRID.aliases),
        Column("说明", "description"),
        Column("经度", "lng"),
        Column("纬度", "lat"),
    )
    converters = {
        "name": text(100), "kind": choice(PlaceKind), "address": text(200), "grid_code": text(15),
        "description": text(2000), "lng": LNG, "lat": LAT,
    }
    db_columns = (
        "name", "kind", "address", "description", "grid", "region_code", "lng", "lat",
    )

    def db_row(self, v):
        return (
            v["name"], v["kind"], v.get("address", ""), v.get("description", ""), v["grid_id"], v["grid_code"],
            v.get("lng"), v.get("lat"),
        )

    def export_values(self, obj, clear):
        return {
            "name": obj.name, "kind": _label(PlaceKind, obj.kind), "address": obj.address,
            "grid_code": obj.region_code, "description": obj.description, "lng": obj.lng, "lat": obj.lat,
        }

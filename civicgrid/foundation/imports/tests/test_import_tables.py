"""Buildings, houses, households, units and places: import with references by code; scoped, masked exports."""

import csv
import io

import openpyxl
import pytest

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.foundation.imports import registry, services
from civicgrid.foundation.imports.models import JobStatus
from civicgrid.foundation.people import services as people
from civicgrid.foundation.people.models import Building, House, Household, Place, Resident, Unit
from civicgrid.foundation.people.tests.factories import (
    GRID_A,
    GRID_B,
    GRID_C,
    id_number,
    resident_data,
    users,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(tree):
    return users(tree)


def table_csv(headers: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def run(actor, table: str, headers, rows):
    job = services.create_job(actor=actor, table=table, file_name=f"{table}.csv", data=table_csv(headers, rows))
    services.enqueue(job)
    job.refresh_from_db()
    return job


def test_base_data_chain_imports_in_order(actors):
    a = actors["street"]
    job = run(a, "building", ["楼栋编码", "标准地址", "所属网格代码", "用途", "层数", "经度", "纬度"], [
        ["B1", "新建北路1号", GRID_A, "住宅", "6", "113.21", "40.01"],
        ["B2", "新建北路2号", GRID_B, "商住", "", "", ""],
    ])
    assert job.status == JobStatus.DONE, job.errors
    assert Building.objects.get(code="B1").use == "residential" and Building.objects.get(code="B2").use == "mixed"
    job = run(a, "house", ["房屋编码", "楼栋编码", "单元", "房号", "面积（平方米）", "使用情况"], [
        ["B1-1-101", "B1", "1", "101", "85.5", "出租"],
        ["B2-0-201", "B2", "", "201", "", ""],
    ])
    assert job.status == JobStatus.DONE, job.errors
    house = House.objects.get(code="B1-1-101")
    assert house.region_code == GRID_A and str(house.area_m2) == "85.50" and house.use == "rented"
    job = run(a, "household", ["户编号", "住址", "所属网格代码", "房屋编码", "户主姓名", "户籍户"], [
        ["H1", "新建北路1号1单元101", "", "B1-1-101", "张三", "是"],
        ["H2", "新建北路2号201", GRID_B, "", "李四", "否"],
    ])
    assert job.status == JobStatus.DONE, job.errors
    assert Household.objects.get(code="H1").region_code == GRID_A and not Household.objects.get(code="H2").registered
    job = run(a, "unit", ["单位名称", "单位类型", "统一社会信用代码", "所属网格代码", "楼栋编码", "联系电话"], [
        ["平城便民超市", "商铺", "91140200MA0K00000X", GRID_A, "B1", "13900001111"],
    ])
    # The credit code above has a wrong check character: nothing is written, the message says why.
    assert job.status == JobStatus.FAILED and job.errors[0][1] == "统一社会信用代码" and Unit.objects.count() == 0
    job = run(a, "unit", ["单位名称", "单位类型", "统一社会信用代码", "所属网格代码", "楼栋编码", "联系电话"], [
        ["平城便民超市", "商铺", "91350100M000100Y43", GRID_A, "B1", "13900001111"],
        ["古城学校", "学校", "", GRID_B, "", ""],
    ])
    assert job.status == JobStatus.DONE, job.errors
    assert Unit.objects.get(name="平城便民超市").contact_phone_masked == "139****1111"
    job = run(a, "place", ["名称", "类型", "所属网格代码", "经度", "纬度"], [["东关公厕", "公厕", GRID_A, "113.22", "40.02"]])
    assert job.status == JobStatus.DONE and Place.objects.get().kind == "public_toilet"


def test_reference_and_duplicate_errors_apply_nothing(actors):
    a = actors["street"]
    people.create_building(actor=a, data={"code": "B1", "address": "x", "grid_code": GRID_A})
    job = run(a, "building", ["楼栋编码", "标准地址", "所属网格代码", "层数"], [
        ["B1", "已存在", GRID_A, ""],  # row 2: exists in the database
        ["B3", "新楼", GRID_A, "三"],  # row 3: not a number
        ["B4", "新楼", GRID_A, ""],
        ["B4", "重复", GRID_A, ""],  # row 5: repeats row 4
        ["B5", "新楼", "140213050001", ""],  # row 6: a community, not a grid
        ["B6", "新楼", GRID_C, ""],  # row 7: outside the street's scope
    ])
    assert job.status == JobStatus.FAILED
    assert sorted((r, c) for r, c, _ in job.errors) == [
        (2, "楼栋编码"), (3, "层数"), (5, "楼栋编码"), (6, "所属网格代码"), (7, "所属网格代码")
    ]
    assert Building.objects.count() == 1
    job = run(a, "house", ["房屋编码", "楼栋编码", "房号"], [["X-1", "NOPE", "1"]])
    assert job.errors[0][:2] == [2, "楼栋编码"] and House.objects.count() == 0
    job = run(a, "place", ["名称", "类型", "所属网格代码"], [["某地", "火山口", GRID_A]])
    assert job.errors[0][1] == "类型" and "公园广场" in job.errors[0][2]


@pytest.fixture
def residents(actors):
    made = {}
    for grid in (GRID_A, GRID_A, GRID_B, GRID_C):
        number = id_number()
        r = people.create_resident(
            actor=actors["street"] if grid != GRID_C else _superuser(), data=resident_data(grid=grid, id_number=number)
        )
        made[r.pk] = number
    return made


def _superuser():
    from civicgrid.foundation.access.models import User

    return User.objects.create_superuser("root-test", password="Civic-Test-2026!")


def test_export_is_scoped_masked_and_audited(actors, residents):
    body, filename, content_type, count = services.export_table(
        actor=actors["community"], table="resident", fmt="xlsx"
    )
    assert filename.endswith(".xlsx") and "spreadsheet" in content_type
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == [c.header for c in registry.get("resident").columns]
    assert count == len(table) - 1 == 3  # community 140213050001: grids A and B, not C
    numbers = set(residents.values())
    for row in table[1:]:
        assert row[1] not in numbers and "**********" in row[1] and "****" in row[2]
    entry = AuditEntry.objects.filter(action=verbs.Data.EXPORTED).latest("id")
    assert entry.data == {"table": "resident", "region": "", "format": "xlsx", "rows": 3, "clear": False}

    body, *_ , count = services.export_table(actor=actors["community"], table="resident", region=GRID_B, fmt="csv")
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert body.startswith(b"\xef\xbb\xbf") and count == 1 and lines[1][3] == GRID_B


def test_clear_export_needs_reveal_over_the_region_and_is_audited(actors, residents):
    with pytest.raises(PermissionDenied):  # street staff may export but not reveal
        services.export_table(actor=actors["street"], table="resident", region=GRID_A, clear=True)
    with pytest.raises(PermissionDenied):  # clear exports name a region inside the reveal scope
        services.export_table(actor=actors["community"], table="resident", clear=True)
    body, *_ = services.export_table(actor=actors["community"], table="resident", region=GRID_A, fmt="csv", clear=True)
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert {line[1] for line in lines[1:]} == {n for pk, n in residents.items() if Resident.objects.get(pk=pk).region_code == GRID_A}
    entry = AuditEntry.objects.filter(action=verbs.Data.EXPORTED).latest("id")
    assert entry.data["clear"] is True and entry.data["rows"] == 2
    with pytest.raises(PermissionDenied):
        services.export_table(actor=actors["worker"], table="resident")  # grid workers do not export


def test_export_of_every_type_uses_the_import_headers(actors, residents):
    a = actors["street"]
    people.create_building(actor=a, data={"code": "B1", "address": "新建北路1号", "grid_code": GRID_A, "floors": 5})
    people.create_house(actor=a, data={"code": "B1-101", "building_code": "B1", "room_no": "101", "area_m2": "70.25"})
    for key in ("building", "house", "household", "unit", "place"):
        body, *_ = services.export_table(actor=a, table=key, fmt="xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        assert [c.value for c in sheet[1]] == [c.header for c in registry.get(key).columns]
    body, *_ = services.export_table(actor=a, table="house", fmt="xlsx")
    row = [c.value for c in openpyxl.load_workbook(io.BytesIO(body)).active[2]]
    assert row[:4] == ["B1-101", "B1", None, "101"] and float(row[4]) == 70.25 and row[5] == "自住"

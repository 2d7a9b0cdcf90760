"""Ledger import: all rows or none, every broken row listed (row, column, message in Chinese); CSV (UTF-8 and
GBK) and XLSX; the command and its exit code."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from civicgrid.apps.hazards.importers import import_hazards
from civicgrid.apps.hazards.models import Hazard, HazardSequence, HazardStep
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import OTHER_STREET_POINT, POINT

pytestmark = pytest.mark.django_db
HEADER = ["隐患名称", "隐患类别", "隐患等级", "经度", "纬度", "地址", "责任单位", "责任人", "联系电话", "威胁人数",
          "威胁户数", "发现日期", "发现方式"]


def good_row(name="甲路低洼积水点", category="低洼易涝点", grade="一般", lng=POINT[0], lat=POINT[1]):
    return [name, category, grade, lng, lat, "甲路12号", "区城管局", "张三", "13912345678", 30, 10, "2023/5/20",
            "季节性检查"]


def csv_bytes(rows, encoding="utf-8-sig") -> bytes:
    lines = [",".join(HEADER)] + [",".join(str(v) for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_good_csv_registers_every_row(world):
    rows = [good_row(), good_row("乙街排水不畅", "排水不畅", "重大"), good_row("丙巷屋顶漏雨", "roof_leak")]
    result = import_hazards(actor=world.street, data=csv_bytes(rows), filename="a.csv", default_kind="flood")
    assert result.ok and result.created == 3, result.errors
    hazards = list(Hazard.objects.order_by("code"))
    assert [h.category for h in hazards] == ["low_lying", "poor_drainage", "roof_leak"]
    assert hazards[1].grade == "major" and hazards[1].is_supervised
    assert hazards[0].found_on.isoformat() == "2023-05-20" and hazards[0].found_by == "seasonal"
    assert hazards[0].owner_phone_masked == "139****5678" and hazards[0].patron_department == world.patron
    assert hazards[0].threatened_people == 30 and hazards[0].description == "甲路低洼积水点"
    assert AuditEntry.objects.filter(action="data.imported", target_type="hazards.hazard").count() == 1


def test_gbk_csv_and_xlsx(world):
    assert import_hazards(actor=world.street, data=csv_bytes([good_row()], "gbk"), default_kind="flood").ok
    result = import_hazards(actor=world.street, data=xlsx_bytes([good_row("丁路积水")]), filename="b.xlsx",
                            default_kind="flood")
    assert result.ok, result.errors
    assert Hazard.objects.count() == 2


def test_broken_rows_apply_nothing_and_are_all_listed(world):
    rows = [
        good_row(),                                          # row 2: fine
        good_row(category="火山口"),                          # row 3: category
        good_row(grade="特大"),                               # row 4: grade
        good_row(lng="东经"),                                 # row 5: number
        good_row(lng=112.0, lat=39.0),                        # row 6: outside the district
        good_row(name=""),                                    # row 7: name
        good_row(),                                           # row 8: fine
    ]
    rows[5][8] = "12345"  # row 7 also has a bad phone: both of its problems are listed
    result = import_hazards(actor=world.street, data=csv_bytes(rows), default_kind="flood")
    assert not result.ok
    by_row = {e["row"]: e for e in result.errors if e["column"] != "联系电话"}
    assert set(by_row) == {3, 4, 5, 6, 7}
    assert [e["column"] for e in result.errors if e["row"] == 7] == ["联系电话", "隐患名称"]
    assert by_row[3]["column"] == "隐患类别" and "隐患类别" in by_row[3]["message"]
    assert by_row[4]["column"] == "隐患等级"
    assert by_row[5]["column"] == "经度" and "数字" in by_row[5]["message"]
    assert "不在本区" in by_row[6]["message"]
    assert by_row[7]["column"] == "隐患名称"
    assert Hazard.objects.count() == 0 and HazardStep.objects.count() == 0
    assert not HazardSequence.objects.filter(last__gt=0).exists()
    assert not AuditEntry.objects.filter(action__in=["data.imported", "hazards.register"]).exists()


def test_scope_is_checked_per_row(world):
    rows = [good_row(), good_row(lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])]
    result = import_hazards(actor=world.street, data=csv_bytes(rows), default_kind="flood")
    assert not result.ok and [e["row"] for e in result.errors] == [3] and "权限范围" in result.errors[0]["message"]
    assert Hazard.objects.count() == 0


def test_missing_columns_and_kind(world):
    data = "名称,经度\n甲,113.21\n".encode()
    result = import_hazards(actor=world.street, data=data, default_kind="flood")
    assert {e["column"] for e in result.errors} == {"隐患类别", "纬度"} and {e["row"] for e in result.errors} == {1}
    result = import_hazards(actor=world.street, data=csv_bytes([good_row()]))  # no kind column, no --kind
    assert not result.ok and result.errors[0]["column"] == "隐患类型"
    assert Hazard.objects.count() == 0


def test_not_a_table(world):
    result = import_hazards(actor=world.street, data=b"\x00\x01\x02binary", filename="x.xls", default_kind="flood")
    assert not result.ok and result.errors


def test_grid_worker_may_not_import(world):
    from civicgrid.foundation.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        import_hazards(actor=world.worker, data=csv_bytes([good_row()]), default_kind="flood")


def test_command(world, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([good_row(), good_row("乙")]))
    call_command("import_hazards", str(good), "--kind", "flood")
    assert Hazard.objects.count() == 2
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes([good_row("丙"), good_row(category="不存在")]))
    with pytest.raises(CommandError):
        call_command("import_hazards", str(bad), "--kind", "flood")
    err = capsys.readouterr().err
    assert "第 3 行「隐患类别」" in err and "未写入任何数据" in err
    assert Hazard.objects.count() == 2

"""Rainfall files: all or nothing, every broken row reported; the command does the same."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicgrid.apps.flood import services
from civicgrid.apps.flood.models import FloodResponse, RainfallReading

from .conftest import ago

pytestmark = pytest.mark.django_db
HEAD = "站点编号,纬度,经度,观测时间,时段（小时）,雨量（毫米）\n"


def csv_of(*rows, encoding="utf-8-sig") -> bytes:
    return (HEAD + "".join(",".join(str(c) for c in r) + "\n" for r in rows)).encode(encoding)


def test_a_clean_file_is_stored_and_raises_the_signal(flood):
    data = csv_of(("RG-A1", 40.01, 113.21, ago(60), 1, 12.5), ("RG-A1", 40.01, 113.21, ago(10), 3, 60),
                  ("RG-B1", 40.01, 113.29, ago(10), 3, 8), encoding="gb18030")
    result = services.import_rainfall(actor=flood["staff_a"].__class__.objects.get(username="centre"), data=data,
                                      filename="雨量.csv")
    assert result.ok, result.errors
    assert (result.rows, result.created) == (3, 3)
    assert FloodResponse.objects.get().level == "II"
    assert set(RainfallReading.objects.values_list("source", flat=True)) == {"csv"}


def test_one_broken_row_stores_nothing_and_every_problem_is_reported(flood):
    data = csv_of(("RG-A1", 40.01, 113.21, ago(10), 3, 60), ("RG-A2", 40.01, 113.21, ago(10), 0, 5),
                  ("RG-A3", 39.0, 112.0, ago(10), 3, 5), ("RG-A4", 40.01, 113.21, ago(10), 3, -2))
    result = services.import_rainfall(actor=flood["dispatcher"], data=data, filename="r.csv")
    assert not result.ok and result.created == 0
    assert [(row, col) for row, col, _ in result.errors] == [(3, "时段（小时）"), (4, "纬度"), (5, "雨量（毫米）")]
    assert RainfallReading.objects.count() == 0
    assert not FloodResponse.objects.exists()


def test_missing_columns_are_named(flood):
    from civicgrid.foundation.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        services.import_rainfall(actor=flood["dispatcher"], data="站点编号,雨量\nA,1\n".encode(), filename="x.csv")
    assert "缺少列" in exc.value.message


def test_street_staff_cannot_import_another_streets_readings(flood):
    data = csv_of(("RG-B1", 40.01, 113.29, ago(10), 3, 8))
    result = services.import_rainfall(actor=flood["staff_a"], data=data, filename="r.csv")
    assert not result.ok and RainfallReading.objects.count() == 0


def test_command(flood, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_of(("RG-A1", 40.01, 113.21, ago(10), 3, 20)))
    call_command("import_rainfall", str(good))
    assert RainfallReading.objects.count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_of(("RG-A2", 40.01, 113.21, ago(10), 3, 20), ("RG-A3", 40.01, 113.21, ago(10), 99, 1)))
    with pytest.raises(CommandError):
        call_command("import_rainfall", str(bad))
    assert "第 3 行" in capsys.readouterr().err
    assert RainfallReading.objects.count() == 1


def test_water_level_file(flood, tmp_path):
    from civicgrid.apps.flood.models import WaterLevelReading

    head = "站点编号,纬度,经度,观测时间,水位（米）\n"
    good = head + f"SW-1,40.01,113.21,{ago(20)},1.5\nSW-1,40.01,113.21,{ago(10)},1.7\n"
    result = services.import_rainfall(actor=flood["dispatcher"], data=good.encode(), filename="w.csv", water=True)
    assert result.ok and result.created == 2
    bad = head + f"SW-2,40.01,113.21,{ago(20)},abc\n"
    result = services.import_rainfall(actor=flood["dispatcher"], data=bad.encode(), filename="w.csv", water=True)
    assert result.errors[0][:2] == (2, "水位（米）")
    assert WaterLevelReading.objects.count() == 2
    path = tmp_path / "w.csv"
    path.write_bytes((head + f"SW-3,40.01,113.21,{ago(5)},2.0\n").encode())
    call_command("import_rainfall", str(path), "--water")
    assert WaterLevelReading.objects.count() == 3

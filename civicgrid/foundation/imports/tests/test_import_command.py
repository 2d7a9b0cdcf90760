"""Command line: `import_table` with a progress bar, dry run and report; `export_table` read back with openpyxl."""

import io

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from civicgrid.foundation.imports.models import ImportJob
from civicgrid.foundation.people.models import Resident
from civicgrid.foundation.people.tests.factories import users

from .test_import_residents import HEADERS, csv_bytes, rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(tree):
    return users(tree)


def test_import_prints_progress_and_applies(tmp_path, actors, monkeypatch):
    from civicgrid.foundation.people.importers import ResidentTable

    monkeypatch.setattr(ResidentTable, "batch_size", 20)
    path = tmp_path / "居民.csv"
    path.write_bytes(csv_bytes(rows(50), "gbk"))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_table", "--type", "resident", "--file", str(path), stdout=out, stderr=err)
    assert Resident.objects.count() == 50
    progress = err.getvalue()
    assert "校验中" in progress and "已完成" in progress and "100%" in progress and "\r[" in progress
    assert "已写入 50 行" in out.getvalue()


def test_dry_run_and_failing_file_write_a_report_and_nothing_else(tmp_path, actors):
    path = tmp_path / "居民.csv"
    data = rows(5)
    path.write_bytes(csv_bytes(data))
    call_command("import_table", "--type", "residents", "--file", str(path), "--dry-run", stdout=io.StringIO(),
                 stderr=io.StringIO())
    assert Resident.objects.count() == 0 and ImportJob.objects.get().dry_run
    data[2][1] = "110101199001011234"  # wrong check character
    path.write_bytes(csv_bytes(data))
    report = tmp_path / "report.xlsx"
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_table", "--type", "resident", "--file", str(path), "--report", str(report),
                     "--user", actors["community"].username, stdout=io.StringIO(), stderr=err)
    assert exc.value.returncode == 2
    assert "第 4 行「身份证号」" in err.getvalue() and Resident.objects.count() == 0
    sheet = openpyxl.load_workbook(report).active
    assert sheet.cell(row=2, column=len(HEADERS) + 1).value == 4 and sheet.max_row == 2  # the flagged row only
    assert sheet.cell(row=2, column=2).value == "110101199001011234"  # the community officer may reveal it
    with pytest.raises(CommandError):
        call_command("import_table", "--type", "resident", "--file", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError):  # grid workers may not import
        call_command("import_table", "--type", "resident", "--file", str(path), "--user", actors["worker"].username)


def test_export_command_writes_an_xlsx_with_chinese_headers(tmp_path, actors):
    path = tmp_path / "in.csv"
    path.write_bytes(csv_bytes(rows(7)))
    call_command("import_table", "--type", "resident", "--file", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    out_file = tmp_path / "out.xlsx"
    out = io.StringIO()
    call_command("export_table", "--type", "resident", "--region", "140213050", "--format", "xlsx",
                 "--out", str(out_file), "--user", actors["street"].username, stdout=out)
    assert "已导出 7 行" in out.getvalue()
    table = list(openpyxl.load_workbook(out_file).active.iter_rows(values_only=True))
    assert list(table[0]) == HEADERS and len(table) == 8
    assert all("**********" in row[1] for row in table[1:])

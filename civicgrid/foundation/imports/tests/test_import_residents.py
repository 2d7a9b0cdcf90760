"""Resident imports: encodings and formats, all-or-nothing with a row-by-row report, fix and resubmit, limits."""

import csv
import io

import openpyxl
import pytest

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.imports import services
from civicgrid.foundation.imports.models import ImportJob, JobStatus
from civicgrid.foundation.people import personal
from civicgrid.foundation.people import services as people
from civicgrid.foundation.people.models import Household, Resident
from civicgrid.foundation.people.tests.factories import (
    GRID_A,
    GRID_B,
    GRID_C,
    bad_check,
    id_number,
    resident_data,
    users,
)

pytestmark = pytest.mark.django_db
HEADERS = ["姓名", "身份证号", "联系电话", "所属网格代码", "户编号", "与户主关系", "人口类型", "民族", "工作单位"]


@pytest.fixture
def actors(tree):
    return users(tree)


def rows(n: int, grid: str = GRID_A, household: str = "") -> list[list[str]]:
    return [[f"居民{i}", id_number(), f"139{i:08d}", grid, household, "户主" if i == 0 else "子女", "户籍人口", "汉族", ""]
            for i in range(n)]


def csv_bytes(data: list[list[str]], encoding: str = "utf-8-sig", headers=HEADERS) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(data)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(data: list[list[str]], headers=HEADERS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in data:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run(actor, data: bytes, name: str = "居民.csv", table: str = "resident", **kw) -> ImportJob:
    job = services.create_job(actor=actor, table=table, file_name=name, data=data, **kw)
    services.enqueue(job)  # the immediate task backend runs it now
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("fmt", ["gbk", "utf-8-sig", "utf-8", "xlsx"])
def test_clean_file_is_applied_in_every_format(actors, fmt):
    data = rows(12)
    body = xlsx_bytes(data) if fmt == "xlsx" else csv_bytes(data, fmt)
    job = run(actors["community"], body, name=f"居民.{'xlsx' if fmt == 'xlsx' else 'csv'}")
    assert job.status == JobStatus.DONE, job.message
    assert job.applied_rows == job.total_rows == job.processed_rows == 12 and job.error_count == 0
    assert Resident.objects.count() == 12
    r = Resident.objects.get(name="居民3")
    number = data[3][1]
    assert r.id_number_index == personal.id_index(number) and r.id_number_masked == number[:4] + "*" * 10 + number[-4:]
    assert keys.decrypt(r.id_number_enc, personal.ID_CONTEXT) == number and r.birth_date and r.sex
    assert r.phone_masked == "139****0003" and r.region_code == GRID_A and r.grid.code == GRID_A
    entry = AuditEntry.objects.get(action=verbs.Data.IMPORTED, target_id=str(job.pk))
    assert entry.data == {"table": "resident", "rows": 12, "errors": 0, "applied": 12, "job": job.pk,
                          "file": job.file_name, "user_agent": ""}
    assert not job.stored_file  # the upload is deleted once applied


def test_broken_rows_fail_the_whole_file_with_a_report_then_fixed_file_applies(actors):
    data = rows(30)
    good_number = data[11][1]
    data[11][1] = bad_check(good_number)  # row 13 in Excel terms (header is row 1)
    data[4][3] = "140213099999001"  # unknown grid: row 6
    data[20][1] = data[2][1]  # duplicate of row 4: row 22
    data[25][2] = "12345"  # bad phone: row 27
    data[7][0] = ""  # missing name: row 9
    job = run(actors["community"], csv_bytes(data, "gbk"))
    assert job.status == JobStatus.FAILED and job.applied_rows == 0
    assert Resident.objects.count() == 0  # nothing applied
    found = {(row, column) for row, column, _ in job.errors}
    assert found == {(13, "身份证号"), (6, "所属网格代码"), (22, "身份证号"), (27, "联系电话"), (9, "姓名")}
    message = next(m for r, c, m in job.errors if r == 13)
    assert f"校验位错误，应为 {good_number[17]}" in message and good_number not in message
    assert "第 4 行" in next(m for r, c, m in job.errors if r == 22)
    assert AuditEntry.objects.get(action=verbs.Data.IMPORTED, target_id=str(job.pk)).result == "failed"

    body, filename, _ = services.error_report(job, "xlsx")
    assert filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == HEADERS + ["错误行", "错误字段", "错误说明"]
    assert [r[9] for r in table[1:]] == [6, 9, 13, 22, 27]  # the flagged rows only, in file order
    row13 = table[3]
    assert row13[1] == data[11][1] and row13[10] == "身份证号" and "校验位错误" in row13[11]

    # Fix the flagged rows in the file and resubmit it.
    data[11][1] = good_number
    data[4][3] = GRID_A
    data[20][1] = id_number()
    data[25][2] = "13900000000"
    data[7][0] = "补名"
    again = run(actors["community"], xlsx_bytes(data), name="修改后.xlsx")
    assert again.status == JobStatus.DONE, again.errors[:3]
    assert Resident.objects.count() == 30


def test_duplicates_against_the_database_and_unknown_households(actors):
    existing = people.create_resident(actor=actors["community"], data=resident_data())
    number = keys.decrypt(existing.id_number_enc, personal.ID_CONTEXT)
    people.create_household(actor=actors["community"], data={"code": "HH9", "address": "x", "grid_code": GRID_A})
    data = rows(3, household="HH9")
    data[0][1] = number
    data[1][4] = "NOPE"
    data[2][3] = GRID_B  # household HH9 is in grid A
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.FAILED
    assert {(r, c) for r, c, _ in job.errors} == {(2, "身份证号"), (3, "户编号"), (4, "所属网格代码")}
    assert Resident.objects.count() == 1 and Household.objects.get(code="HH9").size == 0


def test_household_sizes_and_grid_taken_from_the_household(actors):
    people.create_household(actor=actors["community"], data={"code": "HH1", "address": "x", "grid_code": GRID_B})
    data = rows(3, grid="", household="HH1")
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.DONE, job.errors
    assert set(Resident.objects.values_list("region_code", flat=True)) == {GRID_B}
    assert Household.objects.get(code="HH1").size == 3


def test_rows_outside_the_importers_scope_are_errors(actors):
    data = rows(2)
    data[1][3] = GRID_C  # another street
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.FAILED and [(r, c) for r, c, _ in job.errors] == [(3, "所属网格代码")]
    assert "管理范围" in job.errors[0][2] and Resident.objects.count() == 0
    with pytest.raises(PermissionDenied):  # grid workers may not import at all
        services.create_job(actor=actors["worker"], table="resident", file_name="a.csv", data=csv_bytes(rows(1)))
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize(
    "body, name, fragment",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", ".xls"),
        (b"PK\x03\x04not really a zip", "x.xlsx", "损坏"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "photo.csv", "这是 PNG 图片文件，不是表格"),
        ("身份,电话\n1,2\n".encode(), "x.csv", "缺少必填列：姓名"),
        (b"", "empty.csv", "空"),
    ],
)
def test_wrong_files_are_refused_at_upload(actors, body, name, fragment):
    with pytest.raises(ValidationFailed) as exc:
        services.create_job(actor=actors["community"], table="resident", file_name=name, data=body)
    assert fragment in exc.value.message
    assert ImportJob.objects.count() == 0


def test_oversized_files_are_refused(actors, settings):
    settings.CIVICGRID_MAX_IMPORT_BYTES = 2000
    with pytest.raises(ValidationFailed) as exc:
        services.create_job(actor=actors["community"], table="resident", file_name="big.csv", data=csv_bytes(rows(40)))
    assert "过大" in exc.value.message and ImportJob.objects.count() == 0


def test_unknown_table_type_and_an_empty_table(actors):
    with pytest.raises(ValidationFailed):
        services.create_job(actor=actors["community"], table="aliens", file_name="a.csv", data=csv_bytes(rows(1)))
    job = run(actors["community"], csv_bytes([]))
    assert job.status == JobStatus.FAILED and "没有数据行" in job.errors[0][2]


def test_progress_fields_move_and_dry_run_writes_nothing(actors, monkeypatch):
    from civicgrid.foundation.people.importers import ResidentTable

    monkeypatch.setattr(ResidentTable, "batch_size", 10)
    seen = []
    job = services.create_job(actor=actors["community"], table="resident", file_name="a.csv", data=csv_bytes(rows(35)))
    assert job.status == JobStatus.QUEUED and job.total_rows == 35  # estimated from the file at upload
    services.run_import(job, progress=lambda j: seen.append((j.status, j.processed_rows, j.applied_rows, j.percent)))
    validating = [s for s in seen if s[0] == JobStatus.VALIDATING]
    assert [s[1] for s in validating] == [10, 20, 30]
    assert any(s[0] == JobStatus.APPLYING and s[2] == 35 for s in seen)
    assert seen[-1] == (JobStatus.DONE, 35, 35, 100)
    assert [s[3] for s in seen] == sorted(s[3] for s in seen)  # the bar never goes back
    dry = run(actors["community"], csv_bytes(rows(5)), dry_run=True)
    assert dry.status == JobStatus.DONE and dry.applied_rows == 0 and "仅校验" in dry.message
    assert Resident.objects.count() == 35


def test_csv_error_report_and_foreign_residents(actors):
    data = rows(2)
    data[0][1] = ""  # ID number required …
    data[1][1], data[1][6] = "", "境外人员"  # … except for foreign residents
    job = run(actors["community"], csv_bytes(data))
    assert [(r, c) for r, c, _ in job.errors] == [(2, "身份证号")]
    body, filename, content_type = services.error_report(job, "csv")
    assert body.startswith(b"\xef\xbb\xbf") and filename.endswith(".csv") and "csv" in content_type
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert lines[0][-3:] == ["错误行", "错误字段", "错误说明"] and lines[1][-3] == "2"

"""Web pages: upload (queued task), job page with an htmx-polled progress fragment, report and export downloads."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.foundation.imports.models import ImportJob, JobStatus
from civicgrid.foundation.people.models import Resident
from civicgrid.foundation.people.tests.factories import users

from .test_import_residents import csv_bytes, rows, xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(tree):
    return users(tree)


@pytest.fixture
def signed_in(client, actors):
    client.force_login(actors["community"])
    return client


def upload(client, body: bytes, name: str, table: str = "resident", **extra):
    return client.post(
        reverse("ui:imports_home"), {"table": table, "file": SimpleUploadedFile(name, body), **extra}
    )


def test_upload_runs_the_job_and_the_page_shows_progress(signed_in):
    home = signed_in.get(reverse("ui:imports_home"))
    assert home.status_code == 200 and "导入" in home.content.decode()
    resp = upload(signed_in, xlsx_bytes(rows(4)), "居民.xlsx")
    job = ImportJob.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse("ui:import_job", args=[job.pk])
    assert job.status == JobStatus.DONE and Resident.objects.count() == 4
    page = signed_in.get(resp["Location"]).content.decode()
    assert "已完成" in page and 'value="100"' in page and "hx-trigger" not in page  # finished: polling stops


def test_running_job_fragment_polls_and_failed_job_offers_the_report(signed_in, actors):
    from civicgrid.foundation.imports import services

    queued = services.create_job(actor=actors["community"], table="resident", file_name="a.csv", data=csv_bytes(rows(2)))
    fragment = signed_in.get(reverse("ui:import_progress", args=[queued.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "排队中" in fragment
    data = rows(3)
    data[1][1] = "not-an-id"
    upload(signed_in, csv_bytes(data, "gbk"), "坏.csv")
    job = ImportJob.objects.exclude(pk=queued.pk).get()
    page = signed_in.get(reverse("ui:import_job", args=[job.pk])).content.decode()
    assert "未通过" in page and "下载错误报告" in page and "身份证号" in page
    report = signed_in.get(reverse("ui:import_report", args=[job.pk]))
    assert report.status_code == 200 and report["Cache-Control"] == "no-store"
    from civicgrid.foundation.audit.models import AuditEntry

    entry = AuditEntry.objects.filter(action="data.exported", target_id=str(job.pk)).get()
    assert entry.actor == actors["community"] and entry.data["report"] is True
    sheet = openpyxl.load_workbook(io.BytesIO(report.content)).active
    assert sheet.cell(row=2, column=10).value == 3 and sheet.max_row == 2  # the flagged row only
    assert Resident.objects.count() == 0


def test_bad_uploads_show_a_message_and_create_nothing(signed_in):
    resp = upload(signed_in, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "old.xls")
    assert resp.status_code == 400 and ".xls" in resp.content.decode()
    resp = signed_in.post(reverse("ui:imports_home"), {"table": "resident"})
    assert resp.status_code == 400
    assert ImportJob.objects.count() == 0


def test_jobs_are_private_to_their_scope_and_pages_need_the_capability(client, actors):
    from civicgrid.foundation.imports import services

    job = services.create_job(actor=actors["community"], table="resident", file_name="a.csv", data=csv_bytes(rows(1)))
    client.force_login(actors["worker"])  # no import or export capability
    assert client.get(reverse("ui:imports_home")).status_code == 403
    assert client.get(reverse("ui:import_job", args=[job.pk])).status_code == 404
    client.force_login(actors["street"])  # the street contains the community: may follow its jobs
    assert client.get(reverse("ui:import_job", args=[job.pk])).status_code == 200


def test_export_and_template_downloads(signed_in, actors):
    upload(signed_in, csv_bytes(rows(3)), "a.csv")
    resp = signed_in.get(reverse("ui:export_resident"), {"format": "xlsx"})
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    table = list(openpyxl.load_workbook(io.BytesIO(resp.content)).active.iter_rows(values_only=True))
    assert len(table) == 4 and all("**********" in r[1] for r in table[1:])
    clear = signed_in.get(reverse("ui:export_resident"), {"format": "csv", "clear": "on"})
    assert clear.status_code == 403  # a clear export names a region
    template = signed_in.get(reverse("ui:import_template", args=["building"]))
    sheet = openpyxl.load_workbook(io.BytesIO(template.content)).active
    assert sheet.cell(row=1, column=1).value == "楼栋编码"


def test_the_pages_speak_the_readers_language(signed_in, actors):
    import re

    from django.conf import settings
    from django.utils import translation

    from civicgrid.foundation.imports import services

    def errors_table(page: str) -> str:
        return page.split("<table>", 1)[1].split("</table>", 1)[0]

    data = rows(2)
    data[1][1] = "not-an-id"
    upload(signed_in, csv_bytes(data), "坏.csv")
    bad = ImportJob.objects.get()
    # A problem of the whole file (a reader's error found while running) is kept as row 0.
    whole = services.run_import(services.create_job(actor=actors["community"], table="resident",
                                                    file_name="b.csv", data=csv_bytes(rows(1))))
    ImportJob.objects.filter(pk=whole.pk).update(status=JobStatus.FAILED, error_count=1,
                                                 errors=[[0, "文件", "文件无法读取 / the file cannot be read"]])
    try:
        page = signed_in.get(reverse("ui:import_job", args=[bad.pk])).content.decode()
        assert "发现 1 处错误" in page and "errors found" not in page
        table = errors_table(page)
        assert "行号" in table and " / " not in table
        table = errors_table(signed_in.get(reverse("ui:import_job", args=[whole.pk])).content.decode())
        assert "<td>整个文件</td>" in table and "<td>0</td>" not in table and "the file cannot be read" not in table
        assert signed_in.post(reverse("ui:imports_home"), {"table": "resident"}).content.decode().count(
            "请选择要上传的文件") == 1
        assert "choose a file" not in signed_in.post(reverse("ui:imports_home"), {"table": "resident"}).content.decode()

        signed_in.post("/i18n/setlang/", {"language": "en", "next": "/imports/"})
        page = signed_in.get(reverse("ui:import_job", args=[bad.pk])).content.decode()
        assert "1 errors found; nothing was written" in page and "发现 1 处错误" not in page
        table = errors_table(page)
        assert ">Row<" in table and ">rows<" not in table and " / " not in table
        assert not re.search(r"[\u3000-\u303f\uff00-\uffef]", table.split("</thead>", 1)[1]), table
        table = errors_table(signed_in.get(reverse("ui:import_job", args=[whole.pk])).content.decode())
        assert "<td>File</td>" in table and "the file cannot be read" in table and "无法读取" not in table
        home = signed_in.post(reverse("ui:imports_home"), {"table": "resident"}).content.decode()
        assert "choose a file" in home and "请选择要上传的文件" not in home
    finally:
        translation.activate(settings.LANGUAGE_CODE)


def _zipped(*names: str) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buf.getvalue()


WRONG_KINDS = [  # (members, Chinese, English): a file that is a ZIP but not an .xlsx workbook
    (("xl/workbook.bin",), "这是 .xlsb 二进制工作簿，请另存为 .xlsx 或 CSV 后再上传",
     "this is a binary .xlsb workbook: save it as .xlsx or CSV and upload again"),
    (("content.xml", "mimetype"), "这是 OpenDocument（.ods）表格，请另存为 .xlsx 或 CSV 后再上传",
     "this is an OpenDocument (.ods) sheet: save it as .xlsx or CSV and upload again"),
    (("word/document.xml",), "这是 Word 文档，请另存为 .xlsx 或 CSV 后再上传",
     "this is a Word document: save it as .xlsx or CSV and upload again"),
    (("photos/a.jpg",), "这是 ZIP 压缩包，请另存为 .xlsx 或 CSV 后再上传",
     "this is a ZIP archive: save it as .xlsx or CSV and upload again"),
]


@pytest.mark.parametrize("members,chinese,english", WRONG_KINDS)
def test_a_zip_that_is_no_workbook_is_explained_in_one_language(signed_in, members, chinese, english):
    from django.conf import settings
    from django.utils import translation

    try:
        response = upload(signed_in, _zipped(*members), "居民.xlsx")
        assert response.status_code == 400
        error = response.content.decode().split('<p class="error" role="alert">', 1)[1].split("</p>", 1)[0]
        assert error == chinese
        signed_in.post("/i18n/setlang/", {"language": "en", "next": "/imports/"})
        response = upload(signed_in, _zipped(*members), "residents.xlsx")
        assert response.status_code == 400
        error = response.content.decode().split('<p class="error" role="alert">', 1)[1].split("</p>", 1)[0]
        assert error == english
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    assert ImportJob.objects.count() == 0  # refused: no job, nothing stored

"""What an import's error report gives away: the flagged rows only, with personal numbers masked unless the
reader may reveal them over the job's region (and the trail says which it was)."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.pii import mask_id_number, mask_phone
from civicgrid.foundation.imports import services
from civicgrid.foundation.imports.models import ImportJob
from civicgrid.foundation.people.models import Unit
from civicgrid.foundation.people.tests.factories import COMMUNITY_A, GRID_A, users

from .test_import_residents import csv_bytes, rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(tree):
    return users(tree)


@pytest.fixture
def uploaded(api_client, token_for, actors):
    """A community officer's dry run of three residents, the second with a bad phone (row 3)."""
    data = rows(3)
    data[1][2] = "12345"
    resp = api_client.post("/api/v1/imports", {"table": "resident", "dry_run": "true",
                                               "file": SimpleUploadedFile("居民.csv", csv_bytes(data))},
                           **token_for(actors["community"]))
    assert resp.status_code == 202, resp.content
    job = ImportJob.objects.get(pk=resp.json()["id"])
    assert job.region_code == COMMUNITY_A and [(r, c) for r, c, _ in job.errors] == [(3, "联系电话")]
    return job, data


def _lines(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _report_entries(job):
    return AuditEntry.objects.filter(action=verbs.Data.EXPORTED, target_type="imports.importjob",
                                     target_id=str(job.pk))


@pytest.mark.parametrize("path", ["api", "web"])
def test_a_reader_who_may_not_reveal_gets_the_flagged_row_masked(uploaded, actors, api_client, token_for, client,
                                                                  path):
    job, data = uploaded
    street = actors["street"]  # follows the community's jobs (import scope), may not reveal numbers
    if path == "api":
        response = api_client.get(f"/api/v1/imports/{job.pk}/report", {"format": "csv"}, **token_for(street))
    else:
        client.force_login(street)
        response = client.get(reverse("ui:import_report", args=[job.pk]), {"format": "csv"})
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    lines = _lines(response.content)
    assert len(lines) == 2  # the header and the flagged row: the rows without errors are not in the report
    flagged = lines[1]
    assert flagged[0] == data[1][0] and flagged[9] == "3" and flagged[10] == "联系电话"
    assert flagged[1] == mask_id_number(data[1][1]) and flagged[2] == mask_phone("12345") != "12345"
    for row in (data[0], data[2]):  # nobody else in the file
        assert row[0] not in text and row[1] not in text and row[2] not in text
    assert data[1][1] not in text
    entry = _report_entries(job).get()
    assert entry.actor == street and entry.result == "ok"
    assert entry.data == {"table": "resident", "report": True, "format": "csv", "rows": 1, "clear": False}


def test_a_reader_who_may_reveal_over_the_region_reads_the_row_as_written_and_the_trail_says_so(
        uploaded, actors, api_client, token_for):
    job, data = uploaded
    community = actors["community"]  # holds people.reveal over the job's community
    response = api_client.get(f"/api/v1/imports/{job.pk}/report", {"format": "csv"}, **token_for(community))
    lines = _lines(response.content)
    assert len(lines) == 2 and lines[1][1] == data[1][1] and lines[1][2] == "12345"
    assert data[0][1] not in response.content.decode("utf-8-sig")
    entry = _report_entries(job).get()
    assert entry.actor == community and entry.data["clear"] is True and entry.data["rows"] == 1


def test_the_report_is_as_private_as_the_job(uploaded, actors, api_client, token_for):
    job, _ = uploaded
    for role in ("worker", "leader"):  # no import scope over the job
        headers = token_for(actors[role])
        assert api_client.get(f"/api/v1/imports/{job.pk}/report", {"format": "csv"}, **headers).status_code == 404
    assert not _report_entries(job).exists()


def test_a_units_contact_phone_is_masked_too(actors):
    body = f"单位名称,单位类型,所属网格代码,联系电话\n便民超市,火山口,{GRID_A},13912345678\n"
    job = services.create_job(actor=actors["community"], table="unit", file_name="单位.csv",
                              data=body.encode("utf-8-sig"), dry_run=True)
    services.enqueue(job)
    job.refresh_from_db()
    assert [c for _, c, _ in job.errors] == ["单位类型"]
    report, *_ = services.error_report(job, "csv", actor=actors["street"])
    assert _lines(report)[1][3] == "139****5678"
    report, *_ = services.error_report(job, "csv", actor=actors["community"])
    assert _lines(report)[1][3] == "13912345678"
    assert Unit.objects.count() == 0

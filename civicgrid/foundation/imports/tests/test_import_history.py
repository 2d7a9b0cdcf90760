"""An import's trail: the job keeps where the upload came from, its audit entries carry it, and the rows it
created or changed show the job in their history (one entry per job, not per row)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.imports.models import ImportedChange, ImportJob, JobStatus
from civicgrid.foundation.people import services as people
from civicgrid.foundation.people.models import Household, Resident
from civicgrid.foundation.people.tests.factories import GRID_A, users

from .test_import_residents import csv_bytes, rows

pytestmark = pytest.mark.django_db
AGENT = "Mozilla/5.0 (tester) Chromium/130"


@pytest.fixture
def actors(tree):
    return users(tree)


def _web_upload(client, body: bytes, name: str, address: str):
    return client.post(
        reverse("ui:imports_home"), {"table": "resident", "file": SimpleUploadedFile(name, body)},
        REMOTE_ADDR=address, HTTP_USER_AGENT=AGENT,
    )


def _job_entries(job):
    return list(AuditEntry.objects.filter(target_type="imports.importjob", target_id=str(job.pk)))


def test_api_import_keeps_the_uploader_address_and_the_rows_show_the_job(api_client, token_for, actors, client):
    community = actors["community"]
    household = people.create_household(actor=community, data={"code": "HH1", "address": "x", "grid_code": GRID_A})
    client.force_login(community)
    assert _web_upload(client, csv_bytes(rows(4, household="HH1")), "先.csv", "198.51.100.4").status_code == 302
    first = ImportJob.objects.get()
    resp = api_client.post(
        "/api/v1/imports", {"table": "resident", "file": SimpleUploadedFile("后.csv", csv_bytes(rows(1, household="HH1")))},
        REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=AGENT, **token_for(community),
    )
    assert resp.status_code == 202 and resp.json()["status"] == "done", resp.content
    job = ImportJob.objects.get(pk=resp.json()["id"])
    assert (job.source_ip, job.channel, job.user_agent) == ("203.0.113.7", "api", AGENT)
    assert (first.source_ip, first.channel) == ("198.51.100.4", "web")

    # The job's audit entry: the uploader's address and channel, though the worker applied it; one entry per job.
    [entry] = _job_entries(job)
    assert entry.action == verbs.Data.IMPORTED and entry.result == "ok"
    assert (entry.source_ip, entry.channel, entry.actor_id) == ("203.0.113.7", "api", community.pk)
    assert entry.data["user_agent"] == AGENT and entry.data["job"] == job.pk
    assert AuditEntry.objects.filter(target_type="people.resident").count() == 0  # no entry per imported row

    imported = Resident.objects.get(import_job=job)
    html = client.get(reverse("ui:resident_history", args=[imported.pk])).content.decode()
    assert "暂无变更记录" not in html
    assert f"由导入任务 #{job.pk} 创建" in html and "后.csv" in html
    assert community.username in html and "203.0.113.7" in html and "198.51.100.4" not in html

    # The household's 人数: 0 → 4 by the first job, 4 → 5 by the second, each with its uploader and address.
    assert Household.objects.get(pk=household.pk).size == 5
    assert sorted(ImportedChange.objects.values_list("job_id", "before", "after")) == [(first.pk, 0, 4), (job.pk, 4, 5)]
    html = client.get(reverse("ui:household_history", args=[household.pk])).content.decode()
    assert f"由导入任务 #{job.pk} 更改" in html and f"由导入任务 #{first.pk} 更改" in html
    assert "人数" in html and "<del>4</del> → <ins>5</ins>" in html and "<del>0</del> → <ins>4</ins>" in html
    assert "203.0.113.7" in html and "198.51.100.4" in html
    assert html.index(f"#{job.pk} 更改") < html.index(f"#{first.pk} 更改")  # newest first


def test_failed_import_entry_carries_the_address_and_changes_nothing(client, actors):
    community = actors["community"]
    household = people.create_household(actor=community, data={"code": "HH2", "address": "x", "grid_code": GRID_A})
    client.force_login(community)
    data = rows(2, household="HH2")
    data[1][1] = "not-an-id"
    _web_upload(client, csv_bytes(data), "坏.csv", "192.0.2.9")
    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED
    [entry] = _job_entries(job)
    assert (entry.result, entry.source_ip, entry.channel, entry.data["user_agent"]) == ("failed", "192.0.2.9", "web", AGENT)
    assert not Resident.objects.exists() and not ImportedChange.objects.exists()
    assert Household.objects.get(pk=household.pk).size == 0
    html = client.get(reverse("ui:household_history", args=[household.pk])).content.decode()
    assert "导入任务" not in html


def test_history_of_imported_rows_is_out_of_reach_outside_scope(client, actors):
    client.force_login(actors["community"])
    _web_upload(client, csv_bytes(rows(1)), "a.csv", "192.0.2.10")
    resident = Resident.objects.get()
    client.force_login(actors["worker_b"])  # another grid
    assert client.get(reverse("ui:resident_history", args=[resident.pk])).status_code == 404

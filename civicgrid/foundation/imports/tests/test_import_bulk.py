"""Large imports: the bulk path (indexes dropped and rebuilt in the apply transaction on PostgreSQL) keeps the
all-or-nothing contract and leaves the table's indexes and constraints exactly as they were."""

import pytest
from django.db import connection

from civicgrid.foundation.core import keys
from civicgrid.foundation.imports import services
from civicgrid.foundation.imports.models import JobStatus
from civicgrid.foundation.people import personal
from civicgrid.foundation.people import services as people
from civicgrid.foundation.people.models import Household, Resident
from civicgrid.foundation.people.tests.factories import GRID_A, resident_data, users

from .test_import_residents import csv_bytes, rows, run

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="index rebuild is PostgreSQL only")


def catalog() -> tuple[set, set]:
    """The resident table's index definitions and constraint definitions."""
    table = Resident._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        indexes = set(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass", [table]
        )
        return indexes, set(cursor.fetchall())


@pytest.fixture
def actors(tree):
    return users(tree)


@pytest.fixture
def bulk(settings):
    settings.CIVICGRID_IMPORT_BULK_ROWS = 5  # every import in these tests takes the bulk path


def test_bulk_import_applies_everything(actors, bulk):
    before = catalog() if connection.vendor == "postgresql" else None
    people.create_resident(actor=actors["community"], data=resident_data())  # an existing row stays indexed too
    people.create_household(actor=actors["community"], data={"code": "HH7", "address": "x", "grid_code": GRID_A})
    data = rows(40, household="HH7")
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.DONE, (job.message, job.errors[:3])
    assert Resident.objects.count() == 41 and Household.objects.get(code="HH7").size == 40
    r = Resident.objects.get(name="居民7")
    assert keys.decrypt(r.id_number_enc, personal.ID_CONTEXT) == data[7][1]
    assert r.id_number_index == personal.id_index(data[7][1]) and r.household.code == "HH7"
    if before is not None:
        assert catalog() == before  # same indexes, same constraints (unique, foreign keys), same definitions


@postgres_only
def test_duplicate_slipping_past_validation_rolls_everything_back(actors, bulk, monkeypatch):
    """A duplicate only the rebuilt unique index can see (as with a concurrent insert) fails the whole import."""
    from civicgrid.foundation.people.importers import residents

    existing = people.create_resident(actor=actors["community"], data=resident_data())
    number = keys.decrypt(existing.id_number_enc, personal.ID_CONTEXT)
    before = catalog()
    monkeypatch.setattr(residents, "fetch", lambda *a, **kw: [])  # blind the check against the database
    data = rows(30)
    data[17][1] = number
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.FAILED and job.applied_rows == 0
    assert "未写入任何数据" in job.message
    assert Resident.objects.count() == 1
    assert catalog() == before


def test_duplicates_within_the_file_are_reported_before_anything_is_applied(actors, bulk):
    data = rows(30)
    data[20][1] = data[3][1]
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.FAILED
    assert [(r, c) for r, c, _ in job.errors] == [(22, "身份证号")] and "第 5 行" in job.errors[0][2]
    assert Resident.objects.count() == 0


def test_threshold_is_a_setting(settings):
    settings.CIVICGRID_IMPORT_BULK_ROWS = 123
    assert services.bulk_threshold() == 123
    del settings.CIVICGRID_IMPORT_BULK_ROWS
    assert services.bulk_threshold() == services.BULK_ROWS_DEFAULT


@pytest.fixture
def parallel(settings):
    settings.CIVICGRID_IMPORT_PARALLEL_ROWS = 5  # encryption and indexes in worker processes
    settings.CIVICGRID_IMPORT_WORKERS = 2


def test_parallel_import_matches_the_serial_one(actors, bulk, parallel, monkeypatch):
    from civicgrid.foundation.people.importers import residents

    monkeypatch.setattr(residents.ResidentTable, "batch_size", 7)  # several batches in flight
    started = []
    start = services._Batches._start_pool
    monkeypatch.setattr(services._Batches, "_start_pool", lambda self: (started.append(1), start(self)))
    data = rows(40)
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.DONE, (job.message, job.errors[:3])
    assert started == [1]
    assert Resident.objects.count() == 40
    for i in (0, 13, 39):
        r = Resident.objects.get(name=f"居民{i}")
        assert keys.decrypt(r.id_number_enc, personal.ID_CONTEXT) == data[i][1]  # the workers had the same keys
        assert keys.decrypt(r.phone_enc, personal.PHONE_CONTEXT) == data[i][2]
        assert r.id_number_index == personal.id_index(data[i][1]) and r.phone_index == personal.phone_index(data[i][2])


def test_parallel_errors_from_any_batch_fail_the_whole_file_with_a_full_report(actors, parallel, monkeypatch):
    from civicgrid.foundation.people.importers import residents

    monkeypatch.setattr(residents.ResidentTable, "batch_size", 7)
    data = rows(40)
    data[30][1] = data[2][1]  # a duplicate found batches later
    data[9][2] = "12345"  # a bad phone
    data[35][3] = "999"  # an unknown grid
    job = run(actors["community"], csv_bytes(data))
    assert job.status == JobStatus.FAILED and job.applied_rows == 0
    assert [(r, c) for r, c, _ in job.errors] == [(11, "联系电话"), (32, "身份证号"), (37, "所属网格代码")]
    assert Resident.objects.count() == 0


def test_without_worker_processes_the_import_runs_here(actors, parallel, monkeypatch):
    def broken(self):
        raise OSError("no processes here")

    monkeypatch.setattr(services._Batches, "_start_pool", broken)
    job = run(actors["community"], csv_bytes(rows(20)))
    assert job.status == JobStatus.DONE, (job.message, job.errors[:3])
    assert Resident.objects.count() == 20


@postgres_only
def test_a_busy_table_fails_the_import_cleanly_after_the_lock_timeout(actors, bulk, settings):
    import psycopg

    settings.CIVICGRID_IMPORT_BULK_LOCK_TIMEOUT = "200ms"
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:  # a reader in the middle of a long transaction
        other.execute(f"LOCK TABLE {Resident._meta.db_table} IN ACCESS SHARE MODE")
        job = run(actors["community"], csv_bytes(rows(10)))
        other.rollback()
    assert job.status == JobStatus.FAILED and "业务空闲" in job.message
    assert Resident.objects.count() == 0

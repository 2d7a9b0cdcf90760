"""Planner statistics after bulk loads: `refresh_statistics` gives SQLite its `sqlite_stat1` rows and PostgreSQL
its `pg_stats`, for the loaded tables or all of them; a large import refreshes its table's."""

from __future__ import annotations

import pytest
from django.db import connection

from civicgrid.foundation.core import dbstats
from civicgrid.foundation.imports.models import JobStatus
from civicgrid.foundation.imports.tests.test_import_residents import csv_bytes, rows, run
from civicgrid.foundation.people.models import Resident
from civicgrid.foundation.people.tests.factories import users
from civicgrid.foundation.regions.models import Region

pytestmark = pytest.mark.django_db


def analysed(model) -> bool:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if not cursor.fetchone()[0]:
                return False
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s", [table])
        else:
            cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = %s", [table])
        return cursor.fetchone()[0] > 0


def forget(model) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone()[0]:
                cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [model._meta.db_table])


def test_refresh_gives_the_planner_statistics(tree):
    assert Region.objects.exists()
    forget(Region)
    seconds = dbstats.refresh_statistics([Region])
    assert seconds is not None and seconds < 30
    assert analysed(Region)
    assert dbstats.refresh_statistics() is not None  # every table


def test_a_large_import_refreshes_its_tables_statistics(tree, settings):
    actors = users(tree)
    forget(Resident)
    settings.CIVICGRID_ANALYZE_AFTER_ROWS = 10_000
    assert run(actors["community"], csv_bytes(rows(12))).status == JobStatus.DONE
    if connection.vendor == "sqlite":
        assert not analysed(Resident)  # a small import leaves statistics to the next large one
    settings.CIVICGRID_ANALYZE_AFTER_ROWS = 10
    assert run(actors["community"], csv_bytes(rows(12))).status == JobStatus.DONE
    assert analysed(Resident)

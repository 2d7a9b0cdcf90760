"""Concurrent reports on PostgreSQL (real transactions, several connections): numbers never collide and a
retried report racing itself is created once. SQLite serialises writers, so the same code is trivially safe
there; these tests run where the race is real."""

from __future__ import annotations

from django.db import connection

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import submit_case
from civicgrid.testing.concurrency import POSTGRES_RACE, race_same

from .conftest import POINT

pytestmark = POSTGRES_RACE
THREADS = 6


def _race(func) -> list:
    return race_same(func, THREADS)


def test_concurrent_reports_get_distinct_consecutive_numbers(loop):
    results = _race(lambda i: submit_case(actor=loop.worker, title=f"并发上报{i}", lng=POINT[0], lat=POINT[1],
                                          source="grid_worker")[0].number)
    assert all(isinstance(r, str) for r in results), results
    numbers = sorted(int(r) for r in results)
    assert numbers == list(range(numbers[0], numbers[0] + THREADS))


def test_a_report_racing_its_own_retry_is_created_once(loop):
    results = _race(lambda i: submit_case(actor=loop.worker, title="同一上报", lng=POINT[0], lat=POINT[1],
                                          source="grid_worker", idempotency_key="flaky-1"))
    assert all(isinstance(r, tuple) for r in results), results
    assert len({case.pk for case, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Case.objects.count() == 1
    assert connection.vendor == "postgresql"

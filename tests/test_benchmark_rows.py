"""The benchmarks' synthetic cases still fit the schema: `bench_evaluation.populate` (which `bench_board`,
`bench_case_list` and the others reuse) inserts raw rows column by column, so a NOT NULL column added to
`cases_case` without a value there breaks every benchmark at 1,000,000 cases, long after the change (it did:
`title_masked`). A few hundred cases on the test database, read back through the ORM."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import connection

from civicgrid.apps.cases.models import Case, CaseStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench_evaluation(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_evaluation  # noqa: PLC0415 - importable only once its folder is on the path

    yield bench_evaluation
    sys.modules.pop("bench_evaluation", None)


def test_synthetic_cases_insert_and_read_back(bench_evaluation):
    _world, _seconds, steps = bench_evaluation.populate(connection.vendor, 300, steps=True)
    assert Case.objects.count() == 300
    assert steps > 0 and CaseStep.objects.count() == steps
    case = Case.objects.order_by("id").first()
    # Every column the ORM reads back holds what the model allows (a title and its masked twin, times parsed).
    assert case.title and case.title_masked == case.title
    assert case.reported_at is not None and Case.objects.filter(status="closed").exists()

"""Queued reports: `check_report` checks and locates without writing; `submit_cases` makes a batch into cases with
the same rows a direct report gets, replays keys, and keeps one bad report from holding up the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases import numbering
from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep, Source
from civicgrid.apps.cases.services import ReportSpec, check_report, submit_case, submit_cases
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import SlaClock

from .conftest import GRID, OUTSIDE, POINT, world_counts

pytestmark = pytest.mark.django_db


def spec(loop, **overrides) -> ReportSpec:
    fields = {"actor": None, "source": Source.OPEN311, "title": "路边暴露垃圾", "description": "小区门口垃圾堆放",
              "lng": POINT[0], "lat": POINT[1], "category": loop.cat.pk}
    fields.update(overrides)
    return check_report(**fields)


def rows_of(case: Case) -> dict:
    """What a report wrote for its case, by kind (ids and times left out)."""
    return {
        "steps": list(CaseStep.objects.filter(case=case).values_list("action", "to_status")),
        "reporters": CaseReporter.objects.filter(case=case).count(),
        "clocks": list(SlaClock.objects.filter(target_id=str(case.pk)).values_list("kind", "state")),
        "audit": sorted(AuditEntry.objects.filter(target_id=str(case.pk), target_type="cases.case")
                        .values_list("action", flat=True)),
        "events": sorted(OutboxEvent.objects.filter(aggregate_id=str(case.pk), topic__startswith="case.")
                         .values_list("topic", flat=True)),
        "fields": Case.objects.filter(pk=case.pk).values(
            "status", "grid_id", "region_code", "category_id", "suggested_department_id", "source", "title",
            "description", "reporter_name", "reporter_phone_masked").get(),
    }


def test_checking_writes_nothing_and_refuses_what_submit_case_refuses(loop):
    before = world_counts()
    found = spec(loop, reporter_phone="138 1234 5678", idempotency_key="k1")
    assert found.grid_code == GRID and found.payload["phone"] == "13812345678" and found.key
    with pytest.raises(ValidationFailed):
        spec(loop, lng=OUTSIDE[0], lat=OUTSIDE[1])
    with pytest.raises(ValidationFailed):
        spec(loop, category=999999)
    with pytest.raises(ValidationFailed):
        spec(loop, title="")
    with pytest.raises(ValidationFailed):
        spec(loop, reporter_phone="12")
    with pytest.raises(PermissionDenied):
        spec(loop, actor=loop.handler)
    assert world_counts() == before


def test_a_spec_keeps_its_contacts_sealed_and_comes_back_whole(loop):
    original = spec(loop, reporter_name="张三", reporter_phone="13812345678", reporter_email="z@example.com")
    data, sealed = original.dump()
    assert "13812345678" not in str(data) and "张三" not in str(data) and "z@example.com" not in str(data)
    assert "13812345678" not in sealed
    assert ReportSpec.load(data, sealed) == original


def test_a_batch_writes_what_a_direct_report_writes(loop):
    direct, _ = submit_case(actor=None, source=Source.OPEN311, title="路边暴露垃圾", description="小区门口垃圾堆放",
                            lng=POINT[0], lat=POINT[1], category=loop.cat.pk, reporter_phone="13812345678")
    [made] = submit_cases([spec(loop, reporter_phone="13812345678")])
    assert isinstance(made, Case) and made.number != direct.number
    want, got = rows_of(direct), rows_of(made)
    assert got == want
    assert AuditEntry.objects.get(action="cases.report", target_id=str(made.pk)).data["queued"] is True


def test_numbers_follow_the_batch_order_and_the_day_of_arrival(loop):
    specs = [spec(loop, description=f"第{i}处") for i in range(5)]
    yesterday = timezone.now() - timedelta(days=1)
    specs[4].received_at = yesterday  # came in before midnight, made after: yesterday's number
    made = submit_cases(specs)
    today = [int(c.number[-5:]) for c in made[:4]]
    assert today == list(range(today[0], today[0] + 4))
    assert made[4].number.startswith(f"{timezone.localdate(yesterday):%Y%m%d}")
    assert made[4].reported_at == yesterday
    assert numbering.next_numbers(0) == []


def test_a_key_already_used_answers_its_case_or_a_conflict(loop):
    first, _ = submit_case(actor=None, source=Source.OPEN311, title="路边暴露垃圾", description="小区门口垃圾堆放",
                           lng=POINT[0], lat=POINT[1], category=loop.cat.pk, idempotency_key="same")
    again, other = submit_cases([spec(loop, idempotency_key="same"),
                                 spec(loop, idempotency_key="same", description="另一件事")])
    assert again == first
    assert isinstance(other, Conflict)
    assert Case.objects.count() == 1


def test_the_same_key_twice_in_one_batch_makes_one_case(loop):
    a, b, c = submit_cases([spec(loop, idempotency_key="twice"), spec(loop, idempotency_key="twice"),
                            spec(loop, idempotency_key="twice", description="不同")])
    assert isinstance(a, Case) and b == a and isinstance(c, Conflict)
    assert Case.objects.count() == 1


def test_one_bad_report_does_not_hold_up_the_batch(loop):
    good, gone = spec(loop), spec(loop, category=loop.sibling.pk)
    Category.objects.filter(pk=loop.sibling.pk).delete()
    made, failed = submit_cases([good, gone])
    assert isinstance(made, Case) and isinstance(failed, NotFound)
    assert Case.objects.count() == 1


def test_a_key_taken_between_reading_and_writing_falls_back_to_one_by_one(loop):
    from civicgrid.apps.cases.services import prepare_cases, write_cases

    batch = prepare_cases([spec(loop, idempotency_key="race"), spec(loop, description="别的")])
    raced, _ = submit_case(actor=None, source=Source.OPEN311, title="路边暴露垃圾", description="小区门口垃圾堆放",
                           lng=POINT[0], lat=POINT[1], category=loop.cat.pk, idempotency_key="race")
    first, second = write_cases(batch)
    assert first == raced and isinstance(second, Case) and second != raced
    assert Case.objects.count() == 2 and Case.objects.filter(idempotency_key=raced.idempotency_key).count() == 1


def test_a_report_received_before_the_sweep_gets_its_overdue_events_at_once(loop):
    late = spec(loop)
    late.received_at = timezone.now() - timedelta(days=30)
    from civicgrid.foundation.sla.sweep import sweep

    sweep()  # the watermark is now past the old report's deadlines
    [case] = submit_cases([late])
    clock = SlaClock.objects.get(target_id=str(case.pk))
    assert clock.breached_at is not None
    topics = set(OutboxEvent.objects.filter(aggregate_type="cases.case", aggregate_id=str(case.pk))
                 .values_list("topic", flat=True))
    assert {sla.STARTED, "sla.breached"} <= topics

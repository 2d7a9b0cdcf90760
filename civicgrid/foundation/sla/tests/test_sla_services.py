"""SLA clock services: transitions, clear conflicts, events in the caller's transaction, scoped overdue."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import CalendarDay, SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.builders import user_with

SH = ZoneInfo("Asia/Shanghai")
CASE = ("cases.case", "7")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=SH)


@pytest.mark.django_db
def test_start_stores_the_clock_state_and_publishes_started():
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("working_days", 1), at=at(2024, 11, 18, 10))
    c = SlaClock.objects.get(pk=c.pk)
    assert (c.mode, c.budget, c.limit_amount, c.state) == ("working_days", 1, 1, "running")  # kept in days
    assert c.due_at == at(2024, 11, 19, 10) and c.started_at == at(2024, 11, 18, 10)
    assert c.as_state().due_at == c.due_at
    event = OutboxEvent.objects.get(topic="sla.started")
    assert event.payload["limit"] == ["working_days", 1] and event.aggregate_id == "7"


@pytest.mark.django_db
def test_invalid_transitions_are_conflicts():
    with pytest.raises(Conflict):
        sla.pause_clock(target=CASE, kind="case.handle")  # nothing open
    sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 10))
    with pytest.raises(Conflict, match="已在计时"):
        sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4))
    with pytest.raises(Conflict, match="恢复"):
        sla.resume_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))  # running
    with pytest.raises(Conflict, match="暂停"):
        sla.pause_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 9))  # before it started
    sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))
    with pytest.raises(Conflict):
        sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 12))
    # Once stopped, a new clock of the same kind may start (e.g. rework).
    sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 12))
    assert SlaClock.objects.filter(target_id="7").count() == 2


@pytest.mark.django_db
def test_invalid_limits_and_times_are_validation_errors():
    with pytest.raises(ValidationFailed):
        sla.start_clock(target=CASE, kind="k", limit=("fortnights", 1))
    with pytest.raises(ValidationFailed):
        sla.start_clock(target=CASE, kind="k", limit=("working_hours", 0))
    with pytest.raises(ValidationFailed):
        sla.start_clock(target=CASE, kind="k", limit=("working_hours", 1), at=datetime(2024, 11, 18, 10))
    with pytest.raises(ValidationFailed):
        sla.start_clock(target="not-a-pair", kind="k", limit=("working_hours", 1))


@pytest.mark.django_db
def test_clock_changes_roll_back_with_the_callers_transaction():
    sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 10))
    before = OutboxEvent.objects.count()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))
            sla.start_clock(target=("cases.case", "8"), kind="case.handle", limit=("working_hours", 4))
            raise RuntimeError("the business change failed")
    assert SlaClock.objects.get().state == "running"
    assert OutboxEvent.objects.count() == before


@pytest.mark.django_db
def test_model_instance_target_gives_type_id_and_region(tree):
    grid = tree["140213050001001"]
    c = sla.start_clock(target=grid, kind="region.check", limit=("natural_hours", 2))
    assert (c.target_type, c.target_id, c.region_code) == ("regions.region", str(grid.pk), grid.code)
    assert sla.open_clock(grid, "region.check") == c
    assert [x.kind for x in sla.stop_clocks(target=grid)] == ["region.check"]
    assert list(sla.clocks_of(grid)) == [SlaClock.objects.get()]


@pytest.mark.django_db
def test_overdue_list_is_scoped_by_region(tree):
    for n, code in enumerate(["140213050001001", "140213051001001"]):
        sla.start_clock(
            target=("cases.case", str(n)),
            kind="case.handle",
            limit=("natural_hours", 1),
            at=at(2024, 11, 18, 10),
            region_code=code,
        )
    sweep(now=at(2024, 11, 18, 12))
    street = user_with(Role.STREET_STAFF, region=tree["140213050"])
    leader = user_with(Role.LEADER, region=tree["140213"])
    admin = user_with(Role.SYSTEM_ADMIN)
    assert [c.region_code for c in sla.overdue_for(street)] == ["140213050001001"]
    assert len(sla.overdue_for(leader)) == 2
    assert list(sla.overdue_for(admin)) == []  # 三员分立: administrators do not read business data


@pytest.mark.django_db
def test_progress_reports_ratio_and_provisional_deadline():
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 10))
    p = sla.progress(c, at=at(2024, 11, 18, 11))
    assert p["ratio"] == pytest.approx(0.25) and p["remaining_minutes"] == 180 and not p["overdue"]
    assert p["provisional"] is False
    late = sla.start_clock(target=CASE, kind="case.far", limit=("working_days", 3), at=at(2027, 3, 1, 10))
    assert sla.progress(late, at=at(2027, 3, 1, 11))["provisional"] is True


@pytest.mark.django_db
def test_calendar_override_changes_the_next_computed_deadlines():
    start = at(2024, 11, 18, 14, 30)  # Monday
    first = sla.start_clock(target=CASE, kind="a", limit=("working_hours", 4), at=start)
    assert first.due_at == at(2024, 11, 19, 9)
    sla.set_calendar_day(actor=None, date=date(2024, 11, 19), is_workday=False, name="停电")
    second = sla.start_clock(target=CASE, kind="b", limit=("working_hours", 4), at=start)
    assert second.due_at == at(2024, 11, 20, 9)
    # A make-up working day on Saturday 2024-11-23 pulls a Friday-started deadline forward.
    sla.set_calendar_day(actor=None, date=date(2024, 11, 23), is_workday=True, name="补班")
    third = sla.start_clock(target=CASE, kind="c", limit=("working_hours", 4), at=at(2024, 11, 22, 14, 30))
    assert third.due_at == at(2024, 11, 23, 9)
    sla.clear_calendar_day(actor=None, date=date(2024, 11, 23))
    fourth = sla.start_clock(target=CASE, kind="d", limit=("working_hours", 4), at=at(2024, 11, 22, 14, 30))
    assert fourth.due_at == at(2024, 11, 25, 9)
    assert CalendarDay.objects.count() == 1

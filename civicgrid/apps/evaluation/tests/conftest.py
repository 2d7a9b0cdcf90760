"""A small district for evaluation tests: the builders' tree, two departments, the staff who appear in the
ranking tables, and `make_case` for rows with explicit evaluation facts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import department, user_with

_numbers = itertools.count(1)
GRIDS = ("140213050001001", "140213050001002", "140213050002001", "140213051001001")
MAY = (datetime(2026, 5, 1).date(), datetime(2026, 5, 31).date())


def at(day: int, hour: int = 10, month: int = 5) -> datetime:
    """A district-local moment in 2026."""
    return datetime.combine(datetime(2026, month, day).date(), time(hour), tzinfo=timezone.get_current_timezone())


AS_OF = at(31, 23)  # the evaluation's "now" in these tests: the end of May


@dataclass
class District:
    tree: dict
    dept: object
    other_dept: object
    leader: object  # district leader (cases.evaluate everywhere)
    street_leader: object  # leader of street 140213050 only
    dispatcher: object  # command dispatcher
    street_dispatcher: object  # street dispatcher of 140213050 (no cases.evaluate)
    worker: object  # grid worker of GRIDS[0]
    worker2: object  # grid worker of GRIDS[3] (the other street)
    handler: object


@pytest.fixture
def district(tree) -> District:
    return District(
        tree=tree,
        dept=department("区城管局", code="D-CG"),
        other_dept=department("区住建局", code="D-ZJ"),
        leader=user_with(Role.LEADER, region=tree["140213"], username="leader"),
        street_leader=user_with(Role.LEADER, region=tree["140213050"], username="street-leader"),
        dispatcher=user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd"),
        street_dispatcher=user_with(Role.STREET_DISPATCHER, region=tree["140213050"], username="sd"),
        worker=user_with(Role.GRID_WORKER, region=tree[GRIDS[0]], username="wg1"),
        worker2=user_with(Role.GRID_WORKER, region=tree[GRIDS[3]], username="wg2"),
        handler=user_with(Role.DEPARTMENT_HANDLER, department=department("区水务局", code="D-SW"), username="h"),
    )


def make_case(district: District, grid: int = 0, *, reported: datetime | None = None, **facts) -> Case:
    """A case row with explicit facts (status, milestones, on-time flags, counts), as if the loop had run."""
    region = district.tree[GRIDS[grid]]
    values = dict(
        number=f"2026{next(_numbers):09d}", title="测试事件", source="grid_worker", status=Status.REPORTED,
        lng=region.centroid_lng, lat=region.centroid_lat, grid=region, region_code=region.code,
        reported_at=reported or at(10),
    )
    values.update(facts)
    return Case.objects.create(**values)


def closed_case(district: District, grid: int = 0, *, on_time: bool = True, **facts) -> Case:
    """A case that went the whole way: accepted, dispatched to the department, handled, verified, closed."""
    values = dict(
        status=Status.CLOSED, department=district.dept, accepted_at=at(10, 11), accepted_by=district.dispatcher,
        accepted_on_time=True, dispatched_at=at(10, 12), dispatched_by=district.dispatcher,
        dispatched_on_time=True, handled_at=at(11), handled_on_time=on_time, verified_at=at(11, 14),
        verified_on_time=True, closed_at=at(11, 15), closed_on_time=True, deadline=at(12),
    )
    values.update(facts)
    return make_case(district, grid, **values)


def later(moment: datetime, **kw) -> datetime:
    return moment + timedelta(**kw)

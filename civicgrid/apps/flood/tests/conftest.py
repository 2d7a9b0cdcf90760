"""A district with two streets, each with its 包保 department, and the people who act in the flood season."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_defaults_flag():
    """Each test starts with a process that has not yet seen the default thresholds (the flag of
    `rules.ensure_defaults` would otherwise carry over from a test whose database was rolled back)."""
    from civicgrid.apps.flood import rules

    rules.forget_defaults()
    yield
    rules.forget_defaults()


@pytest.fixture
def flood(tree):
    from civicgrid.apps.hazards.models import PatronAssignment, PatronKind
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import department, user_with

    water = department("区水务局")
    housing = department("区住建局")
    PatronAssignment.objects.create(department=water, street=tree["140213050"], kind=PatronKind.FLOOD)
    PatronAssignment.objects.create(department=housing, street=tree["140213051"], kind=PatronKind.FLOOD)
    return {
        "tree": tree,
        "water": water,
        "housing": housing,
        "staff_a": user_with(Role.STREET_STAFF, region=tree["140213050"], username="staff-a"),
        "staff_b": user_with(Role.STREET_STAFF, region=tree["140213051"], username="staff-b"),
        "water_handler": user_with(Role.DEPARTMENT_HANDLER, department=water, username="water-h"),
        "housing_handler": user_with(Role.DEPARTMENT_HANDLER, department=housing, username="housing-h"),
        "dispatcher": user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="centre"),
        "leader": user_with(Role.LEADER, region=tree["140213"], username="leader"),
        "worker": user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="grid-w"),
    }


# A point in street 140213050 (grid 140213050001001) and one in street 140213051.
IN_A = {"lat": 40.01, "lng": 113.21}
IN_B = {"lat": 40.01, "lng": 113.29}
OUTSIDE = {"lat": 39.5, "lng": 112.0}


def ago(minutes: int = 10) -> str:
    from datetime import timedelta

    from django.utils import timezone

    return timezone.localtime(timezone.now() - timedelta(minutes=minutes)).replace(second=0, microsecond=0).isoformat()

"""Intake's per-process tables (category, route, grid) never outlive a change: the categories app's events clear
them at once, and the stamp of the data catches changes in other processes; numbering by one upsert."""

from __future__ import annotations

import pytest
from django.utils import timezone

from civicgrid.apps.cases import numbering
from civicgrid.apps.cases.services import intake
from civicgrid.apps.categories import services as categories
from civicgrid.foundation.events import bus

from .conftest import GRID, report

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_tables():
    intake.forget_lookups()
    yield
    intake.forget_lookups()


def test_a_new_routing_rule_reaches_the_next_report_once_its_event_is_delivered(loop, settings):
    settings.CIVICGRID_INTAKE_RECHECK_SECONDS = 3600  # as in a web process between two stamp checks
    assert report(loop).suggested_department == loop.dept  # the category's default, now remembered
    categories.create_rule(actor=None, category=loop.cat, region_code=GRID, department=loop.other_dept)
    bus.dispatch_pending()  # the worker delivers categories.rule_changed
    assert report(loop, title="又一处垃圾").suggested_department == loop.other_dept


def test_a_change_seen_only_in_the_data_is_caught_by_the_stamp(loop, settings):
    settings.CIVICGRID_INTAKE_RECHECK_SECONDS = 0
    assert report(loop).suggested_department == loop.dept
    # Another process changed the rules (no event delivered here): the stamp moved.
    categories.create_rule(actor=None, category=None, region_code=GRID[:9], department=loop.other_dept,
                           priority=5)
    loop.cat.default_department = None
    loop.cat.save()
    assert report(loop, title="又一处垃圾").suggested_department == loop.other_dept


def test_a_disabled_category_is_refused_even_after_it_was_remembered(loop, settings):
    from civicgrid.foundation.core.errors import ValidationFailed

    settings.CIVICGRID_INTAKE_RECHECK_SECONDS = 0
    report(loop)
    loop.cat.is_active = False
    loop.cat.save()
    with pytest.raises(ValidationFailed):
        report(loop, title="又一处垃圾")


def test_the_first_number_of_a_day_and_the_next_come_from_one_statement(loop):
    day = timezone.now() + timezone.timedelta(days=3)
    first, second = numbering.next_number(day), numbering.next_number(day)
    assert first.endswith("00001") and int(second) == int(first) + 1

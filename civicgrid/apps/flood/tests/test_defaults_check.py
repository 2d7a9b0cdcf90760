"""Recording a reading does not ask whether the default thresholds, rules and templates exist once the process
knows they do; the configuration services make it look again, and tables emptied behind its back are refilled
as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.flood import rules, services
from civicgrid.apps.flood.models import ResponseRule, ResponseTask, SignalThreshold, TaskTemplate

from .conftest import IN_A, ago

pytestmark = pytest.mark.django_db

CONFIG_TABLES = tuple(m._meta.db_table for m in (SignalThreshold, ResponseRule, TaskTemplate))


@pytest.fixture(autouse=True)
def _defaults_in_the_tables():
    """Each test starts from the tables as the first migration leaves them, whatever an earlier test did (a
    transactional test elsewhere in the same process empties every table when it ends), and from a process
    that has not seen them yet."""
    rules.ensure_defaults(recheck=True)
    rules.forget_defaults()


def rain(actor, station, mm=5, minutes=10):
    return services.record_rainfall(actor=actor, station=station, observed_at=ago(minutes), window_hours=3,
                                    rain_mm=mm, **IN_A)[0]


def recorded(actor, station, mm=5, minutes=10) -> tuple[int, list[str]]:
    """(number of queries, those that read the configuration tables) of recording one reading."""
    with CaptureQueriesContext(connection) as ctx:
        rain(actor, station, mm=mm, minutes=minutes)
    sql = [q["sql"] for q in ctx.captured_queries]
    return len(sql), [s for s in sql if any(f'"{t}"' in s for t in CONFIG_TABLES)]


def test_a_reading_asks_nothing_about_the_defaults_once_they_are_known(flood):
    rain(flood["staff_a"], "RG-WARM")  # the station, the audit actor … exist from now on; so do the defaults
    n_known, config_known = recorded(flood["staff_a"], "RG-WARM", minutes=9)
    assert len(config_known) == 1 and "EXISTS" not in config_known[0].upper()  # the active thresholds only
    rules.forget_defaults()
    n_checked, config_checked = recorded(flood["staff_a"], "RG-WARM", minutes=8)
    # without the flag: 3 EXISTS on SQLite; PostgreSQL asks all three before taking the lock, then each again
    assert n_checked - n_known == (6 if connection.vendor == "postgresql" else 3)
    assert len(config_checked) - len(config_known) == n_checked - n_known
    assert recorded(flood["staff_a"], "RG-WARM", minutes=7)[0] == n_known  # known again


def test_the_configuration_services_make_the_next_reading_look_again(flood):
    rain(flood["staff_a"], "RG-A1")
    assert rules.ensure_defaults() == 0 and rules._defaults_present
    row = SignalThreshold.objects.get(signal="orange")
    services.save_threshold(actor=flood["dispatcher"], signal="orange", window_hours=3, rain_mm=40, threshold_id=row.pk)
    assert not rules._defaults_present
    assert rain(flood["staff_a"], "RG-A2", mm=45).signal == "orange"  # the new threshold applies
    assert rules._defaults_present
    services.save_response_rule(actor=flood["dispatcher"], signal="red", level="I")
    assert not rules._defaults_present


def test_emptied_tables_are_refilled_by_the_next_reading_even_when_known(flood):
    rain(flood["staff_a"], "RG-A1")
    assert rules._defaults_present
    SignalThreshold.objects.all().delete()
    ResponseRule.objects.all().delete()
    TaskTemplate.objects.all().delete()
    reading = rain(flood["staff_a"], "RG-A2", mm=60, minutes=5)
    assert reading.signal == "orange"
    assert SignalThreshold.objects.count() == len(rules.DEFAULT_THRESHOLDS)
    assert ResponseRule.objects.count() == len(rules.DEFAULT_RESPONSE_RULES)
    assert ResponseTask.objects.count() == 6  # Ⅳ–Ⅱ for the street and its 包保 department


def test_defaults_written_in_a_rolled_back_transaction_are_not_taken_as_known(flood):
    from django.db import transaction

    SignalThreshold.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert rules.ensure_defaults() == len(rules.DEFAULT_THRESHOLDS)
        raise RuntimeError("rolled back")
    assert not rules._defaults_present and not SignalThreshold.objects.exists()
    assert rules.ensure_defaults() == len(rules.DEFAULT_THRESHOLDS)

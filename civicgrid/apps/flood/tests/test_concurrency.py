"""Two gauges of one street report an orange reading at the same moment (PostgreSQL, real concurrent writers):
one response, one street signal, each task once."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from civicgrid.apps.flood import rules, services
from civicgrid.apps.flood.models import FloodResponse, ResponseTask, StreetSignal
from civicgrid.testing.concurrency import POSTGRES_RACE

from .conftest import IN_A, ago

pytestmark = POSTGRES_RACE


@pytest.mark.parametrize("first_ever", [True, False])
def test_simultaneous_orange_readings_make_one_response_and_one_set_of_tasks(flood, first_ever):
    if not first_ever:
        rules.ensure_defaults()
    errors = []
    barrier = threading.Barrier(2)

    def report(code):
        try:
            barrier.wait()
            services.record_rainfall(actor=flood["dispatcher"], station=code, observed_at=ago(), window_hours=3,
                                     rain_mm=60, **IN_A)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=report, args=(c,)) for c in ("RG-X1", "RG-X2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert FloodResponse.objects.filter(is_active=True).count() == 1
    assert StreetSignal.objects.filter(is_active=True).count() == 1
    assert ResponseTask.objects.count() == 6

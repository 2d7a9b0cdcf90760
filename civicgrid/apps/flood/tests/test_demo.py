"""The demo stage on the builders' tree: gauges, rosters, seasons and defaults, once."""

from __future__ import annotations

import pytest

from civicgrid.apps.flood import demo, selectors
from civicgrid.apps.flood.models import (
    DutyRoster,
    FloodSeason,
    ResponseRule,
    SignalThreshold,
    Station,
    StreetSignal,
    TaskTemplate,
)

pytestmark = pytest.mark.django_db


def test_demo_loads_once_and_starts_quiet(flood):
    first = demo.load_demo_flood()
    assert "演示雨量站 2 个" in first
    assert Station.objects.filter(is_synthetic=True).count() == 2
    assert DutyRoster.objects.filter(region_code="140213050").count() == 14
    assert DutyRoster.objects.filter(is_leader=True).count() == 14
    roster = DutyRoster.objects.first()
    assert "*" in roster.phone_masked and roster.phone_enc and roster.phone_masked not in roster.phone_enc
    assert FloodSeason.objects.filter(year=2023).exists()
    assert (SignalThreshold.objects.count(), ResponseRule.objects.count(), TaskTemplate.objects.count()) == (4, 4, 8)
    assert not StreetSignal.objects.exists()
    assert selectors.status(flood["dispatcher"])["signal"] == "none"
    counts = (Station.objects.count(), DutyRoster.objects.count(), FloodSeason.objects.count())
    assert demo.load_demo_flood() == "已存在，未改动"
    assert (Station.objects.count(), DutyRoster.objects.count(), FloodSeason.objects.count()) == counts


def test_season_default_dates(flood):
    from datetime import datetime

    from django.utils import timezone

    from civicgrid.apps.flood import rules, services

    tz = timezone.get_default_timezone()
    at = lambda *a: timezone.make_aware(datetime(*a), tz)  # noqa: E731
    assert not rules.season_open(at(2031, 6, 1, 7, 59))
    assert rules.season_open(at(2031, 6, 1, 8, 0))
    assert rules.season_open(at(2031, 9, 30, 23, 59))
    assert not rules.season_open(at(2031, 10, 1, 0, 0))
    services.set_season(actor=flood["dispatcher"], year=2031, opens_at="2031-05-15 08:00",
                        closes_at="2031-10-16 00:00")
    assert rules.season_open(at(2031, 10, 15, 12, 0))
    from civicgrid.foundation.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.set_season(actor=flood["staff_a"], year=2031, opens_at="2031-05-15 08:00",
                            closes_at="2031-10-16 00:00")

"""An end_date given as a date alone names that whole day (GeoReport v2: "latest datetime to include"): a search
from a day to the same day finds the day's requests and updates, and one ending on a day includes it. Read as the
day's first moment it left the day out, and the same day's search answered an empty list. A date as start_date
is still the day's first moment; a datetime end_date is taken as given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.services import act

from .conftest import get, spec_error
from .test_get_requests import reported

pytestmark = pytest.mark.django_db


def listed(http, path: str, **params) -> list[str]:
    response = get(http, path, **params)
    assert response.status_code == 200, response.content
    return [r["service_request_id"] for r in response.json()]


@pytest.mark.parametrize("path", ["requests.json", "servicerequestupdates.json"])
def test_a_date_as_end_date_includes_that_whole_day(o311, http, path):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")  # an update on the request, today
    today = timezone.localtime().date()
    yesterday = today - timedelta(days=1)
    assert listed(http, path, start_date=str(today), end_date=str(today)) == [case.number]
    assert listed(http, path, start_date=str(yesterday), end_date=str(today)) == [case.number]
    assert listed(http, path, end_date=str(today)) == [case.number]
    # A day that ended before the request is still a day without it; a datetime end is taken as given.
    assert listed(http, path, start_date=str(yesterday), end_date=str(yesterday)) == []
    start_of_today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert listed(http, path, start_date=str(yesterday), end_date=start_of_today.isoformat()) == []


def test_the_widest_range_named_by_dates_keeps_its_last_day(o311, http):
    today = timezone.localtime().date()
    assert listed(http, "requests.json", start_date=str(today - timedelta(days=90)), end_date=str(today)) == []
    assert "90" in spec_error(get(http, "requests.json", start_date=str(today - timedelta(days=91)),
                                  end_date=str(today)), 400)

"""Several drainers at once on PostgreSQL (workers, and GET tokens/{token} making its own report): every queued
report becomes exactly one case, with one link, whoever claims it. SQLite serialises the batches' transactions,
so the race is real only here."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from civicgrid.apps.cases.models import Case
from civicgrid.integrations.open311 import selectors, services
from civicgrid.integrations.open311.models import Open311Request, QueuedRequest, QueueState
from civicgrid.testing.concurrency import POSTGRES_RACE, race

from .conftest import form, post

pytestmark = POSTGRES_RACE


@pytest.fixture(autouse=True)
def _clear_cache():
    yield
    cache.clear()


def test_drainers_racing_each_other_and_token_reads_make_each_report_once(o311):
    o311.client.queued = True
    o311.client.save(update_fields=["queued"])
    http = Client()
    tokens = [post(http, "requests.json", form(o311, device_id=f"d{i}")).json()[0]["token"] for i in range(40)]
    assert QueuedRequest.objects.filter(state=QueueState.PENDING).count() == 40
    results = race([
        lambda: services.drain(batch=7),
        lambda: services.drain(batch=5),
        lambda: services.drain(batch=11),
        lambda: selectors.token_detail(tokens[-1]),
        lambda: selectors.token_detail(tokens[20]),
    ])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[3]["service_request_id"] and results[4]["service_request_id"]
    assert QueuedRequest.objects.filter(state=QueueState.MADE, case__isnull=False).count() == 40
    assert Case.objects.count() == 40 and Open311Request.objects.count() == 40
    assert set(Open311Request.objects.values_list("token", flat=True)) == set(tokens)
    numbers = sorted(int(n[-5:]) for n in Case.objects.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + 40))  # no number taken twice

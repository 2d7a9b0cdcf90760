"""A refused export is recorded as a refused reveal is (who, what, where, whether in clear, result `refused`),
and reads nothing."""

import pytest
from django.urls import reverse

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.imports import services
from civicgrid.foundation.imports.models import ImportJob
from civicgrid.foundation.people.models import Resident
from civicgrid.foundation.people.tests.factories import GRID_A, STREET_A, users

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(tree):
    return users(tree)


def _world():
    return (Resident.objects.count(), ImportJob.objects.count(),
            list(AuditEntry.objects.exclude(action=verbs.Data.EXPORTED).values_list("id", flat=True)))


@pytest.mark.parametrize("role", ["street", "leader"])
@pytest.mark.parametrize("region", ["", STREET_A, GRID_A])
def test_a_refused_clear_export_is_recorded_and_reads_nothing(actors, api_client, token_for, role, region):
    actor = actors[role]
    headers = token_for(actor)
    before = _world()
    response = api_client.get("/api/v1/exports/residents", {"clear": "true", "region": region, "format": "csv"},
                              **headers)
    assert response.status_code == 403 and "身份证" not in response.content.decode()
    assert _world() == before  # nothing changed but the trail's one record of the attempt
    entry = AuditEntry.objects.get(action=verbs.Data.EXPORTED)
    assert (entry.actor, entry.result, entry.target_type, entry.region_code) == (actor, "refused", "people.resident",
                                                                                 region)
    assert entry.data == {"table": "resident", "region": region, "format": "csv", "rows": 0, "clear": True}


def test_a_refused_clear_export_on_the_web_is_recorded_too(actors, client):
    client.force_login(actors["street"])
    before = _world()
    response = client.get(reverse("ui:export_resident"), {"clear": "on", "region": STREET_A, "format": "xlsx"})
    assert response.status_code == 403 and _world() == before
    entry = AuditEntry.objects.get(action=verbs.Data.EXPORTED)
    assert entry.actor == actors["street"] and entry.result == "refused" and entry.data["clear"] is True


def test_an_export_refused_for_want_of_the_capability_is_recorded(actors):
    before = _world()
    with pytest.raises(services.PermissionDenied):
        services.export_table(actor=actors["worker"], table="resident")  # grid workers do not export
    assert _world() == before
    entry = AuditEntry.objects.get(action=verbs.Data.EXPORTED)
    assert entry.actor == actors["worker"] and entry.result == "refused" and entry.data["clear"] is False


def test_an_allowed_clear_export_is_recorded_as_before(actors):
    services.export_table(actor=actors["community"], table="resident", region=GRID_A, fmt="csv", clear=True)
    entry = AuditEntry.objects.get(action=verbs.Data.EXPORTED)
    assert entry.result == "ok" and entry.data["clear"] is True

"""A NUL character in any text the hazard services take (registration, the loop's actions, plans, campaigns and
their checklists) is refused with a 400 naming the field, through the pages and the API alike, and nothing is
written: PostgreSQL cannot store one (a 500 before), SQLite kept it (`core.text`)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Campaign, Hazard, HazardPlan, HazardStep, Inspection, Status
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import GRID, POINT, flood_fields
from .test_campaigns import CHECKLIST
from .test_pages import client_for

pytestmark = pytest.mark.django_db


def _world() -> tuple:
    return (Hazard.objects.count(), list(Hazard.objects.values_list("status", "name")), HazardStep.objects.count(),
            HazardPlan.objects.count(), Campaign.objects.count(), list(Inspection.objects.values_list("status")),
            AuditEntry.objects.filter(action__startswith="hazards.").count())


def _later(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize("field", ["name", "description", "owner_unit", "category", "inspector"])
def test_registration_refuses_a_nul_through_the_api_and_the_page(world, api_client, token_for, field):
    before = _world()
    fields = flood_fields(**{field: f"{flood_fields().get(field, '李四')}\x00"})
    response = api_client.post("/api/v1/hazards", fields, content_type="application/json", **token_for(world.worker))
    assert response.status_code == 400 and response.json()["field"] == field
    assert "NUL" in response.json()["detail"]
    page = client_for(world.worker).post(reverse("ui:hazard_new"), {**fields, "grade": "general"})
    assert page.status_code == 400 and "NUL" in page.content.decode()
    assert _world() == before


def test_loop_actions_and_plans_refuse_a_nul(world, api_client, token_for):
    hazard = services.register_hazard(actor=world.worker, **flood_fields())
    street = token_for(world.street)
    url = f"/api/v1/hazards/{hazard.pk}"
    before = _world()
    start = api_client.post(f"{url}/actions/start", {"measures": "清淤\x00", "deadline": _later()},
                            content_type="application/json", **street)
    assert start.status_code == 400 and start.json()["field"] == "measures"
    plan = api_client.post(f"{url}/plans", {"kind": "emergency", "responsible_person": "王\x00工", "procedure": "封路"},
                           content_type="application/json", **street)
    assert plan.status_code == 400 and plan.json()["field"] == "responsible_person"
    c = client_for(world.street)
    page = c.post(reverse("ui:hazard_act", args=[hazard.pk, "start"]), {"measures": "清淤\x00", "deadline": _later()})
    assert 400 <= page.status_code < 500
    page_plan = c.post(reverse("ui:hazard_plan", args=[hazard.pk, "emergency"]),
                       {"responsible_person": "王工", "procedure": "封路\x00"})
    assert 400 <= page_plan.status_code < 500
    assert _world() == before and Hazard.objects.get(pk=hazard.pk).status == Status.REGISTERED


def test_campaigns_refuse_a_nul(world, api_client, token_for):
    today = timezone.localdate()
    before = _world()
    for name, region in (("汛前排查\x00", world.tree["140213050"]), ("汛前排查", "140213050\x00")):
        with pytest.raises(ValidationFailed) as refused:
            services.open_campaign(actor=world.street, name=name, kind="flood", region=region, starts_on=today,
                                   deadline=today + dt.timedelta(days=20), checklist=CHECKLIST)
        assert "NUL" in refused.value.message
    assert _world() == before
    services.open_campaign(actor=world.street, name="汛前排查", kind="flood", region=world.tree["140213050"],
                           starts_on=today, deadline=today + dt.timedelta(days=20), checklist=CHECKLIST)
    inspection = Inspection.objects.get(region_code=GRID)
    answers = [{"item": item.pk, "ok": True} for item in services.items_for(inspection)]
    before = _world()
    for body in ({"answers": answers, "lat": POINT[1], "lng": POINT[0], "note": "已查\x00"},
                 {"answers": [{**answers[0], "note": "\x00"}, *answers[1:]], "lat": POINT[1], "lng": POINT[0]},
                 {"answers": [{**answers[0], "ok": False, "hazard": {"name": "积水\x00"}}, *answers[1:]],
                  "lat": POINT[1], "lng": POINT[0]}):
        response = api_client.post(f"/api/v1/campaigns/inspections/{inspection.pk}", body,
                                   content_type="application/json", **token_for(world.worker))
        assert response.status_code == 400, response.content.decode()
    assert _world() == before

"""A report outside the district is refused with the locator's code `outside_district`, on the phone page and
the API alike: the phone page adds its hint (请在地图上点选本区内的位置…) only on that code, which a plain
"invalid" never matched, so the hint was never shown after a submit."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    OUTSIDE,
    POINT,
    auth,
    loop,
    world_counts,
)

pytestmark = pytest.mark.django_db


def _submit(client, lng, lat):
    return client.post(reverse("ui:case_submit"), {
        "idempotency_key": str(uuid.uuid4()), "category": "", "description": "小区门口垃圾堆放",
        "lng": str(lng), "lat": str(lat), "crs": "wgs84", "address": ""})


def test_phone_submit_outside_the_district_carries_the_code_the_page_hints_on(loop, client_for):  # noqa: F811
    c = client_for(loop.worker)
    before = world_counts()
    response = _submit(c, *OUTSIDE)
    assert response.status_code == 400 and world_counts() == before
    body = response.json()
    assert body["code"] == "outside_district" and body["field"] == "location"
    assert "不在本区范围内" in body["detail"]
    # the page's script reads this code (report-phone.js adds `outside_hint` on it)
    assert 'body.code === "outside_district"' in _phone_script()
    # a missing point is another mistake, with no hint about the district
    missing = c.post(reverse("ui:case_submit"), {"idempotency_key": str(uuid.uuid4()), "description": "垃圾"})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid" and world_counts() == before


def test_api_report_outside_the_district_says_outside_district(loop, api_client):  # noqa: F811
    before = world_counts()
    response = api_client.post("/api/v1/cases", {"title": "x", "lng": OUTSIDE[0], "lat": OUTSIDE[1]},
                               content_type="application/json", **auth(loop.worker))
    assert response.status_code == 400 and world_counts() == before
    assert response.json()["code"] == "outside_district" and response.json()["field"] == "location"
    inside = api_client.post("/api/v1/cases", {"title": "x", "lng": POINT[0], "lat": POINT[1]},
                             content_type="application/json", **auth(loop.worker))
    assert inside.status_code == 201


def _phone_script() -> str:
    from pathlib import Path

    import civicgrid.ui

    return (Path(civicgrid.ui.__file__).parent / "static" / "ui" / "report-phone.js").read_text(encoding="utf-8")

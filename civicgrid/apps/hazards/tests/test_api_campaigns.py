"""Campaigns and checklists through the API: list and detail in scope (another street sees nothing), a worker's
checklists, filling one in (a failed item becomes a hazard) and refusals that change nothing."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
from django.utils import timezone
from PIL import Image

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Hazard, HazardPhoto, Inspection, InspectionStatus

from .conftest import GRID, POINT
from .test_campaigns import CHECKLIST, _counts, _mine

pytestmark = pytest.mark.django_db


def _open(world, name="2023 汛前隐患排查", region="140213050", actor=None):
    today = timezone.localdate()
    return services.open_campaign(actor=actor or world.street, name=name, kind="flood",
                                  region=world.tree[region], starts_on=today,
                                  deadline=today + dt.timedelta(days=20), checklist=CHECKLIST)


def _jpeg_b64() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 160, 200)).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _get(client, headers, url, **params):
    return client.get(url, params, **headers)


def _post(client, headers, url, body):
    return client.post(url, body, content_type="application/json", **headers)


def _payload(inspection, failing: dict | None = None) -> dict:
    failing = failing or {}
    answers = []
    for item in services.items_for(inspection):
        if item.text in failing:
            answer = {"item": item.pk, "ok": False, "note": "无警示牌"}
            if failing[item.text]:
                answer["hazard"] = failing[item.text]
            answers.append(answer)
        else:
            answers.append({"item": item.pk, "ok": True})
    return {"answers": answers, "lat": POINT[1], "lng": POINT[0], "note": "已检查"}


def test_list_and_detail_are_scoped(world, api_client, token_for):
    campaign = _open(world)
    h = token_for(world.worker)
    body = _get(api_client, h, "/api/v1/campaigns").json()
    assert body["count"] == 1
    row = body["items"][0]
    assert row["id"] == campaign.pk and row["region_code"] == "140213050" and row["is_open"]
    assert row["inspections_total"] == 1 and row["inspections_done"] == 0 and row["percent"] == 0  # their grid's

    detail = _get(api_client, h, f"/api/v1/campaigns/{campaign.pk}").json()
    assert {i["text"] for i in detail["checklist"]} == {"排水口是否堵塞", "是否设置警示标志", "是否配备挡水板"}
    assert [s["street_code"] for s in detail["streets"]] == ["140213050"]
    # the list and the per-street progress count the same checklists: those in the caller's view
    assert detail["totals"]["done"] == 0 and detail["totals"]["total"] == 1

    other = token_for(world.other_street)
    assert _get(api_client, other, "/api/v1/campaigns").json() == {"items": [], "count": 0}
    resp = _get(api_client, other, f"/api/v1/campaigns/{campaign.pk}")
    assert resp.status_code == 404 and "detail" in resp.json()
    mine = _mine(world, campaign)
    assert _get(api_client, other, f"/api/v1/campaigns/inspections/{mine.pk}").status_code == 404
    # malformed and absurd ids answer JSON
    assert _get(api_client, h, "/api/v1/campaigns/abc").status_code == 422
    assert _get(api_client, h, f"/api/v1/campaigns/{2**70}").status_code in (404, 422)
    assert _get(api_client, h, "/api/v1/campaigns/0").status_code == 404


def test_list_pages_and_runs_fixed_queries(world, api_client, token_for, django_assert_max_num_queries):
    h = token_for(world.centre)
    _open(world, name="第一轮")
    with django_assert_max_num_queries(12) as one:
        assert _get(api_client, h, "/api/v1/campaigns").json()["count"] == 1
    for n in range(4):
        _open(world, name=f"第{n + 2}轮")
    with django_assert_max_num_queries(len(one.captured_queries)):
        body = _get(api_client, h, "/api/v1/campaigns").json()
    assert body["count"] == 5 and len(body["items"]) == 5
    paged = _get(api_client, h, "/api/v1/campaigns", limit=2, offset=4).json()
    assert paged["count"] == 5 and len(paged["items"]) == 1
    assert _get(api_client, h, "/api/v1/campaigns", open="false").json()["count"] == 0


def test_mine_lists_pending_checklists_with_items(world, api_client, token_for, django_assert_max_num_queries):
    first = _open(world, name="第一轮")
    _open(world, name="第二轮")
    h = token_for(world.worker)
    with django_assert_max_num_queries(12):
        body = _get(api_client, h, "/api/v1/campaigns/inspections/mine").json()
    assert body["count"] == 2
    assert {i["region_code"] for i in body["items"]} == {GRID}
    assert all(len(i["items"]) == 3 and i["status"] == "pending" for i in body["items"])
    inspection = _mine(world, first)
    services.fill_inspection(actor=world.worker, inspection=inspection,
                             answers=[{"item": i.pk, "ok": True} for i in services.items_for(inspection)])
    body = _get(api_client, h, "/api/v1/campaigns/inspections/mine").json()
    assert body["count"] == 1 and body["items"][0]["campaign_name"] == "第二轮"
    assert _get(api_client, token_for(world.other_street), "/api/v1/campaigns/inspections/mine").json()["count"] == 0


def test_fill_in_registers_a_hazard(world, api_client, token_for, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    campaign = _open(world)
    inspection = _mine(world, campaign)
    h = token_for(world.worker)
    shown = _get(api_client, h, f"/api/v1/campaigns/inspections/{inspection.pk}").json()
    assert shown["status"] == "pending" and len(shown["items"]) == 3 and shown["answers"] == []

    finding = {"name": "永泰南路下穿无警示牌", "grade": "general", "lat": POINT[1], "lng": POINT[0],
               "owner_unit": "区住建局", "threatened_people": 30}
    payload = _payload(inspection, {"是否设置警示标志": finding, "是否配备挡水板": None})
    failed = next(a for a in payload["answers"] if a.get("hazard"))
    failed["photos"] = [{"content_base64": _jpeg_b64()}]
    resp = _post(api_client, h, f"/api/v1/campaigns/inspections/{inspection.pk}", payload)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] == "done" and len(body["hazards"]) == 1
    hazard = Hazard.objects.get(pk=body["hazards"][0]["id"])
    assert hazard.code == body["hazards"][0]["code"] and hazard.campaign_id == campaign.pk
    assert hazard.kind == "flood" and hazard.category == "low_lying" and hazard.region_code == GRID
    assert HazardPhoto.objects.filter(hazard=hazard, stage="finding").count() == 1
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.DONE and inspection.submitted_by == world.worker

    shown = _get(api_client, h, f"/api/v1/campaigns/inspections/{inspection.pk}").json()
    assert len(shown["answers"]) == 3
    assert [a["hazard_code"] for a in shown["answers"] if a["hazard_id"]] == [hazard.code]
    detail = _get(api_client, h, f"/api/v1/campaigns/{campaign.pk}").json()
    assert detail["totals"]["done"] == 1 and detail["totals"]["findings"] == 2 and detail["totals"]["hazards"] == 1


def test_refusals_change_nothing(world, api_client, token_for):
    campaign = _open(world)
    inspection = _mine(world, campaign)
    h = token_for(world.worker)
    url = f"/api/v1/campaigns/inspections/{inspection.pk}"
    before = _counts()

    missing = _payload(inspection)
    missing["answers"] = missing["answers"][:1]
    resp = _post(api_client, h, url, missing)
    assert resp.status_code == 400 and "detail" in resp.json()

    no_place = _payload(inspection, {"是否设置警示标志": {"name": "无警示牌"}})
    no_place.pop("lat"), no_place.pop("lng")
    resp = _post(api_client, h, url, no_place)
    assert resp.status_code == 400 and "detail" in resp.json()

    resp = _post(api_client, h, url, {"answers": "nope"})
    assert resp.status_code == 422

    resp = _post(api_client, token_for(world.other_street), url, _payload(inspection))
    assert resp.status_code == 404 and "detail" in resp.json()

    resp = _post(api_client, token_for(world.leader), url, _payload(inspection))
    assert resp.status_code == 403 and "detail" in resp.json()

    assert _post(api_client, h, "/api/v1/campaigns/inspections/999999", _payload(inspection)).status_code == 404
    assert _counts() == before
    assert Inspection.objects.get(pk=inspection.pk).status == InspectionStatus.PENDING

    assert _post(api_client, h, url, _payload(inspection)).status_code == 201
    after = _counts()
    resp = _post(api_client, h, url, _payload(inspection))
    assert resp.status_code == 409 and "detail" in resp.json()
    assert _counts() == after


def test_closed_campaign_refuses_with_409(world, api_client, token_for):
    campaign = _open(world)
    inspection = _mine(world, campaign)
    services.close_campaign(actor=world.street, campaign=campaign)
    before = _counts()
    h = token_for(world.worker)
    assert _get(api_client, h, "/api/v1/campaigns/inspections/mine").json()["count"] == 0
    resp = _post(api_client, h, f"/api/v1/campaigns/inspections/{inspection.pk}", _payload(inspection))
    assert resp.status_code == 409
    assert _counts() == before

"""The API contracts outside checks rely on, and bad readings changing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.flood.models import RainfallReading, ResponseTask, Station, StreetSignal
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import IN_A, OUTSIDE, ago

pytestmark = pytest.mark.django_db
URL = "/api/v1/flood/rainfall"


def body(**over):
    data = {"station": "RG-A1", **IN_A, "observed_at": ago(), "window_hours": 3, "rain_mm": 60}
    data.update(over)
    return data


def post(api_client, headers, data, url=URL):
    return api_client.post(url, data, content_type="application/json", **headers)


def snapshot_counts():
    return (RainfallReading.objects.count(), Station.objects.count(), ResponseTask.objects.count(),
            StreetSignal.objects.count(), AuditEntry.objects.filter(action__startswith="flood.").count())


def test_rainfall_post_answers_201_with_the_signal_and_status_follows(flood, api_client, token_for):
    h = token_for(flood["staff_a"])
    resp = post(api_client, h, body())
    assert resp.status_code == 201, resp.content
    data = resp.json()
    assert data["signal"] == "orange"
    assert data["street_code"] == "140213050" and data["grid_code"] == "140213050001001"
    assert data["station"] == "RG-A1" and data["window_hours"] == 3 and data["rain_mm"] == 60
    assert isinstance(data["id"], int)
    status = api_client.get("/api/v1/flood/status", **token_for(flood["dispatcher"]))
    assert status.status_code == 200
    s = status.json()
    assert set(s) == {"season_open", "signal", "response_level", "open_tasks"}
    assert (s["signal"], s["response_level"], s["open_tasks"]) == ("orange", "II", 6)
    assert isinstance(s["season_open"], bool)
    # street B's staff count open tasks in their own scope: none.
    assert api_client.get("/api/v1/flood/status", **token_for(flood["staff_b"])).json()["open_tasks"] == 0


def test_status_before_any_signal(flood, api_client, token_for):
    s = api_client.get("/api/v1/flood/status", **token_for(flood["worker"])).json()
    assert (s["signal"], s["response_level"], s["open_tasks"]) == ("none", None, 0)


def test_exact_replay_is_idempotent_and_a_different_value_conflicts(flood, api_client, token_for):
    h = token_for(flood["staff_a"])
    data = body()
    first = post(api_client, h, data)
    again = post(api_client, h, data)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    before = snapshot_counts()
    clash = post(api_client, h, {**data, "rain_mm": 61})
    assert clash.status_code == 409 and clash.json()["detail"]
    assert snapshot_counts() == before


@pytest.mark.parametrize("over,field", [
    ({"rain_mm": -1}, "rain_mm"),
    ({"rain_mm": 5000}, "rain_mm"),
    ({"window_hours": 1, "rain_mm": 400}, "rain_mm"),
    ({"window_hours": 0}, "window_hours"),
    ({"window_hours": 73}, "window_hours"),
    ({"observed_at": "tomorrow"}, "observed_at"),
    ({"station": ""}, "station"),
    (OUTSIDE, "lat"),
])
def test_bad_readings_are_refused_with_422_and_change_nothing(flood, api_client, token_for, over, field):
    h = token_for(flood["staff_a"])
    before = snapshot_counts()
    resp = post(api_client, h, body(**over))
    assert resp.status_code == 422, resp.content
    assert resp.json()["detail"]
    assert snapshot_counts() == before


def test_future_reading_refused_but_small_clock_skew_allowed(flood, api_client, token_for):
    h = token_for(flood["staff_a"])
    future = timezone.localtime(timezone.now() + timedelta(minutes=30)).isoformat()
    resp = post(api_client, h, body(observed_at=future))
    assert resp.status_code == 422 and "未来" in resp.json()["detail"]
    skew = timezone.localtime(timezone.now() + timedelta(minutes=2)).isoformat()
    assert post(api_client, h, body(observed_at=skew, station="RG-A9")).status_code == 201


def test_reporting_needs_the_capability_and_the_place_in_scope(flood, api_client, token_for):
    before = snapshot_counts()
    assert post(api_client, token_for(flood["worker"]), body()).status_code == 403
    assert post(api_client, token_for(flood["staff_b"]), body()).status_code == 403
    assert post(api_client, {}, body()).status_code == 401
    assert snapshot_counts() == before
    assert post(api_client, token_for(flood["dispatcher"]), body()).status_code == 201


def test_a_gauge_account_reports_for_its_own_station_only(flood, api_client, token_for):
    from civicgrid.foundation.access.models import User
    from civicgrid.foundation.regions.models import Region

    gauge = User.objects.create_user(username="gauge-a1", password="Civic-Test-2026!")
    grid = Region.objects.get(code="140213050001001")
    Station.objects.create(code="RG-A1", name="永泰雨量站", lng=IN_A["lng"], lat=IN_A["lat"], grid=grid,
                           region_code=grid.code, street_code="140213050", feed_user=gauge)
    h = token_for(gauge)
    assert post(api_client, h, body()).status_code == 201
    assert post(api_client, h, body(station="RG-OTHER")).status_code == 403


def test_water_level_marks_over_warning_and_guaranteed(flood, api_client, token_for):
    h = token_for(flood["staff_a"])
    url = "/api/v1/flood/water-level"
    first = post(api_client, h, {"station": "WL-A1", **IN_A, "observed_at": ago(30), "level_m": 2.0,
                                 "warning_level_m": 2.5, "guaranteed_level_m": 3.0}, url)
    assert first.status_code == 201 and first.json()["status"] == "normal"
    over = post(api_client, h, {"station": "WL-A1", **IN_A, "observed_at": ago(20), "level_m": 2.6}, url)
    assert over.json()["status"] == "over_warning"
    top = post(api_client, h, {"station": "WL-A1", **IN_A, "observed_at": ago(10), "level_m": 3.1}, url)
    assert top.json()["status"] == "over_guaranteed"
    listed = api_client.get(url, **h).json()
    assert listed["count"] == 3


def test_tasks_api_ack_done_and_lift(flood, api_client, token_for):
    post(api_client, token_for(flood["staff_a"]), body())
    ha = token_for(flood["staff_a"])
    items = api_client.get("/api/v1/flood/tasks?status=open", **ha).json()["items"]
    street_task = next(t for t in items if t["target"] == "street" and t["level"] == "IV")
    assert street_task["allowed_actions"] == ["ack"]
    dept_task = next(t for t in items if t["target"] == "department")
    assert dept_task["allowed_actions"] == []
    hb = token_for(flood["staff_b"])
    assert api_client.post(f"/api/v1/flood/tasks/{street_task['id']}/ack", **hb).status_code == 404
    acked = api_client.post(f"/api/v1/flood/tasks/{street_task['id']}/ack", **ha)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["allowed_actions"] == ["done"]
    url = f"/api/v1/flood/tasks/{street_task['id']}/done"
    assert post(api_client, ha, {"note": ""}, url).status_code == 422
    done = post(api_client, ha, {"note": "已巡查"}, url)
    assert done.status_code == 200 and done.json()["status"] == "done"
    hd = token_for(flood["dispatcher"])
    assert post(api_client, ha, {"reason": "雨停"}, "/api/v1/flood/response/lift").status_code == 403
    assert post(api_client, hd, {"reason": ""}, "/api/v1/flood/response/lift").status_code == 422
    lifted = post(api_client, hd, {"reason": "雨停"}, "/api/v1/flood/response/lift")
    assert lifted.status_code == 200 and lifted.json()["is_active"] is False
    assert api_client.get("/api/v1/flood/status", **hd).json()["response_level"] is None


def test_lists_run_a_fixed_number_of_queries(flood, api_client, token_for, django_assert_max_num_queries):
    h = token_for(flood["dispatcher"])
    for i in range(5):
        assert post(api_client, h, body(station=f"RG-{i}", observed_at=ago(10 + i))).status_code == 201
    for url in ("/api/v1/flood/rainfall?limit=100", "/api/v1/flood/tasks?limit=100", "/api/v1/flood/stations"):
        with django_assert_max_num_queries(12):
            resp = api_client.get(url, **h)
        assert resp.status_code == 200 and resp.json()["count"] >= 5, url


def test_station_codes_as_gauges_name_them(flood, api_client, token_for):
    h = token_for(flood["staff_a"])
    resp = post(api_client, h, body(station="urn:gauge:平城 东门-07"))
    assert resp.status_code == 201 and resp.json()["station"] == "urn:gauge:平城 东门-07"
    assert post(api_client, h, body(station="<b>x</b>")).status_code == 422
    assert post(api_client, h, body(station="x" * 65)).status_code == 422

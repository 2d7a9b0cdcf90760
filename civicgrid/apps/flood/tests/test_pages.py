"""The 防汛 pages: overview, hand entry, upload with its error report, tasks, rosters, configuration."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.apps.flood import demo
from civicgrid.apps.flood.models import DutyRoster, RainfallReading, ResponseTask, SignalThreshold

from .conftest import IN_A, ago

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def enter(c, **over):
    data = {"kind": "rain", "station": "RG-A1", **IN_A, "observed_at": ago()[:16], "window_hours": "3",
            "rain_mm": "60"}
    data.update(over)
    return c.post("/flood/readings/", data)


def test_hand_entry_shows_orange_and_level_two_on_the_overview(flood):
    demo.load_demo_flood()
    c = client_for(flood["staff_a"])
    resp = enter(c)
    assert resp.status_code == 302 and resp["Location"] == "/flood/"
    page = c.get("/flood/").content.decode()
    assert 'data-signal="orange"' in page and 'data-level="II"' in page
    assert "橙色预警" in page and "Ⅱ级响应" in page
    assert "flood-stations" in page and "vendor/leaflet/leaflet.js" in page


def test_bad_hand_entry_says_why_and_stores_nothing(flood):
    c = client_for(flood["staff_a"])
    resp = enter(c, rain_mm="-3")
    assert resp.status_code == 422 and "雨量不能为负数" in resp.content.decode()
    assert RainfallReading.objects.count() == 0


def test_menu_and_permissions(flood):
    assert "防汛" in client_for(flood["worker"]).get("/flood/").content.decode()
    assert client_for(flood["worker"]).get("/flood/readings/").status_code == 403
    assert client_for(flood["staff_a"]).get("/flood/config/").status_code == 403
    assert client_for(flood["dispatcher"]).get("/flood/config/").status_code == 200


def test_upload_lists_every_broken_row(flood):
    from django.core.files.uploadedfile import SimpleUploadedFile

    c = client_for(flood["dispatcher"])
    text = ("站点编号,纬度,经度,观测时间,时段（小时）,雨量（毫米）\n"
            f"RG-A1,40.01,113.21,{ago()},3,60\nRG-A2,40.01,113.21,{ago()},3,-1\n")
    resp = c.post("/flood/readings/upload/", {"file": SimpleUploadedFile("r.csv", text.encode("utf-8-sig"))})
    assert resp.status_code == 422
    body = resp.content.decode()
    assert "import-errors" in body and "雨量不能为负数" in body
    assert RainfallReading.objects.count() == 0


def test_tasks_page_ack_and_done(flood):
    enter(client_for(flood["staff_a"]))
    c = client_for(flood["staff_a"])
    page = c.get("/flood/tasks/").content.decode()
    task = ResponseTask.objects.get(level="II", target="street")
    assert f'id="task-{task.pk}"' in page and 'data-action="ack"' in page
    assert c.post(f"/flood/tasks/{task.pk}/ack/").status_code == 302
    assert 'data-action="done"' in c.get("/flood/tasks/").content.decode()
    c.post(f"/flood/tasks/{task.pk}/done/", {"note": "地下车库已清空并封闭"})
    task.refresh_from_db()
    assert task.status == "done" and task.done_note == "地下车库已清空并封闭"
    assert client_for(flood["staff_b"]).post(f"/flood/tasks/{task.pk}/ack/").status_code == 404


def test_rosters_page_adds_with_a_masked_phone_and_stays_in_scope(flood):
    c = client_for(flood["staff_a"])
    resp = c.post("/flood/rosters/", {"street": "140213050", "duty_date": "2031-07-01", "person": "王值班",
                                      "post": "值班员", "phone": "13912345678", "is_leader": "1"})
    assert resp.status_code == 302
    row = DutyRoster.objects.get()
    assert row.phone_masked == "139****5678" and "13912345678" not in row.phone_enc
    c.post("/flood/rosters/", {"street": "140213051", "duty_date": "2031-07-01", "person": "越权"})
    assert DutyRoster.objects.count() == 1
    assert client_for(flood["staff_b"]).get("/flood/rosters/").content.decode().count("data-oid=") == 0


def test_configuration_saves_thresholds_and_lift_from_the_overview(flood):
    demo.load_demo_flood()
    c = client_for(flood["dispatcher"])
    red = SignalThreshold.objects.get(signal="red")
    c.post("/flood/config/", {"what": "threshold", "id": red.pk, "signal": "red", "window_hours": "3",
                              "rain_mm": "80", "is_active": "1"})
    red.refresh_from_db()
    assert red.rain_mm == 80
    enter(client_for(flood["staff_a"]), rain_mm="85")
    assert 'data-level="I"' in c.get("/flood/").content.decode()
    c.post("/flood/response/", {"action": "lift", "reason": ""})
    assert 'data-level="I"' in c.get("/flood/").content.decode()
    c.post("/flood/response/", {"action": "lift", "reason": "雨停，积水排除"})
    assert 'data-level=""' in c.get("/flood/").content.decode()


def test_configuration_registers_a_gauge_with_its_feed_account(flood, api_client, token_for):
    from civicgrid.apps.flood.models import Station
    from civicgrid.foundation.access.models import User

    gauge = User.objects.create_user(username="gauge-x", password="Civic-Test-2026!")
    c = client_for(flood["dispatcher"])
    c.post("/flood/config/", {"what": "station", "code": "SW-01", "name": "御河水位站", "kind": "water",
                              "lat": "40.01", "lng": "113.29", "warning_level_m": "2.5", "guaranteed_level_m": "3",
                              "feed_username": "gauge-x", "is_active": "1"})
    st = Station.objects.get(code="SW-01")
    assert (st.street_code, st.feed_user, float(st.warning_level_m)) == ("140213051", gauge, 2.5)
    page = c.get("/flood/config/").content.decode()
    assert "SW-01" in page.split("</title>", 1)[1] and "SW-01" not in page.split("</title>", 1)[0]
    resp = api_client.post("/api/v1/flood/water-level", {"station": "SW-01", "lat": 40.01, "lng": 113.29,
                                                         "observed_at": ago(), "level_m": 2.7},
                           content_type="application/json", **token_for(gauge))
    assert resp.status_code == 201 and resp.json()["status"] == "over_warning"
    from civicgrid.foundation.notify.models import Notification

    assert Notification.objects.filter(user=flood["staff_b"], title__contains="超警戒").exists()


def test_patrol_task_lists_the_streets_open_flood_hazards(flood):
    from datetime import date

    from django.utils import timezone

    from civicgrid.apps.hazards.models import Hazard

    grid = flood["tree"]["140213050001001"]
    common = {"kind": "flood", "description": "雨后积水", "found_on": date(2026, 5, 20), "lng": 113.21,
              "lat": 40.01, "grid": grid, "region_code": grid.code, "street_code": "140213050",
              "registered_at": timezone.now(), "patron_department": flood["water"]}
    Hazard.objects.create(code="FX-T-0001", name="永泰路下穿通道", category="underpass", **common)
    Hazard.objects.create(code="FX-T-0002", name="已销号的点", category="low_lying", status="closed", **common)
    enter(client_for(flood["staff_a"]))
    page = client_for(flood["staff_a"]).get("/flood/tasks/").content.decode()
    assert "永泰路下穿通道" in page and "已销号的点" not in page

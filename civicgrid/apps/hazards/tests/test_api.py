"""The hazards API: the list contract (filters, scope, count, limit/offset), detail, the loop through the API
with refusals that change nothing, plans, the three xlsx lists, the 包保 table, the summary and the upload."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook
from PIL import Image

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Hazard, HazardPhoto, HazardPlan, HazardStep, Status
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import GRID, OTHER_STREET_POINT, flood_fields

pytestmark = pytest.mark.django_db
CONTRACT_KEYS = {"id", "code", "name", "kind", "category", "grade", "status", "street_code", "grid_code",
                 "patron_department", "patron_department_id"}


def _later(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def _jpeg_b64() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 160, 200)).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def points(world):
    """Three flood points in street 050 (one major, one safety) and one in street 051."""
    a = services.register_hazard(actor=world.worker, **flood_fields(name="甲路积水点"))
    b = services.register_hazard(actor=world.street, **flood_fields(name="乙街排水不畅", category="poor_drainage",
                                                                     grade="major"))
    c = services.register_hazard(actor=world.street, **flood_fields(kind="safety", category="gas", name="丙小区燃气"))
    d = services.register_hazard(actor=world.centre, **flood_fields(name="丁路积水", lng=OTHER_STREET_POINT[0],
                                                                     lat=OTHER_STREET_POINT[1]))
    return a, b, c, d


def _get(client, headers, url, **params):
    return client.get(url, params, **headers)


def test_list_contract_shape_filters_and_count(world, points, api_client, token_for):
    h = token_for(world.centre)
    resp = _get(api_client, h, "/api/v1/hazards", kind="flood", street="140213050", limit=1)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["total"] == 2 and body["count"] == len(body["items"]) == 1  # as on every list: page, and total
    item = body["items"][0]
    assert CONTRACT_KEYS <= set(item)
    assert item["code"] == points[0].code and item["kind"] == "flood" and item["category"] == "low_lying"
    assert item["street_code"] == "140213050" and item["grid_code"] == GRID
    assert item["patron_department"] == world.patron.name and item["patron_department_id"] == world.patron.pk
    second = _get(api_client, h, "/api/v1/hazards", kind="flood", street="140213050", limit=1, offset=1).json()
    assert second["total"] == 2 and second["count"] == 1 and second["items"][0]["code"] == points[1].code
    assert _get(api_client, h, "/api/v1/hazards", kind="safety").json()["count"] == 1
    assert _get(api_client, h, "/api/v1/hazards").json()["count"] == 4
    assert _get(api_client, h, "/api/v1/hazards", grade="major").json()["count"] == 1
    assert _get(api_client, h, "/api/v1/hazards", supervised="true").json()["count"] == 1
    assert _get(api_client, h, "/api/v1/hazards", street="140213051").json()["items"][0]["code"] == points[3].code
    assert _get(api_client, h, "/api/v1/hazards", q="燃气").json()["count"] == 1
    too_many = _get(api_client, h, "/api/v1/hazards", limit=5000)  # refused by name, never cut silently
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
    assert _get(api_client, h, "/api/v1/hazards", limit=1000).json()["count"] == 4


def test_repeated_statuses_unknown_parameters_and_full_width_codes(world, points, api_client, token_for):
    h = token_for(world.centre)
    status = points[0].status
    both = api_client.get(f"/api/v1/hazards?status={status}&status=closed", **h).json()
    assert both["count"] == 4
    assert api_client.get("/api/v1/hazards?status=closed&status=voided", **h).json()["count"] == 0
    unknown = api_client.get("/api/v1/hazards?sort=code", **h)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "sort"
    wide = "".join(chr(ord(c) + 0xFEE0) for c in "140213051")
    assert [i["code"] for i in _get(api_client, h, "/api/v1/hazards", street=wide).json()["items"]] == [points[3].code]
    assert _get(api_client, h, "/api/v1/hazards", street="١٤٠٢١٣٠٥١").status_code == 400


@pytest.mark.parametrize("params, field", [
    ({"kind": "fire"}, "kind"), ({"street": "abc"}, "street"), ({"status": "done"}, "status"),
    ({"grade": "huge"}, "grade"), ({"category": "meteor"}, "category"),
])
def test_invalid_filters_are_refused(world, points, api_client, token_for, params, field):
    resp = _get(api_client, token_for(world.centre), "/api/v1/hazards", **params)
    assert resp.status_code == 400 and resp.json()["field"] == field


def test_scope_street_officer_and_patron_department(world, points, api_client, token_for):
    other = _get(api_client, token_for(world.other_street), "/api/v1/hazards", kind="flood", street="140213050")
    assert other.status_code == 200 and other.json() == {"items": [], "count": 0, "total": 0}
    mine = _get(api_client, token_for(world.street), "/api/v1/hazards", kind="flood", street="140213050").json()
    assert mine["count"] == 2
    patron = _get(api_client, token_for(world.patron_handler), "/api/v1/hazards").json()
    assert {i["street_code"] for i in patron["items"]} == {"140213050"} and patron["count"] == 3
    other_patron = _get(api_client, token_for(world.other_handler), "/api/v1/hazards").json()
    assert [i["code"] for i in other_patron["items"]] == [points[3].code]
    # detail out of scope looks like a missing hazard
    assert api_client.get(f"/api/v1/hazards/{points[0].pk}", **token_for(world.other_street)).status_code == 404
    assert api_client.get("/api/v1/hazards/999999", **token_for(world.centre)).status_code == 404
    assert api_client.get("/api/v1/hazards").status_code == 401


def test_list_runs_a_fixed_number_of_queries(world, points, api_client, token_for):
    h = token_for(world.centre)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get("/api/v1/hazards", {"limit": 1000}, **h).status_code == 200
        return len(ctx)

    count()  # the first request of a token also touches the token's row
    few = count()
    for i in range(8):
        services.register_hazard(actor=world.centre, **flood_fields(name=f"积水点{i}"))
    assert count() == few


def test_detail_masks_phone_and_carries_ledger(world, points, api_client, token_for):
    resp = api_client.get(f"/api/v1/hazards/{points[1].pk}", **token_for(world.street))
    assert resp.status_code == 200
    body = resp.json()
    assert body["owner_phone_masked"] == "139****5678" and "13912345678" not in resp.content.decode()
    assert body["rectification"]["rounds"] == 0 and body["is_supervised"] is True
    assert body["missing_assurances"] == ["责任", "措施", "资金", "时限", "应急预案"]
    assert [s["action"] for s in body["timeline"]] == ["register", "supervise"]
    assert "start" in {a["name"] for a in body["allowed_actions"]}
    allowed = api_client.get(f"/api/v1/hazards/{points[1].pk}/allowed-actions", **token_for(world.worker)).json()
    assert {a["name"] for a in allowed["items"]} <= {"note"} or allowed["count"] == 0


def test_register_through_api(world, api_client, token_for):
    fields = flood_fields()
    resp = api_client.post("/api/v1/hazards", fields, content_type="application/json", **token_for(world.worker))
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["code"].startswith("FX-") and body["patron_department"] == world.patron.name
    assert body["owner_phone_masked"] == "139****5678"
    bad = api_client.post("/api/v1/hazards", {**fields, "category": "gas"}, content_type="application/json",
                          **token_for(world.worker))
    assert bad.status_code == 400 and bad.json()["field"] == "category"
    assert Hazard.objects.count() == 1


def test_loop_through_the_api_with_refusals(world, points, api_client, token_for):
    major = points[1]
    url = f"/api/v1/hazards/{major.pk}"
    street = token_for(world.street)

    def post(path, data, headers=street):
        return api_client.post(url + path, data, content_type="application/json", **headers)

    def unchanged(status=Status.REGISTERED, steps=2):
        h = Hazard.objects.get(pk=major.pk)
        assert h.status == status and HazardStep.objects.filter(hazard=h).count() == steps

    # another street's officer: 404, nothing changed
    assert post("/actions/start", {"measures": "x", "deadline": _later()}, token_for(world.other_street)).status_code == 404
    unchanged()
    # a major hazard without its five-assurance plan: 409
    resp = post("/actions/start", {"measures": "改造排水", "deadline": _later()})
    assert resp.status_code == 409 and "五项" in resp.json()["detail"]
    unchanged()
    # missing input: 400 naming the field
    resp = post("/actions/start", {"deadline": _later()})
    assert resp.status_code in (400, 409)
    unchanged()
    # a grid worker may not close out: 403 (or 409 for an action not open to the role)
    assert post("/actions/close_out", {}, token_for(world.worker)).status_code in (403, 404, 409)
    unchanged()
    # an incomplete plan is refused, then the full plan is recorded
    resp = post("/plans", {"kind": "governance", "responsibility": "区水务局", "measures": "改造", "deadline": _later()})
    assert resp.status_code == 400 and HazardPlan.objects.count() == 0
    resp = post("/plans", {"kind": "governance", "responsibility": "区水务局", "measures": "改造管网", "funds": "300000",
                           "deadline": _later(30), "emergency_plan": "强降雨时封闭道路、抽排"})
    assert resp.status_code == 201 and resp.json()["in_force"] is True
    resp = post("/actions/start", {"measures": "改造排水管网", "deadline": _later(20), "budget": "300000",
                                   "interim_measures": "设置警示牌", "photos": [{"content_base64": _jpeg_b64()}]})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "rectifying" and body["rectification"]["measures"] == "改造排水管网"
    assert HazardPhoto.objects.filter(hazard=major, stage="before").count() == 1
    # close-out before the check: 409, nothing changed
    assert post("/actions/close_out", {}, token_for(world.centre)).status_code == 409
    assert Hazard.objects.get(pk=major.pk).status == Status.RECTIFYING
    assert post("/actions/report_done", {"note": "已完工", "photos": [{"content_base64": _jpeg_b64()}]}).status_code == 200
    assert HazardPhoto.objects.filter(hazard=major, stage="after").count() == 1
    assert post("/actions/pass_check", {"checker": "李科长", "note": "复核合格"}).status_code == 200
    resp = post("/actions/close_out", {}, token_for(world.centre))
    assert resp.status_code == 200 and resp.json()["status"] == "closed"
    assert resp.json()["rectification"]["closed_on"] == timezone.localdate().isoformat()
    assert post("/actions/bogus", {}).status_code in (400, 404, 409)


def test_photos_refused_by_content_change_nothing(world, points, api_client, token_for):
    url = f"/api/v1/hazards/{points[0].pk}/actions/start"
    resp = api_client.post(url, {"measures": "清淤", "deadline": _later(),
                                 "photos": [{"content_base64": base64.b64encode(b"not an image").decode()}]},
                           content_type="application/json", **token_for(world.street))
    assert resp.status_code == 400
    assert Hazard.objects.get(pk=points[0].pk).status == Status.REGISTERED and HazardPhoto.objects.count() == 0


@pytest.mark.parametrize("which, header", [("issues", "隐患名称"), ("responsibility", "包保部门"),
                                           ("ledger", "整改措施")])
def test_export_lists_are_scoped_and_audited(world, points, api_client, token_for, which, header):
    resp = api_client.get("/api/v1/hazards/export.xlsx", {"list": which, "kind": "flood", "street": "140213050"},
                          **token_for(world.street))
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = [list(r) for r in load_workbook(io.BytesIO(resp.content)).active.iter_rows(values_only=True)]
    assert rows[0][0] == f"平城区{timezone.localdate().year}年汛前隐患排查" + {"issues": "问题清单",
                                                                           "responsibility": "责任清单",
                                                                           "ledger": "整改台账"}[which]
    assert rows[2][0] == "序号" and header in rows[2]
    codes = [r[1] for r in rows[3:] if isinstance(r[0], int)]
    assert codes == [points[0].code, points[1].code]
    entry = AuditEntry.objects.filter(action="data.exported", target_type="hazards.hazard").latest("id")
    assert entry.data["list"] == which and entry.data["rows"] == 2


def test_export_refusals(world, points, api_client, token_for):
    assert api_client.get("/api/v1/hazards/export.xlsx", {"list": "budget"}, **token_for(world.centre)).status_code == 400
    # grid workers have no export capability
    assert api_client.get("/api/v1/hazards/export.xlsx", **token_for(world.worker)).status_code == 403
    other = api_client.get("/api/v1/hazards/export.xlsx", {"list": "issues"}, **token_for(world.other_street))
    rows = list(load_workbook(io.BytesIO(other.content)).active.iter_rows(values_only=True))
    assert [r[1] for r in rows[3:] if isinstance(r[0], int)] == [points[3].code]  # their own street only


def test_patrons_and_summary(world, points, api_client, token_for):
    patrons = api_client.get("/api/v1/hazards/patrons", **token_for(world.centre)).json()
    assert {(p["street_code"], p["department"]) for p in patrons["items"]} == {
        ("140213050", world.patron.name), ("140213051", world.other_patron.name)}
    assert {p["street_code"]: p["open_hazards"] for p in patrons["items"]} == {"140213050": 3, "140213051": 1}
    summary = api_client.get("/api/v1/hazards/summary", {"kind": "flood"}, **token_for(world.centre)).json()
    rows = {r["street_code"]: r for r in summary["items"]}
    assert rows["140213050"]["total"] == 2 and rows["140213050"]["by_grade"]["major"] == 1
    assert rows["140213050"]["supervised"] == 1 and rows["140213050"]["patron_department"] == world.patron.name
    assert rows["140213051"]["by_status"]["registered"] == 1
    mine = api_client.get("/api/v1/hazards/summary", **token_for(world.other_street)).json()
    assert [r["street_code"] for r in mine["items"]] == ["140213051"]


def test_upload_import(world, api_client, token_for):
    good = ("隐患名称,隐患类别,隐患等级,经度,纬度,责任单位\n"
            f"甲路积水点,低洼易涝点,一般,{flood_fields()['lng']},{flood_fields()['lat']},区城管局\n").encode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = api_client.post("/api/v1/hazards/import", {"file": SimpleUploadedFile("a.csv", good), "kind": "flood"},
                           **token_for(world.street))
    assert resp.status_code == 201, resp.content
    assert resp.json()["created"] == 1
    bad = good + "乙,火山,特大,abc,40.0,\n".encode()
    resp = api_client.post("/api/v1/hazards/import", {"file": SimpleUploadedFile("b.csv", bad), "kind": "flood"},
                           **token_for(world.street))
    assert resp.status_code == 422 and {e["row"] for e in resp.json()["errors"]} == {3}
    assert Hazard.objects.count() == 1


def test_a_deadline_beyond_the_window_is_refused_through_the_api(world, points, api_client, token_for):
    h = points[0]
    street = token_for(world.street)
    before = (h.status, h.steps.count(), AuditEntry.objects.count())
    resp = api_client.post(f"/api/v1/hazards/{h.pk}/actions/start", {"measures": "清淤", "deadline": "2206-06-20"},
                           content_type="application/json", **street)
    last = timezone.localdate() + dt.timedelta(days=366)
    assert resp.status_code == 400 and resp.json()["field"] == "deadline"
    assert f"整改时限须在 {timezone.localdate():%Y-%m-%d} 至 {last:%Y-%m-%d} 之间" in resp.json()["detail"]
    h.refresh_from_db()
    assert (h.status, h.steps.count(), AuditEntry.objects.count()) == before and h.rectification.deadline is None

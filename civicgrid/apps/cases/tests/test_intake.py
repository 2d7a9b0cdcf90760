"""上报: located, numbered, routed, timed, audited and published; idempotent; bad reports refused cleanly."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from civicgrid.apps.cases import numbering
from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import submit_case
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock

from .conftest import GRID, OUTSIDE, POINT, auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def test_a_report_is_located_numbered_routed_timed_audited_and_published(loop):
    case = report(loop, reporter_name="张三", reporter_phone="138 1234 5678", address="新建北路12号")
    assert re.fullmatch(rf"{timezone.localdate():%Y%m%d}\d{{5}}", case.number)
    assert case.status == Status.REPORTED and case.grid.code == GRID and case.region_code == GRID
    assert case.suggested_department == loop.dept  # the category's default until routing rules exist
    assert case.reporter == loop.worker
    # contacts encrypted at rest, shown masked
    assert case.reporter_phone_masked == "138****5678"
    assert "13812345678" not in case.reporter_phone_enc
    reporter = CaseReporter.objects.get(case=case)
    assert reporter.original_case == case and len(reporter.follow_token) >= 24
    assert "13812345678" not in reporter.contact_enc
    assert CaseStep.objects.filter(case=case, action="report", to_status=Status.REPORTED).count() == 1
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk))
    assert clock.kind == "case.intake" and clock.state == "running"
    assert AuditEntry.objects.filter(action="cases.report", target_id=str(case.pk)).count() == 1
    event = OutboxEvent.objects.get(topic="case.reported", aggregate_id=str(case.pk))
    assert event.payload["number"] == case.number and event.payload["region_code"] == GRID
    # the reporter's phone gets the confirmation with the follow link (console sender, masked in the record)
    sms = OutgoingMessage.objects.get(channel="sms")
    assert sms.to_masked == "138****5678" and reporter.follow_token in sms.body


def test_numbers_count_up_within_the_day(loop):
    first, second = report(loop), report(loop, title="另一处垃圾")
    assert int(second.number) == int(first.number) + 1
    tomorrow = timezone.now() + timezone.timedelta(days=1)
    assert numbering.next_number(tomorrow).endswith("00001")


def test_gcj02_input_is_converted_and_recorded(loop):
    from civicgrid.foundation.regions import crs

    lng, lat = crs.wgs84_to_gcj02(*POINT)
    case = report(loop, lng=lng, lat=lat, crs="gcj02")
    assert case.crs_in == "gcj02" and case.grid.code == GRID
    assert abs(case.lng - POINT[0]) < 1e-5 and abs(case.lat - POINT[1]) < 1e-5


def test_replay_with_the_same_key_returns_the_same_case_and_writes_nothing(loop):
    first, created = submit_case(actor=loop.worker, title="井盖缺失", lng=POINT[0], lat=POINT[1], source="grid_worker",
                                 idempotency_key="phone-42")
    before = world_counts()
    again, created_again = submit_case(actor=loop.worker, title="井盖缺失", lng=POINT[0], lat=POINT[1],
                                       source="grid_worker", idempotency_key="phone-42")
    assert created and not created_again and again.pk == first.pk
    assert again.follow_token == first.follow_token
    assert world_counts() == before
    with pytest.raises(Conflict, match="different content"):
        submit_case(actor=loop.worker, title="井盖缺失（改）", lng=POINT[0], lat=POINT[1], source="grid_worker",
                    idempotency_key="phone-42")
    assert world_counts() == before
    # the key belongs to the account: another reporter's identical key is another report
    other, created_other = submit_case(actor=loop.resident, title="井盖缺失", lng=POINT[0], lat=POINT[1],
                                       source="public", idempotency_key="phone-42")
    assert created_other and other.pk != first.pk


def test_api_replay_by_header_and_conflict(loop, api_client):
    headers = {**auth(loop.worker), "HTTP_IDEMPOTENCY_KEY": "retry-7"}
    body = {"title": "路灯不亮", "lng": POINT[0], "lat": POINT[1], "photos": [
        {"kind": "photo", "content_base64": __import__("base64").b64encode(jpeg()).decode()}]}
    first = api_client.post("/api/v1/cases", body, content_type="application/json", **headers)
    assert first.status_code == 201, first.content
    assert first.json()["created"] is True and first.json()["source"] == "grid_worker"
    assert len(first.json()["attachments"]) == 1 and first.json()["follow_token"]
    before = world_counts()
    again = api_client.post("/api/v1/cases", body, content_type="application/json", **headers)
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    assert again.json()["created"] is False
    changed = api_client.post("/api/v1/cases", {**body, "title": "路灯闪烁"}, content_type="application/json",
                              **headers)
    assert changed.status_code == 409 and "idempotency" in changed.json()["detail"]
    assert world_counts() == before


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"lng": OUTSIDE[0], "lat": OUTSIDE[1]}, "location", "不在本区"),
        ({"lng": None, "lat": None}, "location", "缺少位置"),
        ({"category": 999999}, "category", "未知的事件分类"),
        ({"source": "pigeon"}, "source", "未知的来源"),
        ({"title": "  "}, "title", "标题"),
        ({"reporter_phone": "12345"}, "reporter_phone", "手机号"),
        ({"crs": "utm"}, "crs", "坐标系"),
    ],
)
def test_bad_reports_are_refused_with_a_clear_message_and_nothing_written(loop, kwargs, field, message):
    before = world_counts()
    with pytest.raises(ValidationFailed) as exc:
        report(loop, **kwargs)
    assert exc.value.field == field and message in exc.value.message
    assert world_counts() == before


def test_api_errors_are_clear_json(loop, api_client):
    headers = auth(loop.worker)
    outside = api_client.post("/api/v1/cases", {"title": "x", "lng": OUTSIDE[0], "lat": OUTSIDE[1]},
                              content_type="application/json", **headers)
    assert outside.status_code == 400 and outside.json()["field"] == "location"
    assert "outside the district" in outside.json()["detail"]
    unknown = api_client.post("/api/v1/cases", {"title": "x", "lng": POINT[0], "lat": POINT[1], "category": 424242},
                              content_type="application/json", **headers)
    assert unknown.status_code == 400 and unknown.json()["field"] == "category"
    assert api_client.post("/api/v1/cases", {"lng": 1}, content_type="application/json", **headers).status_code == 422
    assert Case.objects.count() == 0


def test_roles_without_report_capability_cannot_report(loop):
    with pytest.raises(PermissionDenied):
        report(loop, actor=loop.handler)
    with pytest.raises(PermissionDenied):
        report(loop, actor=loop.resident, source="public", self_handled=True, photos=[("after", jpeg())])


def test_photo_gps_locates_a_report_without_coordinates(loop):
    case = report(loop, lng=None, lat=None, photos=[jpeg(gps=POINT)])
    assert case.grid.code == GRID and case.crs_in == "wgs84"
    assert abs(case.lng - POINT[0]) < 1e-4 and abs(case.lat - POINT[1]) < 1e-4


def test_self_handled_is_recorded_closed_at_once_with_its_photos(loop):
    case = report(loop, self_handled=True, photos=[("before", jpeg()), ("after", jpeg(color=(10, 200, 10)))])
    assert case.status == Status.CLOSED and case.is_self_handled
    assert case.closed_at and case.handled_on_time is True and case.closed_on_time is True
    assert sorted(case.attachments.values_list("kind", flat=True)) == ["after", "before"]
    assert list(case.steps.values_list("action", flat=True)) == ["report", "self_handle"]
    assert not SlaClock.objects.filter(target_id=str(case.pk)).exists()
    assert set(OutboxEvent.objects.filter(aggregate_id=str(case.pk), topic__startswith="case.")
               .values_list("topic", flat=True)) == {"case.reported", "case.closed"}
    before = world_counts()
    with pytest.raises(ValidationFailed, match="处置后照片"):
        report(loop, self_handled=True, photos=[jpeg()])
    assert world_counts() == before


def test_a_self_handled_resend_must_keep_each_photo_as_before_or_after(loop):
    x, y, z = jpeg(color=(200, 0, 0)), jpeg(color=(0, 200, 0)), jpeg(color=(0, 0, 200))
    first = report(loop, self_handled=True, photos=[("before", x), ("before", y), ("after", z)],
                   idempotency_key="phone-sh-1")
    before = world_counts()
    again = report(loop, self_handled=True, photos=[("before", x), ("before", y), ("after", z)],
                   idempotency_key="phone-sh-1")
    assert again.pk == first.pk and world_counts() == before
    # the same bytes in the same order, but Y now an 'after' photo: another report under a used key
    with pytest.raises(Conflict, match="different content"):
        report(loop, self_handled=True, photos=[("before", x), ("after", y), ("after", z)],
               idempotency_key="phone-sh-1")
    assert world_counts() == before


def test_hotline_caller_becomes_the_reporter_not_the_operator(loop):
    case = report(loop, actor=loop.dispatcher, source="hotline", caller_name="李四", callback_phone="0352-1234567",
                  hotline_ticket="12345-2026-0001")
    reporter = CaseReporter.objects.get(case=case)
    assert reporter.user is None and reporter.name == "李四" and case.hotline_ticket == "12345-2026-0001"
    assert case.reporter_phone_masked.startswith("0352-")


def test_text_router_suggestion_is_kept_and_its_failure_never_blocks_a_report(loop, monkeypatch):
    import civicgrid.integrations.router as router_pkg
    from civicgrid.apps.cases import suggesters

    assert suggesters.registered() is router_pkg.suggest  # the router app registered itself when ready
    monkeypatch.setattr(suggesters, "_registered", lambda text, **kw: {"category": "06001", "confidence": 0.9})
    assert report(loop).suggestion == {"category": "06001", "confidence": 0.9}

    def broken(text, **kw):
        raise RuntimeError("model file missing")

    suggesters.register(broken)
    assert report(loop).suggestion is None
    monkeypatch.setattr(suggesters, "_registered", None)  # no router installed: no suggestion, the report goes in
    assert report(loop).suggestion is None


def test_the_routing_rules_suggest_the_department(loop):
    from civicgrid.apps.categories import services as categories

    assert report(loop).suggested_department == loop.dept  # no rule: the category's default department
    street_rule = categories.create_rule(actor=None, category=loop.cls, region_code=GRID[:9],
                                         department=loop.other_dept)
    assert report(loop).suggested_department == loop.other_dept  # a rule on the class, for the street
    categories.update_rule(actor=None, rule=street_rule, is_active=False)
    assert report(loop).suggested_department == loop.dept


def test_a_resident_follows_their_own_report_by_its_link_and_reads_no_case_file(loop, api_client):
    created = api_client.post("/api/v1/cases", {"title": "路边暴露垃圾", "lng": POINT[0], "lat": POINT[1]},
                              content_type="application/json", **auth(loop.resident))
    assert created.status_code == 201
    body = created.json()
    assert body["follow_token"] and "timeline" not in body and "allowed_actions" not in body
    report(loop)  # the grid worker's report in the same grid
    assert api_client.get("/api/v1/cases", **auth(loop.resident)).status_code == 403
    assert api_client.get(f"/api/v1/cases/{body['number']}", **auth(loop.resident)).status_code == 403
    follow = api_client.get(f"/api/v1/follow/{body['follow_token']}").json()
    assert follow["number"] == body["number"] and [s["action"] for s in follow["steps"]] == ["report"]

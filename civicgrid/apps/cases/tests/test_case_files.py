"""Who reads a case file (案卷: the timeline with staff names, internal notes and step data, the clocks, the
photos, the buttons). Staff holding `cases.view`, over their scope. A resident reaches their own report through
the scope too, but reads it only through the follow link (public steps): the case page and every endpoint of
the cases API refuse them the file alike (`selectors.require_case_files`), changing nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Attachment, CaseReporter
from civicgrid.apps.cases.services import act
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import OTHER_STREET_POINT, auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db

INTERNAL_NOTE = "内部备注：报告人系老上访户，勿透露处置人员电话"


@pytest.fixture
def resident_case(loop):
    case = report(loop, actor=loop.resident, source="public", photos=[("photo", jpeg())])
    act(actor=loop.dispatcher, case=case, action="accept", note=INTERNAL_NOTE)
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return case


def test_the_cases_api_refuses_a_resident_their_own_case_file(loop, api_client, resident_case):
    case = resident_case
    photo = Attachment.objects.filter(case=case).first()
    headers = auth(loop.resident)
    before = world_counts()
    reads = [f"/api/v1/cases/{case.number}", "/api/v1/cases", f"/api/v1/cases?q={case.number}",
             f"/api/v1/cases/{case.number}/duplicates", f"/api/v1/cases/{case.number}/attachments/{photo.pk}"]
    for url in reads:
        response = api_client.get(url, **headers)
        assert response.status_code == 403, url
        assert response.json()["code"] == "forbidden"
        assert INTERNAL_NOTE not in response.content.decode() and loop.dispatcher.username not in response.json()
    writes = [(f"/api/v1/cases/{case.number}/actions/progress", {"note": "我来说两句"}),
              (f"/api/v1/cases/{case.number}/actions/reopen", {"reason": "没修好"})]
    for url, body in writes:
        assert api_client.post(url, body, content_type="application/json", **headers).status_code == 403
    upload = api_client.post(f"/api/v1/cases/{case.number}/photos", {"photos": [_file()]}, **headers)
    assert upload.status_code == 403
    assert world_counts() == before
    assert Attachment.objects.filter(case=case).count() == 1


def test_each_refusal_says_why_for_whom_it_is(loop, api_client, resident_case):
    """The tester's run: the auditor and the system administrator were told to follow "your report" by its link.
    三员 roles keep out of business data; a role that is not a reporter's is told it does not read case files;
    a resident is sent to the follow link. Nothing changes."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    before = world_counts()

    def refusal(user) -> str:
        response = api_client.get("/api/v1/cases", **auth(user))
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        return response.json()["detail"]

    for role in (Role.AUDIT_ADMIN, Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN):
        detail = refusal(user_with(role))
        assert detail.startswith("三员分立") and "follow" not in detail and "查询链接" not in detail
    assert "查询链接" in refusal(loop.resident)
    volunteer = user_with(Role.VOLUNTEER, region=loop.tree["140213050"])
    assert "查询链接" in refusal(volunteer)
    assert world_counts() == before


def test_a_case_the_resident_did_not_report_is_refused_the_same_way(loop, api_client):
    """The refusal comes before the scope: a resident learns nothing about which numbers exist."""
    other = report(loop)
    for number in (other.number, "2099010100001", "not-a-number"):
        assert api_client.get(f"/api/v1/cases/{number}", **auth(loop.resident)).status_code == 403


def test_the_contact_endpoint_refuses_a_resident_and_records_the_refusal(loop, api_client, resident_case):
    before = world_counts()
    denied = AuditEntry.objects.filter(action="data.revealed", result="denied").count()
    response = api_client.post(f"/api/v1/cases/{resident_case.number}/contact", **auth(loop.resident))
    assert response.status_code == 403 and "phone" not in response.json()
    assert world_counts() == before
    assert AuditEntry.objects.filter(action="data.revealed", result="denied").count() == denied + 1


def test_the_case_page_and_its_pdf_refuse_a_resident_as_the_api_does(loop, client, resident_case):
    client.force_login(loop.resident)
    for url in (reverse("ui:case_detail", args=[resident_case.number]), reverse("ui:case_list"),
                reverse("ui:case_file_pdf", args=[resident_case.number])):
        response = client.get(url)
        assert response.status_code == 403, url
        assert INTERNAL_NOTE not in response.content.decode(errors="replace")


def test_a_resident_follows_the_public_steps_only(loop, api_client, resident_case):
    token = CaseReporter.objects.get(case=resident_case).follow_token
    body = api_client.get(f"/api/v1/follow/{token}").json()
    assert [s["action"] for s in body["steps"]] == ["report", "accept", "dispatch"]
    assert INTERNAL_NOTE not in str(body)


def test_a_resident_report_through_the_api_answers_a_receipt_not_the_case_file(loop, api_client):
    body = {"title": "路边暴露垃圾", "lng": OTHER_STREET_POINT[0], "lat": OTHER_STREET_POINT[1],
            "category": loop.cat.pk}
    response = api_client.post("/api/v1/cases", body, content_type="application/json",
                               HTTP_IDEMPOTENCY_KEY="k-1", **auth(loop.resident))
    assert response.status_code == 201
    receipt = response.json()
    assert set(receipt) == {"created", "number", "title", "status", "status_label", "source", "category",
                            "grid_name", "reported_at", "follow_token"}
    assert receipt["follow_token"] == CaseReporter.objects.get(case__number=receipt["number"]).follow_token
    again = api_client.post("/api/v1/cases", body, content_type="application/json",
                            HTTP_IDEMPOTENCY_KEY="k-1", **auth(loop.resident))
    assert again.status_code == 200 and again.json() == {**receipt, "created": False}


def test_staff_who_report_outside_their_scope_still_read_their_case_file(loop, api_client):
    """A grid worker holds `cases.view`: their own report in another street is a case file they follow."""
    case = report(loop, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.worker))
    assert detail.status_code == 200 and detail.json()["timeline"][0]["action"] == "report"
    created = api_client.post("/api/v1/cases", {"title": "井盖缺失", "lng": OTHER_STREET_POINT[0],
                                                "lat": OTHER_STREET_POINT[1]},
                              content_type="application/json", **auth(loop.worker))
    assert created.status_code == 201 and "timeline" in created.json()


def _file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("a.jpg", jpeg(), content_type="image/jpeg")

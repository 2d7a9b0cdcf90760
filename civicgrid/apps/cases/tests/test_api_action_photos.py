"""An action's photos through the API: sent with the action, as the case page's form sends its files, and recorded
as that form records them (the step, its photos of the action's kind, the audit entry, the event). Photos added
before through `POST /photos` are a 补充照片 step of their own and count for no action: the refusal says where the
photo goes."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Attachment, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent

from .conftest import POINT, auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def handled(loop):
    """A case reported back by the department: 核查's."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.handler, case=case, action="report_back", note="已清理")


def post_action(client, user, case, action, body):
    return client.post(f"/api/v1/cases/{case.number}/actions/{action}", body, content_type="application/json",
                       **auth(user))


def recorded(case, action, topic) -> dict:
    """What an action left behind, in terms two takings of it on two cases can be compared by."""
    step = CaseStep.objects.get(case=case, action=action)
    entry = AuditEntry.objects.get(action=f"cases.{action}", target_id=str(case.pk))
    event = OutboxEvent.objects.get(aggregate_id=str(case.pk), topic=f"case.{topic}")
    return {
        "step": (step.actor_id, step.from_status, step.to_status, step.note, step.data),
        "photos": sorted(step.attachments.values_list("kind", "uploaded_by_id", "width", "height")),
        "audit": (entry.actor_id, {k: v for k, v in entry.data.items() if k != "step"}, entry.data["step"] == step.pk),
        "event": ({k: v for k, v in event.payload.items() if k not in ("number", "step_id")},
                  event.payload["step_id"] == step.pk),
    }


def test_a_photo_uploaded_first_does_not_count_and_the_refusal_says_where_it_goes(loop, api_client):
    """The tester's path: 补充照片 of kind verify, then 核查 with an empty body."""
    case = handled(loop)
    upload = api_client.post(f"/api/v1/cases/{case.number}/photos",
                             {"photos": SimpleUploadedFile("site.jpg", jpeg(), content_type="image/jpeg"),
                              "kind": "verify"}, **auth(loop.worker))
    assert upload.status_code == 201, upload.content.decode()
    before = world_counts()

    refused = post_action(api_client, loop.worker, case, "verify", {})
    assert refused.status_code == 422 and refused.json()["code"] == "missing" and refused.json()["field"] == "photos"
    detail = refused.json()["detail"]
    assert "请求体的 photos" in detail and "this request body's `photos`" in detail
    assert "POST /cases/{number}/photos" in detail
    assert world_counts() == before

    # the same photo sent with the action: 核查 done, the 补充照片 left as it was
    answer = post_action(api_client, loop.worker, case, "verify", {"photos": [{"content_base64": b64(jpeg())}]})
    assert answer.status_code == 200, answer.content.decode()
    assert answer.json()["status"] == "verified"
    step = CaseStep.objects.get(case=case, action="verify")
    assert list(step.attachments.values_list("kind", "uploaded_by")) == [("verify", loop.worker.pk)]
    assert answer.json()["timeline"][-1]["attachments"] == [a.pk for a in step.attachments.all()]
    added = CaseStep.objects.get(case=case, action="add_photos")
    assert list(added.attachments.values_list("kind", flat=True)) == ["verify"]


def test_verify_through_the_api_is_recorded_as_the_case_page_records_it(loop, api_client):
    by_page, by_api = handled(loop), handled(loop)
    page = Client()
    page.force_login(loop.worker)
    form = page.post(reverse("ui:case_act", args=[by_page.number, "verify"]),
                     {"photos": SimpleUploadedFile("site.jpg", jpeg(), content_type="image/jpeg"),
                      "idempotency_key": "page-verify"})
    assert form.status_code == 302
    answer = post_action(api_client, loop.worker, by_api, "verify", {"photos": [{"content_base64": b64(jpeg())}]})
    assert answer.status_code == 200, answer.content.decode()

    page_record, api_record = recorded(by_page, "verify", "verified"), recorded(by_api, "verify", "verified")
    assert page_record == api_record
    assert page_record["photos"] == [("verify", loop.worker.pk, 40, 30)] and page_record["audit"][1]["photos"] == 1


def test_an_action_photo_without_a_kind_takes_the_actions_kind(loop, api_client):
    """处置反馈's photo shows the work done (after), as the form's file does."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    answer = post_action(api_client, loop.handler, case, "report_back",
                         {"note": "已清理", "photos": [{"content_base64": b64(jpeg())}]})
    assert answer.status_code == 200, answer.content.decode()
    step = CaseStep.objects.get(case=case, action="report_back")
    assert list(step.attachments.values_list("kind", flat=True)) == ["after"]


@pytest.mark.parametrize(("who", "action", "body", "kind"), [
    ("worker", "verify", {}, "before"),
    ("worker", "verify", {}, "photo"),
    ("handler", "report_back", {"note": "已清理"}, "verify"),
])
def test_an_action_photo_of_another_kind_is_refused_and_nothing_changes(loop, api_client, who, action, body, kind):
    case = handled(loop) if action == "verify" else report(loop)
    if action == "report_back":
        act(actor=loop.dispatcher, case=case, action="accept")
        act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    before, photos = world_counts(), Attachment.objects.count()
    refused = post_action(api_client, getattr(loop, who), case, action,
                          {**body, "photos": [{"kind": kind, "content_base64": b64(jpeg())}]})
    assert refused.status_code == 400, refused.content.decode()
    assert refused.json()["code"] == "invalid" and refused.json()["field"] == "photos"
    assert kind in refused.json()["detail"] and "of kind" in refused.json()["detail"]
    assert world_counts() == before and Attachment.objects.count() == photos


def test_a_self_handled_report_through_the_api_takes_its_after_photo_with_the_report(loop, api_client):
    """自行处置: the before and after photos go with the report (`kind`), as the report page's two file inputs."""
    def send(*kinds):
        body = {"title": "路边暴露垃圾", "lng": POINT[0], "lat": POINT[1], "category": loop.cat.pk, "self_handled": True,
                "photos": [{"kind": k, "content_base64": b64(jpeg(color=(i * 40, 9, 9)))} for i, k in enumerate(kinds)]}
        return api_client.post("/api/v1/cases", body, content_type="application/json", **auth(loop.worker))

    before = world_counts()
    refused = send("before", "photo")
    assert refused.status_code == 400 and refused.json()["field"] == "photos" and "'after'" in refused.json()["detail"]
    assert world_counts() == before

    answer = send("before", "after")
    assert answer.status_code == 201, answer.content.decode()
    assert answer.json()["status"] == "closed" and answer.json()["is_self_handled"] is True
    photos = Attachment.objects.filter(case__number=answer.json()["number"])
    assert sorted(photos.values_list("kind", flat=True)) == ["after", "before"]

"""What guards a case action besides the transition table: a one-time key sent again with other content is
refused (409) rather than answered with the first result while its content is dropped; a form (or API call) from a
page that saw the case before someone else moved it on is refused (409) saying what happened; and a NUL in any
text is refused (400) on both databases instead of being stored (SQLite) or failing with a 500 (PostgreSQL).
Every refusal leaves the world as it was."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import base64
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Attachment, Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import act, rate, reopen_by_token
from civicgrid.apps.cases.services.common import KeyReused
from civicgrid.apps.cases.tests.conftest import auth, jpeg, loop, report, world_counts  # noqa: F401
from civicgrid.apps.cases.tests.conftest import close_loop as _close
from civicgrid.foundation.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db


def _world() -> dict:
    return {**world_counts(), "attachments": Attachment.objects.count(),
            "notes": list(CaseStep.objects.order_by("pk").values_list("note", flat=True))}


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def _page(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def _form(html: str, action: str) -> dict:
    """The hidden fields of one action form as the page drew it: its one-time key and the case's version."""
    found = re.search(rf'data-action-form="{action}">.*?name="idempotency_key" value="([0-9a-f]{{32}})">'
                      rf'<input type="hidden" name="expected_step" value="(\d+)">', html, re.S)
    assert found, f"no {action} form"
    return {"idempotency_key": found.group(1), "expected_step": found.group(2)}


def _post(client, case, action, **data):
    return client.post(reverse("ui:case_act", args=[case.number, action]), data)


def _handling(loop):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.handler, case=case, action="start")


def _api_progress(client, loop, case, key, body):
    return client.post(f"/api/v1/cases/{case.number}/actions/progress", body, content_type="application/json",
                       **{**auth(loop.handler), "HTTP_IDEMPOTENCY_KEY": key})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- 1. the same key with other content -------------------------------------------------------------------


def test_api_same_key_other_body_is_refused_and_the_same_body_replays(loop, client):
    case = _handling(loop)
    first = _api_progress(client, loop, case, "idem-1", {"note": "第一次进展"})
    assert first.status_code == 200, first.content.decode()
    before = _world()
    other = _api_progress(client, loop, case, "idem-1", {"note": "完全不同的内容"})
    assert other.status_code == 409, other.content.decode()
    body = other.json()
    assert body["field"] == "idempotency_key" and "本次内容与当时不同" in body["detail"]
    assert "different content" in body["detail"]
    assert _world() == before  # the new note is nowhere: refused, not dropped silently
    # the same body again (trailing spaces, as a retry may add) still replays, as it always did
    again = _api_progress(client, loop, case, "idem-1", {"note": "第一次进展  "})
    assert again.status_code == 200 and _world() == before
    assert list(CaseStep.objects.filter(case=case, action="progress").values_list("note", flat=True)) == ["第一次进展"]


def test_api_photos_count_in_the_content_but_a_resend_without_them_replays(loop, client):
    case = _handling(loop)
    red, blue = _b64(jpeg()), _b64(jpeg(color=(20, 20, 220)))
    first = _api_progress(client, loop, case, "idem-p", {"note": "清运中", "photos": [{"content_base64": red}]})
    assert first.status_code == 200, first.content.decode()
    before = _world()
    # another photo under the same key: refused, not attached
    other = _api_progress(client, loop, case, "idem-p", {"note": "清运中", "photos": [{"content_base64": blue}]})
    assert other.status_code == 409 and _world() == before
    # the same photo, or none (a restored form has lost its files, not its text): the first step's answer
    assert _api_progress(client, loop, case, "idem-p", {"note": "清运中", "photos": [{"content_base64": red}]}
                         ).status_code == 200
    assert _api_progress(client, loop, case, "idem-p", {"note": "清运中"}).status_code == 200
    assert _world() == before and Attachment.objects.filter(case=case, kind="progress").count() == 1
    # a first sending without photos: the same key with a photo would drop it, so it is refused
    assert _api_progress(client, loop, case, "idem-q", {"note": "第二次"}).status_code == 200
    before = _world()
    assert _api_progress(client, loop, case, "idem-q", {"note": "第二次", "photos": [{"content_base64": red}]}
                         ).status_code == 409
    assert _world() == before


def test_web_form_sent_again_with_other_words_is_refused_and_says_so(loop, client_for):
    case = _handling(loop)
    c = client_for(loop.handler)
    form = _form(_page(c, case), "progress")
    assert _post(c, case, "progress", note="已清运一半", **form).status_code == 302
    before = _world()
    # the same form, the browser's resend (a textarea sends CRLF): the first answer, nothing new
    again = _post(c, case, "progress", note="已清运一半\r\n", **form)
    assert again.status_code == 302 and _messages(again) == ["已完成：处置进展"] and _world() == before
    # the same form edited after going back to it: refused, the page tells why and keeps what was typed
    edited = _post(c, case, "progress", note="已全部清运", **form)
    html = edited.content.decode()
    assert edited.status_code == 409 and "本次内容与当时不同，未保存" in html and "已全部清运" in html
    assert _world() == before
    # the page it answers with is the case as it is now: its form takes the new words as a new step
    fresh = _form(html, "progress")
    assert fresh["idempotency_key"] != form["idempotency_key"]
    assert _post(c, case, "progress", note="已全部清运", **fresh).status_code == 302
    assert list(CaseStep.objects.filter(case=case, action="progress").values_list("note", flat=True)) == [
        "已清运一半", "已全部清运"]


def test_web_photos_resent_without_files_replay_with_other_files_are_refused(loop, client_for):
    case = _handling(loop)
    c = client_for(loop.handler)
    form = _form(_page(c, case), "progress")

    def photo(color=(200, 30, 30)):
        return SimpleUploadedFile("site.jpg", jpeg(color=color), content_type="image/jpeg")

    assert _post(c, case, "progress", note="清运", photos=photo(), **form).status_code == 302
    before = _world()
    assert _post(c, case, "progress", note="清运", **form).status_code == 302
    assert _post(c, case, "progress", note="清运", photos=photo(), **form).status_code == 302
    assert _world() == before
    assert _post(c, case, "progress", note="清运", photos=photo((0, 0, 250)), **form).status_code == 409
    assert _world() == before and Attachment.objects.filter(case=case, kind="progress").count() == 1


def test_web_send_back_sent_again_with_another_reason_after_the_case_left(loop, client_for):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    c = client_for(loop.handler)
    form = _form(_page(c, case), "send_back")
    assert _post(c, case, "send_back", reason="不属本部门职责", **form).status_code == 302
    before = _world()
    same = _post(c, case, "send_back", reason="不属本部门职责", **form)
    assert same.status_code == 302 and same["Location"] == reverse("ui:case_list")
    other = _post(c, case, "send_back", reason="应由住建局处理", **form)
    assert other.status_code == 409 and "本次内容与当时不同" in other.content.decode()
    assert _world() == before


def test_follow_link_rating_and_reopening_sent_again_with_other_content(loop):
    case = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    rate(follow_token=token, score=4, comment="及时", idempotency_key="r-1")
    before = _world()
    assert rate(follow_token=token, score="4", comment=" 及时 ", idempotency_key="r-1").rating == 4
    with pytest.raises(KeyReused):
        rate(follow_token=token, score=1, comment="及时", idempotency_key="r-1")
    assert _world() == before
    reopen_by_token(follow_token=token, reason="又堆满了", idempotency_key="o-1")
    before = _world()
    reopen_by_token(follow_token=token, reason="又堆满了", idempotency_key="o-1")
    with pytest.raises(KeyReused):
        reopen_by_token(follow_token=token, reason="还是没人管", idempotency_key="o-1")
    assert _world() == before


def test_a_step_keyed_before_digests_were_kept_still_replays(loop):
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="progress", note="旧的", idempotency_key="old-1")
    CaseStep.objects.filter(case=case, action="progress").update(idempotency_digest=None)  # as migration 0026 left it
    before = _world()
    act(actor=loop.handler, case=case, action="progress", note="不同", idempotency_key="old-1")
    assert _world() == before


def test_the_key_still_names_one_action(loop):
    case = _handling(loop)
    act(actor=loop.handler, case=case, action="progress", note="进展", idempotency_key="k-9")
    before = _world()
    with pytest.raises(Conflict) as refused:
        act(actor=loop.handler, case=case, action="request_extension", reason="雨天", hours=8, idempotency_key="k-9")
    assert not isinstance(refused.value, KeyReused) and "另一项操作" in refused.value.message
    assert _world() == before


# ---- 2. a page that saw an older case -----------------------------------------------------------------


def test_a_stale_page_cannot_void_a_case_someone_else_has_accepted(loop, client_for):
    case = report(loop)
    a = client_for(loop.dispatcher)
    form = _form(_page(a, case), "void")  # A opens the case while it waits to be accepted
    act(actor=loop.street_dispatcher, case=case, action="accept")  # B accepts it
    before = _world()
    response = _post(a, case, "void", reason="重复上报", **form)
    html = response.content.decode()
    assert response.status_code == 409
    assert "案卷已被他人更新" in html and "请刷新页面后重新操作" in html and "立案" in html
    assert _world() == before and Case.objects.get(pk=case.pk).status == Status.ACCEPTED
    # the page it answers with is the case as it is now, and its forms carry its new version
    assert _form(html, "void")["expected_step"] == str(CaseStep.objects.filter(case=case).latest("pk").pk)


def test_a_stale_page_is_refused_also_where_its_action_is_still_allowed(loop, client_for):
    case = _handling(loop)
    a = client_for(loop.handler)
    form = _form(_page(a, case), "progress")
    act(actor=loop.handler, case=case, action="progress", note="同事已报进展")  # in another tab, or a colleague
    before = _world()
    response = _post(a, case, "progress", note="我的进展", **form)
    assert response.status_code == 409 and "案卷已被他人更新" in response.content.decode()
    assert _world() == before


def test_double_submit_of_a_form_still_takes_one_step_and_answers_the_same(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    form = _form(_page(c, case), "accept")
    first = _post(c, case, "accept", **form)
    before = _world()
    second = _post(c, case, "accept", **form)  # its version is now old: the key answers first
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert _messages(second) == _messages(first) == ["已完成：立案"]
    assert _world() == before


def test_a_forged_version_is_refused(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    form = {**_form(_page(c, case), "accept"), "expected_step": "abc"}
    before = _world()
    assert _post(c, case, "accept", **form).status_code == 400 and _world() == before


def test_api_expected_step_is_optional_and_checked_when_sent(loop, client):
    case = report(loop)
    headers = auth(loop.dispatcher)
    detail = client.get(f"/api/v1/cases/{case.number}", **headers).json()
    seen = detail["last_step"]
    assert seen == max(s["id"] for s in detail["timeline"])
    act(actor=loop.street_dispatcher, case=case, action="accept")
    before = _world()
    url = f"/api/v1/cases/{case.number}/actions/void"
    stale = client.post(url, {"reason": "重复", "expected_step": seen}, content_type="application/json", **headers)
    assert stale.status_code == 409 and stale.json()["field"] == "expected_step"
    assert "案卷已被他人更新" in stale.json()["detail"] and "accept" in stale.json()["detail"]
    assert _world() == before
    now = client.get(f"/api/v1/cases/{case.number}", **headers).json()["last_step"]
    done = client.post(url, {"reason": "重复", "expected_step": now}, content_type="application/json", **headers)
    assert done.status_code == 200 and done.json()["status"] == "voided"
    assert done.json()["last_step"] > now
    # without it, nothing is checked (clients that never sent one go on as before)
    other = report(loop)
    assert client.post(f"/api/v1/cases/{other.number}/actions/accept", {}, content_type="application/json",
                       **headers).status_code == 200


def test_openapi_documents_expected_step_and_last_step(client):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "optimistic concurrency" in schema["ActionIn"]["properties"]["expected_step"]["description"]
    assert "expected_step" in schema["CaseDetailOut"]["properties"]["last_step"]["description"]


# ---- 3. NUL in the text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [("reason", "重复\x00上报"), ("public_note", "经核实\x00"),
                                          ("parent", "\x00")])
def test_service_refuses_a_nul_naming_the_field(loop, field, value):
    case = report(loop)
    action = "merge" if field == "parent" else "void"
    inputs = {"reason": "重复上报"} if action == "void" else {}
    before = _world()
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.dispatcher, case=case, action=action, **{**inputs, field: value})
    assert refused.value.field == field and "NUL" in refused.value.message
    assert _world() == before


def test_case_page_refuses_a_nul_beside_the_field_and_drops_it_from_the_refill(loop, client_for):
    case = _handling(loop)
    c = client_for(loop.handler)
    before = _world()
    response = _post(c, case, "progress", note="已清运\x00一半", **_form(_page(c, case), "progress"))
    html = response.content.decode()
    assert response.status_code == 400 and "含有不可见的控制字符（NUL）" in html
    assert 'data-field-error="note"' in html and "已清运一半</textarea>" in html
    assert _world() == before


@pytest.mark.parametrize("body", [{"note": "进展\x00"}, {"reason": "\x00"}, {"public_note": "a\x00"},
                                  {"parent": "C\x00"}, {"rule_region": "\x00"}])
def test_api_action_refuses_a_nul(loop, client, body):
    case = _handling(loop)
    action = "progress" if "note" in body else "void"
    before = _world()
    response = client.post(f"/api/v1/cases/{case.number}/actions/{action}", body, content_type="application/json",
                           **auth(loop.dispatcher if action == "void" else loop.handler))
    assert 400 <= response.status_code < 500, response.content.decode()
    assert _world() == before


def test_api_report_photos_and_follow_endpoints_refuse_a_nul(loop, client):
    case = _handling(loop)
    headers = auth(loop.handler)
    before = _world()
    photos = client.post(f"/api/v1/cases/{case.number}/photos",
                         {"photos": SimpleUploadedFile("a.jpg", jpeg(), content_type="image/jpeg"),
                          "note": "补\x00拍"}, **headers)
    assert photos.status_code == 400 and photos.json()["field"] == "note"
    cases = Case.objects.count()
    report_body = {"title": "井盖缺失", "lng": 113.21, "lat": 40.01, "category": loop.cat.pk}
    for field in ("title", "description", "address", "reporter_name"):
        new = client.post("/api/v1/cases", {**report_body, field: "井盖\x00缺失"}, content_type="application/json",
                          **auth(loop.worker))
        assert new.status_code == 400 and new.json()["field"] == field, new.content.decode()
    assert Case.objects.count() == cases
    assert _world() == before
    closed = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=closed).follow_token
    before = _world()
    rating = client.post(f"/api/v1/follow/{token}/rating", {"score": 5, "comment": "好\x00"},
                         content_type="application/json")
    reopen = client.post(f"/api/v1/follow/{token}/reopen", {"reason": "\x00又脏了"}, content_type="application/json")
    assert rating.status_code == reopen.status_code == 400
    assert _world() == before


def test_follow_page_forms_refuse_a_nul(loop, client):
    case = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    before = _world()
    rated = client.post(f"/follow/{token}/rate/", {"score": "5", "comment": "很好\x00"})
    assert rated.status_code == 400 and "NUL" in rated.content.decode()
    assert "很好</textarea>" in rated.content.decode()  # given back without it, to send again as it is
    reopened = client.post(f"/follow/{token}/reopen/", {"reason": "又脏了\x00"})
    assert reopened.status_code == 400
    assert _world() == before and CaseReporter.objects.get(original_case=case).rating is None

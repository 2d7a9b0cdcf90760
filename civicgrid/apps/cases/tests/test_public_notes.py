"""不予受理 and 作废 keep the internal reason (staff only) apart from the note told to the reporters (the text
message, the follow page, Open311's public updates); what the public wrote is shown to staff with phone and ID
numbers masked, and so is what staff wrote (an internal reason naming the caller's number); a staff member on a
reporter's follow page reads the reporter's rating as theirs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import CaseReporter, CaseStep
from civicgrid.apps.cases.services import act, rate
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.foundation.notify.services import deliver_pending
from civicgrid.integrations.open311.selectors import _update_description

from .conftest import auth, close_loop, jpeg, report, world_counts

INTERNAL = "测试数据，坐席误录，来电人全角张三13800138003"
INTERNAL_MASKED = "测试数据，坐席误录，来电人全角张三138****8003"  # as staff read it (`CaseStep.note_for_staff`)
INTERNAL_NOTE = "已告知来电人拨打市级热线"


def _hotline(loop, ticket="12345-20261201-0001"):
    case = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket=ticket, caller_name="张三",
                  callback_phone="13800138003")
    return case, CaseReporter.objects.get(original_case=case).follow_token


def _sms() -> list[str]:
    """The text messages queued for the caller (13800138003)."""
    return list(OutgoingMessage.objects.filter(channel="sms", to_masked__endswith="8003").order_by("id")
                .values_list("body", flat=True))


def _post(client, case, action, **data):
    return client.post(reverse("ui:case_act", args=[case.number, action]),
                       {"idempotency_key": f"k-{action}-{len(data)}", **data})


def test_a_void_without_a_note_for_the_caller_tells_only_the_neutral_default(loop, client, capsys):
    """The tester's case: a hotline case voided from the case page with a reason naming the caller. The caller's
    text message, the follow page and Open311 carry none of it; the staff timeline keeps it as the internal
    reason (its number masked, as every note) beside what the caller was told."""
    case, token = _hotline(loop)
    client.force_login(loop.dispatcher)
    assert _post(client, case, "void", reason=INTERNAL, note=INTERNAL_NOTE).status_code == 302
    step = CaseStep.objects.get(case=case, action="void")
    assert step.note == INTERNAL and "public_note" not in (step.data or {})
    told = _sms()[-1]
    assert "已作废" in told and "张三" not in told and "8003" not in told and "坐席" not in told
    assert "市级热线" not in told
    capsys.readouterr()
    assert deliver_pending() >= 1  # the console sender prints what the gateway would send
    sent = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[civicgrid sms]")]
    assert sent and "已作废" in sent[-1] and "张三" not in sent[-1] and "坐席" not in sent[-1]
    page = client.get(f"/follow/{token}/").content.decode()
    assert '<p class="note" data-step-note>经核实，该反映已作废。</p>' in page
    assert "张三" not in page and "坐席" not in page and "市级热线" not in page
    assert "不含任何个人信息" not in page  # names cannot be detected: the page no longer claims it
    assert _update_description(step) == "作废：经核实，该反映已作废。"
    staff = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert f"内部原因：<span id=\"step-note-{step.pk}\" data-step-note>{INTERNAL_MASKED}</span>" in staff
    assert "13800138003" not in staff and "告知上报人：经核实，该反映已作废。" in staff


def test_the_note_for_the_reporter_is_all_they_read_masked(loop, client, api_client):
    """Written through the API: the text message, the follow page (and its JSON) and Open311 carry the note for
    the reporters, its phone number masked, and never the internal reason."""
    case, token = _hotline(loop)
    body = {"reason": INTERNAL, "note": INTERNAL_NOTE,
            "public_note": "经核实，该问题不属于本区受理范围，请拨打 13912345678 咨询。"}
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/refuse", body, content_type="application/json",
                               **auth(loop.dispatcher))
    assert response.status_code == 200, response.content
    told = _sms()[-1]
    assert "不予受理，说明：经核实，该问题不属于本区受理范围，请拨打 139****5678 咨询。" in told
    assert "张三" not in told and "坐席" not in told and "13912345678" not in told and "市级热线" not in told
    shown = "经核实，该问题不属于本区受理范围，请拨打 139****5678 咨询。"
    page = client.get(f"/follow/{token}/").content.decode()
    assert f'<p class="note" data-step-note>{shown}</p>' in page and "坐席" not in page and "市级热线" not in page
    steps = client.get(f"/api/v1/follow/{token}").json()["steps"]
    assert [(s["action"], s["note"]) for s in steps] == [("report", ""), ("refuse", shown)]
    step = CaseStep.objects.get(case=case, action="refuse")
    assert step.note == f"{INTERNAL}\n{INTERNAL_NOTE}" and _update_description(step) == f"不予受理：{shown}"
    # staff read both through the API: the internal reason as the step's note, the reporters' note in its data
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()
    refused = next(s for s in detail["timeline"] if s["action"] == "refuse")
    assert refused["note"] == f"{INTERNAL_MASKED}\n{INTERNAL_NOTE}" and refused["data"]["public_note"] == shown


@pytest.mark.parametrize(("action", "inputs", "field"), [
    ("dispatch", {"department": "dept", "public_note": "已派往城管"}, "public_note"),  # not an action that tells one
    ("void", {"reason": "误录", "public_note": "长" * 201}, "public_note"),  # longer than a message takes whole
    ("void", {"public_note": "经核实，已作废。"}, "reason"),  # the internal reason is still required
])
def test_a_refused_note_changes_nothing(loop, action, inputs, field):
    case, _ = _hotline(loop)
    if action == "dispatch":
        case = act(actor=loop.dispatcher, case=case, action="accept")
        inputs = {**inputs, "department": loop.dept.pk}
    before = world_counts()
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.dispatcher, case=case, action=action, **inputs)
    assert refused.value.field == field
    assert world_counts() == before


def test_the_api_refuses_an_overlong_note_and_changes_nothing(loop, api_client):
    case, _ = _hotline(loop)
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/void",
                               {"reason": "误录", "public_note": "长" * 201}, content_type="application/json",
                               **auth(loop.dispatcher))
    assert response.status_code == 400 and response.json()["field"] == "public_note"
    assert "告知上报人的说明不能超过 200 个字符" in response.json()["detail"]
    assert world_counts() == before


def test_the_forms_say_which_words_reach_the_reporter(loop, client):
    case, _ = _hotline(loop)
    client.force_login(loop.dispatcher)
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    for action in ("refuse", "void"):
        form = page[page.index(f'data-action-form="{action}"'):]
        form = form[:form.index("</form>")]
        assert "内部原因（仅工作人员可见） *" in form and 'name="reason"' in form
        assert "告知上报人的说明" in form and 'name="public_note"' in form and 'maxlength="200"' in form
        assert "将以短信告知上报人，并显示在其查询页面和公开接口（Open311）上" in form
    assert 'placeholder="留空时告知：经核实，不予受理。"' in page
    # a refused form keeps both texts apart
    response = _post(client, case, "void", public_note="已作废")
    assert response.status_code == 422
    html = response.content.decode()
    form = html[html.index('data-action-form="void"'):]
    assert ">已作废</textarea>" in form[:form.index("</form>")]
    assert "已作废" not in "".join(_sms())


def test_the_handling_feedback_form_says_the_reporter_reads_it(loop, client):
    case, _ = _hotline(loop)
    case = act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    client.force_login(loop.handler)
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = page[page.index('data-action-form="report_back"'):]
    form = form[:form.index("</form>")]
    assert "处置反馈（上报人可见） *" in form and 'data-field-hint="note"' in form


def test_a_phone_number_in_a_rating_comment_is_masked_for_staff(loop, client, api_client):
    """The rating's comment shows on the case page, in the API's timeline and the case file with phone and ID
    numbers masked: the reporter's number in full is 显示完整联系方式's (audited)."""
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    token = CaseReporter.objects.get(original_case=case).follow_token
    case = close_loop(loop, case)
    rate(follow_token=token, score=2, comment="还是有味道，请回电13700000001，身份证140213198805052317")
    client.force_login(loop.dispatcher)
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "还是有味道，请回电137****0001" in page
    assert "13700000001" not in page and "140213198805052317" not in page
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()
    rated = next(s for s in detail["timeline"] if s["action"] == "rate")
    assert rated["note"].startswith("还是有味道，请回电137****0001") and "140213198805052317" not in rated["note"]
    # words with nothing to mask are shown as written
    assert next(s for s in detail["timeline"] if s["action"] == "report_back")["note"] == "已清理"


def test_a_staff_viewer_reads_the_reporters_rating_as_theirs(loop, client):
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    token = CaseReporter.objects.get(original_case=case).follow_token
    close_loop(loop, case)
    rate(follow_token=token, score=4)
    client.force_login(loop.dispatcher)
    page = client.get(f"/follow/{token}/").content.decode()
    assert "<dt data-rating-label>上报人的评价</dt>" in page and "您的评价" not in page
    client.force_login(loop.resident)
    page = client.get(f"/follow/{token}/").content.decode()
    assert "<dt data-rating-label>您的评价</dt>" in page


def test_a_refusal_recorded_before_the_split_shows_the_default(loop, client):
    """A 不予受理 taken before the reporters' note existed holds only the reason written for staff: the follow
    page and Open311 show the neutral default instead."""
    case, token = _hotline(loop)
    act(actor=loop.dispatcher, case=case, action="refuse", reason=INTERNAL)
    step = CaseStep.objects.get(case=case, action="refuse")
    CaseStep.objects.filter(pk=step.pk).update(data=None)  # as an older step was written
    step.refresh_from_db()
    page = client.get(f"/follow/{token}/").content.decode()
    assert '<p class="note" data-step-note>经核实，不予受理。</p>' in page and "张三" not in page
    assert _update_description(step) == "不予受理：经核实，不予受理。"


def _photo_notes(case, client, api_client, reader) -> tuple[str, list[str], list[str]]:
    """The 补充照片 notes as `reader` reads them: the case page, the API's timeline, the case file's rows."""
    from civicgrid.apps.cases_documents import casefile

    client.force_login(reader)
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(reader)).json()
    api = [s["note"] for s in detail["timeline"] if s["action"] == "add_photos"]
    pdf = [casefile._step_note(s) for s in CaseStep.objects.filter(case=case, action="add_photos").order_by("id")]
    return page, api, pdf


def test_a_photo_note_is_masked_for_staff_whoever_wrote_it(loop, client, api_client):
    """补充照片 by a resident (an account with only the resident role) is what the public wrote: staff read it with
    phone and ID numbers masked, on the case page, in the API's timeline and the case file. A grid worker's note
    on their own report is staff's words, read masked the same way (in clear through the audited reveal)."""
    from civicgrid.apps.cases.services import add_photos

    public = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    add_photos(actor=loop.resident, case=public, photos=[jpeg()],
               note="又多了一袋，请回电13700000001，身份证140213198805052317")
    page, api, pdf = _photo_notes(public, client, api_client, loop.dispatcher)
    assert "又多了一袋，请回电137****0001" in page
    assert "13700000001" not in page and "140213198805052317" not in page
    for note in (*api, *pdf):
        assert note.startswith("又多了一袋，请回电137****0001") and "140213198805052317" not in note
    assert len(api) == len(pdf) == 1

    staff = report(loop, actor=loop.worker)
    add_photos(actor=loop.worker, case=staff, photos=[jpeg()], note="物业电话13912345678")
    page, api, pdf = _photo_notes(staff, client, api_client, loop.dispatcher)
    assert "物业电话139****5678" in page and "13912345678" not in page
    assert api == pdf == ["物业电话139****5678"]

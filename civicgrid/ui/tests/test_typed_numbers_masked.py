"""What is written into a case (a resident's phone and ID number and name, often; a neighbour's number or name in
a handler's note) reaches staff masked, as Open311 publishes it and as the reporter field is masked: the case page,
the lists, the inbox, the ledger, the case file and the API. Those who may call the reporter back (回访) read it in
clear, the title, the description and the timeline's notes, through one audited request; their search still finds
the case by the number (`test_typed_address_masked`: the others' does not)."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import POINT, auth, loop, report, world_counts  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

PHONE, PHONE_MASKED = "13800001111", "138****1111"
ID, ID_MASKED = "140213198805051234", "1402**********1234"
THIRD_PHONE, THIRD_PHONE_MASKED = "13922223333", "139****3333"
FOURTH_PHONE, FOURTH_PHONE_MASKED = "13944445555", "139****5555"
TITLE, TITLE_MASKED = f"楼下垃圾堆积 联系人张三丰{PHONE}", f"楼下垃圾堆积 联系人张**{PHONE_MASKED}"
DESCRIPTION = f"我是王小明，电话{PHONE}，身份证号{ID}，垃圾已经堆了三天"
DESCRIPTION_MASKED = f"我是王**，电话{PHONE_MASKED}，身份证号{ID_MASKED}，垃圾已经堆了三天"
PROGRESS, PROGRESS_MASKED = f"已联系物业，邻居电话{THIRD_PHONE}", f"已联系物业，邻居电话{THIRD_PHONE_MASKED}"
OPINION, OPINION_MASKED = f"同意，已与业主李建国（{FOURTH_PHONE}）确认", f"同意，已与业主李**（{FOURTH_PHONE_MASKED}）确认"
NAMES = ("王小明", "张三丰", "李建国")


@pytest.fixture
def typed(loop, api_client):
    """The tester's case: a resident reports with their name and numbers in the title and description; it is
    accepted and dispatched; the department notes a neighbour's number and asks for more time, which the
    dispatcher grants naming an owner and their number."""
    loop.resident.display_name = "王小明"
    loop.resident.save()
    body = {"title": TITLE, "lng": POINT[0], "lat": POINT[1], "category": loop.cat.pk, "description": DESCRIPTION}
    response = api_client.post("/api/v1/cases", body, content_type="application/json", **auth(loop.resident))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()["number"])
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.handler, case=case, action="progress", note=PROGRESS)
    act(actor=loop.handler, case=case, action="request_extension", hours=8, reason="等待清运车辆")
    return act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve", note=OPINION)


def _clear(text: str) -> None:
    assert PHONE not in text and ID not in text and THIRD_PHONE not in text and FOURTH_PHONE not in text
    assert not any(name in text for name in NAMES), [name for name in NAMES if name in text]


def _steps(case) -> dict[str, CaseStep]:
    return {s.action: s for s in CaseStep.objects.filter(case=case)}


def test_the_case_page_shows_the_typed_numbers_and_names_and_the_notes_masked_no_reveal_to_the_department(
        loop, typed, client):
    client.force_login(loop.handler)
    html = client.get(reverse("ui:case_detail", args=[typed.number])).content.decode()
    _clear(html)
    assert TITLE_MASKED in html and DESCRIPTION_MASKED in html
    # staff's own notes are masked as the description is (`CaseStep.note_for_staff`), the department's own too
    steps = _steps(typed)
    assert f'<span id="step-note-{steps["progress"].pk}" data-step-note>{PROGRESS_MASKED}</span>' in html
    assert f"同意延期 8 小时：{OPINION_MASKED}" in html
    assert "data-reveal-text" not in html
    # the 上报 step names the resident's account as the reporter field would: masked
    assert "王**" in html


def test_the_case_list_and_the_board_show_the_title_masked(loop, typed, client):
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_list")).content.decode()
    _clear(html)
    assert TITLE_MASKED in html
    # the district's dispatcher may reveal: searching by the number or the name still finds the case (the search
    # reads the stored words for them)
    for q in (PHONE, "张三丰"):
        html = client.get(reverse("ui:case_list"), {"q": q}).content.decode()
        rows = html[html.index("<tbody>"):html.index("</tbody>")]  # the page keeps the search as typed, above
        assert typed.number in rows and TITLE_MASKED in rows
        _clear(rows)


def test_the_inbox_messages_carry_the_title_and_the_notes_masked(loop, typed, client):
    client.force_login(loop.handler)
    html = client.get(reverse("ui:inbox")).content.decode()
    assert f"新任务：{typed.number}" in html or typed.number in html
    assert TITLE_MASKED in html and OPINION_MASKED in html  # 新任务, and 延期申请同意 with the approver's words
    _clear(html)


def test_the_ledger_shows_title_and_description_masked(loop, typed, client):
    street = user_with(Role.STREET_DISPATCHER, region=loop.tree["140213050"], username="sdx")
    client.force_login(street)
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    line = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == typed.number), strict=True))
    assert line["标题"] == TITLE_MASKED and line["描述"] == DESCRIPTION_MASKED
    _clear(" ".join(str(c) for r in rows for c in r if c is not None))


def test_the_case_file_masks_text_notes_metadata_and_the_residents_name(loop, typed, client):
    client.force_login(loop.handler)
    response = client.get(f"/documents/cases/{typed.number}.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    compact = "".join(text.split())  # a long line wraps in its cell
    _clear(compact)
    for expected in ("".join(TITLE_MASKED.split()), DESCRIPTION_MASKED, PROGRESS_MASKED, OPINION_MASKED):
        assert expected in compact, expected
    assert reader.metadata.subject == TITLE_MASKED


def test_the_api_masks_the_text_the_notes_and_the_residents_account(loop, typed, api_client):
    detail = api_client.get(f"/api/v1/cases/{typed.number}", **auth(loop.handler)).json()
    assert detail["title"] == TITLE_MASKED and detail["description"] == DESCRIPTION_MASKED
    timeline = {s["action"]: s for s in detail["timeline"]}
    assert timeline["report"]["actor_name"] == "王**"
    assert timeline["progress"]["note"] == PROGRESS_MASKED
    decided = timeline["decide_extension"]
    assert decided["note"] == f"同意延期 8 小时：{OPINION_MASKED}"
    # the words the step's data repeats beside the note are masked as it is: the opinion and the note's English
    assert decided["data"]["opinion"] == OPINION_MASKED and decided["data"]["note_en"].endswith(OPINION_MASKED)
    assert decided["data"]["hours"] == 8
    _clear(str(detail))
    listed = api_client.get("/api/v1/cases", **auth(loop.dispatcher)).json()["items"]
    assert [i["title"] for i in listed if i["number"] == typed.number] == [TITLE_MASKED]


def test_intake_staff_reveal_the_text_and_notes_audited_others_are_refused_audited(loop, typed, client,
                                                                                   api_client):
    url = reverse("ui:case_reveal_text", args=[typed.number])
    steps = _steps(typed)
    before = world_counts()
    for user in (loop.handler, loop.worker):  # both see the case, neither calls reporters back
        client.force_login(user)
        response = client.post(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 403
        _clear(response.content.decode())
        assert AuditEntry.objects.filter(action="data.revealed", target_id=str(typed.pk), actor=user,
                                         result="denied", data__field="case_text").count() == 1
    response = api_client.post(f"/api/v1/cases/{typed.number}/text", **auth(loop.handler))
    assert response.status_code == 403
    _clear(response.content.decode())
    assert world_counts() == before
    assert not AuditEntry.objects.filter(action="data.revealed", result="denied", data__has_key="steps").exists()
    client.force_login(loop.other_street_dispatcher)  # outside the case's scope: nothing, not even a refusal
    assert client.post(url).status_code == 404
    # the street's dispatcher (回访) is offered the button and reads the text and the notes in clear
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[typed.number])).content.decode()
    assert "data-reveal-text" in html
    _clear(html)
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = response.content.decode()
    assert TITLE in shown and f"身份证号{ID}" in shown and "我是王小明" in shown
    # each masked note comes out of band into its own place in the timeline
    for action, note in (("progress", PROGRESS), ("decide_extension", f"同意延期 8 小时：{OPINION}")):
        assert (f'<span id="step-note-{steps[action].pk}" class="revealed" data-step-note '
                f'data-revealed-note="{steps[action].pk}" hx-swap-oob="true">{note}</span>') in shown
    assert f"step-note-{steps['accept'].pk}" not in shown  # nothing masked in it: not sent again
    body = api_client.post(f"/api/v1/cases/{typed.number}/text", **auth(loop.street_dispatcher)).json()
    assert body["title"] == TITLE and body["description"] == DESCRIPTION
    assert body["notes"] == [
        {"id": steps["progress"].pk, "action": "progress", "note": PROGRESS, "note_en": ""},
        {"id": steps["decide_extension"].pk, "action": "decide_extension", "note": f"同意延期 8 小时：{OPINION}",
         "note_en": steps["decide_extension"].data["note_en"]},
    ]
    assert OPINION in body["notes"][1]["note_en"]  # the English in clear too (the timeline's data masks it)
    revealed = AuditEntry.objects.filter(action="data.revealed", target_id=str(typed.pk), result="ok",
                                         data__field="case_text")
    assert revealed.count() == 2
    assert [e.data["steps"] for e in revealed] == [[steps["progress"].pk, steps["decide_extension"].pk]] * 2
    # without JavaScript the form posts to a page of its own, which lists the notes
    page = client.post(url).content.decode()
    assert f"身份证号{ID}" in page and "（本次查看已记入审计）" in page and PROGRESS in page
    assert f'data-revealed-note="{steps["progress"].pk}"' in page and "hx-swap-oob" not in page
    assert revealed.all().count() == 3  # a fresh count, not the entries read above


def test_the_english_interface_reveals_the_notes_in_english_as_the_timeline_shows_them(loop, typed, client):
    """A note the system wrote carries its English (`note_en`): the timeline shows it masked in English, and
    the reveal puts it in clear in English in its place (it put the Chinese note there); a person's words stay
    as written."""
    steps = _steps(typed)
    decided, english = steps["decide_extension"], steps["decide_extension"].data["note_en"]
    assert english.startswith("extension of 8 h") and english.endswith(OPINION)
    client.force_login(loop.street_dispatcher)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get(reverse("ui:case_detail", args=[typed.number])).content.decode()
    assert english.replace(OPINION, OPINION_MASKED) in html
    url = reverse("ui:case_reveal_text", args=[typed.number])
    shown = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert (f'<span id="step-note-{decided.pk}" class="revealed" data-step-note '
            f'data-revealed-note="{decided.pk}" hx-swap-oob="true">{english}</span>') in shown
    assert "同意延期" not in shown and PROGRESS in shown and TITLE in shown
    page = client.post(url).content.decode()  # the page without JavaScript lists them alike
    assert english in page and "同意延期" not in page and PROGRESS in page
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    shown = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f"同意延期 8 小时：{OPINION}" in shown and english not in shown


def test_a_case_whose_only_masked_words_are_a_staff_note_offers_the_reveal(loop, client, api_client):
    case = report(loop, actor=loop.worker)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.handler, case=case, action="progress", note="联系人：李四，明天上门")
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "联系人：李*，明天上门" in html and "李四" not in html and "data-reveal-text" in html
    body = api_client.post(f"/api/v1/cases/{case.number}/text", **auth(loop.street_dispatcher)).json()
    assert [n["note"] for n in body["notes"]] == ["联系人：李四，明天上门"]


def test_a_send_back_reason_is_masked_where_the_dispatcher_reads_it(loop, client):
    case = report(loop, actor=loop.worker)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="send_back", proposed_department=loop.other_dept.pk,
        reason=f"属住建局管辖，其联系人王强{THIRD_PHONE}")
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-send-back-proposal" in html  # the dispatch form repeats the reason beside the proposal
    assert html.count(f"属住建局管辖，其联系人王*{THIRD_PHONE_MASKED}") == 2 and THIRD_PHONE not in html
    assert "王强" not in html


def test_a_case_without_numbers_or_names_in_its_text_offers_no_reveal(loop, client):
    case = report(loop, reporter_name="李四", reporter_phone="13700000000")
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-reveal-contact" in html and "data-reveal-text" not in html


def test_a_leaders_words_are_masked_in_the_merge_forms_and_in_the_data_a_merge_carries(loop, client, api_client):
    main, merged = report(loop), report(loop)
    words, masked = f"请联系户主王强{THIRD_PHONE}尽快处理", f"请联系户主王*{THIRD_PHONE_MASKED}尽快处理"
    act(actor=loop.leader, case=merged, action="supervise", note=words)
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_detail", args=[merged.number])).content.decode()
    assert "data-merge-supervised" in html and f"{loop.leader.display_name}：{masked}" in html
    assert THIRD_PHONE not in html and "王强" not in html
    act(actor=loop.dispatcher, case=merged, action="merge", parent=main.number)
    detail = api_client.get(f"/api/v1/cases/{main.number}", **auth(loop.dispatcher)).json()
    carried = next(s for s in detail["timeline"] if s["action"] == "merged_supervision")
    assert [s["note"] for s in carried["data"]["supervisions"]] == [masked]
    assert masked in carried["note"] and masked in carried["data"]["note_en"]
    assert THIRD_PHONE not in str(detail) and "王强" not in str(detail)

"""What a resident types into a report (their phone and ID number, often) reaches staff masked, as Open311
publishes it and as the reporter field is masked: the case page, the lists, the inbox, the ledger, the case file
and the API. Those who may call the reporter back (回访) read it in clear through one audited request; the search
still finds the case by the number."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import POINT, auth, loop, world_counts  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

PHONE, PHONE_MASKED = "13800001111", "138****1111"
ID, ID_MASKED = "140213198805051234", "1402**********1234"
THIRD_PHONE, THIRD_PHONE_MASKED = "13922223333", "139****3333"


@pytest.fixture
def typed(loop, api_client):
    """The tester's case: a resident reports with their numbers in the title and description; it is accepted and
    dispatched; the department reports back naming a neighbour's number."""
    loop.resident.display_name = "王小明"
    loop.resident.save()
    body = {"title": f"楼下垃圾堆积 联系{PHONE}", "lng": POINT[0], "lat": POINT[1], "category": loop.cat.pk,
            "description": f"我是王小明，电话{PHONE}，身份证号{ID}，垃圾已经堆了三天"}
    response = api_client.post("/api/v1/cases", body, content_type="application/json", **auth(loop.resident))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()["number"])
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="start")
    return act(actor=loop.handler, case=case, action="progress", note=f"已联系物业，邻居电话{THIRD_PHONE}")


def _clear(text: str) -> None:
    assert PHONE not in text and ID not in text and THIRD_PHONE not in text


def test_the_case_page_shows_the_typed_numbers_masked_and_no_reveal_to_the_department(loop, typed, client):
    client.force_login(loop.handler)
    html = client.get(reverse("ui:case_detail", args=[typed.number])).content.decode()
    assert PHONE not in html and ID not in html
    # staff's own note is read as written on the case's own page (`CaseStep.note_for_staff`); exports mask it
    assert f"已联系物业，邻居电话{THIRD_PHONE}" in html
    assert f"楼下垃圾堆积 联系{PHONE_MASKED}" in html and ID_MASKED in html
    assert "data-reveal-text" not in html
    # the 上报 step names the resident's account as the reporter field would: masked
    assert "王小明" not in html.replace("我是王小明", "") and "王**" in html  # a name typed in text is not recognised


def test_the_case_list_and_the_board_show_the_title_masked(loop, typed, client):
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_list")).content.decode()
    _clear(html)
    assert f"楼下垃圾堆积 联系{PHONE_MASKED}" in html
    # searching by the number still finds the case (the search reads the stored words)
    html = client.get(reverse("ui:case_list"), {"q": PHONE}).content.decode()
    rows = html[html.index("<tbody>"):html.index("</tbody>")]  # the page keeps the search as typed, above
    assert typed.number in rows and f"联系{PHONE_MASKED}" in rows
    _clear(rows)


def test_the_inbox_message_carries_the_title_masked(loop, typed, client):
    client.force_login(loop.handler)
    html = client.get(reverse("ui:inbox")).content.decode()
    assert f"新任务：{typed.number}" in html or typed.number in html
    assert f"楼下垃圾堆积 联系{PHONE_MASKED}" in html
    _clear(html)


def test_the_ledger_shows_title_and_description_masked(loop, typed, client):
    street = user_with(Role.STREET_DISPATCHER, region=loop.tree["140213050"], username="sdx")
    client.force_login(street)
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    line = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == typed.number), strict=True))
    assert line["标题"] == f"楼下垃圾堆积 联系{PHONE_MASKED}"
    assert line["描述"] == f"我是王小明，电话{PHONE_MASKED}，身份证号{ID_MASKED}，垃圾已经堆了三天"
    _clear(" ".join(str(c) for r in rows for c in r if c is not None))


def test_the_case_file_masks_text_notes_metadata_and_the_residents_name(loop, typed, client):
    client.force_login(loop.handler)
    response = client.get(f"/documents/cases/{typed.number}.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    compact = "".join(text.split())  # a long line wraps in its cell
    _clear(compact)
    for expected in (f"楼下垃圾堆积联系{PHONE_MASKED}", f"身份证号{ID_MASKED}", f"邻居电话{THIRD_PHONE_MASKED}", "王**"):
        assert expected in compact, expected
    assert "王小明" not in compact.replace("我是王小明", "")  # the name typed in the text is not recognised
    assert reader.metadata.subject == f"楼下垃圾堆积 联系{PHONE_MASKED}"


def test_the_api_masks_the_text_and_the_residents_account(loop, typed, api_client):
    detail = api_client.get(f"/api/v1/cases/{typed.number}", **auth(loop.handler)).json()
    assert detail["title"] == f"楼下垃圾堆积 联系{PHONE_MASKED}" and ID_MASKED in detail["description"]
    assert next(s for s in detail["timeline"] if s["action"] == "report")["actor_name"] == "王**"
    listed = api_client.get("/api/v1/cases", **auth(loop.dispatcher)).json()["items"]
    assert [i["title"] for i in listed if i["number"] == typed.number] == [f"楼下垃圾堆积 联系{PHONE_MASKED}"]


def test_intake_staff_reveal_the_text_audited_others_are_refused_audited(loop, typed, client, api_client):
    url = reverse("ui:case_reveal_text", args=[typed.number])
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
    client.force_login(loop.other_street_dispatcher)  # outside the case's scope: nothing, not even a refusal
    assert client.post(url).status_code == 404
    # the street's dispatcher (回访) is offered the button and reads the text in clear
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[typed.number])).content.decode()
    assert "data-reveal-text" in html
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = response.content.decode()
    assert f"楼下垃圾堆积 联系{PHONE}" in shown and f"身份证号{ID}" in shown
    body = api_client.post(f"/api/v1/cases/{typed.number}/text", **auth(loop.street_dispatcher)).json()
    assert body["title"] == f"楼下垃圾堆积 联系{PHONE}" and ID in body["description"]
    assert AuditEntry.objects.filter(action="data.revealed", target_id=str(typed.pk), result="ok",
                                     data__field="case_text").count() == 2
    # without JavaScript the form posts to a page of its own
    page = client.post(url).content.decode()
    assert f"身份证号{ID}" in page and "（本次查看已记入审计）" in page


def test_a_case_without_numbers_in_its_text_offers_no_reveal(loop, client):
    from civicgrid.apps.cases.tests.conftest import report

    case = report(loop, reporter_name="李四", reporter_phone="13700000000")
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-reveal-contact" in html and "data-reveal-text" not in html

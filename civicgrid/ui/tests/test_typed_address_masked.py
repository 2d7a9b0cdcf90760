"""The address of a case is words typed too (a 12345 operator's 「永安小区3号楼 联系人王五 136…」): staff read it masked
as they read the description, on the page, in the API, the ledger, the case file and whatever copies it, and those
who may call the reporter back read it in clear with the rest of the text, through the one audited reveal.

The list's search does not confirm what the mask hides: where a user may not reveal, a phone number, a part of
one or a name finds only what the titles show; where they may, it finds the case and the search is recorded."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import OTHER_STREET_POINT, POINT, auth, loop, report, world_counts  # noqa: F401
from civicgrid.apps.rescue import services as rescue
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

PHONE, ID = "13600002222", "140213199001011234"
ADDRESS = f"永安小区3号楼 联系人王五 {PHONE} 身份证{ID}"
ADDRESS_MASKED = "永安小区3号楼 联系人王* 136****2222 身份证1402**********1234"
DESCRIPTION, DESCRIPTION_MASKED = "来电人欧阳娜娜称楼道堆放杂物", "来电人欧***称楼道堆放杂物"
NAMES = ("王五", "欧阳娜娜")


def _clear(text: str) -> None:
    assert PHONE not in text and ID not in text, "a number in clear"
    assert not any(name in text for name in NAMES), [name for name in NAMES if name in text]


@pytest.fixture
def hotline(loop, api_client):
    """The tester's case: a 12345 operator registers a call with the caller's name, phone and ID number typed into
    the address; it is accepted and dispatched."""
    body = {"title": "楼道堆放杂物", "description": DESCRIPTION, "address": ADDRESS, "lng": POINT[0], "lat": POINT[1],
            "category": loop.cat.pk, "source": "hotline", "hotline_ticket": "12345-20261201-0001"}
    response = api_client.post("/api/v1/cases", body, content_type="application/json", **auth(loop.dispatcher))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()["number"])
    assert case.address == ADDRESS  # stored as typed
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def test_the_case_page_shows_the_address_masked_and_offers_no_reveal_to_the_department(loop, hotline, client):
    for user in (loop.handler, loop.leader, loop.worker):
        client.force_login(user)
        html = client.get(reverse("ui:case_detail", args=[hotline.number])).content.decode()
        _clear(html)
        assert f'<span id="case-address" data-case-address>{ADDRESS_MASKED}</span>' in html
        assert DESCRIPTION_MASKED in html
        assert "data-reveal-text" not in html


def test_the_api_the_ledger_and_the_case_file_carry_the_address_masked(loop, hotline, client, api_client):
    detail = api_client.get(f"/api/v1/cases/{hotline.number}", **auth(loop.handler)).json()
    assert detail["address"] == ADDRESS_MASKED and detail["description"] == DESCRIPTION_MASKED
    _clear(str(detail))
    listed = api_client.get("/api/v1/cases", **auth(loop.leader)).json()
    assert hotline.number in {i["number"] for i in listed["items"]}
    _clear(str(listed))

    client.force_login(loop.street_dispatcher)  # may reveal, and still reads the ledger masked: a sheet travels
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    line = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == hotline.number), strict=True))
    assert line["地址"] == ADDRESS_MASKED and line["描述"] == DESCRIPTION_MASKED
    _clear(" ".join(str(c) for r in rows for c in r if c is not None))

    client.force_login(loop.handler)
    response = client.get(f"/documents/cases/{hotline.number}.pdf")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    compact = "".join(text.split())  # a long line wraps in its cell
    _clear(compact)
    assert "".join(ADDRESS_MASKED.split()) in compact and DESCRIPTION_MASKED in compact


def test_lists_board_and_inbox_do_not_carry_the_address_in_clear(loop, hotline, client):
    for user, pages in ((loop.dispatcher, ("ui:case_list", "ui:board", "ui:board_lists", "ui:inbox")),
                        (loop.handler, ("ui:case_list", "ui:inbox"))):
        client.force_login(user)
        for name in pages:
            response = client.get(reverse(name))
            assert response.status_code == 200, name
            _clear(response.content.decode())


def test_an_incident_raised_from_the_case_copies_what_staff_read(loop, hotline):
    """险情 from a case: the incident, its page and the messages to the teams carry the case's address and title
    as staff read them, not the caller's number and name."""
    titled = report(loop, title=f"积水严重 联系人王五{PHONE}", address=ADDRESS)
    incident = rescue.raise_incident(actor=loop.dispatcher, case=titled.number)
    assert incident.address == ADDRESS_MASKED and incident.title == "积水严重 联系人王*136****2222"
    _clear(f"{incident.address} {incident.title}")


def test_intake_staff_reveal_the_address_with_the_text_audited_others_are_refused_audited(
        loop, hotline, client, api_client):
    url = reverse("ui:case_reveal_text", args=[hotline.number])
    before = world_counts()
    for user in (loop.handler, loop.worker):
        client.force_login(user)
        response = client.post(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 403
        _clear(response.content.decode())
    response = api_client.post(f"/api/v1/cases/{hotline.number}/text", **auth(loop.leader))
    assert response.status_code == 403
    _clear(response.content.decode())
    assert world_counts() == before
    assert AuditEntry.objects.filter(action="data.revealed", target_id=str(hotline.pk), result="denied",
                                     data__field="case_text").count() == 3

    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[hotline.number])).content.decode()
    assert "data-reveal-text" in html
    _clear(html)
    shown = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    # the address comes out of band into its own place on the page, with the description in clear
    assert (f'<span id="case-address" class="revealed" data-case-address data-revealed-address '
            f'hx-swap-oob="true">{ADDRESS}</span>') in shown
    assert DESCRIPTION in shown and "地址中被遮盖的内容也已显示完整" in shown
    body = api_client.post(f"/api/v1/cases/{hotline.number}/text", **auth(loop.street_dispatcher)).json()
    assert body["address"] == ADDRESS and body["description"] == DESCRIPTION and body["notes"] == []
    page = client.post(url).content.decode()  # without JavaScript: a page of its own
    assert f'<p class="revealed" data-revealed-address>{ADDRESS}</p>' in page and "hx-swap-oob" not in page
    assert AuditEntry.objects.filter(action="data.revealed", target_id=str(hotline.pk), result="ok",
                                     data__field="case_text").count() == 3


def test_a_case_whose_only_masked_words_are_in_its_address_offers_the_reveal(loop, client):
    case = report(loop, actor=loop.worker, address=ADDRESS)
    assert case.title_for_staff == case.title and case.description_for_staff == case.description
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert ADDRESS_MASKED in html and "data-reveal-text" in html
    _clear(html)
    shown = client.post(reverse("ui:case_reveal_text", args=[case.number]), HTTP_HX_REQUEST="true").content.decode()
    assert "data-revealed-address" in shown and ADDRESS in shown


def test_an_address_without_personal_data_is_shown_as_written_and_not_sent_again(loop, client):
    case = report(loop, actor=loop.worker, address="平城区新建北路12号院3号楼2单元501室",
                  description=f"邻居电话{PHONE}")
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert '<span id="case-address" data-case-address>平城区新建北路12号院3号楼2单元501室</span>' in html
    shown = client.post(reverse("ui:case_reveal_text", args=[case.number]), HTTP_HX_REQUEST="true").content.decode()
    assert PHONE in shown and "data-revealed-address" not in shown and "地址中" not in shown


# ---- the search --------------------------------------------------------------------------------------------

SEARCHED_PHONE = "13500003333"
TITLE = f"楼道堆物 联系人王五{SEARCHED_PHONE}"
TITLE_MASKED = "楼道堆物 联系人王*135****3333"


@pytest.fixture
def titled(loop):
    """A grid worker's report whose title carries a resident's name and phone number."""
    case = report(loop, title=TITLE)
    assert case.title_masked == TITLE_MASKED and case.title_for_staff == TITLE_MASKED
    return case


def _rows(client, q: str) -> tuple[str, str]:
    html = client.get(reverse("ui:case_list"), {"q": q}).content.decode()
    return html[html.index("<tbody>"):html.index("</tbody>")], html


def _found_by(client, q: str) -> set[str]:
    rows, _html = _rows(client, q)
    return {n for n in Case.objects.values_list("number", flat=True) if n in rows}


def _reads() -> int:
    return AuditEntry.objects.filter(action="data.confidential_read", target_type="cases.case").count()


@pytest.mark.parametrize("who", ["worker", "community", "street", "leader", "handler"])
def test_who_may_not_reveal_finds_no_case_by_a_masked_number_or_name(loop, titled, client, api_client, who):
    user = {"community": lambda: user_with(Role.COMMUNITY_STAFF, region=loop.tree["140213050001"]),
            "street": lambda: user_with(Role.STREET_STAFF, region=loop.tree["140213050"])}.get(
        who, lambda: getattr(loop, who))()
    if who == "handler":
        act(actor=loop.dispatcher, case=titled, action="accept")
        act(actor=loop.dispatcher, case=titled, action="dispatch", department=loop.dept.pk)
    client.force_login(user)
    # what the title shows finds it, and so do its number and the words around the mask
    for q in (titled.number, "楼道堆物", "135****3333", "3333", "联系人王*"):
        assert _found_by(client, q) == {titled.number}, q
    before = _reads()
    # the whole number, a run of its hidden digits, the hidden digits with the shown ones, the name: nothing
    for q in (SEARCHED_PHONE, "0000", "1350000", "00003333", "王五", "联系人王五", " 13500003333 "):
        rows, html = _rows(client, q)
        assert titled.number not in rows, q
        _clear_search(rows)
        assert ("data-search-masked" in html) is (q.strip() in (SEARCHED_PHONE, "联系人王五")), q
    listed = api_client.get("/api/v1/cases", {"q": SEARCHED_PHONE}, **auth(user)).json()
    assert listed["total"] == 0 and listed["items"] == []
    assert _reads() == before  # nothing was read in clear: nothing to record


def _clear_search(text: str) -> None:
    assert SEARCHED_PHONE not in text and "王五" not in text


def test_the_ledger_does_not_confirm_a_masked_number_either(loop, titled, client):
    street = user_with(Role.STREET_STAFF, region=loop.tree["140213050"])
    client.force_login(street)
    for q, expected in ((SEARCHED_PHONE, set()), ("0000", set()), ("楼道堆物", {titled.number})):
        response = client.get("/documents/cases/ledger.xlsx", {"q": q})
        assert response.status_code == 200
        rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
        assert {r[0] for r in rows[1:]} == expected, q
    # the export's record keeps the search as the sheet would show it
    recorded = [e.data["filter"]["q"] for e in AuditEntry.objects.filter(action="data.exported", actor=street)
                .order_by("pk")]
    assert recorded == ["135****3333", "0000", "楼道堆物"]


def test_who_may_reveal_finds_the_case_by_the_number_and_the_search_is_recorded(loop, titled, client, api_client):
    client.force_login(loop.street_dispatcher)
    before = _reads()
    for q in (SEARCHED_PHONE, "联系人王五"):
        rows, html = _rows(client, q)
        assert titled.number in rows and "data-search-masked" not in html, q
    assert _found_by(client, "0000") == {titled.number}  # a part of it too: they may read it all
    listed = api_client.get("/api/v1/cases", {"q": SEARCHED_PHONE}, **auth(loop.street_dispatcher)).json()
    assert [i["number"] for i in listed["items"]] == [titled.number]
    assert listed["items"][0]["title"] == TITLE_MASKED  # the list still shows it masked: the reveal is apart
    # a search refused for another filter reads nothing and records nothing
    assert client.get(reverse("ui:case_list"), {"q": SEARCHED_PHONE, "status": "nonsense"}).status_code == 400
    assert api_client.get("/api/v1/cases", {"q": SEARCHED_PHONE, "status": "nonsense"},
                          **auth(loop.street_dispatcher)).status_code == 400
    reads = AuditEntry.objects.filter(action="data.confidential_read", target_type="cases.case").order_by("pk")
    assert reads.count() == before + 3  # the two pages and the API; a part of a number is no lookup
    for entry in reads:
        assert entry.actor == loop.street_dispatcher and entry.data == {"lookup": "case_text"}
        _clear_search(f"{entry.target_repr} {entry.data}")


def test_a_user_who_may_reveal_in_one_street_only_finds_by_number_there(loop, client):
    """A street's dispatcher who is also street staff next door: the clear title is searched where they may
    reveal it, the masked one elsewhere, and the page says so."""
    here = report(loop, title=TITLE)
    there = report(loop, actor=loop.dispatcher, source="superior", title=TITLE, lng=OTHER_STREET_POINT[0],
                   lat=OTHER_STREET_POINT[1])
    Grant.objects.create(user=loop.street_dispatcher, role=Role.STREET_STAFF, region=loop.tree["140213051"])
    client.force_login(loop.street_dispatcher)
    assert _found_by(client, "楼道堆物") == {here.number, there.number}
    rows, html = _rows(client, SEARCHED_PHONE)
    assert here.number in rows and there.number not in rows and "data-search-masked" in html
    assert _found_by(client, "135****3333") == {here.number, there.number}  # what the titles show, everywhere


def test_the_district_dispatcher_searches_every_title_in_clear(loop, titled, client):
    there = report(loop, actor=loop.dispatcher, source="superior", title=TITLE, lng=OTHER_STREET_POINT[0],
                   lat=OTHER_STREET_POINT[1])
    client.force_login(loop.dispatcher)
    rows, html = _rows(client, SEARCHED_PHONE)
    assert titled.number in rows and there.number in rows and "data-search-masked" not in html


def test_the_migration_writes_the_masked_title_of_the_cases_before_it(loop, titled):
    from importlib import import_module

    from django.apps import apps

    plain = report(loop, title="路灯不亮")
    Case.objects.update(title_masked="")
    import_module("civicgrid.apps.cases.migrations.0027_case_title_masked").refresh(apps, None)
    assert dict(Case.objects.values_list("pk", "title_masked")) == {titled.pk: TITLE_MASKED, plain.pk: "路灯不亮"}

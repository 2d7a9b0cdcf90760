"""What a reporter wrote and sent is published once intake accepts the case (立案), and never for a case refused
or voided; before that the request is followed by its id, status and service alone. Updates never show what the
public sent with them."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act, submit_case

from .conftest import KEY, POINT, form, get, post, xml

pytestmark = pytest.mark.django_db

WORDS = "小区门口垃圾堆放"  # in the description `form` posts
MEDIA = "https://fms.example/photo/1.jpeg"


def reported(o311, http, **changes) -> Case:
    response = post(http, "requests.json", form(o311, **changes))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def _everywhere(http, case) -> list[str]:
    """The case as every public read gives it: the list and the request, in JSON and XML."""
    return [get(http, path).content.decode() for path in (
        "requests.json", "requests.xml", f"requests/{case.number}.json", f"requests/{case.number}.xml",
        "servicerequestupdates.json", "servicerequestupdates.xml")]


def _item(http, case) -> dict:
    return get(http, f"requests/{case.number}.json").json()[0]


def test_a_new_report_is_followed_by_its_id_status_and_service_without_its_words(o311, http):
    case = reported(o311, http)
    item = _item(http, case)
    assert (item["service_request_id"], item["status"], item["status_notes"], item["service_code"]) == (
        case.number, "open", "待受理", o311.cat.key)
    assert item["description"] == "" and item["media_url"] == ""
    listed = get(http, "requests.json").json()
    assert [r["service_request_id"] for r in listed] == [case.number] and listed[0]["description"] == ""
    root = xml(get(http, f"requests/{case.number}.xml"))
    assert root.find("request/service_request_id").text == case.number and not root.find("request/description").text
    for text in _everywhere(http, case):
        assert WORDS not in text and MEDIA not in text
    act(actor=o311.dispatcher, case=case, action="check_request")  # 核实中: still not accepted
    assert _item(http, case)["description"] == "" and WORDS not in get(http, "requests.xml").content.decode()


def test_the_words_and_media_are_published_once_accepted(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    item = _item(http, case)
    assert WORDS in item["description"] and item["media_url"] == MEDIA
    assert WORDS in xml(get(http, f"requests/{case.number}.xml")).find("request/description").text
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    assert WORDS in _item(http, case)["description"]


@pytest.mark.parametrize("accept_first", [False, True], ids=["reported", "accepted"])
def test_a_voided_case_keeps_no_words_or_media(o311, http, accept_first):
    case = reported(o311, http)
    if accept_first:
        act(actor=o311.dispatcher, case=case, action="accept")
        assert WORDS in _item(http, case)["description"]
    act(actor=o311.dispatcher, case=case, action="void", reason="含他人个人信息")
    item = _item(http, case)
    assert (item["status"], item["detailed_status"]) == ("closed", Status.VOIDED)  # still there to follow
    assert item["description"] == "" and item["media_url"] == ""
    for text in _everywhere(http, case):
        assert WORDS not in text and MEDIA not in text


def test_a_refused_case_keeps_no_words_or_media(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="refuse", reason="不属于受理范围")
    item = _item(http, case)
    assert item["detailed_status"] == Status.REFUSED and item["description"] == "" and item["media_url"] == ""
    for text in _everywhere(http, case):
        assert WORDS not in text


def test_a_case_staff_fixed_on_the_spot_is_published(o311, http):
    """自行处置 is never up for 立案: the grid worker recorded it, found and fixed, in staff's own words."""
    case = submit_case(actor=o311.worker, title="井盖缺失", description="人行道井盖缺失已补", lng=POINT[0],
                       lat=POINT[1], category=o311.cat.pk, source="grid_worker")[0]
    assert _item(http, case)["description"] == ""
    Case.objects.filter(pk=case.pk).update(is_self_handled=True, status=Status.CLOSED)
    assert _item(http, case)["description"] == "人行道井盖缺失已补"


def test_updates_show_no_media_the_public_sent(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    answer = post(http, "servicerequestupdates.json", {
        "api_key": KEY, "jurisdiction_id": "140213",
        "service_request_id": case.number, "update_id": "fms-c-9", "status": "OPEN",
        "updated_datetime": "2026-05-14T09:30:00+08:00", "description": "我家门口又堆了", "email": "zhang@example.com",
        "media_url": "https://fms.example/photo/c9.jpeg"})
    assert answer.status_code == 200, answer.content
    feed = get(http, "servicerequestupdates.json")
    comment = next(u for u in feed.json() if u["update_id"] == answer.json()[0]["update_id"])
    assert comment["description"] == "留言" and comment["media_url"] == ""
    assert all(u["media_url"] == "" for u in feed.json())
    assert "c9.jpeg" not in feed.content.decode() and "我家门口" not in feed.content.decode()


def test_a_request_merged_twice_answers_with_the_state_of_the_case_that_carries_it(o311, http):
    """A merged into B, then B into C: A's request, by its id or its token, tells C's state, as A's follow link
    shows C's progress (before, it stayed "closed · 已合并" while C was still being dealt with)."""
    from civicgrid.integrations.open311.models import Open311Request

    c, b, a = (reported(o311, http) for _ in range(3))
    act(actor=o311.dispatcher, case=c, action="accept")
    act(actor=o311.dispatcher, case=b, action="accept")
    act(actor=o311.dispatcher, case=a, action="merge", parent=b.number)
    b.refresh_from_db()
    assert (_item(http, a)["status"], _item(http, a)["detailed_status"]) == ("open", b.status)
    assert _item(http, a)["status_notes"] == f"已并入 {b.number} 合并办理：{b.get_status_display()}"
    act(actor=o311.dispatcher, case=b, action="merge", parent=c.number)
    act(actor=o311.dispatcher, case=c, action="dispatch", department=o311.dept.pk)
    c.refresh_from_db()
    for number in (a.number, b.number):
        item = _item(http, Case(number=number))
        assert (item["service_request_id"], item["status"], item["detailed_status"]) == (number, "open",
                                                                                       Status.DISPATCHED)
        assert item["status_notes"] == f"已并入 {c.number} 合并办理：待处置"
        assert item["agency_responsible"] == o311.dept.name and item["expected_datetime"]
    listed = get(http, f"requests.json?service_request_id={a.number}").json()[0]
    assert (listed["status"], listed["detailed_status"]) == ("open", Status.DISPATCHED)
    # the token a client got for A still names A, whose request now tells C's state
    token = Open311Request.objects.get(case=a).token
    assert get(http, f"tokens/{token}.json").json()[0]["service_request_id"] == a.number


LOCATION = ("address", "address_id", "zipcode", "lat", "long")
ADDRESS = "永泰街道新建北路12号3单元门口"
PUBLIC_ADDRESS = "永泰街道新建北路12号"  # published to the building (`pii.public_address`)
HIDDEN = {"address": "", "address_id": "", "zipcode": "", "lat": None, "long": None}  # coordinates null in JSON


def _where(item: dict) -> dict:
    return {name: item[name] for name in LOCATION}


def _xml_where(http, case) -> dict:
    request = xml(get(http, f"requests/{case.number}.xml")).find("request")
    return {name: request.find(name).text for name in LOCATION}  # each element there, empty or not


def test_where_a_report_is_waits_for_intake_like_its_words(o311, http):
    """A private person's report (outside their home, say) is no public pin before staff read it: address,
    address_id, lat and long are blank until 立案, as the description and media are; FixMyStreet's
    GetServiceRequests skips a request without lat/long and imports it, placed, once it has them."""
    from civicgrid.integrations.open311.models import Open311Request

    case = reported(o311, http)
    Case.objects.filter(pk=case.pk).update(address=ADDRESS)
    Open311Request.objects.filter(case=case).update(address_id="1402130500010012")
    assert _where(_item(http, case)) == HIDDEN
    assert _where(get(http, "requests.json").json()[0]) == HIDDEN
    assert _where(get(http, f"requests.json?service_request_id={case.number}").json()[0]) == HIDDEN
    assert _xml_where(http, case) == dict.fromkeys(LOCATION)
    for text in _everywhere(http, case):
        assert PUBLIC_ADDRESS not in text and "1402130500010012" not in text and repr(POINT[0]) not in text

    act(actor=o311.dispatcher, case=case, action="accept")
    shown = {"address": PUBLIC_ADDRESS, "address_id": "1402130500010012", "zipcode": "", "lat": POINT[1], "long": POINT[0]}
    assert _where(_item(http, case)) == shown
    assert _where(get(http, "requests.json").json()[0]) == shown
    assert _xml_where(http, case) == {"address": PUBLIC_ADDRESS, "address_id": "1402130500010012", "zipcode": None,
                                      "lat": repr(POINT[1]), "long": repr(POINT[0])}

    act(actor=o311.dispatcher, case=case, action="void", reason="含他人个人信息")  # withdrawn: hidden again
    assert _where(_item(http, case)) == HIDDEN and _xml_where(http, case) == dict.fromkeys(LOCATION)


def test_a_refused_report_never_shows_where_it_is(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="refuse", reason="不属于受理范围")
    item = _item(http, case)
    assert (item["status"], item["detailed_status"]) == ("closed", Status.REFUSED) and _where(item) == HIDDEN

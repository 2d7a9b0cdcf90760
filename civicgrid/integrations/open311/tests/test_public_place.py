"""Where a case is, as the public feed tells it: to the building and the block, never the household.

A tester (as a volunteer) reported with the address typed as people type it, "东风园小区3号楼2单元501 张伟家 电话…
身份证…", and found it whole in `GET requests/{id}.json` once the case was accepted, beside a point to six decimals
(about 0.1 m) and a description saying who lives there. The address is now scrubbed and cut after the building
(`pii.public_address`) and the point rounded to about 100 m (`selectors.public_coordinate`) in every public answer,
JSON and XML; the case page, the staff API and the case file keep both as typed."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import auth
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.pii import public_address
from civicgrid.testing.builders import user_with

from .conftest import GRID, get, xml

pytestmark = pytest.mark.django_db

TYPED = "东风园小区3号楼2单元501 张伟家 电话13811112222 身份证140213198805052317"
PUBLIC = "东风园小区3号楼"
HOUSEHOLD = ("2单元", "501", "张伟", "13811112222", "1381", "140213198805052317", "2317")
EXACT = (113.213456, 40.012345)  # lng, lat: inside GRID, to six decimals as a phone's map gives it
COARSE = (113.213, 40.012)


def _volunteer_reports(o311, address: str = TYPED, point=EXACT) -> Case:
    """The tester's report: a volunteer through the API, in a public category, about a home."""
    volunteer = user_with(Role.VOLUNTEER, region=o311.tree[GRID], username="zyz")
    response = Client().post("/api/v1/cases", {
        "title": "室内温度不到十六度", "description": "室内温度不到十六度，家中有老人。", "category": o311.cat.pk,
        "lng": point[0], "lat": point[1], "address": address,
    }, content_type="application/json", **auth(volunteer))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()["number"])
    case.follow_token = response.json()["follow_token"]
    return case


def _public_answers(http, case) -> list[str]:
    return [get(http, path).content.decode() for path in (
        f"requests/{case.number}.json", f"requests/{case.number}.xml", "requests.json", "requests.xml",
        f"requests.json?service_request_id={case.number}", "servicerequestupdates.json",
        "servicerequestupdates.xml")]


@pytest.mark.parametrize(("typed", "shown"), [
    (TYPED, PUBLIC),
    ("平城区新建北路12号院3号楼2单元501室", "平城区新建北路12号院3号楼"),
    ("御河1号小区5栋3层302", "御河1号小区5栋"),
    ("永泰街道新建北路12号3单元门口", "永泰街道新建北路12号"),  # a door number is a building's address
    ("新建北路12号501 王芳", "新建北路12号"),
    ("东风园小区2单元 电话0352-1234567", "东风园小区"),  # no building: cut before the unit
    ("新建北路与御河路交叉口东侧 电话13811112222", "新建北路与御河路交叉口东侧 电话138****2222"),  # scrubbed
    ("新建北路与御河路交叉口", "新建北路与御河路交叉口"),
    ("地铁2号线御河站B口", "地铁2号线御河站B口"),  # a metro line is no door number
    ("东风园小区1号门 保安室", "东风园小区1号门"),
    ("  ", ""),
])
def test_an_address_is_published_down_to_the_building(typed, shown):
    assert public_address(typed) == shown


def test_the_feed_publishes_the_address_to_the_building_and_the_point_to_about_100_m(o311, http):
    case = _volunteer_reports(o311)
    for text in _public_answers(http, case):  # nothing of where it is before a person's 立案
        assert "东风园" not in text and "40.012" not in text
    act(actor=o311.dispatcher, case=case, action="accept")

    item = get(http, f"requests/{case.number}.json").json()[0]
    assert (item["address"], item["lat"], item["long"]) == (PUBLIC, COARSE[1], COARSE[0])
    assert isinstance(item["lat"], float) and isinstance(item["long"], float)  # the spec's numbers, still
    assert item["description"] == "室内温度不到十六度，家中有老人。"
    element = xml(get(http, f"requests/{case.number}.xml")).find("request")
    assert (element.find("address").text, float(element.find("lat").text), float(element.find("long").text)) == (
        PUBLIC, COARSE[1], COARSE[0])
    listed = get(http, "requests.json").json()
    assert [(r["address"], r["lat"], r["long"]) for r in listed] == [(PUBLIC, COARSE[1], COARSE[0])]
    for text in _public_answers(http, case):
        for part in HOUSEHOLD:
            assert part not in text, (part, text)
        assert "40.012345" not in text and "113.213456" not in text and "40.0123" not in text

    # Staff keep what was typed and the exact point: the case file is not the public feed.
    case.refresh_from_db()
    assert case.address == TYPED and (case.lng, case.lat) == pytest.approx(EXACT, abs=1e-9)
    staff = Client().get(f"/api/v1/cases/{case.number}", **auth(o311.dispatcher)).json()
    assert (staff["lng"], staff["lat"]) == pytest.approx(EXACT, abs=1e-9)


def test_the_follow_page_and_its_api_say_nothing_of_the_address(o311, http):
    """The reporter's follow link is public (whoever holds it reads it): it shows the status, never the place."""
    case = _volunteer_reports(o311)
    act(actor=o311.dispatcher, case=case, action="accept")
    page = http.get(reverse("ui:follow", args=[case.follow_token])).content.decode()
    api = http.get(f"/api/v1/follow/{case.follow_token}").content.decode()
    for text in (page, api):
        assert case.number in text
        for part in ("东风园", *HOUSEHOLD):
            assert part not in text, (part, text)


def _accept_form(o311, case) -> str:
    c = Client()
    c.force_login(o311.dispatcher)
    html = c.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    return re.search(r'<details[^>]*data-action="accept".*?</details>', html, re.S).group(0)


def test_the_accept_form_says_how_the_address_will_be_published(o311):
    """The 立案 form told staff only of the description; an address published otherwise than typed is named
    too, as it will read (here the description has nothing to mask: the notice is for the address alone)."""
    form = _accept_form(o311, _volunteer_reports(o311))
    assert "data-publish-masked" in form and "地址只公开到楼栋" in form
    assert re.search(r"<span data-published-address>(.*?)</span>", form).group(1) == PUBLIC
    assert "data-published-text" not in form


def test_no_notice_for_an_address_published_as_typed(o311):
    form = _accept_form(o311, _volunteer_reports(o311, address="东风园小区3号楼"))
    assert "data-publish-masked" not in form and "data-published-address" not in form

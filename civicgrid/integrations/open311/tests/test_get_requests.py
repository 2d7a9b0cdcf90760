"""GET requests, requests/{id} and tokens: public fields of public cases, the spec's filters and limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act, reopen_by_token, submit_case
from civicgrid.apps.cases.tests.conftest import jpeg
from civicgrid.foundation.access.roles import Role
from civicgrid.integrations.open311.services import _follow_token
from civicgrid.testing.builders import department, user_with

from .conftest import POINT, form, get, post, spec_error, xml

pytestmark = pytest.mark.django_db


def reported(o311, http, **changes) -> Case:
    response = post(http, "requests.json", form(o311, **changes))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def staff_case(o311, category=None, **kw) -> Case:
    """A case a grid worker reported (not through Open311), with a phone the public must never see."""
    return submit_case(actor=o311.worker, title="井盖缺失", description="小区门口", lng=POINT[0], lat=POINT[1],
                       category=(category or o311.cat).pk, source="grid_worker", reporter_name="李四",
                       reporter_phone="13900001111", **kw)[0]


def test_one_request_in_the_spec_shape(o311, http):
    case = reported(o311, http)
    body = get(http, f"requests/{case.number}.json").json()
    assert len(body) == 1
    item = body[0]
    assert list(item)[:17] == [
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "zipcode", "lat", "long", "media_url",
    ]
    assert item["service_request_id"] == case.number and item["status"] == "open"
    assert item["status_notes"] == "待受理" and item["detailed_status"] == "reported"
    assert item["service_code"] == "gb47678:matter:06001" and item["service_name"] == "暴露垃圾"
    assert item["agency_responsible"] == "区城管局"  # routing's proposal until dispatch decides
    assert item["requested_datetime"].endswith("+08:00")
    # not yet accepted: neither what it says nor where it is (test_published_words)
    assert item["description"] == item["media_url"] == ""
    assert item["lat"] is None and item["long"] is None  # numbers when published, null (not "") until then
    act(actor=o311.dispatcher, case=case, action="accept")
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert item["lat"] == POINT[1] and item["long"] == POINT[0]
    assert item["description"].startswith("title: 路边暴露垃圾") and item["media_url"] == "https://fms.example/photo/1.jpeg"
    root = xml(get(http, f"requests/{case.number}.xml"))
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == case.number
    assert float(root.find("request/lat").text) == POINT[1]
    assert root.find("request/requested_datetime").text.endswith("+08:00")


def test_the_singular_request_path_answers_the_same(o311, http):
    case = reported(o311, http)
    assert get(http, f"request/{case.number}.json").json() == get(http, f"requests/{case.number}.json").json()


def test_reporter_names_and_contacts_are_never_shown(o311, http):
    own = reported(o311, http)
    staff = staff_case(o311)
    for response in (get(http, "requests.json"), get(http, "requests.xml"),
                     get(http, f"requests/{own.number}.xml"), get(http, f"requests/{staff.number}.json")):
        text = response.content.decode()
        for secret in ("13812345678", "138****5678", "zhang@example.com", "张三", "13900001111", "李四",
                       "device-42", "account-7"):
            assert secret not in text


def test_cases_outside_public_categories_are_not_found(o311, http):
    hidden = staff_case(o311, category=o311.private)
    spec_error(get(http, f"requests/{hidden.number}.json"), 404)
    spec_error(get(http, "requests/nonsense.xml"), 404)
    assert hidden.number not in get(http, "requests.json").content.decode()


def test_the_loop_maps_to_open_and_closed_with_the_detailed_status_and_agency(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert (item["status"], item["status_notes"], item["agency_responsible"]) == ("open", "待处置", "区城管局")
    assert item["expected_datetime"].endswith("+08:00")
    for status, expected in ((Status.SUSPENDED, "open"), (Status.CLOSED, "closed"), (Status.REFUSED, "closed"),
                             (Status.MERGED, "closed")):
        Case.objects.filter(pk=case.pk).update(status=status)
        assert get(http, f"requests/{case.number}.json").json()[0]["status"] == expected


def test_list_filters_by_status_service_and_date(o311, http):
    first = reported(o311, http)
    second = reported(o311, http, service_code=o311.plain.key, **{"attribute[affects_traffic]": None})
    Case.objects.filter(pk=first.pk).update(status=Status.CLOSED)
    numbers = lambda **p: [r["service_request_id"] for r in get(http, "requests.json", **p).json()]  # noqa: E731
    assert numbers() == [second.number, first.number]  # newest first
    assert numbers(status="closed") == [first.number] and numbers(status="open") == [second.number]
    assert set(numbers(status="open,closed")) == {first.number, second.number}
    assert numbers(service_code=o311.plain.key) == [second.number]
    assert set(numbers(service_code=f"{o311.cat.key},{o311.plain.key}")) == {first.number, second.number}
    now = timezone.localtime()
    assert numbers(start_date=(now + timedelta(hours=1)).isoformat()) == []
    assert len(numbers(start_date=(now - timedelta(days=1)).date().isoformat())) == 2
    assert numbers(end_date=(now - timedelta(days=1)).isoformat(timespec="seconds")) == []


def test_the_default_range_is_the_last_90_days(o311, http):
    old = reported(o311, http)
    long_ago = timezone.now() - timedelta(days=91)
    Case.objects.filter(pk=old.pk).update(reported_at=long_ago, updated_at=long_ago)
    recent = reported(o311, http)
    listed = [r["service_request_id"] for r in get(http, "requests.json").json()]
    assert listed == [recent.number]
    # one reported earlier but updated within the range is in it (a client asking by window finds it again)
    Case.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert [r["service_request_id"] for r in get(http, "requests.json").json()] == [recent.number, old.number]


def test_a_start_date_alone_runs_to_now_and_one_too_far_back_is_a_clear_400(o311, http):
    """The tester's run: start_date=2026-01-01T00:00:00Z alone answered [] (a 90-day window ending months ago)."""
    old = reported(o311, http)
    Case.objects.filter(pk=old.pk).update(reported_at=timezone.now() - timedelta(days=89))
    recent = reported(o311, http)
    since = (timezone.now() - timedelta(days=89, hours=1)).isoformat()
    listed = [r["service_request_id"] for r in get(http, "requests.json", start_date=since).json()]
    assert listed == [recent.number, old.number]
    too_early = (timezone.now() - timedelta(days=91)).isoformat()
    for path in ("requests.json", "requests.xml", "servicerequestupdates.json"):
        assert "end_date" in spec_error(get(http, path, start_date=too_early), 400)
    # With an end_date the same start is an ordinary window.
    end = (timezone.now() - timedelta(days=2)).isoformat()
    listed = [r["service_request_id"] for r in get(http, "requests.json", start_date=too_early, end_date=end).json()]
    assert listed == [old.number]


def test_service_request_id_overrides_every_other_filter(o311, http):
    first, second = reported(o311, http), reported(o311, http)
    Case.objects.filter(pk=first.pk).update(reported_at=timezone.now() - timedelta(days=200))
    ids = f"{second.number},{first.number},9999999999999,bogus"
    listed = [r["service_request_id"] for r in get(http, "requests.json", service_request_id=ids,
                                                    status="closed").json()]
    assert listed == [second.number, first.number]


@override_settings(CIVICGRID_OPEN311_MAX_RESULTS=2)
def test_at_most_the_configured_number_of_results(o311, http):
    for _ in range(3):
        reported(o311, http)
    assert len(get(http, "requests.json").json()) == 2
    assert len(get(http, "servicerequestupdates.json").json()) <= 2


@pytest.mark.parametrize("params", [
    {"status": "pending"},
    {"start_date": "yesterday"},
    {"start_date": "2026-01-01T00:00:00Z", "end_date": "2025-12-01T00:00:00Z"},
    {"start_date": "2025-01-01T00:00:00+08:00", "end_date": "2025-06-01T00:00:00+08:00"},
], ids=["status", "date", "end before start", "more than 90 days"])
def test_bad_filters_are_400(o311, http, params):
    spec_error(get(http, "requests.json", **params), 400)
    spec_error(get(http, "requests.xml", **params), 400)


def test_a_token_leads_to_its_request(o311, http):
    answer = post(http, "requests.json", form(o311)).json()[0]
    body = get(http, f"tokens/{answer['token']}.json").json()
    assert body == [{"service_request_id": answer["service_request_id"], "token": answer["token"]}]
    root = xml(get(http, f"tokens/{answer['token']}.xml"))
    assert root.find("request/service_request_id").text == answer["service_request_id"]
    spec_error(get(http, "tokens/0000.json"), 404)


@pytest.mark.parametrize("params", [
    {"start_date": "9999-12-31T23:59:59+08:00"}, {"end_date": "0001-01-01"}, {"start_date": "0001-01-01T00:00:00Z"},
    {"start_date": "1999-12-31", "end_date": "2000-01-02"},
])
def test_dates_outside_the_supported_years_are_a_clear_400(o311, http, params):
    """They once overflowed the range arithmetic into a 500."""
    for path in ("requests.json", "servicerequestupdates.json"):
        assert "2000–2099" in spec_error(get(http, path, **params), 400)


def test_an_offset_typed_unencoded_in_the_url_is_read_as_the_offset(o311, http):
    """`+08:00` typed literally in a query string arrives as ` 08:00` (a + is a space there)."""
    case = reported(o311, http)
    day = timezone.localtime(case.reported_at).date()
    response = http.get(f"/open311/v2/requests.json?start_date={day}T00:00:00+08:00&end_date={day}T23:59:59+08:00")
    assert response.status_code == 200, response.content
    assert [r["service_request_id"] for r in response.json()] == [case.number]


def test_hotline_cases_are_not_published(o311, http):
    """A 12345 caller's words are the hotline's to publish: the public feeds leave hotline cases out."""
    hotline = submit_case(actor=o311.dispatcher, title="楼上漏水", description="来电人称住 3 单元 502", lng=POINT[0],
                          lat=POINT[1], category=o311.cat.pk, source="hotline", hotline_ticket="12345-9",
                          caller_name="王五", callback_phone="13800000000")[0]
    act(actor=o311.dispatcher, case=hotline, action="accept")
    public = reported(o311, http)
    assert [r["service_request_id"] for r in get(http, "requests.json").json()] == [public.number]
    assert get(http, f"requests/{hotline.number}.json").status_code == 404
    assert hotline.number not in get(http, "servicerequestupdates.json").content.decode()


def test_unpublished_coordinates_are_null_in_json_and_empty_in_xml_wherever_listed(o311, http):
    case = reported(o311, http)
    for body in (get(http, f"requests/{case.number}.json").json(), get(http, "requests.json").json()):
        assert (body[0]["lat"], body[0]["long"]) == (None, None)
    for root in (xml(get(http, f"requests/{case.number}.xml")), xml(get(http, "requests.xml"))):
        lat, lng = root.find("request/lat"), root.find("request/long")
        assert lat is not None and lng is not None and lat.text is None and lng.text is None


@pytest.mark.parametrize("path", ["services.json/", "requests/1.json/", "requests/1.JSON//", "discovery.json/"])
def test_a_trailing_slash_is_answered_in_the_suffix_format(o311, http, path):
    assert spec_error(http.get(f"/open311/v2/{path}"), 404)
    assert http.get(f"/open311/v2/{path}")["Content-Type"].startswith("application/json")
    assert xml(http.get(f"/open311/v2/{path.lower().replace('json', 'xml')}")).tag == "errors"


def test_a_reopened_case_shows_the_state_it_is_in_now(o311, http):
    """Reopened (重新办理), the case waits for dispatch: no handling deadline runs, as for any case waiting for
    dispatch, and the agency is the one proposed to dispatch, not the department still attached from before."""
    case = reported(o311, http)
    for actor, action, inputs in ((o311.dispatcher, "accept", {}),
                                  (o311.dispatcher, "dispatch", {"department": o311.dept.pk}),
                                  (o311.handler, "report_back", {"note": "已清理"}),
                                  (o311.worker, "verify", {"photos": [jpeg()]}), (o311.dispatcher, "close", {})):
        case = act(actor=actor, case=case, action=action, **inputs)
    closed = get(http, f"requests/{case.number}.json").json()[0]
    assert closed["expected_datetime"] and closed["agency_responsible"] == "区城管局"
    reopen_by_token(follow_token=_follow_token(o311.client, case), reason="又堆起来了")
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.department_id == o311.dept.pk  # still attached
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert (item["status"], item["detailed_status"], item["expected_datetime"]) == ("open", "accepted", "")
    assert item["agency_responsible"] == "区城管局"  # what dispatch is proposed: the department that handled it
    # the proposal changed before dispatch (as a reclassification would): the answer follows it
    other = department("区住建局")
    Case.objects.filter(pk=case.pk).update(suggested_department=other)
    assert get(http, f"requests/{case.number}.json").json()[0]["agency_responsible"] == "区住建局"
    user_with(Role.DEPARTMENT_HANDLER, department=other, username="zj")
    act(actor=o311.dispatcher, case=Case.objects.get(pk=case.pk), action="dispatch", department=other.pk)
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert item["agency_responsible"] == "区住建局" and item["expected_datetime"].endswith("+08:00")  # the new round's

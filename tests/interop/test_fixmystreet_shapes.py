"""Requests shaped as FixMyStreet's Open311 client (perllib/Open311.pm) sends them, over real HTTP: form-encoded
POSTs with `jurisdiction_id` and `api_key` in the body and `attribute[...]` fields, XML answers, and the
servicerequestupdates extension. The answers are read the way FixMyStreet reads them (XML::Simple with the group
tags forced to arrays), and the fields it uses must be there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import requests
from django.utils import timezone

from civicgrid.testing.browser import browser_db

from .conftest import POINT

pytestmark = [browser_db]
# What FixMyStreet forces to arrays when it parses an answer (its _get_xml_object).
ARRAYS = {"service", "attribute", "value", "request", "error", "request_update"}


def simple(content: bytes) -> dict:
    """An XML answer as a dict of its root's children, the way XML::Simple with ForceArray gives it."""

    def convert(element):
        children = list(element)
        if not children:
            return element.text
        out: dict = {}
        for child in children:
            value = convert(child)
            if child.tag in ARRAYS:
                out.setdefault(child.tag, []).append(value)
            else:
                out[child.tag] = value
        return out

    root = ElementTree.fromstring(content)
    return convert(root) or {}


def w3c(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, text
    return parsed


def send_report(served, **extra) -> requests.Response:
    """Open311::send_service_request with extended_description, as FixMyStreet posts it."""
    params = {
        "jurisdiction_id": "140213", "api_key": served.key, "service_code": served.code,
        "description": "路灯不亮\n\n小区门口两盏路灯晚上不亮\n\nhttps://fms.example/report/42\n",
        "first_name": "三", "last_name": "张", "email": "zhang@example.com", "phone": "13812345678",
        "lat": f"{POINT[1]:.6f}", "long": f"{POINT[0]:.6f}", "media_url": "https://fms.example/photo/42.0.full.jpeg",
        "attribute[affects_traffic]": "yes", "attribute[fms_extra_title]": "ignored extra",
    }
    params.update(extra)
    return requests.post(f"{served.base}/requests.xml", data=params, timeout=30)


def post_update(served, number: str, **extra) -> requests.Response:
    """Open311::post_service_request_update's parameters."""
    params = {
        "jurisdiction_id": "140213", "api_key": served.key, "service_request_id": number, "update_id": "fms-38362",
        "updated_datetime": timezone.localtime().replace(microsecond=0).isoformat(), "status": "OPEN",
        "description": "this is a comment 还是不亮", "first_name": "三", "last_name": "张",
        "email": "zhang@example.com", "media_url": "https://fms.example/c/38362.jpeg",
    }
    params.update(extra)
    return requests.post(f"{served.base}/servicerequestupdates.xml", data=params, timeout=30)


def test_send_service_request_then_get_service_requests(served):
    response = send_report(served)
    assert response.status_code == 201 and response.headers["Content-Type"].startswith("text/xml")
    obj = simple(response.content)
    number = obj["request"][0]["service_request_id"]
    assert number and number.isdigit()  # what send_service_request returns as the problem's external_id

    listed = requests.get(f"{served.base}/requests.xml", params={"jurisdiction_id": "140213",
                                                                 "service_request_id": number}, timeout=30)
    request = simple(listed.content)["request"][0]
    for field in ("service_request_id", "status", "updated_datetime", "requested_datetime", "description",
                  "media_url", "service_code", "lat", "long"):
        assert field in request, field
    assert request["service_request_id"] == number and request["status"] == "open"
    assert request["media_url"] is None and request["description"] is None  # published once accepted (立案)
    # where it is too: FixMyStreet's GetServiceRequests skips a request without lat/long until then
    assert request["lat"] is None and request["long"] is None and request.get("address") is None
    w3c(request["updated_datetime"])
    from civicgrid.apps.cases.models import Case, Status

    Case.objects.filter(number=number).update(status=Status.ACCEPTED, accepted_at=timezone.now(),
                                                reviewed_at=timezone.now())  # by a person (立案)
    listed = requests.get(f"{served.base}/requests.xml", params={"jurisdiction_id": "140213",
                                                                 "service_request_id": number}, timeout=30)
    request = simple(listed.content)["request"][0]
    assert request["media_url"] == "https://fms.example/photo/42.0.full.jpeg"
    assert request["description"].startswith("路灯不亮") and request["status"] == "open"
    assert (request["lat"], request["long"]) == (repr(POINT[1]), repr(POINT[0]))
    assert "13812345678" not in listed.text and "zhang@example.com" not in listed.text


def test_a_queued_client_answers_with_a_token_that_fixmystreet_turns_into_the_id(served):
    """Open311::send_service_request: no service_request_id in the answer, a token instead; it then asks
    GET tokens/{token} (get_service_request_id_from_token) and takes the id from there, straight away."""
    from civicgrid.integrations.open311.models import Open311Client

    Open311Client.objects.filter(name="interop").update(queued=True)
    from django.core.cache import cache

    cache.clear()  # the client as cached by the server's process
    response = send_report(served)
    assert response.status_code == 201, response.text
    request = simple(response.content)["request"][0]
    assert "service_request_id" not in request and request["token"]
    by_token = requests.get(f"{served.base}/tokens/{request['token']}.xml", params={"jurisdiction_id": "140213"},
                            timeout=30)
    assert by_token.status_code == 200, by_token.text
    found = simple(by_token.content)["request"][0]
    number = found["service_request_id"]
    assert number and number.isdigit() and found["token"] == request["token"]
    listed = simple(requests.get(f"{served.base}/requests/{number}.xml", timeout=30).content)["request"][0]
    assert listed["service_request_id"] == number and listed["status"] == "open"


def test_service_list_and_meta_info_as_fixmystreet_populates_categories(served):
    services = simple(requests.get(f"{served.base}/services.xml", params={"jurisdiction_id": "140213"},
                                   timeout=30).content)["service"]
    ours = next(s for s in services if s["service_code"] == served.code)
    assert ours["metadata"] == "true" and ours["service_name"] == "路灯异常" and ours["group"] == "交通设施类"
    meta = simple(requests.get(f"{served.base}/services/{served.code}.xml", params={"jurisdiction_id": "140213"},
                               timeout=30).content)
    attribute = meta["attributes"]["attribute"][0]
    assert attribute["code"] == "affects_traffic" and attribute["variable"] == "true"
    assert [v["key"] for v in attribute["values"]["value"]] == ["yes", "no"]


def test_post_and_get_service_request_updates(served):
    number = simple(send_report(served).content)["request"][0]["service_request_id"]

    # FixMyStreet resends a comment with the same fields, its time included (the comment's confirmed time)
    when = timezone.localtime().replace(microsecond=0).isoformat()
    posted = post_update(served, number, updated_datetime=when)
    assert posted.status_code == 200, posted.text
    update_id = simple(posted.content)["request_update"][0]["update_id"]
    assert update_id and update_id.isdigit()  # stored by FixMyStreet as the comment's external_id
    again = post_update(served, number, updated_datetime=when)  # a resend after a timeout: same id, no second comment
    assert simple(again.content)["request_update"][0]["update_id"] == update_id

    now = timezone.localtime()
    fetched = requests.get(f"{served.base}/servicerequestupdates.xml", params={
        "jurisdiction_id": "140213", "api_key": served.key,
        "start_date": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "end_date": (now + timedelta(minutes=5)).isoformat(timespec="seconds"),
    }, timeout=30)
    assert fetched.status_code == 200
    updates = simple(fetched.content)["request_update"]
    ours = [u for u in updates if u["update_id"] == update_id]
    assert len(ours) == 1
    update = ours[0]
    for field in ("update_id", "service_request_id", "status", "updated_datetime", "description", "media_url"):
        assert field in update, field
    assert update["service_request_id"] == number and update["status"] == "open"
    # the public feed names a comment without the words or media the public sent (FixMyStreet keeps its own copy)
    assert update["description"] == "留言" and "还是不亮" not in fetched.content.decode()
    assert update["media_url"] is None and "38362.jpeg" not in fetched.content.decode()
    w3c(update["updated_datetime"])


def test_open_on_a_closed_report_reopens_it(served):
    from civicgrid.apps.cases.models import Case, Status

    number = simple(send_report(served).content)["request"][0]["service_request_id"]
    Case.objects.filter(number=number).update(status=Status.CLOSED, closed_at=timezone.now())
    closed = simple(requests.get(f"{served.base}/requests/{number}.xml", timeout=30).content)["request"][0]
    assert closed["status"] == "closed"
    posted = post_update(served, number, update_id="fms-38363", description="还是不亮，请重新处理")
    assert posted.status_code == 200, posted.text
    reopened = simple(requests.get(f"{served.base}/requests/{number}.xml", timeout=30).content)["request"][0]
    assert reopened["status"] == "open" and reopened["detailed_status"] == "accepted"


@pytest.mark.parametrize("path", ["requests.xml", "servicerequestupdates.xml"])
def test_a_wrong_key_gets_the_error_fixmystreet_logs(served, path):
    from civicgrid.apps.cases.models import Case

    before = Case.objects.count()
    response = requests.post(f"{served.base}/{path}", data={"jurisdiction_id": "140213", "api_key": "wrong",
                                                            "service_code": served.code, "service_request_id": "1"},
                             timeout=30)
    assert response.status_code == 403
    error = simple(response.content)["error"][0]
    assert error["code"] == "403" and error["description"]
    assert Case.objects.count() == before


def _updates(served, start, end) -> list[dict]:
    """Open311::get_service_request_updates over a window, as GetServiceRequestUpdates asks (W3C, UTC)."""
    fetched = requests.get(f"{served.base}/servicerequestupdates.xml", params={
        "jurisdiction_id": "140213", "api_key": served.key,
        "start_date": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, timeout=30)
    assert fetched.status_code == 200, fetched.text
    updates = simple(fetched.content).get("request_update", [])
    # what GetServiceRequestUpdates checks before it takes an update: its time lies in the window it asked for
    assert all(start <= w3c(u["updated_datetime"]) <= end for u in updates)
    return updates


def test_a_merged_report_hears_its_carriers_closure_under_its_own_id(served):
    """FixMyStreet knows only the report it sent (its external_id); merged into another case, the report must
    still be seen fixed and closed, by update_id each once, within the windows FixMyStreet asks for."""
    from civicgrid.apps.cases.models import Case, CaseStep, Status
    from civicgrid.apps.cases.services.common import add_step

    carrier = Case.objects.get(number=simple(send_report(served).content)["request"][0]["service_request_id"])
    ours = Case.objects.get(number=simple(send_report(served).content)["request"][0]["service_request_id"])
    start = timezone.now().replace(microsecond=0)
    merged_at = timezone.now()
    Case.objects.filter(pk=ours.pk).update(status=Status.MERGED, parent=carrier, ended_at=merged_at)
    add_step(ours, action="merge", actor=None, at=merged_at, from_status=Status.REPORTED, to_status=Status.MERGED,
             data={"parent": carrier.number})
    closed_at = timezone.now()
    Case.objects.filter(pk=carrier.pk).update(status=Status.CLOSED, closed_at=closed_at, updated_at=closed_at)
    add_step(carrier, action="close", actor=None, at=closed_at, from_status=Status.VERIFIED,
             to_status=Status.CLOSED, note="已修复，联系人 13700001111")
    close_step = CaseStep.objects.get(case=carrier, action="close")
    end = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    # two consecutive windows, each from where the last ended (FixMyStreet's cron, with its 2-hour look-back)
    middle = (start + (end - start) / 2).replace(microsecond=0)
    updates = _updates(served, start - timedelta(hours=2), middle) + _updates(served, middle, end)
    mine = [u for u in updates if u["service_request_id"] == ours.number]
    closure = [u for u in mine if u["update_id"] == f"{close_step.pk}-{ours.number}"]
    assert len(closure) == 1 or (len(closure) == 2 and closure[0] == closure[1])  # a boundary second is in both
    assert closure[0]["status"] == "closed" and closure[0]["description"] == "结案：已修复，联系人 137****1111"
    assert [u["status"] for u in mine if u["update_id"].isdigit()] == ["open"]  # its own 合并: still being dealt
    listed = simple(requests.get(f"{served.base}/requests/{ours.number}.xml", timeout=30).content)["request"][0]
    assert listed["status"] == "closed"


def test_a_report_accepted_hours_later_is_imported_by_the_hourly_fetch(served):
    """Open311::GetServiceRequests (not fetch_all_problems): the last hour, a request only with lat/long and with
    its updated_datetime inside the hour. Accepted (立案) three hours after it came in, it was in no hour."""
    from civicgrid.apps.cases.models import Case, Status

    number = simple(send_report(served).content)["request"][0]["service_request_id"]
    three_hours_ago = timezone.now() - timedelta(hours=3)
    Case.objects.filter(number=number).update(reported_at=three_hours_ago, updated_at=three_hours_ago)
    accepted = timezone.now()
    Case.objects.filter(number=number).update(status=Status.ACCEPTED, accepted_at=accepted, reviewed_at=accepted,
                                                updated_at=accepted)
    end = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    start = end - timedelta(hours=1)
    fetched = requests.get(f"{served.base}/requests.xml", params={
        "jurisdiction_id": "140213", "api_key": served.key,
        "start_date": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, timeout=30)
    taken = [r for r in simple(fetched.content).get("request", []) if r["service_request_id"] == number]
    assert len(taken) == 1
    request = taken[0]
    assert request["lat"] and request["long"]  # "no point importing if we can't put it on the map"
    assert start <= w3c(request["updated_datetime"]) <= end
    assert w3c(request["requested_datetime"]) < start

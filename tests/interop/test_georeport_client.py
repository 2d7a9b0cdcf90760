"""The PyPI `georeport` client (a thin GeoReport v2 wrapper over requests and xmltodict) against a live server:
services, a service definition, a posted request read back, and the request list, in JSON and in XML.

`georeport` cannot create requests, so the report is posted form-encoded with `requests`, as the spec says.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import requests
from georeport import GeoReport

from civicgrid.testing.browser import browser_db

from .conftest import POINT

pytestmark = [browser_db]


def _post(served, fmt: str, **extra) -> str:
    data = {"api_key": served.key, "jurisdiction_id": "140213", "service_code": served.code, "lat": POINT[1],
            "long": POINT[0], "description": "路灯不亮，晚上很黑", "attribute[affects_traffic]": "no",
            "media_url": "https://app.example/p/1.jpg", **extra}
    response = requests.post(f"{served.base}/requests.{fmt}", data=data, timeout=30)
    assert response.status_code == 201, response.text
    if fmt == "json":
        return response.json()[0]["service_request_id"]
    import xmltodict

    return xmltodict.parse(response.content)["service_requests"]["request"]["service_request_id"]


def _accept(number: str) -> None:
    """Intake accepts the report (立案): what the reporter wrote and sent is published from then on."""
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case, Status

    Case.objects.filter(number=number).update(status=Status.ACCEPTED, accepted_at=timezone.now(),
                                                reviewed_at=timezone.now())  # by a person (立案)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_round_trip(served, fmt):
    client = GeoReport(served.base, jurisdiction="140213", api_key=served.key, output_format=fmt)

    services = client.get_service_list()
    by_code = {s["service_code"]: s for s in services}
    assert set(by_code) == {served.code, served.other_code}
    assert by_code[served.code]["group"] == "交通设施类" and by_code[served.code]["keywords"] == "路灯,不亮"
    assert str(by_code[served.code]["metadata"]).lower() == "true"

    definition = client.get_service_definition(served.code)
    attributes = definition["attributes"]
    attribute = attributes[0] if fmt == "json" else attributes["attribute"]
    assert attribute["code"] == "affects_traffic" and attribute["datatype"] == "singlevaluelist"

    number = _post(served, fmt)
    assert isinstance(number, str) and number.isdigit()

    got = client.get_service_request(number)
    assert got["service_request_id"] == number and got["status"] == "open"
    assert got["service_code"] == served.code and not got["media_url"] and not got["description"]  # before 立案
    assert datetime.fromisoformat(got["requested_datetime"]).utcoffset().total_seconds() == 8 * 3600
    _accept(number)
    got = client.get_service_request(number)
    assert got["media_url"] == "https://app.example/p/1.jpg" and got["description"] == "路灯不亮，晚上很黑"

    second = _post(served, fmt, description="另一盏路灯不亮")
    listed = client.get_service_requests()
    assert {r["service_request_id"] for r in listed} == {number, second}
    one = client.get_service_requests(service_request_id=number)
    one = one if isinstance(one, dict) else one[0]  # xmltodict gives a lone element as a dict
    assert one["service_request_id"] == number
    if fmt == "json":  # georeport's XML path cannot read an empty list (xmltodict gives None for it)
        assert client.get_service_requests(status="closed") == []


def test_georeport_client_sees_spec_errors(served):
    client = GeoReport(served.base, jurisdiction="140213", output_format="json")
    with pytest.raises(requests.HTTPError) as exc:
        client.get_service_definition("gbt47678_5_2026:matter:99999")
    assert exc.value.response.status_code == 404
    assert exc.value.response.json()[0]["code"] == 404
    with pytest.raises(requests.HTTPError) as exc:
        GeoReport(served.base, jurisdiction="chicago", output_format="xml").get_service_list()
    assert exc.value.response.status_code == 404


def test_georeport_client_finds_by_window_and_status_a_report_accepted_later_and_one_merged(served):
    """A report accepted (立案) hours after it came in is in the window of its acceptance; a report merged into
    it is found with it, by the status it shows (its carrier's) and by its carrier's updated time."""
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.cases.models import Case, Status

    client = GeoReport(served.base, jurisdiction="140213", api_key=served.key, output_format="json")
    carrier, merged = _post(served, "json"), _post(served, "json", description="同一盏路灯")
    hours_ago = timezone.now() - timedelta(hours=3)
    Case.objects.filter(number__in=[carrier, merged]).update(reported_at=hours_ago, updated_at=hours_ago)
    Case.objects.filter(number=merged).update(status=Status.MERGED, ended_at=hours_ago,
                                              parent=Case.objects.get(number=carrier))
    end = timezone.localtime().replace(microsecond=0) + timedelta(seconds=1)
    window = {"start_date": (end - timedelta(hours=1)).isoformat(), "end_date": end.isoformat()}
    assert client.get_service_requests(**window) == []  # nothing happened to either in the last hour
    Case.objects.filter(number=carrier).update(status=Status.CLOSED, accepted_at=timezone.now(), reviewed_at=timezone.now(),
                                               closed_at=timezone.now(), updated_at=timezone.now())
    end = timezone.localtime().replace(microsecond=0) + timedelta(seconds=1)  # the next hourly fetch, just after
    window = {"start_date": (end - timedelta(hours=1)).isoformat(), "end_date": end.isoformat()}
    listed = {r["service_request_id"]: r for r in client.get_service_requests(**window)}
    assert set(listed) == {carrier, merged}
    assert listed[carrier]["lat"] and listed[merged]["status"] == "closed"
    assert {r["service_request_id"] for r in client.get_service_requests(status="closed")} == {carrier, merged}
    assert client.get_service_requests(status="open") == []

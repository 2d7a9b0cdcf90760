"""What a tester sent that used to be a 500 or silently mishandled: a malformed media_url, text no encoding can
write, an address_string several buildings share, an address_id far from the lat/long beside it, bytes in a
multipart body that are not UTF-8. Each is a 400 in the spec's error format (XML for a `.xml` URL) naming the
parameter, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.people.models import Building
from civicgrid.integrations.open311 import services

from .conftest import BASE, GRID, KEY, POINT, form, post, spec_error, world_counts, xml

pytestmark = pytest.mark.django_db


def reported(o311, http) -> Case:
    response = post(http, "requests.json", form(o311))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def update_form(case: Case, **changes) -> dict:
    data = {"api_key": KEY, "jurisdiction_id": "140213", "service_request_id": case.number, "update_id": "fms-c-1",
            "status": "OPEN", "description": "垃圾还在", "media_url": "https://fms.example/photo/c1.jpeg"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# ---- 1. a malformed media_url ------------------------------------------------------------------------------------

BAD_URLS = ["http://[::1", "http://[::1/x.jpg", "https://example.com:99999/x.jpg", "http://[::1]x/a"]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_malformed_media_url_is_a_400_naming_it(o311, http, url, fmt):
    case = reported(o311, http)
    before = world_counts()
    for path, data in ((f"requests.{fmt}", form(o311, media_url=url, device_id="d2")),
                       (f"servicerequestupdates.{fmt}", update_form(case, media_url=url))):
        response = post(http, path, data)
        if fmt == "xml":
            xml(response)
        assert "media_url" in spec_error(response, 400)
    assert world_counts() == before


def test_an_unexpected_failure_on_an_xml_url_answers_in_xml(o311, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "submit_request", broken)
    http = Client(raise_request_exception=False)
    root = xml(post(http, "requests.xml", form(o311)))
    assert root.tag == "errors" and root.find("error/code").text == "500"
    assert post(http, "requests.json", form(o311)).json()[0]["code"] == 500


def test_a_failure_reaching_djangos_handler_answers_in_the_urls_format(rf):
    from civicgrid.ui.errors import server_error

    root = xml(server_error(rf.get(f"{BASE}/requests.xml")))
    assert root.find("error/code").text == "500"
    assert server_error(rf.get(f"{BASE}/requests.json"))["Content-Type"].startswith("application/json")


# ---- 2 and 5. text that is not UTF-8 (or no text at all), in form and multipart bodies ---------------------------

def _multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = "----civicgridtest"
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _fields(o311, **changes) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in form(o311, **changes).items()}


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xed\xa0\x80", b"\xe5\x9e"], ids=["ff-fe", "surrogate", "cut"])
def test_a_multipart_field_that_is_not_utf8_is_refused(o311, http, bad):
    case = reported(o311, http)
    before = world_counts()
    body, content_type = _multipart(_fields(o311, description="垃圾".encode() + bad, device_id="d2"))
    response = http.post(f"{BASE}/requests.json", body, content_type=content_type)
    assert "UTF-8" in spec_error(response, 400)
    body, content_type = _multipart({k: v.encode() for k, v in update_form(case).items()} | {"description": bad})
    assert "UTF-8" in spec_error(http.post(f"{BASE}/servicerequestupdates.xml", body, content_type=content_type), 400)
    assert world_counts() == before


def test_a_multipart_report_in_utf8_is_made(o311, http):
    body, content_type = _multipart(_fields(o311, description="路边垃圾 😀"))
    response = http.post(f"{BASE}/requests.json", body, content_type=content_type)
    assert response.status_code == 201, response.content
    assert Case.objects.get(number=response.json()[0]["service_request_id"]).description == "路边垃圾 😀"


def test_a_surrogate_percent_encoded_in_a_form_is_refused(o311, http):
    body = (f"api_key={KEY}&jurisdiction_id=140213&service_code={o311.code()}&lat={POINT[1]}&long={POINT[0]}"
            f"&description=%ED%A0%80")
    before = world_counts()
    response = http.post(f"{BASE}/requests.xml", body, content_type="application/x-www-form-urlencoded")
    assert "UTF-8" in spec_error(response, 400)
    assert world_counts() == before


# ---- 3. an address_string several buildings share ---------------------------------------------------------------

SHARED = "平城区新建北路1号云冈苑"


@pytest.fixture
def buildings(o311):
    grid = o311.tree[GRID]
    made = []
    for code, address, dx in ((f"{GRID}-D01", SHARED, 0.0), (f"{GRID}-D02", SHARED, 0.004),
                              (f"{GRID}-D03", "平城区新建北路3号", 0.001)):
        made.append(Building.objects.create(code=code, address=address, name=code[-3:], estate="云冈苑", grid=grid,
                                            region_code=grid.code, lng=POINT[0] + dx, lat=POINT[1]))
    return made


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_address_string_several_buildings_share_is_refused(o311, http, buildings, fmt):
    before = world_counts()
    text = spec_error(post(http, f"requests.{fmt}", form(o311, lat=None, long=None, address_string=SHARED)), 400)
    assert "address_id" in text and "lat" in text and "2" in text and f"{GRID}-D01" in text
    assert world_counts() == before


def test_an_address_string_one_building_has_still_locates_the_report(o311, http, buildings):
    response = post(http, "requests.json", form(o311, lat=None, long=None, address_string="平城区新建北路3号"))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert abs(case.lng - buildings[2].lng) < 1e-9 and case.address == "平城区新建北路3号"


# ---- 4. an address_id far from the lat/long sent with it ---------------------------------------------------------

def test_an_address_id_far_from_lat_long_is_refused(o311, http, buildings):
    before = world_counts()
    far = form(o311, address_id=f"{GRID}-D01", lat=str(POINT[1] + 0.01))  # about 1.1 km north
    text = spec_error(post(http, "requests.json", far), 400)
    assert "address_id" in text and "lat" in text and str(services.MAX_ADDRESS_DISTANCE_M) in text
    assert world_counts() == before


def test_an_address_id_near_lat_long_is_accepted(o311, http, buildings):
    near = form(o311, address_id=f"{GRID}-D02", lat=str(POINT[1] + 0.001))  # D02 is ~340 m east; ~360 m away
    response = post(http, "requests.json", near)
    assert response.status_code == 201, response.content


# ---- 6. what is refused rather than read loosely ---------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_body_over_the_limit_is_a_413_in_the_spec_format(o311, http, fmt):
    from civicgrid.integrations.open311 import conf

    before = world_counts()
    response = post(http, f"requests.{fmt}", form(o311, description="垃圾" * (conf.MAX_BODY // 4)))
    assert "media_url" in spec_error(response, 413)
    assert world_counts() == before


@pytest.mark.parametrize("when", ["2026-W20-4", "2026-05-14 09:30:00+08:00", "2026-05-14T09:30:00+0800",
                                  "2026-05-14T09:30:00", "２０２６-05-14", "2026-134", "20260514T093000Z",
                                  "2026-05-14T09:30:00.1234567+08:00", "2026-05-14t09:30:00z"])
def test_a_datetime_outside_the_w3c_profile_is_refused(o311, http, when):
    case = reported(o311, http)
    before = world_counts()
    text = spec_error(post(http, "servicerequestupdates.json", update_form(case, updated_datetime=when)), 400)
    assert "updated_datetime" in text and "W3C" in text
    assert world_counts() == before
    assert "start_date" in spec_error(http.get(f"{BASE}/requests.json", {"start_date": when}), 400)


@pytest.mark.parametrize("when", ["2026-05-14T09:30:00+08:00", "2026-05-14T01:30:00Z", "2026-05-14T09:30+08:00",
                                  "2026-05-14T09:30:00.5+08:00", "2026-05-14"])
def test_w3c_datetimes_and_dates_are_read(when):
    from civicgrid.integrations.open311.formats import parse_w3c

    assert parse_w3c(when, "start_date").date().isoformat() == "2026-05-14"


@pytest.mark.parametrize(("name", "value"), [("lat", "４０.０１"), ("long", "11_3.21"), ("lat", "٤٠.٠١"),
                                             ("lat", "nan"), ("long", "0x71")])
def test_a_coordinate_not_in_ascii_digits_is_refused(o311, http, name, value):
    before = world_counts()
    text = spec_error(post(http, "requests.json", form(o311, **{name: value})), 400)
    assert name in text and "ASCII" in text
    assert world_counts() == before


def test_an_update_with_several_media_urls_is_refused(o311, http):
    case = reported(o311, http)
    before = world_counts()
    data = update_form(case, media_url=["https://fms.example/1.jpeg", "https://fms.example/2.jpeg"])
    assert "media_url" in spec_error(post(http, "servicerequestupdates.xml", data), 400)
    assert world_counts() == before


def test_an_idempotency_key_in_header_and_body_that_differ_is_refused(o311, http):
    before = world_counts()
    response = post(http, "requests.json", form(o311, idempotency_key="k-1"), HTTP_IDEMPOTENCY_KEY="k-2")
    text = spec_error(response, 400)
    assert "Idempotency-Key" in text and "idempotency_key" in text
    assert world_counts() == before
    # the same key in both is one key
    first = post(http, "requests.json", form(o311, idempotency_key="k-1"), HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    again = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]


@pytest.mark.parametrize("name", ["service_code", "description", "lat", "api_key"])
def test_a_single_parameter_sent_twice_is_refused(o311, http, name):
    before = world_counts()
    data = form(o311)
    data[name] = [data[name], data[name] + "1"]
    assert name in spec_error(post(http, "requests.json", data), 400)
    assert world_counts() == before
    assert "status" in spec_error(http.get(f"{BASE}/requests.json?status=open&status=closed"), 400)

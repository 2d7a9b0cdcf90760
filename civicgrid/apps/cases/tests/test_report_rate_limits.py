"""Public reporting is rate limited (SECURITY.md "Web and API"): residents and volunteers per account and per
address, over the API, the phone page and the web form alike; staff reporting from the field are not held back.
A refused report is a 429 with `Retry-After` and a Chinese message, and changes nothing."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core import ratelimit
from civicgrid.testing.builders import user_with

from .conftest import GRID, OUTSIDE, POINT, auth, report, world_counts

pytestmark = pytest.mark.django_db


def _post(client, user, address="10.1.0.1", headers=None, **body):
    data = {"title": "路边暴露垃圾", "lng": POINT[0], "lat": POINT[1], **body}
    return client.post(
        "/api/v1/cases",
        data,
        content_type="application/json",
        REMOTE_ADDR=address,
        **auth(user),
        **(headers or {}),
    )


def _refused(response) -> str:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "rate_limited" and body["detail"].startswith("操作过于频繁，请 ")
    return body["detail"]


def test_a_resident_flooding_the_api_gets_the_default_burst_then_429s(loop, api_client):
    """The tester's run: 40 reports in under a second were 40 cases. With the default limits (a burst of 5 per
    account) the rest are refused and nothing of them is written."""
    answers = [_post(api_client, loop.resident, title=f"垃圾{i}") for i in range(5)]
    assert [a.status_code for a in answers] == [201] * 5
    before = world_counts()
    for i in range(35):
        _refused(_post(api_client, loop.resident, title=f"垃圾再报{i}"))
    assert world_counts() == before
    assert Case.objects.count() == 5


@override_settings(CIVICGRID_REPORT_BURST=2, CIVICGRID_REPORT_ADDRESS_BURST=100)
def test_the_limit_is_per_account(loop, api_client):
    assert _post(api_client, loop.resident).status_code == 201
    assert _post(api_client, loop.resident).status_code == 201
    before = world_counts()
    # Another address does not help the same account.
    detail = _refused(_post(api_client, loop.resident, address="10.9.9.9"))
    assert "/ too many requests" in detail
    assert world_counts() == before
    neighbour = user_with(Role.RESIDENT, region=loop.tree[GRID], username="jm2")
    assert _post(api_client, neighbour).status_code == 201  # another resident is not held back


@override_settings(CIVICGRID_REPORT_BURST=100, CIVICGRID_REPORT_ADDRESS_BURST=3)
def test_the_limit_is_per_address_across_accounts_but_staff_are_not_counted(loop, api_client):
    residents = [user_with(Role.RESIDENT, region=loop.tree[GRID], username=f"jm{i}") for i in range(4)]
    for resident in residents[:3]:
        assert _post(api_client, resident).status_code == 201
    before = world_counts()
    _refused(_post(api_client, residents[3]))
    assert world_counts() == before
    assert _post(api_client, residents[3], address="10.1.0.2").status_code == 201
    # A grid worker at the same (shared, say carrier-NAT) address reports at field rates all the same.
    statuses = {_post(api_client, loop.worker, title=f"巡查{i}").status_code for i in range(25)}
    assert statuses == {201}


@override_settings(CIVICGRID_REPORT_BURST=1)
def test_a_retry_under_the_same_key_is_not_a_new_report_to_count(loop, api_client):
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-1"}
    first = _post(api_client, loop.resident, headers=key)
    assert first.status_code == 201
    again = _post(api_client, loop.resident, headers=key)
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    before = world_counts()
    _refused(_post(api_client, loop.resident))
    assert world_counts() == before


@override_settings(CIVICGRID_REPORT_BURST=0)
def test_services_called_outside_a_request_are_not_limited(loop):
    """Commands, the worker and the demo report through the same service; the limit is for requests."""
    report(loop, actor=loop.resident, source="public")
    report(loop, actor=loop.resident, source="public")
    assert Case.objects.count() == 2


@override_settings(CIVICGRID_REPORT_BURST=1)
def test_the_phone_page_answers_429_with_retry_after_and_a_chinese_message(loop):
    c = Client()
    c.force_login(loop.resident)

    def submit():
        return c.post(
            reverse("ui:case_submit"),
            {
                "idempotency_key": str(uuid.uuid4()),
                "description": "小区门口垃圾堆放",
                "lng": str(POINT[0]),
                "lat": str(POINT[1]),
                "crs": "wgs84",
            },
            REMOTE_ADDR="10.2.0.1",
        )

    assert submit().status_code == 201
    before = world_counts()
    response = submit()
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    body = response.json()
    assert (
        body["code"] == "rate_limited"
        and body["detail"].startswith("操作过于频繁")
        and "/" not in body["detail"]
    )
    assert world_counts() == before


@override_settings(CIVICGRID_REPORT_BURST=1)
def test_the_web_report_form_answers_429_with_the_form_and_the_message(loop):
    c = Client()
    c.force_login(loop.resident)

    def submit():
        return c.post(
            reverse("ui:case_new"),
            {
                "title": "路灯不亮",
                "source": "public",
                "lng": POINT[0],
                "lat": POINT[1],
                "crs": "wgs84",
                "idempotency_key": uuid.uuid4().hex,
            },
            REMOTE_ADDR="10.3.0.1",
        )

    assert submit().status_code == 302
    before = world_counts()
    response = submit()
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    html = response.content.decode()
    assert "操作过于频繁，请" in html and "路灯不亮" in html  # the message, and the form kept as typed
    assert world_counts() == before


def test_with_the_bucket_store_broken_reports_are_taken_unlimited(loop, api_client, tmp_path):
    """Public reporting fails open (core.ratelimit): a broken bucket store must not stop residents reporting."""
    (tmp_path / ratelimit.FILE_NAME).mkdir()  # the bucket file cannot be made
    with override_settings(DATA_DIR=tmp_path):
        statuses = [_post(api_client, loop.resident, title=f"垃圾{i}").status_code for i in range(8)]
    assert statuses == [201] * 8
    assert Case.objects.count() == 8


def test_with_redis_unreachable_reports_are_taken_unlimited(loop, api_client, unreachable_redis, caplog):
    """Several hosts share the buckets through Redis (CIVICGRID_REDIS_URL): with Redis away (a closed port),
    public reporting fails open as with a broken file, and the log says so once."""
    with caplog.at_level("WARNING", logger="civicgrid.foundation.core.ratelimit"):
        statuses = [_post(api_client, loop.resident, title=f"垃圾{i}").status_code for i in range(8)]
    assert statuses == [201] * 8
    assert Case.objects.count() == 8
    assert [r.getMessage()[:40] for r in caplog.records if r.name == "civicgrid.foundation.core.ratelimit"] == [
        "rate limits: the bucket store failed (re"]


@override_settings(CIVICGRID_REPORT_BURST=2, CIVICGRID_REPORT_ADDRESS_BURST=100)
def test_through_redis_the_limit_per_account_holds(loop, api_client, redis_buckets):
    assert _post(api_client, loop.resident).status_code == 201
    assert _post(api_client, loop.resident).status_code == 201
    before = world_counts()
    _refused(_post(api_client, loop.resident, address="10.1.0.2"))
    assert world_counts() == before


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` × `height` (its data one row): refused for its pixels, never decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
            + chunk(b"IEND", b""))


def _phone_report(c, address="10.4.0.1", point=POINT, photo=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"idempotency_key": str(uuid.uuid4()), "description": "小区门口垃圾堆放", "crs": "wgs84"}
    if point is not None:
        data.update(lng=str(point[0]), lat=str(point[1]))
    if photo is not None:
        name, body, kind = photo
        data["photos"] = SimpleUploadedFile(name, body, content_type=kind)
    return c.post(reverse("ui:case_submit"), data, REMOTE_ADDR=address)


REFUSED_REPORTS = [  # the tester's four: each refused for what it carries, field by field
    ({"photo": ("现场.jpg", b"\xff\xd8\xff\xe0 not a picture at all", "image/jpeg")}, "photos"),
    ({"point": OUTSIDE}, "location"),
    ({"point": None}, "location"),
    ({"photo": ("大图.png", _png_header_only(30000, 30000), "image/png")}, "photos"),
]


def test_refused_reports_spend_none_of_the_accounts_reports(loop):
    """The tester's run (default limits: a burst of 5 per account): one valid report, four refused ones (a fake
    JPEG, a point outside the district, no location, a 30000×30000 PNG), and the next valid report was a 429.
    A report refused for what it carries now takes no token from the account: the next one is made."""
    c = Client()
    c.force_login(loop.resident)
    assert _phone_report(c).status_code == 201
    before = world_counts()
    for changes, field in REFUSED_REPORTS:
        response = _phone_report(c, **changes)
        assert (response.status_code, response.json()["field"]) == (400, field), response.content
    assert world_counts() == before
    assert _phone_report(c).status_code == 201
    assert Case.objects.count() == 2
    # the account's limit still holds for reports made: 3 more make the burst of 5, the 6th is refused
    assert [_phone_report(c).status_code for _ in range(3)] == [201] * 3
    before = world_counts()
    response = _phone_report(c)
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert world_counts() == before


@override_settings(CIVICGRID_REPORT_ADDRESS_BURST=3)
def test_a_flood_of_refused_reports_is_held_back_by_the_address_limit(loop):
    """Refused reports still count where a flood is felt: the address's bucket takes a token for every attempt,
    before its photos are decoded. Past it even a valid report from that address waits; the account, which
    made nothing, reports at once from elsewhere."""
    c = Client()
    c.force_login(loop.resident)
    before = world_counts()
    for changes, _field in REFUSED_REPORTS[:3]:
        assert _phone_report(c, address="10.5.0.1", **changes).status_code == 400
    response = _phone_report(c, address="10.5.0.1", **REFUSED_REPORTS[3][0])  # not even decoded now
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert _phone_report(c, address="10.5.0.1").status_code == 429
    assert world_counts() == before
    assert _phone_report(c, address="10.5.0.2").status_code == 201

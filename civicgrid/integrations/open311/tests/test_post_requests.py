"""POST requests: a report enters the loop through submit_case; every refusal leaves everything as it was."""

from __future__ import annotations

import pytest
from django.test import override_settings

from civicgrid.apps.cases.models import Case, CaseReporter, Source, Status
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.people.models import Building
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import (
    ACCOUNT_CONTEXT,
    DEVICE_CONTEXT,
    FOLLOW_CONTEXT,
    Open311Request,
)

from .conftest import GRID, KEY, OUTSIDE, POINT, form, post, spec_error, world_counts, xml

pytestmark = pytest.mark.django_db


def test_a_report_enters_the_loop_located_routed_timed_audited_and_published(o311, http):
    response = post(http, "requests.json", form(o311))
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body) == 1 and set(body[0]) == {"service_request_id", "service_notice", "account_id", "token"}
    case = Case.objects.get(number=body[0]["service_request_id"])
    assert isinstance(body[0]["service_request_id"], str) and body[0]["account_id"] == "account-7"
    assert case.source == Source.OPEN311 and case.status == Status.REPORTED and case.reporter is None
    assert case.grid.code == GRID and case.category == o311.cat and case.suggested_department == o311.dept
    assert case.title == "路边暴露垃圾" and case.description.startswith("title: 路边暴露垃圾")
    # personal data encrypted at rest: contacts by the cases service, the caller's ids beside the case
    assert case.reporter_name == "张三" and case.reporter_phone_masked == "138****5678"
    assert "13812345678" not in case.reporter_phone_enc and "zhang@" not in case.reporter_email_enc
    link = Open311Request.objects.get(case=case)
    assert link.client == o311.client and link.token == body[0]["token"]
    assert link.attributes == {"affects_traffic": "yes"} and link.media_urls == ["https://fms.example/photo/1.jpeg"]
    assert "device-42" not in link.device_id_enc and keys.decrypt(link.device_id_enc, DEVICE_CONTEXT) == "device-42"
    assert keys.decrypt(link.account_id_enc, ACCOUNT_CONTEXT) == "account-7"
    assert CaseReporter.objects.filter(case=case).count() == 1
    # the loop's own audit and event, plus the client's attribution (channel and caller address recorded)
    report = AuditEntry.objects.get(action="cases.report", target_id=str(case.pk))
    assert report.channel == "open311" and report.source_ip == "127.0.0.1"
    assert AuditEntry.objects.get(action="open311.request_created", target_id=str(case.pk)).actor_name == \
        "open311:FixMyStreet 测试"
    assert OutboxEvent.objects.filter(topic="case.reported", aggregate_id=str(case.pk)).count() == 1


def test_the_xml_answer_has_the_id_and_the_notice(o311, http):
    root = xml(post(http, "requests.xml", form(o311)))
    assert root.tag == "service_requests"
    number = root.find("request/service_request_id").text
    assert Case.objects.filter(number=number).exists() and "处置时限" in root.find("request/service_notice").text


def test_api_key_may_come_in_the_query_string(o311, http):
    data = form(o311)
    data.pop("api_key")
    response = http.post(f"/open311/v2/requests.json?api_key={KEY}", data)
    assert response.status_code == 201


def test_a_retry_with_the_same_idempotency_key_returns_the_same_request(o311, http):
    first = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-1")
    before = world_counts()
    again = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-1")
    assert again.status_code == 200 and again.json() == first.json()
    assert world_counts() == before
    changed = post(http, "requests.json", form(o311, description="另一件事"), HTTP_IDEMPOTENCY_KEY="fms-1")
    spec_error(changed, 409)
    assert world_counts() == before


def test_a_retry_of_a_report_whose_link_was_lost_completes_it(o311, http):
    first = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-2").json()[0]
    case = Case.objects.get(number=first["service_request_id"])
    Open311Request.objects.filter(case=case).delete()  # as an older version could leave it
    again = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-2")
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == case.number
    link = Open311Request.objects.get(case=case)
    assert again.json()[0]["token"] == link.token and again.json()[0]["account_id"] == "account-7"
    follow = CaseReporter.objects.get(case=case).follow_token
    assert keys.decrypt(link.follow_token_enc, FOLLOW_CONTEXT) == follow
    assert AuditEntry.objects.filter(action="open311.request_created", target_id=str(case.pk)).count() == 2
    assert Case.objects.filter(number=case.number).count() == 1


def test_western_names_keep_their_order_and_contacts_are_optional(o311, http):
    data = form(o311, first_name="Jane", last_name="Doe", email=None, phone=None, media_url=None)
    case = Case.objects.get(number=post(http, "requests.json", data).json()[0]["service_request_id"])
    assert case.reporter_name == "Jane Doe" and case.reporter_email_enc == ""


def test_multiple_media_urls_are_kept_as_links(o311, http):
    data = form(o311)
    data["media_url"] = ["https://fms.example/p/1.jpeg", "https://fms.example/p/2.jpeg"]
    number = post(http, "requests.json", data).json()[0]["service_request_id"]
    assert Open311Request.objects.get(case__number=number).media_urls == data["media_url"]


def _building(o311) -> Building:
    grid = o311.tree[GRID]
    return Building.objects.create(code="B0001", address="永泰街道新建北路12号", grid=grid, region_code=grid.code,
                                   lng=POINT[0], lat=POINT[1])


def test_address_id_locates_a_standard_address(o311, http):
    _building(o311)
    number = post(http, "requests.json", form(o311, lat=None, long=None, address_id="B0001")).json()[0][
        "service_request_id"]
    case = Case.objects.get(number=number)
    assert case.grid.code == GRID and case.address == "永泰街道新建北路12号"
    assert Open311Request.objects.get(case=case).address_id == "B0001"


def test_address_string_locates_an_exact_standard_address(o311, http):
    _building(o311)
    response = post(http, "requests.json", form(o311, lat=None, long=None, address_string="永泰街道新建北路12号"))
    assert response.status_code == 201
    assert Case.objects.get(number=response.json()[0]["service_request_id"]).grid.code == GRID


def test_gcj02_coordinates_are_accepted_with_the_crs_extension(o311, http):
    from civicgrid.foundation.regions import crs

    lng, lat = crs.wgs84_to_gcj02(*POINT)
    number = post(http, "requests.json", form(o311, lat=str(lat), long=str(lng), crs="gcj02")).json()[0][
        "service_request_id"]
    case = Case.objects.get(number=number)
    assert case.crs_in == "gcj02" and abs(case.lng - POINT[0]) < 1e-5


# --- refusals: each answers in the spec's format and changes nothing -------------------------------------------

REFUSALS = [
    ("no key", {"api_key": None}, 403, "api_key"),
    ("wrong key", {"api_key": "nope"}, 403, "api_key"),
    ("unknown jurisdiction", {"jurisdiction_id": "chicago.gov"}, 404, "jurisdiction_id"),
    ("no service", {"service_code": None}, 400, "service_code"),
    ("unknown service", {"service_code": "gb47678:matter:99999"}, 404, "service_code"),
    ("private service", {"service_code": "social:event:0501"}, 404, "service_code"),
    ("no location", {"lat": None, "long": None}, 400, "lat"),
    ("lat without long", {"long": None}, 400, "lat"),
    ("lat not a number", {"lat": "north"}, 400, "lat"),
    ("lat out of range", {"lat": "91"}, 400, "lat"),
    ("outside the district", {"lat": str(OUTSIDE[1]), "long": str(OUTSIDE[0])}, 400, ""),
    ("unknown address_id", {"lat": None, "long": None, "address_id": "B404"}, 400, "address_id"),
    ("unlocatable address", {"lat": None, "long": None, "address_string": "某处"}, 400, "address_string"),
    ("description too long", {"description": "长" * 4001}, 400, "description"),
    ("attribute not a choice", {"attribute[affects_traffic]": "maybe"}, 400, "affects_traffic"),
    ("media_url not a link", {"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ("bad email", {"email": "not-an-email"}, 400, "email"),
    ("bad phone", {"phone": "12"}, 400, "phone"),
    ("NUL in a field", {"description": "a\x00b"}, 400, "description"),
    ("unknown crs", {"crs": "bj54"}, 400, "crs"),
    # each part within its 64, together longer than the case's name: the refusal names the GeoReport fields
    ("Latin names together too long", {"first_name": "A" * 64, "last_name": "B" * 64}, 400, "first_name and last_name"),
    ("Chinese names together too long", {"first_name": "三" * 40, "last_name": "张" * 40}, 400, "first_name 与 last_name"),
]


@pytest.mark.parametrize(("label", "changes", "status", "mentions"), REFUSALS, ids=[r[0] for r in REFUSALS])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_refusals_change_nothing(o311, http, label, changes, status, mentions, fmt):
    before = world_counts()
    description = spec_error(post(http, f"requests.{fmt}", form(o311, **changes)), status)
    assert mentions in description
    assert world_counts() == before


def test_a_description_of_exactly_4000_characters_is_accepted(o311, http):
    assert post(http, "requests.json", form(o311, description="长" * 4000)).status_code == 201


def test_a_required_attribute_must_be_answered(o311, http):
    o311.attr.required = True
    o311.attr.save()
    before = world_counts()
    assert "affects_traffic" in spec_error(post(http, "requests.json", form(o311, **{"attribute[affects_traffic]": None})),
                                           400)
    assert world_counts() == before


def test_an_inactive_client_or_one_for_another_jurisdiction_is_refused(o311, http):
    services.deactivate_client(actor=None, client=o311.client)
    before = world_counts()
    spec_error(post(http, "requests.json", form(o311)), 403)
    assert world_counts() == before
    other, key = services.create_client(actor=None, name="外区客户端")
    # A jurisdiction this server no longer serves (creating one is refused; an old client may still hold it).
    type(other).objects.filter(pk=other.pk).update(jurisdiction="140212")
    before = world_counts()
    assert "jurisdiction" in spec_error(post(http, "requests.json", form(o311, api_key=key)), 403)
    assert world_counts() == before


@override_settings(CIVICGRID_OPEN311_ADDRESS_RATE=600, CIVICGRID_OPEN311_ADDRESS_BURST=100)
def test_each_client_key_has_its_own_rate_limit(o311, http):
    slow, key = services.create_client(actor=None, name="慢客户端", rate_per_minute=1, burst=2)
    assert post(http, "requests.json", form(o311, api_key=key)).status_code == 201
    assert post(http, "requests.json", form(o311, api_key=key)).status_code == 201
    before = world_counts()
    response = post(http, "requests.json", form(o311, api_key=key))
    assert "retry" in spec_error(response, 429) and int(response["Retry-After"]) >= 1
    assert world_counts() == before
    assert post(http, "requests.json", form(o311)).status_code == 201  # another key is not held back


@override_settings(CIVICGRID_OPEN311_ADDRESS_RATE=1, CIVICGRID_OPEN311_ADDRESS_BURST=3)
def test_each_address_has_its_own_rate_limit_before_any_key_is_checked(o311, http):
    for _ in range(3):
        http.get("/open311/v2/services.json")
    before = world_counts()
    spec_error(post(http, "requests.json", form(o311, api_key="guess")), 429)
    spec_error(post(http, "requests.xml", form(o311)), 429)
    assert world_counts() == before
    other = http.get("/open311/v2/services.json", REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 200


def test_a_retry_completes_a_link_that_a_crash_left_out(o311, http):
    first = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-2").json()[0]
    Open311Request.objects.filter(case__number=first["service_request_id"]).delete()  # as if the second step died
    again = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-2")
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == first["service_request_id"]
    link = Open311Request.objects.get(case__number=first["service_request_id"])
    assert link.attributes == {"affects_traffic": "yes"} and Case.objects.count() == 1


@pytest.mark.parametrize("changes", [
    {"attribute[affects_traffic]": "no"}, {"media_url": "https://fms.example/photo/2.jpeg"},
    {"account_id": "account-8"}, {"device_id": "device-43"}, {"media_url": None}, {"attribute[affects_traffic]": None},
], ids=["attribute", "media_url", "account_id", "device_id", "media dropped", "attribute dropped"])
def test_a_resend_that_differs_in_what_is_stored_beside_the_case_is_a_conflict(o311, http, changes):
    """Attributes, media links and the caller's ids are kept with the case: a resend under the same key that
    changes them is not the same report (409), and neither the case nor its link changes."""
    first = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-3")
    assert first.status_code == 201
    link = Open311Request.objects.get()
    kept = (link.attributes, link.media_urls, link.device_id_enc, link.account_id_enc)
    before = world_counts()
    spec_error(post(http, "requests.json", form(o311, **changes), HTTP_IDEMPOTENCY_KEY="fms-3"), 409)
    assert world_counts() == before
    link.refresh_from_db()
    assert (link.attributes, link.media_urls, link.device_id_enc, link.account_id_enc) == kept
    # the identical resend is still the same request
    again = post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="fms-3")
    assert again.status_code == 200 and again.json() == first.json()


def test_a_ticket_sent_to_open311_is_not_the_cases(o311, http):
    """Open311 reports are never hotline hand-overs: a `hotline_ticket` field or attribute sent with one stays
    off the case (the service asks no such attribute), and the hotline registers that ticket afterwards."""
    from civicgrid.apps.cases.services import submit_case

    ticket = "12345-20261201-9998"
    body = post(http, "requests.json", form(o311, hotline_ticket=ticket, **{"attribute[hotline_ticket]": ticket}))
    case = Case.objects.get(number=body.json()[0]["service_request_id"])
    assert case.hotline_ticket == "" and Open311Request.objects.get(case=case).attributes == {"affects_traffic": "yes"}
    hotline, created = submit_case(actor=o311.dispatcher, source=Source.HOTLINE, hotline_ticket=ticket, title="路灯不亮",
                                   lng=POINT[0], lat=POINT[1], category=o311.cat.pk)
    assert created and hotline.hotline_ticket == ticket


def test_names_that_together_fit_the_case_are_kept(o311, http):
    response = post(http, "requests.json", form(o311, first_name="三" * 32, last_name="张" * 32))
    assert response.status_code == 201, response.content
    assert Case.objects.get(number=response.json()[0]["service_request_id"]).reporter_name == "张" * 32 + "三" * 32


# --- bodies the endpoint cannot read: the spec's error in the URL's format, both languages, no traceback ---------

def _raw(http, fmt: str, body: str, content_type: str):
    return http.post(f"/open311/v2/requests.{fmt}", body, content_type=content_type)


def _no_traceback(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("charset", ["gbk", "ISO-8859-1"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_form_body_in_another_charset_is_refused_asking_for_utf8(o311, http, caplog, charset, fmt):
    from urllib.parse import urlencode

    body = urlencode(form(o311), encoding=charset, errors="replace")
    before = world_counts()
    response = _raw(http, fmt, body, f"application/x-www-form-urlencoded; charset={charset}")
    description = spec_error(response, 415)
    assert response["Content-Type"].startswith("application/json" if fmt == "json" else "text/xml")
    assert "UTF-8 编码" in description and "must be UTF-8" in description and charset.lower() in description
    assert world_counts() == before
    _no_traceback(caplog)


def test_a_form_body_declaring_utf8_by_its_other_name_is_read(o311, http):
    from urllib.parse import urlencode

    response = _raw(http, "json", urlencode(form(o311)), "application/x-www-form-urlencoded; charset=UTF8")
    assert response.status_code == 201, response.content
    assert Case.objects.get(number=response.json()[0]["service_request_id"]).reporter_name == "张三"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_too_many_fields_are_refused_saying_so(o311, http, caplog, fmt):
    from urllib.parse import urlencode

    body = urlencode({**form(o311), **{f"x{i}": "1" for i in range(1001)}})
    before = world_counts()
    description = spec_error(_raw(http, fmt, body, "application/x-www-form-urlencoded"), 400)
    assert "参数过多" in description and "too many parameters" in description and "1000" in description
    assert world_counts() == before
    _no_traceback(caplog)


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", None), ("text/plain", "api_key=" + KEY), ("", "api_key=" + KEY)])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_body_neither_form_nor_multipart_is_refused_before_the_key(o311, http, content_type, body, fmt):
    import json

    body = body if body is not None else json.dumps(form(o311))
    before = world_counts()
    description = spec_error(_raw(http, fmt, body, content_type), 415)
    assert "application/x-www-form-urlencoded" in description and "api_key" not in description
    assert "请求体须为" in description and "must be" in description
    assert world_counts() == before


def test_a_post_with_its_parameters_in_the_query_string_and_no_body_is_still_read(o311, http):
    from urllib.parse import urlencode

    response = http.post(f"/open311/v2/requests.json?{urlencode(form(o311))}", "", content_type="")
    assert response.status_code == 201, response.content


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=200)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_body_too_large_is_a_413_in_the_spec_format(o311, http, caplog, fmt):
    from urllib.parse import urlencode

    before = world_counts()
    description = spec_error(_raw(http, fmt, urlencode(form(o311)), "application/x-www-form-urlencoded"), 413)
    assert "请求体过大" in description and "too large" in description
    assert world_counts() == before
    _no_traceback(caplog)

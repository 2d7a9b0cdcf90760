"""A refusal that names what the caller sent (a jurisdiction_id, a service_code, a service_request_id) quotes it
in both halves, so that a " / " in it never splits the message where it was not written to split and the English
half names it as the Chinese does; a wrong phone says in English too that it is the phone. Nothing is written."""

from __future__ import annotations

import pytest

from civicgrid.foundation.core.bilingual import quotable
from civicgrid.integrations.open311 import catalogue

from .conftest import KEY, form, get, post, spec_error, world_counts, xml

pytestmark = pytest.mark.django_db
SLASHED = 'x / "y"'
SHOWN = quotable(SLASHED)  # as every bilingual message quotes a typed value


def halves(description: str) -> tuple[str, str]:
    assert description.count(" / ") == 1, description
    zh, _, en = description.partition(" / ")
    return zh, en


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_jurisdiction_is_quoted_in_both_halves(o311, http, fmt):
    zh, en = halves(spec_error(get(http, f"requests.{fmt}", jurisdiction_id=SLASHED), 404))
    assert zh == f"未找到 jurisdiction_id「{SHOWN}」" and en == f'jurisdiction_id not found: "{SHOWN}"'
    before = world_counts()
    zh, en = halves(spec_error(post(http, f"requests.{fmt}", form(o311, jurisdiction_id=SLASHED)), 404))
    assert en == f'jurisdiction_id not found: "{SHOWN}"'
    assert world_counts() == before


def test_an_unknown_service_and_request_are_named_in_both_halves(o311, http):
    before = world_counts()
    zh, en = halves(spec_error(post(http, "requests.json", form(o311, service_code="gb47678:matter:99999")), 404))
    assert zh == "未找到服务「gb47678:matter:99999」" and en == 'service_code not found: "gb47678:matter:99999"'
    zh, en = halves(spec_error(post(http, "requests.json", form(o311, service_code=SLASHED)), 404))
    assert en == f'service_code not found: "{SHOWN}"'
    zh, en = halves(spec_error(get(http, "requests/2099010100001.json"), 404))
    assert en == 'service_request_id not found: "2099010100001"'
    update = {"api_key": KEY, "service_request_id": SLASHED, "description": "还没修"}
    zh, en = halves(spec_error(post(http, "servicerequestupdates.json", update), 404))
    assert zh == f"未找到服务请求「{SHOWN}」" and en == f'service_request_id not found: "{SHOWN}"'
    assert world_counts() == before


def test_a_wrong_phone_says_so_in_english_too(o311, http):
    before = world_counts()
    zh, en = halves(spec_error(post(http, "requests.json", form(o311, phone="12")), 400))
    assert zh.startswith("phone 无效：手机号") and en.startswith("phone is not valid: a mobile number")
    assert world_counts() == before


def test_a_new_request_is_told_its_service_and_time_limit_in_both_halves(o311, http):
    body = post(http, "requests.json", form(o311)).json()
    zh, en = halves(body[0]["service_notice"])
    assert zh == "已收到，按「暴露垃圾」处置时限 4 工作小时 办理"
    assert en == 'received: to be handled within 4 working hours ("暴露垃圾")'
    o311.cat.name_en = "Exposed rubbish / litter"
    o311.cat.save(update_fields=["name_en", "updated_at"])
    catalogue._cache.clear()  # an edit reaches reports within the catalogue's cache time
    body = post(http, "requests.xml", form(o311, description="另一处垃圾"))
    assert body.status_code == 201
    zh, en = halves(xml(body).find("request/service_notice").text)
    assert en == f'received: to be handled within 4 working hours ("{quotable("Exposed rubbish / litter")}")'

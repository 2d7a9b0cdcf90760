"""A desk form refused for its hidden one-time key says so above the form, in words a person can act on, and
puts the focus on no hidden input (the hotline form and the web report form); a bad follow link says the same
thing in English as in Chinese."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.tests.conftest import POINT, loop, world_counts  # noqa: F401

pytestmark = pytest.mark.django_db

REUSED = "该表单已用于另一份内容不同的上报，请刷新页面后重新填写"
STALE = "该表单已失效，请刷新页面后重新填写"


def hotline_form(loop, **kw) -> dict:
    data = {"hotline_ticket": "12345-20261201-0101", "caller_name": "张先生", "callback_phone": "13812345678",
            "title": "路灯不亮", "description": "小区门口路灯坏了", "address": "", "lng": str(POINT[0]),
            "lat": str(POINT[1]), "crs": "wgs84", "category": str(loop.cat.pk), "idempotency_key": uuid.uuid4().hex}
    return data | kw


def web_form(loop, **kw) -> dict:
    data = {"source": "grid_worker", "title": "路灯不亮", "description": "小区门口路灯坏了", "address": "",
            "lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84", "category": str(loop.cat.pk),
            "idempotency_key": uuid.uuid4().hex}
    return data | kw


def form_error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def focused(html: str) -> list[str]:
    """The tags carrying autofocus."""
    return [t for t in re.findall(r"<(?:input|select|textarea)[^>]*>", html) if "autofocus" in t]


@pytest.mark.parametrize("url_name, make, user", [("ui:case_hotline", hotline_form, "dispatcher"),
                                                  ("ui:case_new", web_form, "worker")])
def test_a_key_used_for_other_content_is_said_above_the_form_and_changes_nothing(loop, client_for, url_name,
                                                                                  make, user):
    c = client_for(getattr(loop, user))
    url = reverse(url_name)
    first = make(loop)
    assert c.post(url, first).status_code == 302
    before = world_counts()
    response = c.post(url, {**first, "title": "另一件事：井盖松动"})
    assert response.status_code == 400
    html = response.content.decode()
    assert form_error(html) == REUSED
    assert "幂等键" not in html
    assert not [t for t in focused(html) if 'type="hidden"' in t]
    assert world_counts() == before and Case.objects.count() == 1
    # what was typed stays in the form
    assert 'value="另一件事：井盖松动"' in html


def test_a_missing_key_reads_as_a_stale_form_and_a_visible_error_keeps_the_focus(loop, client_for):
    c = client_for(loop.dispatcher)
    before = world_counts()
    response = c.post(reverse("ui:case_hotline"), hotline_form(loop, idempotency_key="", title=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert form_error(html) == STALE
    tags = focused(html)
    assert len(tags) == 1 and 'name="title"' in tags[0]
    assert world_counts() == before


def test_a_bad_follow_link_says_the_same_in_english_as_in_chinese(client):
    url = reverse("ui:follow", args=["x" * 32])
    html = client.get(url).content.decode()
    assert client.get(url).status_code == 404
    assert '<p role="alert">链接无效或已失效</p>' in html and "权限范围" not in html
    assert reverse("ui:login") not in html  # signing in would not make the link good
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 404
    assert '<p role="alert">This link is invalid or has expired</p>' in html
    assert "area of responsibility" not in html and reverse("ui:login") not in html
    # the rating and reopening forms of such a link say so too
    for name in ("ui:follow_rate", "ui:follow_reopen"):
        answer = client.post(reverse(name, args=["x" * 32]), {"score": "5"})
        assert answer.status_code == 404 and "This link is invalid or has expired" in answer.content.decode()

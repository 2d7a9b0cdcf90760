"""The resident's follow page (reached by the follow link or QR) names the category in the reader's language:
its English name on the English page when it has one, the Chinese name by default (the JSON behind it gives both: `category` and `category_en`)."""

from __future__ import annotations

import re

import pytest

from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.categories.models import Category

from .conftest import report

pytestmark = pytest.mark.django_db


def category_shown(page) -> str:
    found = re.search(r"<dt>[^<]*</dt><dd>([^<]*)</dd>", page.content.decode())
    assert found, page.content.decode()[:2000]
    return found.group(1)


@pytest.fixture
def token(loop):
    Category.objects.filter(pk=loop.cat.pk).update(name_en="Exposed rubbish")
    case = report(loop, actor=loop.resident, source="public")
    return CaseReporter.objects.get(original_case=case).follow_token


def test_the_english_follow_page_names_the_category_in_english(client, token):
    client.cookies["django_language"] = "en"
    page = client.get(f"/follow/{token}/")
    assert page.status_code == 200
    assert category_shown(page) == "Exposed rubbish"
    assert "暴露垃圾" not in page.content.decode()


def test_the_follow_page_is_chinese_by_default_and_the_api_keeps_the_chinese_name(client, token):
    page = client.get(f"/follow/{token}/")
    assert page.status_code == 200 and category_shown(page) == "暴露垃圾"
    assert "Exposed rubbish" not in page.content.decode()
    client.cookies["django_language"] = "en"
    body = client.get(f"/api/v1/follow/{token}").json()
    assert (body["category"], body["category_en"]) == ("暴露垃圾", "Exposed rubbish")  # both names, for any client


def test_a_category_without_english_keeps_its_chinese_name_on_the_english_page(client, loop, token):
    Category.objects.filter(pk=loop.cat.pk).update(name_en="")
    client.cookies["django_language"] = "en"
    assert category_shown(client.get(f"/follow/{token}/")) == "暴露垃圾"

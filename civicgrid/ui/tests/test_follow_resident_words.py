"""What a resident reads on the follow page and what an Open311 client is told when it sends a wrong attribute,
in either language: the category by its English name in English (as every other page names it), the Chinese name
in Chinese and through the API; each half of a bilingual refusal saying why."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def category_shown(client: Client, token: str) -> str:
    html = client.get(reverse("ui:follow", args=[token])).content.decode()
    return re.search(r"<dt>(?:分类|Category)</dt><dd>(.*?)</dd>", html, re.S).group(1)


def test_the_follow_page_names_the_category_in_the_readers_language(loop):
    loop.cat.name_en = "Exposed rubbish"
    loop.cat.save(update_fields=["name_en"])
    case = report(loop)
    token = case.reporters.get().follow_token
    english = Client()
    assert english.post("/i18n/setlang/", {"language": "en", "next": "/"}).status_code == 302
    assert category_shown(english, token) == "Exposed rubbish"
    assert category_shown(Client(), token) == loop.cat.name
    # The API keeps the name, as its other answers do.
    assert Client().get(f"/api/v1/follow/{token}").json()["category"] == loop.cat.name


def test_a_category_without_an_english_name_keeps_its_chinese_one_in_english(loop):
    assert loop.cat.name_en == ""
    token = report(loop).reporters.get().follow_token
    english = Client()
    english.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert category_shown(english, token) == loop.cat.name

"""The pages that show a case's category name it in the reader's language: the English name where the category
has one (`Category.display_name`), the Chinese name in the Chinese interface and where it has none."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def named(loop):
    loop.cat.name_en = "Exposed garbage"
    loop.cat.save()
    loop.cls.name_en = "City appearance and environment"
    loop.cls.save()
    return loop


def english(client):
    client.cookies["django_language"] = "en"
    return client


def test_case_list_page_board_and_report_form_in_english(named, client_for):
    case = report(named)
    zh = client_for(named.dispatcher)
    en = english(client_for(named.dispatcher))
    listed = en.get(reverse("ui:case_list")).content.decode()
    assert ">Exposed garbage</td>" in listed and ">City appearance and environment</option>" in listed
    assert ">暴露垃圾</td>" in zh.get(reverse("ui:case_list")).content.decode()
    page = en.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert 'Exposed garbage <span class="hint">06001' in page
    assert '暴露垃圾 <span class="hint">06001' in zh.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    board = en.get(reverse("ui:board_lists")).content.decode()
    assert ">Exposed garbage</td>" in board
    form = en.get(reverse("ui:case_report")).content.decode()
    assert ">Exposed garbage</option>" in form and "City appearance and environment › Exposed garbage" in form
    assert ">积存垃圾渣土</option>" in form  # no English name: the Chinese one
    chinese_form = zh.get(reverse("ui:case_report")).content.decode()
    assert ">暴露垃圾</option>" in chinese_form and "Exposed garbage" not in chinese_form


def _suggested(html: str) -> str:
    return html.split("data-suggested-categories>", 1)[1].split("</", 1)[0]


def test_suggested_categories_in_english_on_the_triage_list_and_the_case_page(named, client_for):
    case = report(named, title="暴露垃圾", description="路边暴露垃圾没人清理")
    # a model's suggestion without text matches: the pages match the text when they show it
    Case.objects.filter(pk=case.pk).update(
        suggestion={"label": "区城管局", "confidence": 0.4, "top3": [], "categories": None})
    en, zh = english(client_for(named.dispatcher)), client_for(named.dispatcher)
    shown = _suggested(en.get(reverse("ui:router_triage"), {"all": "1"}).content.decode())
    assert "Exposed garbage" in shown and "暴露垃圾" not in shown
    assert "暴露垃圾" in _suggested(zh.get(reverse("ui:router_triage"), {"all": "1"}).content.decode())
    page = _suggested(en.get(reverse("ui:case_detail", args=[case.number])).content.decode())
    assert "City appearance and environment › Exposed garbage" in page
    page = _suggested(zh.get(reverse("ui:case_detail", args=[case.number])).content.decode())
    assert "市容环境类 › 暴露垃圾" in page

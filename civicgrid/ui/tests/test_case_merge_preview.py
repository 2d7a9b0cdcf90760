"""The case page's 合并 by number, as the tester walked it (a 暴露垃圾 report, a 非法小广告 case 400 m away already
处置中): the form previews the parent (number, title, category, status, distance, time apart) before the tick;
a parent the duplicate finder does not offer says why and asks for a reason; one too far away has no
confirmation at all. Refused, the page says why beside the input and nothing changes."""
# ruff: noqa: F811  (the cases app's fixtures, imported so pytest finds them here)

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.tests.conftest import loop, report, world_counts  # noqa: F401
from civicgrid.apps.cases.tests.test_merge_guard import REASON, adverts, east, handling, testers  # noqa: F401

pytestmark = pytest.mark.django_db


def post_merge(client, case, **data):
    return client.post(reverse("ui:case_act", args=[case.number, "merge"]), data)


def preview_of(html: str, parent) -> str:
    return re.search(rf'<section class="merge-preview" data-merge-preview="{parent.number}".*?</section>', html,
                     re.S).group(0)


def shown(section: str, name: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(rf'data-preview="{name}">(.*?)</dd>', section, re.S).group(1)).strip()


def test_the_preview_shows_the_parent_and_why_it_needs_a_reason(loop, testers, client_for):
    case, parent = testers
    c = client_for(loop.dispatcher)
    before = world_counts()
    response = post_merge(c, case, parent=parent.number, preview="1")
    assert response.status_code == 200
    section = preview_of(response.content.decode(), parent)
    assert shown(section, "number") == parent.number
    assert shown(section, "title") == "电线杆上贴满小广告"
    assert shown(section, "category").startswith("非法小广告 07001") and "（本案卷：暴露垃圾）" in section
    assert shown(section, "status") == "处置中"
    assert shown(section, "distance") == "相距 400 米（查重范围 200 米）"
    assert "比本案卷早" in shown(section, "apart") or "同时上报" in shown(section, "apart")
    warning = re.search(r"data-merge-not-offered>(.*?)</div>", section, re.S).group(1)
    assert "不在本案卷的疑似重复之列" in warning and "相距 400 米，超出查重范围 200 米" in warning
    assert "分类不同：「暴露垃圾」与「非法小广告」" in warning
    form = re.search(rf'<form [^>]*data-merge-confirm-form="{parent.number}">.*?</form>', section, re.S).group(0)
    assert re.search(r'<textarea name="reason"[^>]*required', form)
    assert f'<input type="hidden" name="parent" value="{parent.number}">' in form
    assert '<input type="checkbox" name="confirm" value="1" required>' in form
    assert world_counts() == before  # a preview writes nothing


def test_confirmed_without_a_reason_it_is_refused_beside_the_reason_and_nothing_changes(loop, testers, client_for):
    case, parent = testers
    c = client_for(loop.dispatcher)
    before = world_counts()
    response = post_merge(c, case, parent=parent.number, confirm="1", reason="  ")
    assert response.status_code == 422
    html = response.content.decode()
    section = preview_of(html, parent)  # the preview again, the reason asked for there
    error = re.search(r'data-field-error="reason">(.*?)</p>', section).group(1)
    assert error == "请填写「合并理由」"
    assert re.search(r'<textarea name="reason"[^>]*aria-invalid="true"', section)
    assert world_counts() == before
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED


def test_confirmed_with_a_reason_it_is_merged_and_the_timeline_says_why(loop, testers, client_for):
    case, parent = testers
    c = client_for(loop.dispatcher)
    assert post_merge(c, case, parent=parent.number, confirm="1", reason=REASON).status_code == 302
    assert Case.objects.get(pk=case.pk).status == Status.MERGED
    html = c.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    step = re.search(r'<li data-step="merge">(.*?)</li>', html, re.S).group(1)
    assert "主案卷不在疑似重复之列" in re.search(r"data-not-offered>(.*?)</p>", step, re.S).group(1)
    assert re.search(r"data-merge-reason>(.*?)</p>", step, re.S).group(1) == f"合并理由：{REASON}"
    html = c.get(reverse("ui:case_detail", args=[parent.number])).content.decode()
    joined = re.search(r'<li data-step="merged_in">(.*?)</li>', html, re.S).group(1)
    assert REASON in joined


def test_an_offered_parent_previews_without_a_reason(loop, client_for):
    parent = handling(loop, report(loop))
    case = report(loop, title="门口垃圾没人清", lng=east(30))
    c = client_for(loop.dispatcher)
    html = c.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    row = re.search(rf'<tr data-oid="{parent.pk}">.*?</tr>', html, re.S).group(0)
    facts = re.search(r"data-merge-facts>(.*?)</p>", row).group(1)  # the offered row's form says the same
    assert facts.startswith("暴露垃圾 · 处置中 · 相距 30 米 · ")
    section = preview_of(post_merge(c, case, parent=parent.number, preview="1").content.decode(), parent)
    assert "data-merge-offered" in section and 'name="reason"' not in section
    assert post_merge(c, case, parent=parent.number, confirm="1").status_code == 302
    assert Case.objects.get(pk=case.pk).parent_id == parent.pk


def test_a_parent_too_far_previews_with_no_confirmation_and_is_refused_anyway(loop, client_for):
    parent = handling(loop, report(loop, lng=east(1200)))
    case = report(loop)
    c = client_for(loop.dispatcher)
    section = preview_of(post_merge(c, case, parent=parent.number, preview="1").content.decode(), parent)
    assert "超过合并的最大距离 1000 米，不能合并" in re.search(r"data-merge-too-far>(.*?)</p>", section).group(1)
    assert "data-merge-confirm-form" not in section
    before = world_counts()
    response = post_merge(c, case, parent=parent.number, confirm="1", reason=REASON)  # a form from elsewhere
    assert response.status_code == 400
    assert "不能合并" in re.search(r"data-error>(.*?)</p>", response.content.decode()).group(1)
    assert world_counts() == before


def test_a_parent_that_cannot_be_named_is_refused_beside_the_number(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    before = world_counts()
    response = post_merge(c, case, parent="2099", preview="1")
    assert response.status_code == 400
    html = response.content.decode()
    assert "主案卷不存在或不在您的范围内：「2099」" in re.search(r'data-field-error="parent">(.*?)</p>', html).group(1)
    assert 'class="merge-preview"' not in html
    assert world_counts() == before


def test_the_preview_in_english_says_why_in_english(loop, testers):
    case, parent = testers
    c = Client()
    c.force_login(loop.dispatcher)
    assert c.post("/i18n/setlang/", {"language": "en", "next": "/"}).status_code == 302
    try:
        section = preview_of(post_merge(c, case, parent=parent.number, preview="1").content.decode(), parent)
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    warning = re.search(r"data-merge-not-offered>(.*?)</div>", section, re.S).group(1)
    assert "400 m apart, beyond the duplicate radius of 200 m" in warning and "相距" not in warning
    assert "different categories" in warning

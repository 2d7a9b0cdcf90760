"""The 立案 form tells staff when accepting publishes the description with personal data masked: the case's
category is a public one (Open311 shows accepted cases' descriptions) and the description carries ID or phone
numbers; it shows the text as it will be published."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401
from civicgrid.apps.categories.models import Category

pytestmark = pytest.mark.django_db

DESCRIPTION = "住户张伟（身份证140213198805052317，电话13811112222）门前暴露垃圾"
MASKED = "住户张*（身份证1402**********2317，电话138****2222）门前暴露垃圾"


def _accept_form(client, case) -> str:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'<details[^>]*data-action="accept".*?</details>', html, re.S)
    assert form, "no 立案 form"
    return form.group(0)


def _public(category) -> None:
    Category.objects.filter(pk__in=[category.pk, category.parent_id]).update(is_public=True)


def test_accepting_a_public_case_with_personal_data_says_it_is_published_masked(loop, client_for):
    _public(loop.cat)
    case = report(loop, description=DESCRIPTION)
    form = _accept_form(client_for(loop.dispatcher), case)
    assert "data-publish-masked" in form and "Open311" in form
    assert re.search(r"<span data-published-text>(.*?)</span>", form).group(1) == MASKED


@pytest.mark.parametrize("case_kind", ["private_category", "kept_out_of_the_feed", "no_personal_data", "hotline"])
def test_no_notice_when_nothing_would_be_published_masked(loop, client_for, case_kind):
    if case_kind == "private_category":  # loop.cat is not open to public reports
        case = report(loop, description=DESCRIPTION)
    elif case_kind == "kept_out_of_the_feed":  # residents report it (养老服务…), Open311 does not publish it
        _public(loop.cat)
        Category.objects.filter(pk=loop.cat.pk).update(in_public_feed=False)
        case = report(loop, description=DESCRIPTION)
    elif case_kind == "no_personal_data":
        _public(loop.cat)
        case = report(loop, description="门前暴露垃圾，12 号楼旁，3 袋")
    else:  # 12345 tickets are the hotline's to publish
        _public(loop.cat)
        case = report(loop, actor=loop.dispatcher, description=DESCRIPTION, source="hotline",
                      hotline_ticket="12345-20261130-0001")
    form = _accept_form(client_for(loop.dispatcher), case)
    assert "data-publish-masked" not in form and "1402**********2317" not in form


def test_after_the_routers_own_acceptance_the_first_person_to_act_is_told(loop, client_for):
    """The router accepted and dispatched the case by itself: its 立案 published nothing, so the notice goes to
    whoever takes it in hand first (the department's 开始处置, a 退回), and to no one once someone has."""
    from civicgrid.integrations.router.handlers import system_account

    _public(loop.cat)
    case = report(loop, description=DESCRIPTION)
    robot = system_account(case.region_code)
    case = act(actor=robot, case=case, action="accept")
    case = act(actor=robot, case=case, action="dispatch", department=loop.dept.pk)
    assert case.reviewed_at is None
    html = client_for(loop.handler).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    notices = re.findall(r'data-publish-masked data-publish-action="(\w+)"', html)
    assert "start" in notices and "send_back" in notices
    assert re.search(r"<span data-published-text>(.*?)</span>", html).group(1) == MASKED
    act(actor=loop.handler, case=case, action="start")
    html = client_for(loop.handler).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-publish-masked" not in html


def test_merging_a_case_never_accepted_says_it_will_be_published_with_its_parent(loop, client_for):
    """合并 by a person is a person reading the case: it is published with the case it joins (Open311
    `published`), so the merge form carries the notice, as the 立案 form does; once merged, nothing is on offer."""
    _public(loop.cat)
    case = report(loop, description=DESCRIPTION)
    html = client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'<details[^>]*data-action="merge".*?</details>', html, re.S)
    assert form, "no 合并 form"
    assert 'data-publish-action="merge"' in form.group(0) and "主案卷" in form.group(0)
    assert re.search(r"<span data-published-text>(.*?)</span>", form.group(0)).group(1) == MASKED

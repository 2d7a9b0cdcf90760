"""The dispatch form's 分拨建议 names a department that has no handler accounts yet: the page says so and what
to do, instead of leaving the department field silently empty."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.testing.builders import department

pytestmark = pytest.mark.django_db


def _dispatch_form(client, case) -> str:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    return re.search(r'data-action-form="dispatch">(.*?)</form>', html, re.S).group(1)


def test_a_suggested_department_without_handlers_is_named_with_what_to_do(loop, client_for):
    empty = department("水泊寺街道办", code="D-EMPTY")  # no handler accounts
    RoutingRule.objects.create(category=loop.cat, region_code="140213050", department=empty)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    form = _dispatch_form(client_for(loop.dispatcher), case)
    assert "派往 水泊寺街道办" in form
    warning = re.search(r"<strong[^>]*data-route-unstaffed>(.*?)</strong>", form, re.S).group(1)
    assert "「水泊寺街道办」还没有处置人员账号" in warning and "请另选处置部门" in warning \
        and "请安全管理员为其授权处置人员" in warning
    assert not re.search(rf'<option value="{empty.pk}"[^>]*selected', form)


def test_a_staffed_suggestion_carries_no_such_warning(loop, client_for):
    RoutingRule.objects.create(category=loop.cat, region_code="140213050", department=loop.other_dept)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    form = _dispatch_form(client_for(loop.dispatcher), case)
    assert "data-route-unstaffed" not in form
    assert re.search(rf'<option value="{loop.other_dept.pk}"[^>]*selected', form)

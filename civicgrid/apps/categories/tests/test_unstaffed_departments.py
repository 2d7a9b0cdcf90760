"""A routing rule or a default department may name a department that has no handler accounts yet (accounts
are often granted after the routing is set up): the forms mark such departments and warn on save, and the
dispatch page says plainly that the suggested department cannot take the case yet."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

from .conftest import garbage

pytestmark = pytest.mark.django_db

UNSTAFFED = "还没有处置人员账号"



@pytest.fixture
def staffed(departments):
    """区城管局 has a handler; every other department has none."""
    user_with(Role.DEPARTMENT_HANDLER, department=departments["区城管局"])
    return departments["区城管局"]


def _option(html: str, select: str, pk: int) -> str:
    html = html[html.index(f'name="{select}"'):]
    found = re.search(rf'<option value="{pk}"[^>]*>([^<]*)</option>', html[:html.index("</select>")])
    assert found, pk
    return found.group(1)


def test_staffed_departments_are_those_with_an_active_handler(loaded, departments, staffed):
    assert services.staffed_departments() == {staffed.pk}
    Grant.objects.filter(department=staffed).update(user=user_with(Role.DEPARTMENT_HANDLER).pk)
    handler = Grant.objects.get(department=staffed).user
    handler.is_active = False
    handler.save()
    assert services.staffed_departments() == set()


def test_the_rule_form_marks_departments_without_handlers(admin, departments, staffed):
    html = admin.get(reverse("ui:routing_rule_new")).content.decode()
    assert "暂无处置人员" in _option(html, "department", departments["区水务局"].pk)
    assert "暂无处置人员" not in _option(html, "department", staffed.pk)


def test_saving_a_rule_to_a_department_without_handlers_warns_and_saves(admin, departments, staffed):
    cat = garbage()
    empty = departments["区水务局"]
    response = admin.post(reverse("ui:routing_rule_new"),
                          {"category": cat.pk, "region_code": "140213066", "department": empty.pk,
                           "kind": "routing", "priority": 0, "is_active": "on"}, follow=True)
    html = response.content.decode()
    rule = RoutingRule.objects.get(category=cat, region_code="140213066")
    assert rule.department_id == empty.pk
    assert UNSTAFFED in html and "请安全管理员为其授权处置人员" in html
    # a staffed department: no such warning, also when editing the rule onto it
    response = admin.post(reverse("ui:routing_rule_detail", args=[rule.pk]),
                          {"category": cat.pk, "region_code": "140213066", "department": staffed.pk,
                           "kind": "routing", "priority": 0, "is_active": "on"}, follow=True)
    assert UNSTAFFED not in response.content.decode()
    assert RoutingRule.objects.get(pk=rule.pk).department_id == staffed.pk


def test_a_correction_to_a_department_without_handlers_warns(admin, departments, staffed):
    cat = garbage()
    response = admin.post(f"{reverse('ui:routing_rule_new')}?correct=1",
                          {"category": cat.pk, "region_code": "140213066", "department": departments["区住建局"].pk,
                           "note": "x"}, follow=True)
    assert UNSTAFFED in response.content.decode()
    assert RoutingRule.objects.filter(category=cat, region_code="140213066",
                                      department=departments["区住建局"]).exists()


def test_the_category_form_marks_and_warns_about_a_default_department_without_handlers(admin, departments,
                                                                                          staffed):
    cat = garbage()
    url = reverse("ui:category_detail", args=[cat.pk])
    html = admin.get(url).content.decode()
    assert "暂无处置人员" in _option(html, "default_department", departments["区水务局"].pk)
    assert "暂无处置人员" not in _option(html, "default_department", staffed.pk)
    form = {"name": cat.name, "time_limit_amount": cat.time_limit_amount, "time_limit_mode": cat.time_limit_mode,
            "acceptance_condition": cat.acceptance_condition, "closure_condition": cat.closure_condition,
            "responsible_body": cat.responsible_body, "keywords": cat.keywords, "is_active": "on",
            "default_department": departments["区水务局"].pk}
    response = admin.post(url, form, follow=True)
    assert UNSTAFFED in response.content.decode()
    assert Category.objects.get(pk=cat.pk).default_department_id == departments["区水务局"].pk
    response = admin.post(url, {**form, "default_department": staffed.pk}, follow=True)
    assert UNSTAFFED not in response.content.decode()
    assert Category.objects.get(pk=cat.pk).default_department_id == staffed.pk

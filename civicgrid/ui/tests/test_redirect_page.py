"""改派 on the case page: the dispatcher's button only while the department has not reported back, its form
pre-filled with the routing target (never the department the case is with), the routing rule correction for
those who may manage rules, a word that a department which started will be told to stop; a refusal redraws the
page with nothing changed."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report, world_counts  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule

pytestmark = pytest.mark.django_db


def _dispatched(loop, department=None) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=(department or loop.dept).pk)


def _page(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def _form(html: str) -> str | None:
    found = re.search(r'<details class="[^"]*" data-action="redirect">(.*?)</details>', html, re.S)
    return found.group(1) if found else None


def _selected(form: str) -> str | None:
    found = re.search(r'<select name="department"[^>]*>(.*?)</select>', form, re.S)
    chosen = re.search(r'<option value="(\d+)" selected>', found.group(1)) if found else None
    return chosen.group(1) if chosen else None


def test_the_dispatcher_redirects_from_the_page(loop, client_for):
    # the category routes to 区城管局 by default; dispatched by mistake to 区住建局
    case = _dispatched(loop, department=loop.other_dept)
    c = client_for(loop.dispatcher)
    form = _form(_page(c, case))
    assert form is not None and 'name="reason"' in form and 'name="correct_rule"' in form
    assert _selected(form) == str(loop.dept.pk)  # the routing target, not the department it is with
    assert "data-redirect-started" not in form
    assert _form(_page(client_for(loop.other_handler), case)) is None  # the department has no such button
    assert _form(_page(client_for(loop.leader), case)) is None

    response = c.post(reverse("ui:case_act", args=[case.number, "redirect"]),
                      {"department": loop.dept.pk, "reason": "井盖归城管", "correct_rule": "1",
                       "idempotency_key": "k-redirect-1"})
    assert response.status_code == 302 and response["Location"] == reverse("ui:case_detail", args=[case.number])
    case.refresh_from_db()
    assert case.department == loop.dept and case.status == Status.DISPATCHED and case.redirect_count == 1
    assert RoutingRule.objects.filter(category=loop.cat, region_code=case.region_code[:9],
                                      department=loop.dept).exists()
    html = _page(c, case)
    assert re.search(r'<li data-step="redirect">', html)
    # the same form sent again takes no second step (the same form: its ticked box too; with other content the
    # key is refused, `test_action_guards`)
    again = c.post(reverse("ui:case_act", args=[case.number, "redirect"]),
                   {"department": loop.dept.pk, "reason": "井盖归城管", "correct_rule": "1",
                    "idempotency_key": "k-redirect-1"})
    assert again.status_code == 302 and Case.objects.get(pk=case.pk).redirect_count == 1


def test_a_started_case_warns_and_a_reported_back_one_offers_no_redirect(loop, client_for):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="start")
    c = client_for(loop.street_dispatcher)
    form = _form(_page(c, case))
    assert "data-redirect-started" in form and "区城管局" in form
    assert 'name="correct_rule"' not in form  # a street dispatcher may not manage rules
    assert _selected(form) is None  # the rule's department is the one it is with: nothing pre-filled
    act(actor=loop.handler, case=Case.objects.get(pk=case.pk), action="report_back", note="已处理")
    assert _form(_page(c, case)) is None


def test_a_refused_redirect_redraws_the_page_and_changes_nothing(loop, client_for):
    case = _dispatched(loop)
    before = world_counts()
    c = client_for(loop.dispatcher)
    url = reverse("ui:case_act", args=[case.number, "redirect"])
    same = c.post(url, {"department": loop.dept.pk, "reason": "误派"})
    assert same.status_code == 400 and "改派请选择另一个处置部门" in same.content.decode()
    assert 'data-field-error="department"' in same.content.decode()
    missing = c.post(url, {"department": loop.other_dept.pk})
    assert missing.status_code == 422
    assert client_for(loop.handler).post(url, {"department": loop.other_dept.pk, "reason": "x"}).status_code == 403
    assert client_for(loop.other_street_dispatcher).post(
        url, {"department": loop.other_dept.pk, "reason": "x"}).status_code == 404
    assert world_counts() == before


def _options(form: str, name: str) -> set[str]:
    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', form, re.S)
    return set(re.findall(r'<option value="(\d+)"', found.group(1)))


def test_the_department_lists_leave_out_the_one_the_service_would_refuse(loop, client_for):
    """改派 offered the department the case is with, 退回 the returning department as the one to name: either
    choice was refused after posting."""
    case = _dispatched(loop, department=loop.other_dept)
    redirect_form = _form(_page(client_for(loop.dispatcher), case))
    assert str(loop.other_dept.pk) not in _options(redirect_form, "department")
    assert str(loop.dept.pk) in _options(redirect_form, "department")
    html = _page(client_for(loop.other_handler), case)
    send_back = re.search(r'data-action="send_back">(.*?)</details>', html, re.S).group(1)
    assert str(loop.other_dept.pk) not in _options(send_back, "proposed_department")
    assert str(loop.dept.pk) in _options(send_back, "proposed_department")
    # 派遣 (after the 退回) may go to any department, the one that sent it back included
    act(actor=loop.other_handler, case=case, action="send_back", reason="不归我们")
    html = _page(client_for(loop.dispatcher), case)
    dispatch = re.search(r'data-action="dispatch">(.*?)</details>', html, re.S).group(1)
    assert {str(loop.dept.pk), str(loop.other_dept.pk)} <= _options(dispatch, "department")

"""A routing rule (or the category's default department) outranks the text router's department, in
auto-dispatch and in the dispatch form alike (`categories.dispatch_target`); the model fills in only where
nothing is configured. The scenario a tester found: a dispatcher corrects the rule for 路灯 in a street, and the
next 路灯 report there still went to the model's department. Auto-dispatch goes further: it acts only when the
rule's department IS the model's (the confidence is about the model's answer), else the case waits for a
dispatcher with the reason on its timeline."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, OTHER_STREET_POINT, loop, report  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.apps.categories.services import dispatch_target
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.handlers import auto_dispatch

pytestmark = pytest.mark.django_db

LAMP = "路灯坏了好几盏，晚上黑漆漆的很不安全，也没人修"  # 区城管局 in the example set


def _rule_corrected_by_dispatch(loop) -> RoutingRule:
    """The dispatcher sends a 路灯 case to 区住建局 with 「同时更正分拨规则」: the street's rule now names it."""
    first = report(loop, title="路灯不亮", description=LAMP, category=loop.sibling.pk)
    act(actor=loop.dispatcher, case=first, action="accept")
    case = act(actor=loop.dispatcher, case=first, action="dispatch", department=loop.other_dept.pk,
               correct_rule=True)
    bus.dispatch_pending()  # the first report's own auto-dispatch finds it dispatched already: nothing
    rule = RoutingRule.objects.get(pk=case.steps.get(action="dispatch").data["rule_corrected"]["rule"])
    assert (rule.category_id, rule.region_code, rule.department_id) == (loop.sibling.pk, "140213050",
                                                                         loop.other_dept.pk)
    return rule


@pytest.fixture
def live_model(loop, example_model, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def test_a_rule_elsewhere_than_the_models_department_holds_the_case_for_a_dispatcher(loop, live_model):
    rule = _rule_corrected_by_dispatch(loop)
    case = report(loop, title="路灯不亮", description=LAMP, category=loop.sibling.pk,
                  lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    assert case.suggestion["department_id"] == loop.dept.pk  # the model still says 区城管局

    outcome = auto_dispatch(case.pk)

    assert outcome == (f"triage: 模型建议「区城管局」，分拨规则 #{rule.pk}派往 区住建局，二者不一致，留待人工确认 / the "
                       f"model suggested 区城管局, routing rule #{rule.pk} sends it to 区住建局: triage")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department_id is None and not case.auto_dispatched
    assert list(case.steps.values_list("action", flat=True)) == ["report", "auto_dispatch_held"]
    assert f"分拨规则 #{rule.pk}派往 区住建局" in case.steps.get(action="auto_dispatch_held").note
    assert not AuditEntry.objects.filter(action="router.auto_dispatch", target_id=str(case.pk)).exists()


def test_a_rule_naming_the_models_department_dispatches_and_says_so(loop, live_model):
    rule = RoutingRule.objects.create(category=loop.sibling, region_code="140213050", department=loop.dept)
    case = report(loop, title="路灯不亮", description=LAMP, category=loop.sibling.pk,
                  lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    assert case.suggestion["department_id"] == loop.dept.pk

    assert auto_dispatch(case.pk) == "dispatched"

    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.department_id == loop.dept.pk and case.auto_dispatched
    step = CaseStep.objects.get(case=case, action="dispatch")
    assert f"分拨规则 #{rule.pk}同样派往 区城管局" in step.note and f"routing rule #{rule.pk} sends it" in \
        step.data["note_en"]
    entry = AuditEntry.objects.get(action="router.auto_dispatch", target_id=str(case.pk))
    assert entry.data["department"] == loop.dept.pk and entry.data["department_source"] == "rule"
    assert entry.data["rule"] == rule.pk


def test_the_model_fills_in_only_where_no_rule_or_default_applies(loop, live_model):
    _rule_corrected_by_dispatch(loop)
    # another street: the street's rule does not apply and 积存垃圾渣土 has no default department
    elsewhere = report(loop, actor=loop.dispatcher, title="路灯不亮", description=LAMP, category=loop.sibling.pk,
                       lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    assert auto_dispatch(elsewhere.pk) == "dispatched"
    elsewhere.refresh_from_db()
    assert elsewhere.department_id == loop.dept.pk  # the model's department
    entry = AuditEntry.objects.get(action="router.auto_dispatch", target_id=str(elsewhere.pk))
    assert entry.data["department_source"] == "model" and entry.data["rule"] is None
    assert "派往" not in CaseStep.objects.get(case=elsewhere, action="dispatch").note  # the model's choice, as before


def test_a_category_default_elsewhere_than_the_model_also_holds_the_case(loop, live_model):
    loop.cat.default_department = loop.other_dept
    loop.cat.save()
    case = report(loop, title="路灯不亮", description=LAMP)  # 暴露垃圾, whose default is now 区住建局
    assert case.suggestion["department_id"] == loop.dept.pk
    assert auto_dispatch(case.pk).startswith("triage: 模型建议「区城管局」，分类的默认处置部门派往 区住建局")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department_id is None and not case.auto_dispatched


def test_a_model_department_that_is_inactive_and_no_rule_leaves_the_case_for_triage(loop, live_model):
    case = report(loop, title="路灯不亮", description=LAMP, category=loop.sibling.pk)
    Organisation.objects.filter(pk=loop.dept.pk).update(is_active=False)
    outcome = auto_dispatch(case.pk)
    assert outcome.startswith("triage: 建议的标签「区城管局」不对应任何部门，也没有适用的分拨规则")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department_id is None and not case.auto_dispatched
    # Nothing done to it but a timeline line saying why it waits (the router was confident)
    assert list(case.steps.values_list("action", flat=True)) == ["report", "auto_dispatch_held"]
    assert "不对应任何部门" in case.steps.get(action="auto_dispatch_held").note


def test_dispatch_target_precedence(loop):
    street = "140213050001001"
    # nothing configured: the model's active department, else nothing
    target = dispatch_target(loop.sibling, street, model_department_id=loop.dept.pk)
    assert (target.department_id, target.source) == (loop.dept.pk, "model")
    assert dispatch_target(loop.sibling, street, model_department_id=None).source == "none"
    assert dispatch_target(loop.sibling, street, model_department_id="x").source == "none"
    # the category's default department before the model
    target = dispatch_target(loop.cat, street, model_department_id=loop.other_dept.pk)
    assert (target.department_id, target.source) == (loop.dept.pk, "default")
    # a rule before both
    rule = RoutingRule.objects.create(category=loop.cat, region_code="140213050", department=loop.other_dept)
    target = dispatch_target(loop.cat, street, model_department_id=loop.dept.pk)
    assert (target.department_id, target.source, target.route.rule) == (loop.other_dept.pk, "rule", rule)


def _prefilled(client, case) -> tuple[str | None, str]:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'data-action-form="dispatch".*?</form>', html, re.S).group(0)
    chosen = re.search(r'<option value="(\d+)" selected>', form)
    return (chosen.group(1) if chosen else None), form


def _accepted_lamp_case(loop, example_model, settings, client) -> Case:
    """A 路灯 case accepted in the street, the model active but auto-dispatch off, the dispatcher signed in."""
    versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5  # off: the dispatcher decides
    case = report(loop, title="路灯不亮", description=LAMP, category=loop.sibling.pk,
                  lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    act(actor=loop.dispatcher, case=case, action="accept")
    client.force_login(loop.dispatcher)
    return case


def test_the_dispatch_form_starts_from_the_rule_and_from_the_model_only_without_one(loop, example_model, settings,
                                                                                     client):
    case = _accepted_lamp_case(loop, example_model, settings, client)
    # no rule, no default: the model's 区城管局, and the form says it starts elsewhere than a rule
    chosen, form = _prefilled(client, case)
    assert chosen == str(loop.dept.pk) and "data-prefilled" in form

    rule = _rule_corrected_by_dispatch(loop)

    chosen, form = _prefilled(client, Case.objects.get(pk=case.pk))
    assert chosen == str(loop.other_dept.pk)
    assert f"按分拨规则 #{rule.pk}" in form and "派往 区住建局" in form and "data-prefilled" not in form


def test_the_router_card_says_when_the_rule_outranks_the_models_department(loop, example_model, settings, client):
    """A tester saw 建议处置部门 区城管局 on the 智能分拨 card and 区住建局 in the dispatch form of the same page: the
    card now says the rule (or default) decides, only when the two differ and the user is about to dispatch."""
    case = _accepted_lamp_case(loop, example_model, settings, client)
    url = reverse("ui:case_detail", args=[case.number])
    # no rule, no default: the form starts from the model's own department, nothing to explain
    assert "data-rule-outranks" not in client.get(url).content.decode()

    _rule_corrected_by_dispatch(loop)  # a rule for the street now names 区住建局, the model still says 区城管局
    html = client.get(url).content.decode()
    assert "data-rule-outranks" in html and "模型建议的部门只在二者都没有时采用" in html
    assert re.search(r'data-suggested-department>[^<]*城管', html)  # the model's department is still shown


def test_the_case_page_names_the_models_department_and_the_proposed_one_apart(loop, example_model, settings, client):
    """The page showed 建议处置部门 twice, once for the model's guess (智能分拨 card) and once for the department the
    rules (or a send-back) proposed: each has its own name now, in both languages."""
    case = _accepted_lamp_case(loop, example_model, settings, client)
    Case.objects.filter(pk=case.pk).update(suggested_department=loop.other_dept)
    url = reverse("ui:case_detail", args=[case.number])
    html = client.get(url).content.decode()
    assert "建议处置部门" not in html
    assert re.search(r"模型建议部门 <strong data-suggested-department>[^<]*城管", html)
    assert re.search(r"<div data-proposed-department><dt>拟派部门</dt><dd>区住建局</dd>", html)
    client.cookies["django_language"] = "en"
    english = client.get(url).content.decode()  # (the English names come with the catalogue's next build)
    assert "Suggested department" not in english

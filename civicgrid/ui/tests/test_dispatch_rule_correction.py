"""The dispatch form's own 「同时更正分拨规则」 saves the rule for the case's street; when a more specific rule (the
community's) still decides at the case's own place and sends elsewhere, the step records that rule and the page
warns, as the rule form does, that the correction does not reach cases like this one."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import GRID as GRID_OF_REPORTS
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.apps.categories.services import create_rule

pytestmark = pytest.mark.django_db


def _dispatch_correcting(client, case, department):
    return client.post(reverse("ui:case_act", args=[case.number, "dispatch"]),
                       {"department": department.pk, "correct_rule": "1"}, follow=True)


def test_a_correction_a_community_rule_overrides_warns(loop, client_for):
    community = create_rule(actor=None, category=loop.cat, region_code=GRID_OF_REPORTS[:12], department=loop.dept)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    response = _dispatch_correcting(client_for(loop.dispatcher), case, loop.other_dept)
    html = response.content.decode()

    street = RoutingRule.objects.get(category=loop.cat, region_code=GRID_OF_REPORTS[:9])
    assert street.department_id == loop.other_dept.pk  # the rule the dispatcher named is the one corrected
    assert RoutingRule.objects.get(pk=community.pk).department_id == loop.dept.pk  # the deeper one untouched
    step = case.steps.get(action="dispatch")
    assert step.data["rule_corrected"]["overridden_by"] == {"rule": community.pk,
                                                            "region_code": community.region_code,
                                                            "department": loop.dept.pk}
    assert f"仍按更具体的规则 #{community.pk}" in html and "刚保存的规则在那里不起作用" in html
    assert "区城管局" in html


def test_a_correction_that_decides_at_the_cases_place_does_not_warn(loop, client_for):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    html = _dispatch_correcting(client_for(loop.dispatcher), case, loop.other_dept).content.decode()
    assert "overridden_by" not in case.steps.get(action="dispatch").data["rule_corrected"]
    assert "更具体的规则" not in html
    # a community rule that already sends to the chosen department is no surprise either
    create_rule(actor=None, category=loop.cat, region_code=GRID_OF_REPORTS[:12], department=loop.other_dept)
    second = act(actor=loop.dispatcher, case=report(loop), action="accept")
    html = _dispatch_correcting(client_for(loop.dispatcher), second, loop.other_dept).content.decode()
    assert "overridden_by" not in second.steps.get(action="dispatch").data["rule_corrected"]
    assert "更具体的规则" not in html


def test_a_correction_by_a_dispatcher_without_rule_rights_is_refused_in_words(loop, client_for):
    """The refusal read "categories.manage required" in English: a capability's code, not a sentence."""
    from civicgrid.apps.cases.models import Status

    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    c = client_for(loop.street_dispatcher)  # dispatches in the street, maintains no rules
    c.cookies["django_language"] = "en"
    response = _dispatch_correcting(c, case, loop.other_dept)
    text = response.content.decode()
    assert response.status_code == 403
    assert "only the command centre or a system administrator may maintain case categories and routing rules" in text
    assert "categories.manage" not in text
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.department is None  # nothing dispatched
    assert not RoutingRule.objects.filter(department=loop.other_dept).exists()

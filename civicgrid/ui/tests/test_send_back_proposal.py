"""A department's 退回 with 「建议更正分拨规则」 reaches the dispatcher: the 退回 message names the proposal, the
sent-back case shows it beside the dispatch form (with a link that opens the rule correction pre-filled, for
those who may manage rules) and in the timeline."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case, ProposalStatus, RoutingProposal
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import GRID as GRID_OF_REPORTS
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.foundation.notify.models import Notification

pytestmark = pytest.mark.django_db


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _page(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def _proposal(html: str) -> str | None:
    found = re.search(r"<p class=\"route\" data-send-back-proposal>(.*?)</p>", html, re.S)
    return found.group(1) if found else None


def test_the_proposal_reaches_the_message_the_case_page_and_the_rule_form(loop, client_for):
    case = _dispatched(loop)
    case = act(actor=loop.handler, case=case, action="send_back", reason="路灯归住建管", correct_rule=True,
               proposed_department=loop.other_dept.pk)

    message = Notification.objects.get(user=loop.dispatcher, kind="sent_back")
    assert message.body == "区城管局：路灯归住建管；建议改派 区住建局；建议更正分拨规则（见案卷页）"

    html = _page(client_for(loop.dispatcher), case)
    shown = _proposal(html)
    assert "区城管局 建议改派「区住建局」，并建议更正分拨规则" in shown and "路灯归住建管" in shown
    steps = dict(re.findall(r'<li data-step="(\w+)">(.*?)</li>', html, re.S))
    assert "建议改派「区住建局」，并建议更正分拨规则" in steps["send_back"]

    href = re.search(r'<a href="([^"]+)" data-correct-rule-link>', shown).group(1).replace("&amp;", "&")
    url = urlsplit(href)
    assert url.path == reverse("ui:routing_rule_new")
    assert parse_qs(url.query) == {"correct": ["1"], "category": [str(loop.cat.pk)], "region_code": ["140213050"],
                                   "department": [str(loop.other_dept.pk)], "reference": [case.number],
                                   "location": [case.region_code],
                                   "proposal": [str(RoutingProposal.objects.get(case=case).pk)]}
    # the link opens the correction form pre-filled; saving it routes the next case to the proposed department
    c = client_for(loop.dispatcher)
    form = c.get(href).content.decode()
    assert re.search(rf'<option value="{loop.other_dept.pk}" selected>', form)
    assert 'value="140213050"' in form
    response = c.post(href, {"category": loop.cat.pk, "region_code": "140213050", "department": loop.other_dept.pk,
                             "note": ""})
    assert response.status_code == 302
    rule = RoutingRule.objects.get(category=loop.cat, region_code="140213050")
    assert rule.department_id == loop.other_dept.pk and rule.note == "由退回更正"
    # saving it accepted the proposal, which leaves the rules page's list of open ones
    assert RoutingProposal.objects.get(case=case).status == ProposalStatus.ACCEPTED
    assert "data-correct-rule-link" not in _page(c, case)
    assert report(loop).suggested_department_id == loop.other_dept.pk

    # once dispatched again, nothing is pending; the timeline keeps what was proposed
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    html = _page(client_for(loop.dispatcher), case)
    assert _proposal(html) is None and "data-proposal" in html


def test_the_correction_warns_of_a_community_rule_that_decides_the_cases_place(loop, client_for):
    """The tester's case: a community rule sends this category to 区城管局; the correction the send-back opens
    is for the street, which would not change where the case's own place routes. The form says so and offers
    the community rule's correction instead."""
    from civicgrid.apps.categories.services import create_rule

    community = create_rule(actor=None, category=loop.cat, region_code=GRID_OF_REPORTS[:12],
                            department=loop.dept)
    case = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="归住建管",
               correct_rule=True, proposed_department=loop.other_dept.pk)
    c = client_for(loop.dispatcher)
    href = re.search(r'<a href="([^"]+)" data-correct-rule-link>', _proposal(_page(c, case))).group(1)
    form = c.get(href.replace("&amp;", "&")).content.decode()
    assert f"适用更具体的规则 #{community.pk}" in form and "仍派往区城管局" in form
    offered = re.search(r'<a href="([^"]+)" data-correct-overriding-rule>', form).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(offered).query)
    assert query["region_code"] == [community.region_code] and query["location"] == [case.region_code]
    assert query["department"] == [str(loop.other_dept.pk)] and query["reference"] == [case.number]


def test_a_dispatcher_who_may_not_manage_rules_sees_the_proposal_without_the_link(loop, client_for):
    case = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="不归我们", correct_rule=True)
    shown = _proposal(_page(client_for(loop.street_dispatcher), case))
    assert shown is not None and "退回时建议更正分拨规则" in shown and "data-correct-rule-link" not in shown
    # the command dispatcher gets the link, without a department to pre-fill
    shown = _proposal(_page(client_for(loop.dispatcher), case))
    href = re.search(r'<a href="([^"]+)" data-correct-rule-link>', shown).group(1).replace("&amp;", "&")
    assert "department" not in parse_qs(urlsplit(href).query)
    # the handler no longer sees the case at all
    assert client_for(loop.handler).get(reverse("ui:case_detail", args=[case.number])).status_code == 404


def test_a_plain_send_back_proposes_nothing(loop, client_for):
    case = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="不属本部门职责")
    assert Notification.objects.get(user=loop.dispatcher, kind="sent_back").body == "区城管局：不属本部门职责"
    html = _page(client_for(loop.dispatcher), case)
    assert _proposal(html) is None and "data-proposal" not in html and "data-correct-rule-link" not in html


def test_a_refused_send_back_tells_no_one_and_changes_nothing(loop, client_for):
    case = _dispatched(loop)
    response = client_for(loop.handler).post(reverse("ui:case_act", args=[case.number, "send_back"]),
                                             {"reason": "不归我们", "correct_rule": "1",
                                              "proposed_department": loop.dept.pk})  # itself: refused
    assert response.status_code == 400 and "不能是退回的部门本身" in response.content.decode()
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.department_id == loop.dept.pk and fresh.send_back_count == 0
    assert not Notification.objects.filter(kind="sent_back").exists()
    assert not case.steps.filter(action="send_back").exists()


def test_departments_without_handlers_are_offered_but_cannot_be_chosen_or_proposed(loop, client_for):
    from civicgrid.testing.builders import department

    empty = department("水泊寺街道办", code="D-EMPTY")  # no handler accounts
    case = _dispatched(loop)
    html = _page(client_for(loop.handler), case)
    option = re.search(rf'<option value="{empty.pk}"[^>]*>([^<]*)</option>', html)
    assert option and "disabled" in option.group(0) and "暂无处置人员" in option.group(1)
    assert re.search(rf'<option value="{loop.other_dept.pk}"(?![^>]*disabled)[^>]*>', html)
    # proposing it is refused, and nothing changes
    response = client_for(loop.handler).post(reverse("ui:case_act", args=[case.number, "send_back"]),
                                             {"reason": "不归我们", "proposed_department": empty.pk})
    assert response.status_code == 400 and "还没有处置人员账号，不能作为建议部门" in response.content.decode()
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.department_id == loop.dept.pk and fresh.send_back_count == 0
    assert not case.steps.filter(action="send_back").exists()
    # a case whose suggested department has no handlers is not pre-filled with it
    case = act(actor=loop.handler, case=fresh, action="send_back", reason="不归我们")
    Case.objects.filter(pk=case.pk).update(suggested_department=empty)
    html = _page(client_for(loop.dispatcher), Case.objects.get(pk=case.pk))
    assert not re.search(rf'<option value="{empty.pk}"[^>]*selected', html)

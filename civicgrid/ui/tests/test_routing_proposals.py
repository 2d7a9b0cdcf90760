"""A department's 建议更正分拨规则 stays open for those who manage routing rules until one of them acts on it: a
street dispatcher (who cannot edit rules) re-dispatching the case no longer loses it. The rules page lists the
open ones with their count, each linking the case and the rule; 采纳 corrects the rule and closes it, 驳回 needs a
reason; both are audited. A dispatch with 同时更正分拨规则 keeps the rule's 说明 and says what happened."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import ProposalStatus, RoutingProposal
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.services.routing_proposals import ACCEPTED, DISMISSED
from civicgrid.apps.cases.tests.conftest import GRID, loop, report  # noqa: F401
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.apps.categories.services import RULE_CORRECTED, RULE_CORRECTED_AT_DISPATCH, create_rule
from civicgrid.foundation.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _street_rule(loop) -> RoutingRule:
    return create_rule(actor=None, category=loop.cat, region_code=GRID[:9], department=loop.dept, note="unstaffed")


def _sent_back(loop, *, proposed=True):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    extra = {"proposed_department": loop.other_dept.pk} if proposed else {}
    return act(actor=loop.handler, case=case, action="send_back", reason="不归我们", correct_rule=True, **extra)


def _rules_page(client) -> str:
    return client.get(reverse("ui:routing_rule_list")).content.decode()


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-proposal="(\d+)">(.*?)</tr>', html, re.S))


def test_a_street_dispatchers_redispatch_leaves_the_proposal_open_on_the_rules_page(loop, client_for):
    rule = _street_rule(loop)
    case = _sent_back(loop)
    proposal = RoutingProposal.objects.get(case=case)
    assert proposal.status == ProposalStatus.OPEN and proposal.rule_id_at_proposal == rule.pk
    act(actor=loop.street_dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    assert RoutingProposal.objects.get(pk=proposal.pk).status == ProposalStatus.OPEN
    assert RoutingRule.objects.get(pk=rule.pk).department_id == loop.dept.pk  # nobody corrected it yet

    html = _rules_page(client_for(loop.dispatcher))
    assert re.search(r"待处理的规则更正建议 <span class=\"tag\" data-proposal-count>1</span>", html)
    row = _rows(html)[str(proposal.pk)]
    assert reverse("ui:case_detail", args=[case.number]) in row
    assert f'href="{reverse("ui:routing_rule_detail", args=[rule.pk])}" data-proposal-rule>#{rule.pk}' in row
    assert "区城管局" in row and "区住建局" in row
    # a street dispatcher does not manage rules: no rules page, and no way to close it
    assert client_for(loop.street_dispatcher).get(reverse("ui:routing_rule_list")).status_code == 403
    response = client_for(loop.street_dispatcher).post(reverse("ui:routing_proposal_dismiss", args=[proposal.pk]),
                                                       {"reason": "不改"})
    assert response.status_code == 403
    assert RoutingProposal.objects.get(pk=proposal.pk).status == ProposalStatus.OPEN


def test_accepting_from_the_list_corrects_the_rule_keeps_its_note_and_closes_it(loop, client_for):
    rule = _street_rule(loop)
    case = _sent_back(loop)
    proposal = RoutingProposal.objects.get(case=case)
    c = client_for(loop.dispatcher)
    href = re.search(r'<a href="([^"]+)" data-proposal-accept>', _rows(_rules_page(c))[str(proposal.pk)]).group(1)
    href = href.replace("&amp;", "&")
    form = c.get(href).content.decode()
    assert re.search(rf'<option value="{loop.other_dept.pk}" selected>', form)
    response = c.post(href, {"category": loop.cat.pk, "region_code": GRID[:9], "department": loop.other_dept.pk,
                             "note": "unstaffed"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.department_id == loop.other_dept.pk and rule.note == "unstaffed"
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.ACCEPTED and proposal.corrected_rule_id == rule.pk
    assert proposal.decided_by_id == loop.dispatcher.pk
    assert AuditEntry.objects.filter(action=ACCEPTED, target_id=str(proposal.pk)).count() == 1
    assert AuditEntry.objects.filter(action=RULE_CORRECTED, target_id=str(rule.pk)).count() == 1
    assert "data-proposal-count" not in _rules_page(c)
    # the same link again is refused, and changes nothing more
    response = c.post(href, {"category": loop.cat.pk, "region_code": GRID[:9], "department": loop.dept.pk,
                             "note": "unstaffed"})
    assert response.status_code == 400 and "已处理" in response.content.decode()
    assert RoutingRule.objects.get(pk=rule.pk).department_id == loop.other_dept.pk
    assert AuditEntry.objects.filter(action=ACCEPTED).count() == 1


def test_dismissing_needs_a_reason_and_is_audited(loop, client_for):
    rule = _street_rule(loop)
    proposal = RoutingProposal.objects.get(case=_sent_back(loop))
    c = client_for(loop.dispatcher)
    url = reverse("ui:routing_proposal_dismiss", args=[proposal.pk])
    c.post(url, {"reason": "  "})
    assert RoutingProposal.objects.get(pk=proposal.pk).status == ProposalStatus.OPEN
    assert not AuditEntry.objects.filter(action=DISMISSED).exists()
    # a NUL (PostgreSQL cannot store one) is refused with the field named, nothing changed
    refused = c.post(url, {"reason": "仍归\x00城管"}, follow=True)
    assert "NUL" in refused.content.decode()
    assert RoutingProposal.objects.get(pk=proposal.pk).status == ProposalStatus.OPEN
    assert not AuditEntry.objects.filter(action=DISMISSED).exists()

    assert c.post(url, {"reason": "该类事件仍归城管"}).status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DISMISSED and proposal.decision_note == "该类事件仍归城管"
    entry = AuditEntry.objects.get(action=DISMISSED, target_id=str(proposal.pk))
    assert entry.actor_id == loop.dispatcher.pk and entry.after["status"] == ProposalStatus.DISMISSED
    assert RoutingRule.objects.get(pk=rule.pk).department_id == loop.dept.pk
    assert "data-proposal-count" not in _rules_page(c)


def test_a_rule_managers_dispatch_with_correction_accepts_the_send_backs_proposal(loop):
    rule = _street_rule(loop)
    case = _sent_back(loop, proposed=False)
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk, correct_rule=True,
        note="请联系业主委员会张先生13912345678上门调解")
    rule.refresh_from_db()
    assert rule.department_id == loop.other_dept.pk and rule.note == "unstaffed"
    assert RoutingProposal.objects.get(case=case).status == ProposalStatus.ACCEPTED
    assert AuditEntry.objects.filter(action=RULE_CORRECTED, target_id=str(rule.pk)).count() == 1
    assert not AuditEntry.objects.filter(action=RULE_CORRECTED_AT_DISPATCH).exists()


def test_a_dispatchers_own_correction_keeps_the_rules_note_and_is_named_as_such(loop, client_for):
    """The tester's case: the step's note (a resident's name and number) became the rule's 说明, and the change
    was called 按退回修正 though nothing was sent back."""
    rule = _street_rule(loop)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk, correct_rule=True,
        note="请联系业主委员会张先生13912345678上门调解")
    rule.refresh_from_db()
    assert rule.department_id == loop.other_dept.pk and rule.note == "unstaffed"
    assert AuditEntry.objects.filter(action=RULE_CORRECTED_AT_DISPATCH, target_id=str(rule.pk)).count() == 1
    assert not AuditEntry.objects.filter(action=RULE_CORRECTED).exists()
    html = client_for(loop.dispatcher).get(reverse("ui:routing_rule_detail", args=[rule.pk])).content.decode()
    assert "派遣或改派时更正分拨规则" in html and "按退回修正分拨规则" not in html
    assert "13912345678" not in html and "13912345678" not in _rules_page(client_for(loop.dispatcher))
    # a new rule made this way gets a note of its own, not the step's
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk, correct_rule=True,
        rule_region=GRID[:12], note="张先生13912345678")
    assert RoutingRule.objects.get(region_code=GRID[:12]).note == "派遣时更正"


def test_the_migration_opens_the_proposals_steps_made_before_they_were_kept(loop):
    import importlib
    from types import SimpleNamespace

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    case = _sent_back(loop)
    RoutingProposal.objects.all().delete()  # as before the model existed
    migration = importlib.import_module("civicgrid.apps.cases.migrations.0025_routing_proposal")
    state = MigrationExecutor(connection).loader.project_state(("cases", "0025_routing_proposal"))
    migration.open_existing(state.apps, SimpleNamespace(connection=connection))
    proposal = RoutingProposal.objects.get()
    step = case.steps.get(action="send_back")
    assert proposal.step_id == step.pk and proposal.status == ProposalStatus.OPEN
    assert proposal.created_at == step.at and proposal.proposed_department_id == loop.other_dept.pk
    assert proposal.region_code == case.region_code and proposal.category_id == loop.cat.pk

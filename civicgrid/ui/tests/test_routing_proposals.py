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


def _more_proposals(loop, n: int, *, region_code: str = GRID) -> list[RoutingProposal]:
    """`n` open proposals, each on a case of its own, as a 退回 with 建议更正分拨规则 leaves them (made directly:
    the list's queries do not depend on how they came)."""
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case, CaseStep

    made = []
    start = Case.objects.count()
    for i in range(n):
        case = Case.objects.create(number=f"PT{start + i:08d}", title="路边暴露垃圾", description="小区门口垃圾堆放",
                                   source="grid_worker", status="accepted", lng=113.21, lat=40.01,
                                   grid=loop.tree[GRID], region_code=region_code, category=loop.cat,
                                   reported_at=timezone.now())
        step = CaseStep.objects.create(case=case, action="send_back", at=timezone.now(),
                                       data={"routing_correction": {"region_code": region_code}})
        made.append(RoutingProposal.objects.create(
            case=case, step=step, category=loop.cat, region_code=region_code, from_department=loop.dept,
            proposed_department=loop.other_dept))
    return made


def _listed(html: str) -> list[str]:
    return re.findall(r'<tr data-proposal="(\d+)"', html)


def _queries(client, url: str, params: dict | None = None) -> tuple[int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_every_open_proposal_is_reachable_with_the_same_queries_for_5_as_for_60(
        loop, client_for, django_assert_max_num_queries):
    c = client_for(loop.dispatcher)
    rules, listing = reverse("ui:routing_rule_list"), reverse("ui:routing_proposal_list")
    proposals = _more_proposals(loop, 5)
    c.get(rules), c.get(listing)  # warm: the session, the grants, the menu
    few_rules, html = _queries(c, rules)
    few_list, page = _queries(c, listing)
    assert _listed(html) == _listed(page) == [str(p.pk) for p in proposals]
    assert 'data-proposal-count>5<' in page and "查看全部 5 条规则更正建议" in html

    proposals += _more_proposals(loop, 55)
    with django_assert_max_num_queries(few_rules):
        html = c.get(rules).content.decode()
    with django_assert_max_num_queries(few_list):
        first = c.get(listing).content.decode()
    assert _queries(c, rules)[0] == few_rules and _queries(c, listing)[0] == few_list
    count, second = _queries(c, listing, {"page": 2})
    assert count == few_list
    # The rules page shows the oldest few and links to all of them, by their count.
    assert _listed(html) == [str(p.pk) for p in proposals[:10]]
    assert re.search(r"data-proposal-count>60<", html) and "查看全部 60 条规则更正建议" in html
    assert f'href="{listing}"' in html
    # The proposals page: every one of the 60, once, oldest first, 50 and then 10.
    assert len(_listed(first)) == 50 and len(_listed(second)) == 10
    assert _listed(first) + _listed(second) == [str(p.pk) for p in proposals]
    assert 'data-proposal-count>60<' in first and "第 2 / 2 页" in second
    assert 'data-oid="' in first and 'data-model="cases.routingproposal"' in first


def test_the_proposals_page_filters_by_region_and_text_and_dismisses_back_to_itself(loop, client_for):
    here = _more_proposals(loop, 3)
    there = _more_proposals(loop, 2, region_code="140213051001001")
    c = client_for(loop.dispatcher)
    listing = reverse("ui:routing_proposal_list")
    assert _listed(c.get(listing, {"region": "140213051"}).content.decode()) == [str(p.pk) for p in there]
    assert _listed(c.get(listing, {"q": here[1].case.number}).content.decode()) == [str(here[1].pk)]
    assert _listed(c.get(listing, {"q": "区住建局"}).content.decode()) == [str(p.pk) for p in here + there]
    assert "data-no-proposals" in c.get(listing, {"q": "没有这个"}).content.decode()
    # 驳回 from a filtered page returns to it; an address elsewhere is not followed.
    back = f"{listing}?region=140213051"
    response = c.post(reverse("ui:routing_proposal_dismiss", args=[there[0].pk]), {"reason": "不改", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert RoutingProposal.objects.get(pk=there[0].pk).status == ProposalStatus.DISMISSED
    response = c.post(reverse("ui:routing_proposal_dismiss", args=[there[1].pk]),
                      {"reason": "不改", "next": "https://example.com/"})
    assert response["Location"] == reverse("ui:routing_rule_list")
    assert _listed(c.get(back).content.decode()) == []
    # only those who manage rules read it
    assert client_for(loop.street_dispatcher).get(listing).status_code == 403


def test_a_proposal_that_does_not_exist_is_not_found_and_one_acted_on_is_a_conflict(loop):
    """The service tells the two apart: an id naming no proposal (mistyped, or from another site) is 不存在 (404),
    one another manager dismissed first is 已处理 (409); neither changes anything."""
    from civicgrid.apps.cases.services import routing_proposals
    from civicgrid.foundation.core.errors import Conflict, NotFound

    rule = _street_rule(loop)
    proposal = RoutingProposal.objects.get(case=_sent_back(loop))
    audited = AuditEntry.objects.count()
    with pytest.raises(NotFound, match="不存在"):
        routing_proposals.dismiss(actor=loop.dispatcher, proposal_id=proposal.pk + 1000, reason="不改")
    with pytest.raises(NotFound, match="不存在"):
        routing_proposals.accept(actor=loop.dispatcher, proposal_id=proposal.pk + 1000, rule_id=rule.pk)
    assert AuditEntry.objects.count() == audited
    routing_proposals.dismiss(actor=loop.dispatcher, proposal_id=proposal.pk, reason="仍归城管")
    audited = AuditEntry.objects.count()
    with pytest.raises(Conflict, match="已处理"):
        routing_proposals.dismiss(actor=loop.dispatcher, proposal_id=proposal.pk, reason="再驳回")
    with pytest.raises(Conflict, match="已处理"):
        routing_proposals.accept(actor=loop.dispatcher, proposal_id=proposal.pk, rule_id=rule.pk)
    assert AuditEntry.objects.count() == audited
    assert RoutingProposal.objects.get(pk=proposal.pk).decision_note == "仍归城管"

"""规则更正建议: what a department proposed for the routing rule when it sent a case back (退回 with
`correct_rule`), kept open for those who manage routing rules (`categories.manage`) until one of them acts on it.

The 退回's step keeps the proposal, but the case page offers the correction only while the case waits to be
dispatched again, and a street dispatcher (who cannot edit rules) may re-dispatch it at once: without a list of
its own the proposal was lost and the wrong rule kept routing new cases. Each proposal is closed by 采纳 (the rule
is corrected: on the rules page from the proposal, or by a rule manager dispatching the case with 同时更正分拨规则)
or by 驳回 with a reason; both are audited on the proposal.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from civicgrid.apps.categories.permissions import MANAGE
from civicgrid.apps.categories.routing import match
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.audit.service import record, snapshot, user_or_none
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul

from ..models import CaseStep, ProposalStatus, RoutingProposal

ACCEPTED = "cases.routing_proposal_accepted"
DISMISSED = "cases.routing_proposal_dismissed"
audit_labels.name_actions({ACCEPTED: gettext_lazy("采纳规则更正建议"), DISMISSED: gettext_lazy("驳回规则更正建议")})


def open_proposal(step: CaseStep) -> RoutingProposal:
    """The proposal of a 退回's step (`data.routing_correction`), open; with the rule that routes the case's
    category and place now (the one the department says is wrong), when a rule does."""
    proposal = step.data["routing_correction"]
    case = step.case
    try:
        rule = match(case.category, proposal["region_code"]).rule
    except ValidationFailed:  # a case without a usable region code: the proposal still stands, without a rule
        rule = None
    return RoutingProposal.objects.create(
        case=case, step=step, category_id=proposal.get("category_id"), region_code=proposal["region_code"],
        rule_id_at_proposal=rule.pk if rule is not None else None,
        from_department_id=proposal.get("from_department"),
        proposed_department_id=proposal.get("proposed_department"))


def open_proposals(user) -> models.QuerySet[RoutingProposal]:
    """The open proposals, oldest first, for those who may act on them (who manage routing rules); none for
    anybody else."""
    if not has_capability(user, MANAGE):
        return RoutingProposal.objects.none()
    return (RoutingProposal.objects.filter(status=ProposalStatus.OPEN)
            .select_related("case", "category", "from_department", "proposed_department"))


def _require_manager(actor) -> None:
    if actor is not None and not has_capability(actor, MANAGE):
        raise PermissionDenied("只有能维护分拨规则的人员可以处理规则更正建议 / only those who maintain the routing rules may act on a proposed rule correction")


def _close(actor, proposal: RoutingProposal, status: str, note: str, rule_id: int | None) -> RoutingProposal:
    before = snapshot(proposal)
    proposal.status, proposal.decision_note, proposal.corrected_rule_id = status, note, rule_id
    proposal.decided_at, proposal.decided_by = timezone.now(), user_or_none(actor)
    proposal.save()
    record(actor=actor, action=ACCEPTED if status == ProposalStatus.ACCEPTED else DISMISSED, target=proposal,
           before=before, after=snapshot(proposal), data={"case": proposal.case.number, "rule": rule_id})
    return proposal


@transaction.atomic
def accept(*, actor, proposal_id: int, rule_id: int) -> RoutingProposal:
    """采纳: the rule `rule_id` was corrected for this proposal (the caller has just corrected it). Refused when
    the proposal is no longer open (another manager acted on it first)."""
    _require_manager(actor)
    proposal = RoutingProposal.objects.select_for_update().select_related("case").filter(pk=proposal_id).first()
    _require_open(proposal)
    return _close(actor, proposal, ProposalStatus.ACCEPTED, "", rule_id)


def accept_for_case(*, actor, case, rule_id: int) -> list[RoutingProposal]:
    """Every open proposal of `case`, accepted: a rule manager dispatched it with 同时更正分拨规则, which is the
    correction the 退回 asked for."""
    open_ones = RoutingProposal.objects.select_for_update().select_related("case").filter(
        case=case, status=ProposalStatus.OPEN)
    return [_close(actor, p, ProposalStatus.ACCEPTED, "", rule_id) for p in open_ones]


def _require_open(proposal: RoutingProposal | None) -> None:
    """An id that names no proposal is a 404; one another manager acted on first is a 409."""
    if proposal is None:
        raise NotFound("该规则更正建议不存在 / no such rule-correction proposal")
    if proposal.status != ProposalStatus.OPEN:
        raise Conflict("该规则更正建议已处理 / this proposal has already been acted on")


def has_open(case) -> bool:
    """Whether a 退回 of `case` proposed a rule correction nobody has acted on yet."""
    return RoutingProposal.objects.filter(case=case, status=ProposalStatus.OPEN).exists()


@transaction.atomic
def dismiss(*, actor, proposal_id: int, reason: str) -> RoutingProposal:
    """驳回 with a reason (the rule stays as it is); refused without one, or when already acted on."""
    _require_manager(actor)
    reason = " ".join(refuse_nul(str(reason or ""), "reason", "驳回理由").split())[:200]  # a NUL: refused, `core.text`
    if not reason:
        raise ValidationFailed("请填写驳回理由 / a reason is required", field="reason")
    proposal = RoutingProposal.objects.select_for_update().select_related("case").filter(pk=proposal_id).first()
    _require_open(proposal)
    return _close(actor, proposal, ProposalStatus.DISMISSED, reason, None)

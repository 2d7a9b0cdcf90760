"""Dispatchers' corrections of the router (分拨更正).

When a case is dispatched (`case.dispatched`) or redirected (改派, `case.redirected`: the strongest sign that the
first department was wrong) to another department than the router suggested, or under another category than it
suggested, the dispatch or redirect step is recorded as a :class:`RouterCorrection`. The step's
data already holds the suggestion (`router_suggestion`) and the department chosen; the row makes the
corrections countable per model version. Dispatches by the system account (auto-dispatch) are never
corrections. Retraining learns where the cases were really sent (`versions.closed_case_examples`).

A department correction is withdrawn when the case comes back to the department the router suggested: a later
dispatch or 改派 of the same case sends it there (the department chosen instead sent it back, 退回, or it was
taken back, and the suggestion proved right). The row is kept with `withdrawn_at` and the step that sent it
there, audited (`router.correction_withdrawn`, the case named; with the rule a 同时更正分拨规则 changed at the
withdrawn dispatch, which nothing changes back); withdrawn rows no longer count. Whichever of the two steps'
events arrives first, the same rows end withdrawn (`withdraw_returned` reads the case's steps, not the event).

    since_active()  → how many corrections since the live model was made, withdrawn ones left out (shown on
                      the router page)
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy

from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.events import bus as events

WITHDRAWN = "router.correction_withdrawn"
audit_labels.name_actions({WITHDRAWN: gettext_lazy("撤回分拨更正（案件回到模型建议的部门）")})
SENDING_ACTIONS = ("dispatch", "redirect")


def record_for_step(step) -> object | None:
    """The correction for one dispatch or redirect step, if it is one (idempotent: one row per step); and the
    case's earlier department corrections withdrawn when this step (or a later one) sent the case to the
    department they said the router had wrong (`withdraw_returned`)."""
    from .handlers import is_system_account
    from .models import RouterCorrection

    data = step.data or {}
    s = data.get("router_suggestion") or step.case.suggestion or {}
    row = None
    if s and not is_system_account(step.actor):
        chosen_dept = data.get("department") or step.case.department_id
        chosen_cat = step.case.category_id
        dept_changed = bool(s.get("department_id")) and s.get("department_id") != chosen_dept
        cat_changed = bool(s.get("category_id")) and s.get("category_id") != chosen_cat
        if dept_changed or cat_changed:
            row, _ = RouterCorrection.objects.get_or_create(step_id=step.pk, defaults={
                "case": step.case, "model_version": str(s.get("model_version") or "")[:40],
                "suggested_label": str(s.get("label") or "")[:100], "confidence": s.get("confidence"),
                "suggested_department_id": s.get("department_id"), "suggested_category_id": s.get("category_id"),
                "department_id_chosen": chosen_dept, "category_id_chosen": chosen_cat,
                "department_changed": dept_changed, "category_changed": cat_changed,
                "actor": step.actor if step.actor_id else None, "at": step.at,
            })
    for withdrawn in withdraw_returned(step.case):  # this step's own row too, when a later step came first
        if row is not None and withdrawn.pk == row.pk:
            row = withdrawn
    return row


def withdraw_returned(case) -> list:
    """Withdraw the live department corrections of `case` that a later dispatch or 改派 of it contradicts: it
    sent the case to the very department the router had suggested. Each one audited; none, no query beyond the
    first. Returns the rows withdrawn now."""
    from civicgrid.apps.cases.models import CaseStep
    from civicgrid.foundation.audit.service import record, snapshot

    from .models import RouterCorrection

    live = list(RouterCorrection.objects.filter(case=case, withdrawn_at__isnull=True, department_changed=True,
                                                suggested_department_id__isnull=False).order_by("step_id"))
    if not live:
        return []
    sends = list(CaseStep.objects.filter(case=case, action__in=SENDING_ACTIONS).order_by("pk")
                 .values_list("pk", "at", "data"))
    corrected_rules = {pk: (data or {}).get("rule_corrected") for pk, _at, data in sends if isinstance(data, dict)}
    done = []
    with transaction.atomic():
        for row in live:
            back = next(((pk, at) for pk, at, data in sends if pk > row.step_id and isinstance(data, dict)
                         and data.get("department") == row.suggested_department_id), None)
            if back is None:
                continue
            before = snapshot(row)
            updated = RouterCorrection.objects.filter(pk=row.pk, withdrawn_at__isnull=True).update(
                withdrawn_at=back[1], withdrawn_step_id=back[0])
            if not updated:  # withdrawn meanwhile by another delivery
                continue
            row.withdrawn_at, row.withdrawn_step_id = back[1], back[0]
            rule = corrected_rules.get(row.step_id)
            record(actor="system", action=WITHDRAWN, target=row, region_code=case.region_code, before=before,
                   after=snapshot(row), data={
                       "case": case.number, "step": back[0], "department": row.suggested_department_id,
                       "department_chosen": row.department_id_chosen,
                       # a rule corrected with the withdrawn dispatch keeps its new department: named for review
                       "rule_corrected": rule.get("rule") if isinstance(rule, dict) else None})
            done.append(row)
    return done


def _record_event(event) -> None:
    from civicgrid.apps.cases.models import CaseStep

    if event.aggregate_type != "cases.case":
        return
    step_id = (event.payload or {}).get("step_id")
    if not step_id:
        return
    step = CaseStep.objects.select_related("case", "actor").filter(pk=step_id).first()
    if step is not None:
        record_for_step(step)


@events.handler("case.dispatched", name="router.corrections")
def on_case_dispatched(event) -> None:
    _record_event(event)


@events.handler("case.redirected", name="router.corrections.redirect")
def on_case_redirected(event) -> None:
    """改派 away from the router's department is a correction as a differing dispatch is; a redelivered event
    finds its step recorded."""
    _record_event(event)


def since_active() -> int:
    """Corrections recorded since the live model version was created (0 without one)."""
    from .models import RouterCorrection
    from .versions import active

    v = active()
    if v is None:
        return 0
    return RouterCorrection.objects.filter(at__gte=v.created_at, withdrawn_at__isnull=True).count()

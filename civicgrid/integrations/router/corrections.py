"""Dispatchers' corrections of the router (分拨更正).

When a case is dispatched (`case.dispatched`) or redirected (改派, `case.redirected`: the strongest sign that the
first department was wrong) to another department than the router suggested, or under another category than it
suggested, the dispatch or redirect step is recorded as a :class:`RouterCorrection`. The step's
data already holds the suggestion (`router_suggestion`) and the department chosen; the row makes the
corrections countable per model version. Dispatches by the system account (auto-dispatch) are never
corrections. Retraining learns where the cases were really sent (`versions.closed_case_examples`).

    since_active()  → how many corrections since the live model was made (shown on the router page)
"""

from __future__ import annotations

from civicgrid.foundation.events import bus as events


def record_for_step(step) -> object | None:
    """The correction for one dispatch or redirect step, if it is one (idempotent: one row per step)."""
    from .handlers import is_system_account
    from .models import RouterCorrection

    data = step.data or {}
    s = data.get("router_suggestion") or step.case.suggestion or {}
    if not s or is_system_account(step.actor):
        return None
    chosen_dept = data.get("department") or step.case.department_id
    chosen_cat = step.case.category_id
    dept_changed = bool(s.get("department_id")) and s.get("department_id") != chosen_dept
    cat_changed = bool(s.get("category_id")) and s.get("category_id") != chosen_cat
    if not (dept_changed or cat_changed):
        return None
    row, _ = RouterCorrection.objects.get_or_create(step_id=step.pk, defaults={
        "case": step.case, "model_version": str(s.get("model_version") or "")[:40],
        "suggested_label": str(s.get("label") or "")[:100], "confidence": s.get("confidence"),
        "suggested_department_id": s.get("department_id"), "suggested_category_id": s.get("category_id"),
        "department_id_chosen": chosen_dept, "category_id_chosen": chosen_cat,
        "department_changed": dept_changed, "category_changed": cat_changed,
        "actor": step.actor if step.actor_id else None, "at": step.at,
    })
    return row


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
    return RouterCorrection.objects.filter(at__gte=v.created_at).count()

"""自动派遣: a report whose router suggestion is confident enough is accepted and dispatched without waiting.

`CIVICGRID_AUTO_DISPATCH_THRESHOLD` (default 0.9; above 1 turns it off): at or above it, a case still in
`reported` is accepted and dispatched to the suggested department through `cases.services.act`; below it, the
case stays for triage (`GET /api/v1/router/triage`). Delivered after commit by the worker, at least once: a
redelivered event finds the case no longer `reported` and does nothing.

The case loop decides who may act. `act(actor=None)` is refused by its scope check (a system actor sees no
case), so auto-dispatch acts as the account named by `CIVICGRID_AUTO_DISPATCH_ACTOR` (a command-centre
dispatcher's username: audited under that name, within that account's scope). Without one, every case is left
for triage and the refusal is logged.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.events import bus as events

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9


def threshold() -> float:
    return float(getattr(settings, "CIVICGRID_AUTO_DISPATCH_THRESHOLD", DEFAULT_THRESHOLD))


def system_actor():
    """The account auto-dispatch acts as (`CIVICGRID_AUTO_DISPATCH_ACTOR`), or None."""
    username = getattr(settings, "CIVICGRID_AUTO_DISPATCH_ACTOR", None)
    if not username:
        return None
    return get_user_model().objects.filter(username=username, is_active=True).first()


def decide(case) -> tuple[bool, str]:
    """Whether `case` should be dispatched automatically, and why (or why not)."""
    from civicgrid.apps.cases.models import Status

    if case.status != Status.REPORTED:
        return False, f"状态为 {case.status} / not in reported"
    s = case.suggestion or {}
    if not s or s.get("confidence") is None:
        return False, "无建议 / no suggestion"
    conf, limit = float(s["confidence"]), threshold()
    if conf < limit:
        return False, f"置信度 {conf:.2f} 低于阈值 {limit:.2f} / below threshold: triage"
    if not s.get("department_id"):
        return False, f"建议的标签「{s.get('label')}」不对应任何部门 / the label maps to no department"
    return True, f"置信度 {conf:.2f} ≥ {limit:.2f}"


def auto_dispatch(case_id: int) -> str:
    """Accept and dispatch one case if its suggestion allows it; returns what happened (for logs and tests)."""
    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.cases.services import act

    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return "missing"
    ok, why = decide(case)
    if not ok:
        return f"triage: {why}"
    s = case.suggestion
    actor = system_actor()
    note = f"自动派遣：模型 {s.get('model_version')} 建议「{s.get('label')}」，{why}"
    try:
        with transaction.atomic():
            inputs = {"category": s["category_id"]} if s.get("category_id") and not case.category_id else {}
            case = act(actor=actor, case=case, action="accept", note=note, **inputs)
            act(actor=actor, case=case, action="dispatch", department=s["department_id"], note=note)
    except CivicgridError as exc:
        log.warning("auto-dispatch of case %s refused (%s); it stays for triage: %s", case_id,
                    "no CIVICGRID_AUTO_DISPATCH_ACTOR" if actor is None else actor.get_username(), exc.message)
        return f"triage: refused ({exc.message})"
    return "dispatched"


@events.handler("case.reported", name="router.auto_dispatch")
def on_case_reported(event) -> None:
    if event.aggregate_type != "cases.case" or (event.payload or {}).get("self_handled"):
        return
    try:
        case_id = int(event.aggregate_id)
    except (TypeError, ValueError):
        return
    outcome = auto_dispatch(case_id)
    log.info("router auto-dispatch of case %s: %s", case_id, outcome)

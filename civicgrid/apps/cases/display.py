"""What the case page and the case's documents (the 案卷 PDF, the 台账 line) say alike beyond a case's fields, so that
a file never says less than the page it was printed from: a 处置期限 paused by 挂账, one reckoned on a provisional
calendar year, and what each 退回 proposed."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext

from civicgrid.foundation.orgs.models import Organisation

from .clocks import HANDLE
from .models import FINAL_STATUSES, Case, Status


def ended(status: str) -> bool:
    """Whether the case's loop has ended (closed, refused, voided, merged): 超期 and 督办 are then facts of its past,
    not markers of now. The page and the list drop the live tags (超期, 督办, 延期待批) of such a case; its files say
    曾超期 / 曾督办 (`overdue_word`, `supervised_word`)."""
    return status in FINAL_STATUSES


def overdue_word(status: str, is_overdue: bool) -> str:
    """超期 as the case's files (案卷 PDF, 台账) say it: 是/否 while the case is in the loop; 曾超期 once it ended
    late (a step's time limit ran out on the way: `超期环节` says which), 否 otherwise."""
    if not is_overdue:
        return "否"
    return "曾超期" if ended(status) else "是"


def supervised_word(status: str, is_supervised: bool) -> str:
    """督办 as the case's files say it: 是/否 while the case is in the loop (the supervision queue's cases); 曾督办
    once the case ended under supervision, which it no longer is."""
    if not is_supervised:
        return "否"
    return "曾督办" if ended(status) else "是"


def deadline_paused(status: str, deadline: datetime | None) -> bool:
    """Whether the 处置期限 stands still: the case is 挂账, every clock paused, and 恢复办理 moves the deadline on by
    the pause. It is then the original deadline, not one the case is late against (the page says 已暂停（挂账）)."""
    return status == Status.SUSPENDED and deadline is not None


def deadline_provisional(clocks: list[dict]) -> bool:
    """Whether the 处置期限 was reckoned on a provisional calendar year (holidays not yet announced), as the case
    page marks it: its open handling clock's deadline lies in such a year (`selectors.clocks` rows, where only an
    open clock is judged)."""
    return any(c["kind"] == HANDLE and c["provisional"] for c in clocks)


def send_back_proposals(case: Case) -> dict[int, dict]:
    """What each 退回 proposed, by step id, from the data `send_back` keeps on its step: the department it named
    (`proposed_department`) and whether it asked for the routing rule to be corrected (`routing_correction`).
    One query for the departments' names, and none when no 退回 proposed anything."""
    steps = [s for s in case.steps.all() if s.action == "send_back" and isinstance(s.data, dict)
             and (s.data.get("proposed_department") or s.data.get("routing_correction"))]
    if not steps:
        return {}
    ids = {s.data.get("proposed_department") for s in steps} - {None}
    names = dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    found = {}
    for s in steps:
        name = names.get(s.data.get("proposed_department"), "")
        correct = bool(s.data.get("routing_correction"))
        if name:
            text = (gettext("建议改派「%(name)s」，并建议更正分拨规则") if correct else gettext("建议改派「%(name)s」")) % {
                "name": name}
        else:
            text = gettext("退回时建议更正分拨规则")
        found[s.pk] = {"department_id": s.data.get("proposed_department"), "department": name,
                       "correct_rule": correct, "text": text}
    return found


def check_result_beside_note(step) -> str:
    """The result of a 核实反馈 step ("confirmed" or "unconfirmed") when its note does not already say it (the
    worker wrote one: the service makes the result the note only without one); "" for any other step. The case
    page and the case file show it beside the note: both results lead back to 待受理, so the status says nothing."""
    from .services.actions_intake import CHECK_RESULTS

    data = step.data if isinstance(step.data, dict) else {}
    result = data.get("result") if step.action == "check_result" else None
    if result not in CHECK_RESULTS or step.note.strip() == CHECK_RESULTS[result]:
        return ""
    return result

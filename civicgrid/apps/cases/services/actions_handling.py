"""The department's and the field's side of the loop: 退回, 处置, 延期, 反馈, 核查, 返工, 结案, 挂账, 督办, 重新办理."""

from __future__ import annotations

from django.utils import timezone

from civicgrid.foundation.access.models import User
from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.events import bus as events

from .. import clocks, conf, recipients
from ..models import CaseReporter, CaseStep, Status
from ..workflow import reopen_window_open
from . import routing_proposals
from .actions_intake import resolve_department
from .common import MissingInput, drop_extension_request, truthy
from .transitions import Ctx, action

DECISIONS = {"approve": "同意", "reject": "不同意"}
DECISIONS_EN = {"approve": "approved", "reject": "rejected"}


@action("send_back")
def send_back(ctx: Ctx) -> None:
    """退回: not this department's job. The case returns to dispatch; with `correct_rule` the department also
    proposes a routing correction (category × region → `proposed_department`) for the rule's owners."""
    case = ctx.case
    previous = case.department
    clocks.stop(case, clocks.HANDLE, ctx.at, record_fact=False)  # not handled: no 按期处置 fact either way
    case.send_back_count += 1
    case.department = None
    case.deadline = None
    drop_extension_request(case, ctx.data)  # more time for a job the department now gives back
    if case.suggested_department_id == getattr(previous, "pk", None):
        case.suggested_department = None  # the suggestion just proved wrong; do not pre-fill it again
    clocks.start(case, clocks.DISPATCH, ctx.at)
    ctx.department = previous
    ctx.data["from_department"] = getattr(previous, "pk", None)
    # The department the returning one names (optional): kept on the step and pre-filled at the next dispatch,
    # whether or not it also proposes correcting the routing rule.
    proposed = None
    if ctx.inputs.get("proposed_department") not in (None, ""):
        proposed = resolve_department(ctx.inputs["proposed_department"], field="proposed_department")
        if previous is not None and proposed.pk == previous.pk:
            raise ValidationFailed("建议的处置部门不能是退回的部门本身 / the proposed department is the one sending it back",
                                   field="proposed_department")
        if not recipients.department_handlers(proposed.pk):  # dispatch would refuse it: do not propose it
            raise ValidationFailed(f"「{proposed.name}」还没有处置人员账号，不能作为建议部门；请另选，或不填 / "
                                   f"'{proposed.name}' has no handler accounts: propose another, or none",
                                   field="proposed_department")
        ctx.data["proposed_department"] = proposed.pk
        case.suggested_department = proposed
    if truthy(ctx.inputs.get("correct_rule", False)):
        proposal = {"category_id": case.category_id, "region_code": case.region_code,
                    "from_department": getattr(previous, "pk", None),
                    "proposed_department": proposed.pk if proposed is not None else None,
                    "reason": str(ctx.inputs.get("reason") or "")[:500]}
        ctx.data["routing_correction"] = proposal
        ctx.after_step.append(routing_proposals.open_proposal)  # open for the rule managers until they act on it
        events.publish("case.routing_correction_proposed", aggregate=case, payload={"number": case.number, **proposal})
    name, reason = getattr(previous, "name", ""), ctx.inputs.get("reason", "")
    named = (f"；建议改派 {proposed.name}" if proposed is not None else "") + \
        ("；建议更正分拨规则（见案卷页）" if "routing_correction" in ctx.data else "")  # the dispatcher acts on it
    named_en = (f"; proposes {proposed.name}" if proposed is not None else "") + \
        ("; proposes correcting the routing rule (see the case page)" if "routing_correction" in ctx.data else "")
    recipients.tell_staff(recipients.dispatchers(case), case, "sent_back", "退回", f"{name}：{reason}{named}",
                          body_en=f"sent back by {name}: {reason}{named_en}", actor=ctx.actor)


@action("start")
def start(ctx: Ctx) -> None:
    """开始处置: the department is on it (the handling clock has run since dispatch)."""


@action("progress")
def progress(ctx: Ctx) -> None:
    """处置进展: a note, optionally with photos; the state does not change."""


@action("request_extension")
def request_extension(ctx: Ctx) -> None:
    """申请延期 by some hours, with a reason; a command dispatcher or leader decides."""
    try:
        hours = float(ctx.inputs.get("hours"))
    except (TypeError, ValueError):
        hours = 0
    if not clocks.extension_hours_valid(hours):
        raise ValidationFailed(clocks.EXTENSION_RANGE, field="hours")
    if too_long := clocks.extension_too_long(ctx.case, hours):
        raise ValidationFailed(too_long, field="hours")
    ctx.case.extension_pending = True
    ctx.case.extension_hours = hours
    ctx.data["hours"] = hours
    reason = ctx.inputs.get("reason", "")
    recipients.tell_staff(recipients.approvers(ctx.case), ctx.case, "extension_request", "延期申请",
                          f"申请延期 {hours:g} 小时：{reason}",
                          body_en=f"extension of {hours:g} h requested: {reason}", actor=ctx.actor)


def _approved_hours(ctx: Ctx, requested: float) -> float | None:
    """The hours the approver grants (`hours`, optional: the hours asked for when not given), checked: more
    than 0, in half hours, and no more than asked for (a decision on this request, not a new one)."""
    given = ctx.inputs.get("hours")
    if given is None or str(given).strip() == "":
        return None
    try:
        hours = float(given)
    except (TypeError, ValueError):
        hours = float("nan")
    if not hours > 0:
        raise ValidationFailed("批准的延期时长须为大于 0 的小时数 / the hours approved must be a number above 0",
                               field="hours")
    if hours > requested:
        raise ValidationFailed(f"批准的延期时长不能超过申请的 {requested:g} 小时 / the hours approved cannot exceed "
                               f"the {requested:g} h asked for", field="hours")
    if not clocks.extension_hours_valid(hours):
        raise ValidationFailed(clocks.EXTENSION_RANGE, field="hours")
    return hours


@action("decide_extension")
def decide_extension(ctx: Ctx) -> None:
    """审批延期 with the approver's opinion (审批意见, `note`: required to refuse, so the department hears why):
    approval moves the handling deadline by the hours granted (`hours`, up to those asked for; all of them when
    not given); rejection keeps it (and ignores `hours`). The step keeps the decision, the hours asked for and granted, and the opinion;
    the department's handlers (the requester among them) are told."""
    case = ctx.case
    decision = str(ctx.inputs.get("decision") or "").strip()
    if decision not in DECISIONS:
        raise ValidationFailed("请选择审批结果：同意或不同意 / choose the decision: approve or reject", field="decision")
    requested = float(case.extension_hours or 0)
    words = str(ctx.inputs.get("note") or ctx.inputs.get("reason") or "").strip()
    if decision == "reject" and not words:  # a required input left empty: 422 `missing`, as the workflow's own
        raise MissingInput("不同意延期须填写审批意见，说明理由 / a rejection needs the approver's opinion: say why",
                               field="note")
    # The hours granted belong to an approval only: a rejection moves no deadline, so whatever the form's hours
    # box still holds is neither checked nor kept (the step records the hours that were asked for and refused).
    granted = _approved_hours(ctx, requested) if decision == "approve" else None
    hours = granted if granted is not None else requested
    ctx.data.update({"decision": decision, "hours": hours, "requested_hours": requested})
    if words:
        ctx.data["opinion"] = words
    # Decided after the handling deadline in force had passed: the department asked in time (the workflow takes
    # no request after it), the approver answered late. That is recorded (the step, its audit entry, the notice).
    # An approval runs on from the deadline that passed, not from the decision (`clocks.extend`): the case is
    # late only if it misses the extended deadline, and stays late when fewer hours were granted than the
    # approver took (the extended deadline has passed too).
    passed = clocks.passed_handling_deadline(case, ctx.at)
    late = ""
    late_en = ""
    if passed is not None:
        ctx.data["decided_after_deadline"] = passed.isoformat()
        shown = f"{timezone.localtime(passed):%Y-%m-%d %H:%M}"
        late, late_en = f"（审批时处置期限 {shown} 已过）", f" (decided after the deadline {shown} had passed)"
    if decision == "approve":
        old = case.deadline
        clocks.extend(case, clocks.HANDLE, hours, ctx.at)
        ctx.data.update({"old_deadline": old.isoformat() if old else None,
                         "new_deadline": case.deadline.isoformat() if case.deadline else None})
        if passed is not None:
            still_late = case.deadline is not None and case.deadline <= ctx.at
            ctx.data["extended_deadline_passed"] = still_late
            late = f"（审批时原处置期限 {shown} 已过，自原期限起顺延" + ("，顺延后的期限亦已过，仍属超期）" if still_late else "）")
            late_en = (f" (decided after the deadline {shown} had passed: extended from that deadline"
                       + ("; the extended deadline has passed too: still overdue)" if still_late else ")"))
    case.extension_pending = False
    case.extension_hours = None
    # The step says what was decided (and what had been asked for, when less was granted; and when it came after
    # the deadline), then the approver's words (kept as written).
    partly = decision == "approve" and hours < requested
    ctx.note = (f"{DECISIONS[decision]}延期 {hours:g} 小时" + (f"（申请 {requested:g} 小时）" if partly else "") + late
                + (f"：{words}" if words else ""))
    ctx.note_en = (f"extension of {hours:g} h {DECISIONS_EN[decision]}" + (f" ({requested:g} h asked for)" if partly else "")
                   + late_en + (f": {words}" if words else ""))
    # The requester and the department's handlers hear the decision with its reason, and on approval the new
    # deadline.
    due = (f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}" if decision == "approve" and case.deadline
           else "")
    # (The requester is one of those handlers: whoever has since left the department no longer reads its cases.)
    recipients.tell_staff(recipients.department_handlers(case.department_id), case, "extension_decided",
                          f"延期申请{DECISIONS[decision]}", ctx.note + (f"，新的处置期限 {due}" if due else ""),
                          body_en=ctx.note_en + (f", new handling deadline {due}" if due else ""), actor=ctx.actor)
    # Every approver was asked; the request is decided, so nobody's message about it waits any longer: the
    # transition settles them (`recipients.TASKS`: 已同意 or 已不同意).


@action("report_back")
def report_back(ctx: Ctx) -> None:
    """处置反馈: done; the handling clock stops (按期处置) and the grid's workers get the 核查 task."""
    case = ctx.case
    case.handled_at = ctx.at
    drop_extension_request(case, ctx.data)
    clocks.stop(case, clocks.HANDLE, ctx.at)
    clocks.start(case, clocks.VERIFY, ctx.at)
    recipients.tell_staff(recipients.staff_for(case, "cases.verify"), case, "verify_task", "核查任务",
                          actor=ctx.actor)
    ctx.tell, ctx.milestone = "已处置完毕，待现场核查", "handled"


@action("verify")
def verify(ctx: Ctx) -> None:
    """核查通过, with a photo from the site; the case waits for 结案."""
    case = ctx.case
    case.verified_at = ctx.at
    clocks.stop(case, clocks.VERIFY, ctx.at)
    clocks.start(case, clocks.CLOSE, ctx.at)
    recipients.tell_staff(recipients.staff_for(case, "cases.close"), case, "close_task", "待结案", actor=ctx.actor)


@action("rework")
def rework(ctx: Ctx) -> None:
    """返工: not fixed; back to the same department with a new handling clock: the category's limit plus the
    延期 approved for this assignment, since an approved extension lengthens the case's handling limit. The
    assignment round goes on: a handling of it that was late stays late (`clocks.stop`)."""
    case = ctx.case
    case.rework_count += 1
    case.handled_at = None
    clocks.stop(case, clocks.VERIFY, ctx.at)
    extended = clocks.approved_extension_hours(case)
    clocks.start(case, clocks.HANDLE, ctx.at, extra_hours=extended)
    ctx.data["rework_count"] = case.rework_count
    if extended:
        ctx.data["extension_hours"] = extended
    # The department hears why (the reason is required), and by when it must now report back: the deadline the
    # new handling clock just set, as 延期 and 恢复办理 tell it.
    reason = str(ctx.inputs.get("reason") or "").strip()
    due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    recipients.tell_staff(recipients.department_handlers(case.department_id), case, "rework", "返工",
                          f"{reason}，新的处置期限 {due}", body_en=f"{reason}, new handling deadline {due}",
                          actor=ctx.actor)


@action("close")
def close(ctx: Ctx) -> None:
    """结案: the close clock stops (按期结案); reporters get the link to rate the work or reopen."""
    case = ctx.case
    case.closed_at = ctx.at
    clocks.stop(case, clocks.CLOSE, ctx.at)
    clocks.stop_all(case, ctx.at)
    ctx.tell = "已办结，欢迎评价"
    ctx.link = True


@action("suspend")
def suspend(ctx: Ctx) -> None:
    """挂账: long-term wait (e.g. for budget); every running clock pauses until 恢复办理."""
    case = ctx.case
    case.suspended_from = case.status
    # The deadline a waiting 延期 would move is paused with the rest; on resuming the department asks again.
    drop_extension_request(case, ctx.data)
    ctx.data["paused"] = clocks.pause_all(case, ctx.at)
    ctx.tell = "已挂账（暂缓办理）"
    reason = str(ctx.inputs.get("reason") or "").strip()
    body, body_en = f"暂缓办理，各项时限暂停：{reason}", f"on hold, every time limit paused: {reason}"
    dropped = ctx.data.get("extension_dropped")
    if dropped:
        body += f"；待审批的延期申请（{dropped:g} 小时）已撤销，恢复办理后如仍需延期请重新申请"
        body_en += (f"; the waiting extension request ({dropped:g} h) was withdrawn: ask again once handling "
                    f"resumes if more time is still needed")
    recipients.tell_staff(recipients.department_handlers(case.department_id), case, "suspended", "挂账", body,
                          body_en=body_en, actor=ctx.actor)


@action("unsuspend")
def unsuspend(ctx: Ctx) -> None:
    """恢复办理: back to the step it was suspended from; its clocks resume where they stopped."""
    case = ctx.case
    ctx.status = case.suspended_from or Status.ACCEPTED
    case.suspended_from = ""
    ctx.data["resumed"] = clocks.resume_all(case, ctx.at)
    if ctx.status == Status.ACCEPTED and not ctx.data["resumed"]:
        clocks.start(case, clocks.DISPATCH, ctx.at)
    ctx.tell = "已恢复办理"
    handlers = recipients.department_handlers(case.department_id)
    if handlers:
        _tell_resumed(ctx, handlers)


def _tell_resumed(ctx: Ctx, handlers) -> None:
    """The department hears that its case runs again: the time limits go on (with the handling deadline while
    it is theirs to handle), and a 延期 request that 挂账 withdrew must be asked again if still needed."""
    case = ctx.case
    body, body_en = "恢复办理，各项时限继续计算", "handling resumes, every time limit runs again"
    if ctx.status in (Status.DISPATCHED, Status.HANDLING) and case.deadline:
        due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
        body, body_en = f"{body}，处置期限 {due}", f"{body_en}, handling deadline {due}"
    # The approver's words go with the resumption they explain, before the advice about a withdrawn request
    # (after it they read as what to ask for).
    note = str(ctx.inputs.get("note") or "").strip()
    if note:
        body, body_en = f"{body}：{note}", f"{body_en}: {note}"
    suspended = (CaseStep.objects.filter(case=case, action="suspend").order_by("-at", "-pk")
                 .values_list("data", flat=True).first()) or {}
    dropped = suspended.get("extension_dropped")
    if dropped:
        body += f"；挂账时撤销的延期申请（{dropped:g} 小时）如仍需要，请重新申请"
        body_en += f"; the extension request ({dropped:g} h) withdrawn on suspending must be made again if still needed"
    recipients.tell_staff(handlers, case, "unsuspended", "恢复办理", body, body_en=body_en, actor=ctx.actor)


@action("supervise")
def supervise(ctx: Ctx) -> None:
    """督办 by a leader: the case joins the supervision queue, and whoever answers for the step it waits for is
    told (as the step clock's warnings are: the handlers while it is being handled, its grid's field staff
    for 核实/核查, the dispatchers for 受理/派遣/结案); the message is settled when that step is taken. A case on
    hold (挂账督办) waits for no step: its approvers, who may resume it, and its department are told, and the
    message is settled by 恢复办理 (`recipients.tell_supervision`). Its clocks stay paused: supervision
    escalates nothing by itself, and a paused clock has no deadline to pass."""
    case = ctx.case
    case.is_supervised = True
    recipients.tell_supervision(case, str(ctx.inputs.get("note") or ""), actor=ctx.actor)


@action("mark_major")
def mark_major(ctx: Ctx) -> None:
    """重大事件 marked after the report (the reason on the step): the leaders who supervise the case are told after
    commit, as for a case reported major (`handlers.on_marked_major`, from the `case.marked_major` event)."""
    ctx.case.is_major = True


@action("unmark_major")
def unmark_major(ctx: Ctx) -> None:
    """The mark taken back (the reason on the step): the case leaves the leaders' 重大事件 lane and filter."""
    ctx.case.is_major = False


@action("reopen")
def reopen(ctx: Ctx) -> None:
    """重新办理 within the configured days after closing (by the reporter's link or a dispatcher)."""
    case = ctx.case
    if not reopen_window_open(case):  # the table's condition; asked again for the follow link's path
        # Reached through the reporter's link (staff are refused by the table first): what they can still do.
        days = conf.reopen_days()
        raise Conflict(f"已超过结案后 {days} 天，不能重新办理；如问题仍存在，请重新上报 / the {days} days after closing for "
                       f"reopening have passed: if the problem is still there, please report it again")
    previous = case.department
    case.reopen_count += 1
    ctx.data.update({"closed_at": case.closed_at.isoformat(), "department": getattr(previous, "pk", None)})
    if case.satisfaction is not None:
        # The 满意度 was of the closing now reopened: it stays with that round (here and in its 评价 steps), and
        # the case has none until a reporter rates the next closing (`follow.closing_satisfaction`).
        ctx.data["satisfaction"] = case.satisfaction
        case.satisfaction = None
    case.closed_at = None
    case.closed_on_time = None
    case.verified_at = None
    case.handled_at = None
    if previous is not None:
        case.suggested_department = previous  # dispatch pre-fills the department that handled it
    # The department stays attached (and sees the case) until dispatch decides again.
    case.deadline = None
    clocks.start(case, clocks.DISPATCH, ctx.at)
    ctx.department = previous
    # The case waits for 派遣: the dispatchers over it are asked to dispatch it again (a task, settled by the
    # dispatch). The department that handled it has nothing to do yet: it hears of the case with the 新任务 of
    # that dispatch, which names the reason (`actions_intake.dispatch`), if the case goes back to it.
    reason = str(ctx.inputs.get("reason") or "").strip()
    name = getattr(previous, "name", "")
    body = f"请重新派遣{f'（原处置部门：{name}）' if name else ''}：{reason}"
    body_en = f"please dispatch it again{f' (handled before by {name})' if name else ''}: {reason}"
    recipients.tell_staff(recipients.dispatchers(case), case, "reopened", "重新办理", body, body_en=body_en,
                          actor=ctx.actor)
    if case.is_self_handled:
        _tell_self_handler(ctx, reason)
    ctx.tell = "已重新办理"


def _tell_self_handler(ctx: Ctx, reason: str) -> None:
    """A 自行处置 case reopened: whoever handled it on the spot hears of it in their inbox, with the reason (it is
    their work that is called in question). The step says the closing reopened was a 自行处置 (the case keeps its
    flag: it is how the case entered the record, which the evaluation counts). A self-handler who is told as a
    reporter anyway (`tell_reporters`: their own report row, not the link that reopened it) is not told twice;
    the one whose link the resident used is told here only."""
    case = ctx.case
    ctx.data["self_handled"] = True
    handlers = set(case.steps.filter(action="self_handle", actor__isnull=False).values_list("actor_id", flat=True))
    told_as_reporters = set(CaseReporter.objects.filter(case=case, user_id__in=handlers, user__is_active=True)
                            .exclude(pk=getattr(ctx.reporter, "pk", None)).values_list("user_id", flat=True))
    told_as_reporters.discard(getattr(ctx.reporter, "user_id", None))
    users = User.objects.filter(pk__in=handlers - told_as_reporters, is_active=True).order_by("pk")
    recipients.tell_staff(users, case, "self_handled_reopened", "重新办理",
                          f"您自行处置的问题被申请重新办理，已回到待派遣：{reason}",
                          body_en=f"the problem you handled on the spot was reopened and waits to be dispatched "
                                  f"again: {reason}", actor=ctx.actor)

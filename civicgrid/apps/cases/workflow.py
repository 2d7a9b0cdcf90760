"""The case loop as a transition table (DOMAIN.md §3). It drives both the services' checks and the buttons."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.access.scope import _grants
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.workflow.engine import Transition, Workflow

from . import clocks, conf
from .models import Status

S = Status

# Who may do what (within their scope: a case is only ever reached through Case.objects.visible_to).
_FIELD = {Role.GRID_WORKER, Role.COMMUNITY_STAFF}
_DISPATCH = {Role.COMMAND_DISPATCHER, Role.STREET_DISPATCHER}
grant_capabilities("cases.view", _FIELD | _DISPATCH | {Role.STREET_STAFF, Role.DEPARTMENT_HANDLER, Role.LEADER})
grant_capabilities("cases.report", _FIELD | _DISPATCH | {Role.STREET_STAFF, Role.VOLUNTEER, Role.RESIDENT})
grant_capabilities("cases.intake", _DISPATCH)  # 受理员 / 值班长
grant_capabilities("cases.check", _FIELD)  # 核实
grant_capabilities("cases.dispatch", _DISPATCH)
grant_capabilities("cases.handle", {Role.DEPARTMENT_HANDLER})
grant_capabilities("cases.verify", _FIELD)  # 核查
grant_capabilities("cases.close", _DISPATCH)
grant_capabilities("cases.approve", {Role.COMMAND_DISPATCHER, Role.LEADER})
grant_capabilities("cases.supervise", {Role.LEADER})
# 重大事件 after the report: the command centre's and streets' dispatchers and shift leads (值班长), and leaders.
grant_capabilities("cases.mark_major", _DISPATCH | {Role.LEADER})
grant_capabilities("cases.reopen", _DISPATCH | {Role.RESIDENT})
# A department handler's grant names its department only: the ledger it exports holds the cases assigned to that
# department (`Case.scope_department_field`), as its case list does.
grant_capabilities("cases.export", _DISPATCH | {Role.STREET_STAFF, Role.LEADER, Role.DEPARTMENT_HANDLER})
# Street and community staff evaluate their own region only, and only its street/community, grids and grid workers
# (`evaluation.selectors.REGIONAL_SUBJECTS`; DOMAIN §4 evaluates streets and communities).
grant_capabilities("cases.evaluate", {Role.COMMAND_DISPATCHER, Role.LEADER, Role.STREET_STAFF, Role.COMMUNITY_STAFF})
grant_capabilities("categories.manage", {Role.SYSTEM_ADMIN, Role.COMMAND_DISPATCHER})


def _is_case_department(case, user) -> bool:
    """Department work belongs to the handlers of the department the case is dispatched to."""
    if user.is_superuser:
        return True
    return case.department_id is not None and any(
        g.role == Role.DEPARTMENT_HANDLER and g.department_id == case.department_id for g in _grants(user)
    )


def _extension_pending(case) -> bool:
    return case.extension_pending


def _may_request_extension(case) -> bool:
    """申请延期: no request waits, and the handling deadline has not passed. A 延期 is asked for within the time
    limit (DOMAIN.md §3): a department already late gets no fresh deadline that would clear its lateness from
    按期处置 (an approver may still decide a request made in time after the deadline has passed)."""
    return not case.extension_pending and clocks.passed_handling_deadline(case, timezone.now()) is None


def _extension_request_refused(case) -> str:
    if case.extension_pending:
        return "已有待审批的延期申请 / an extension request is already waiting"
    due = clocks.passed_handling_deadline(case, timezone.now())
    shown = f"{timezone.localtime(due):%Y-%m-%d %H:%M}" if due is not None else ""
    return (f"处置期限（{shown}）已过，延期须在处置期限内申请；本案卷已超期，超期将计入考核，请尽快处置并反馈 / "
            f"the handling deadline ({shown}) has passed: an extension must be asked for before it; the case is "
            f"overdue, which counts in the evaluation: handle it and report back")


def _first_intake(case) -> bool:
    """Still at its first intake: never dispatched (`dispatched_at` stays set through 退回 and 重新办理) and never
    reopened (a self-handled case is closed without a dispatch). A case back at 待派遣 after 退回 or 重新办理 has a
    history of its own, ratings and a reopen request its reporters follow: merging it would turn them back to
    another case's intake."""
    return case.dispatched_at is None and not case.reopen_count


def _is_reporter_or_staff(case, user) -> bool:
    if case.reporter_id == user.pk or user.is_superuser:
        return True
    return any(g.role in _DISPATCH for g in _grants(user))


def _not_major(case) -> bool:
    return not case.is_major


def _is_major(case) -> bool:
    return case.is_major


def _category_if_none(case) -> tuple[str, ...]:
    return () if case.category_id else ("category",)


def reopen_deadline(case):
    """Until when a closed case may be reopened: `CIVICGRID_REOPEN_DAYS` (default 7) after its closing."""
    return case.closed_at + timedelta(days=conf.reopen_days()) if case.closed_at is not None else None


def reopen_window_open(case) -> bool:
    """Whether a closed case may still be reopened (by a dispatcher or through the reporter's link)."""
    deadline = reopen_deadline(case)
    return deadline is not None and deadline >= timezone.now()


def rating_deadline(case):
    """Until when the reporters may rate the present closing: `conf.rating_days` after it."""
    return case.closed_at + timedelta(days=conf.rating_days()) if case.closed_at is not None else None


def rating_window_open(case) -> bool:
    """Whether a closed case's present closing may still be rated (through the reporter's link)."""
    deadline = rating_deadline(case)
    return deadline is not None and deadline >= timezone.now()


def _reopen_window_label(case) -> str:
    days = conf.reopen_days()
    return f"已超过结案后 {days} 天的重新办理期限 / the {days} days after closing for reopening have passed"


OPEN = frozenset({S.REPORTED, S.CHECKING, S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.HANDLED, S.VERIFIED})
IN_HAND = frozenset({S.DISPATCHED, S.HANDLING})
IN_LOOP = OPEN | {S.SUSPENDED}  # not ended (closed, refused, voided, merged): 挂账 waits in the loop

CASE_WORKFLOW = Workflow(
    name="case",
    states={s.value: str(s.label) for s in Status},
    transitions=[
        # A case reported without a category is accepted with one (its limits and body are the category's).
        Transition("accept", "立案", frozenset({S.REPORTED}), S.ACCEPTED, "cases.intake", style="primary", order=10,
                   requires_of=_category_if_none),
        Transition("check_request", "派发核实", frozenset({S.REPORTED}), S.CHECKING, "cases.intake", order=11),
        Transition("check_result", "核实反馈", frozenset({S.CHECKING}), S.REPORTED, "cases.check",
                   requires=("result",), style="primary", order=12),
        Transition("refuse", "不予受理", frozenset({S.REPORTED, S.CHECKING}), S.REFUSED, "cases.intake",
                   requires=("reason",), style="danger", order=90),
        Transition("void", "作废", frozenset({S.REPORTED, S.CHECKING, S.ACCEPTED}), S.VOIDED, "cases.intake",
                   requires=("reason",), style="danger", order=91),
        Transition("merge", "合并到主案卷", frozenset({S.REPORTED, S.CHECKING, S.ACCEPTED}), S.MERGED,
                   "cases.intake", when=_first_intake,
                   when_label="只有尚未派遣过的案卷可以合并，退回或重新办理的案卷已有办理过程 / only a case never "
                              "dispatched can be merged: a sent-back or reopened case has a handling history",
                   requires=("parent",), order=80),
        Transition("dispatch", "派遣", frozenset({S.ACCEPTED}), S.DISPATCHED, "cases.dispatch",
                   requires=("department",), style="primary", order=20),
        # 改派: the dispatchers take a dispatch back from the department and send it to another, with the reason,
        # until the department reports back (待处置 or 处置中; the department is told, and if it had started,
        # to stop). After 处置反馈 the case is 核查's; 挂账 is resumed first.
        Transition("redirect", "改派", IN_HAND, S.DISPATCHED, "cases.dispatch",
                   requires=("department", "reason"), order=21),
        Transition("send_back", "退回", IN_HAND, S.ACCEPTED, "cases.handle", guard=_is_case_department,
                   requires=("reason",), style="danger", order=39),
        Transition("start", "开始处置", frozenset({S.DISPATCHED}), S.HANDLING, "cases.handle",
                   guard=_is_case_department, style="primary", order=30),
        Transition("progress", "处置进展", IN_HAND, None, "cases.handle", guard=_is_case_department,
                   requires=("note",), order=31),
        Transition("request_extension", "申请延期", IN_HAND, None, "cases.handle", guard=_is_case_department,
                   when=_may_request_extension, when_label=_extension_request_refused,
                   requires=("reason", "hours"), order=33),
        Transition("decide_extension", "审批延期", IN_HAND, None, "cases.approve", when=_extension_pending,
                   when_label="没有待审批的延期申请 / no extension request is waiting",
                   requires=("decision",), style="primary", order=34),
        Transition("report_back", "处置反馈", IN_HAND, S.HANDLED, "cases.handle", guard=_is_case_department,
                   requires=("note",), style="primary", order=32),
        # 核查 on site needs a photo (inputs["photos"]: an empty list counts as missing).
        Transition("verify", "核查通过", frozenset({S.HANDLED}), S.VERIFIED, "cases.verify",
                   requires=("photos",), style="primary", order=40),
        Transition("rework", "核查不通过（返工）", frozenset({S.HANDLED}), S.DISPATCHED, "cases.verify",
                   requires=("reason",), style="danger", order=41),
        Transition("close", "结案", frozenset({S.VERIFIED}), S.CLOSED, "cases.close", style="primary", order=50),
        Transition("suspend", "挂账", frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING}), S.SUSPENDED,
                   "cases.approve", requires=("reason",), order=70),
        # Target None: 恢复办理 returns the case to the state it was suspended from (Case.suspended_from),
        # where its paused clocks resume; the service sets the status.
        Transition("unsuspend", "恢复办理", frozenset({S.SUSPENDED}), None, "cases.approve", order=71),
        # 督办 while the case is in the loop, 挂账 included (挂账督办: leaders press for a problem on hold to be solved).
        Transition("supervise", "督办", IN_LOOP, None, "cases.supervise", requires=("note",), order=60),
        # 重大事件 marked (or the mark taken back) while the case is in the loop, with the reason: the leaders who
        # supervise are told as at report (`handlers.on_marked_major`); the lane and the list follow `is_major`.
        Transition("mark_major", "标记重大事件", IN_LOOP, None, "cases.mark_major", when=_not_major,
                   when_label="该事件已是重大事件 / the case is already marked major",
                   requires=("reason",), order=62),
        Transition("unmark_major", "取消重大事件", IN_LOOP, None, "cases.mark_major", when=_is_major,
                   when_label="该事件不是重大事件 / the case is not marked major",
                   requires=("reason",), order=63),
        # Only within the days after closing: past them the page offers no button and the service refuses.
        Transition("reopen", "重新办理", frozenset({S.CLOSED}), S.ACCEPTED, "cases.reopen",
                   guard=_is_reporter_or_staff, when=reopen_window_open, when_label=_reopen_window_label,
                   requires=("reason",), order=95),
    ],
)



def allowed_actions(case, user) -> list[Transition]:
    """What `services.act` lets this user do to this case now, inputs aside: the table's state, role, guard and
    condition, and the reach of the capability's grant (`Workflow.allowed_in_scope`, one query; a case can be
    visible without being in reach: a reporter follows their own report outside their region, but its work there
    is not theirs). Buttons, the API's list and `act` (`services.common.ensure_capability_scope`) share this check."""
    return CASE_WORKFLOW.allowed_in_scope(case, user)


# Timeline entries that are not transitions of the table (Chinese; pages translate them with context "step").
EXTRA_STEP_LABELS = {
    "report": "上报",
    "self_handle": "自行处置",
    "merged_in": "合并案卷",
    "rate": "评价",
    "auto_supervise": "超期自动督办",
    "add_photos": "补充照片",
    "auto_dispatch_held": "未自动派遣",  # the router was confident, yet the case waits (the note says why)
    "comment": "留言",  # a reporter's or a public channel's note (Open311 servicerequestupdates)
    "merged_supervision": "并入案卷的督办",  # a merged case's 督办, moved to (or recorded on) the case it joined
}

# The steps by which a person on the staff takes a case in hand (`Case.reviewed_at`, `services.transitions`):
# every transition of the table but those a reporter takes too (重新办理) and those that end the case for what it
# is (不予受理, 作废: nothing of it is published then), and 自行处置. Taken by an account of a person, not by a
# system account (`models.SYSTEM_USERNAMES`: the router's auto-dispatch); the reporter's own steps (上报, 留言,
# 评价, 补充照片) never count.
REVIEW_ACTIONS = frozenset(t.name for t in CASE_WORKFLOW.transitions) - {"reopen", "refuse", "void"} | {"self_handle"}

# Audit actions: "cases." + the step's name (services.common.record), named as the buttons and the timeline are.
audit_labels.register_domain("cases", gettext_lazy("事件办理"), order=100)
audit_labels.name_actions({
    **{f"cases.{name}": pgettext_lazy("step", label) for name, label in EXTRA_STEP_LABELS.items()},
    **{f"cases.{t.name}": pgettext_lazy("action", t.label) for t in CASE_WORKFLOW.transitions},
    "cases.comment": gettext_lazy("留言"),
})

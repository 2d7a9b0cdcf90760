"""The command centre's side of the loop: 立案, 核实, 不予受理, 作废, 合并, 派遣, 改派."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.models import User
from civicgrid.foundation.audit.service import text_mark
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.core.pii import scrub
from civicgrid.foundation.orgs.models import Organisation, handles_cases, handling_kinds_text

from .. import clocks, conf, duplicates, recipients
from ..models import MERGE_PARENT_STATUSES, Case, CaseReporter, Status
from ..workflow import CASE_WORKFLOW
from . import routing_proposals
from .common import (
    NOT_FOUND,
    MissingInput,
    add_step,
    drop_extension_request,
    ensure_capability_scope,
    lock,
    publish,
    record,
    snapshot,
    truthy,
)
from .intake import require_subclass, resolve_category
from .transitions import ACCEPT_NEEDS_CATEGORY, Ctx, action

CHECK_RESULTS = {"confirmed": "属实", "unconfirmed": "不属实"}
CHECK_RESULTS_EN = {"confirmed": "confirmed", "unconfirmed": "not confirmed"}


def resolve_department(value, *, field: str = "department") -> Organisation:
    """An active organisation of a kind that handles cases (`orgs.handles_cases`), by instance or id; anything
    else is a clear error naming `field`."""
    pk = value.pk if isinstance(value, Organisation) else value
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        pk = 0
    found = Organisation.objects.filter(pk=pk, is_active=True).first() if 0 < pk < 2**63 else None
    if found is None:
        shown = quotable(value)
        raise ValidationFailed(f"未知的处置部门：「{shown}」 / unknown department \"{shown}\"", field=field)
    if not handles_cases(found):
        raise ValidationFailed(f"「{found.name}」不办理派遣的事件，请选择{handling_kinds_text()} / \"{found.name}\" is not an "
                               f"organisation that handles cases", field=field)
    return found


def _correct_rule(ctx: Ctx, department: Organisation) -> dict:
    """Dispatch with `correct_rule`: from now on this category in this region (`rule_region`, by default the
    case's street) routes to the chosen department, the rule keeping its own 说明. The routing service checks the dispatcher may manage rules
    and audits the change; without that permission the whole dispatch is refused.

    When a more specific rule (a community's or grid's, or a 包保 rule) still decides at the case's own place and
    sends elsewhere, the corrected rule does not change where cases like this one go: the step keeps that rule
    under `overridden_by`, and the case page warns and links its correction (as the rule form does). The rule
    the dispatcher named is the one corrected: the deeper rule was set on purpose for its place, and rewriting
    it unasked from one case would move cases the dispatcher never looked at."""
    from civicgrid.apps.categories.services import correct_rule, overriding_route

    case = ctx.case
    region = str(ctx.inputs.get("rule_region") or case.region_code[:9]).strip()
    if not case.region_code.startswith(region) or len(region) not in (6, 9, 12, 15):
        raise ValidationFailed("rule_region 须为本案所在区域或其上级的代码 / rule_region must contain the case",
                               field="rule_region")
    # The step's note is about this case (it may name residents and their numbers): never the rule's 说明, which
    # the rule keeps. A 退回's open 规则更正建议 makes this the correction it asked for (audited as such, and
    # closed); otherwise it is the dispatcher's own override.
    from_send_back = routing_proposals.has_open(case)
    rule = correct_rule(actor=ctx.actor, category=case.category, region_code=region, department=department,
                        reference=case.number, at_dispatch=not from_send_back)
    if from_send_back:
        routing_proposals.accept_for_case(actor=ctx.actor, case=case, rule_id=rule.pk)
    corrected = {"rule": rule.pk, "region_code": region, "department": department.pk}
    route = overriding_route(case.category, region, case.region_code)
    if route is not None and route.department.pk != department.pk:
        corrected["overridden_by"] = {"rule": route.rule.pk, "region_code": route.rule.region_code,
                                      "department": route.department.pk}
    return corrected


@action("accept")
def accept(ctx: Ctx) -> None:
    """立案: the report is a case; the intake clock stops and the dispatch clock starts. The category may be
    set or corrected here, and a case is not accepted without one: its 立案条件, time limit and responsible body
    are the category's, and the evaluation counts cases by it."""
    case = ctx.case
    if not case.category_id and ctx.inputs.get("category") in (None, ""):
        raise MissingInput(ACCEPT_NEEDS_CATEGORY, field="category")
    if ctx.inputs.get("category") in (None, ""):
        require_subclass(case.category)  # kept (「不变」): a class (Open311 may file one) is not accepted
    else:
        category = resolve_category(ctx.inputs["category"])
        if category.pk != case.category_id:
            ctx.data["category"] = {"from": case.category_id, "to": category.pk}
            case.category = category
            from .intake import suggest_department

            case.suggested_department = suggest_department(category, case.region_code)
    case.accepted_at = ctx.at
    case.accepted_by = ctx.actor if getattr(ctx.actor, "is_authenticated", False) else None
    clocks.stop(case, clocks.INTAKE, ctx.at)
    clocks.start(case, clocks.DISPATCH, ctx.at)
    ctx.tell, ctx.milestone = "已立案", "accepted"


@action("check_request")
def check_request(ctx: Ctx) -> None:
    """派发核实: a grid worker of the grid confirms on site; intake waits (its clock pauses) meanwhile."""
    case = ctx.case
    clocks.pause(case, clocks.INTAKE, ctx.at)
    clocks.start(case, clocks.CHECK, ctx.at)
    recipients.tell_staff(recipients.staff_for(case, "cases.check"), case, "check_task", "核实任务", actor=ctx.actor)


@action("check_result")
def check_result(ctx: Ctx) -> None:
    """核实反馈: confirmed or not; the case returns to intake, which accepts or refuses it."""
    case = ctx.case
    result = str(ctx.inputs.get("result") or "").strip()
    if result not in CHECK_RESULTS:
        raise ValidationFailed("核实结果须为 confirmed（属实）或 unconfirmed（不属实） / result must be confirmed or "
                               "unconfirmed", field="result")
    ctx.data["result"] = result
    if not str(ctx.inputs.get("note") or "").strip():  # no word from the worker: the result is the note
        ctx.note, ctx.note_en = CHECK_RESULTS[result], CHECK_RESULTS_EN[result]
    clocks.stop(case, clocks.CHECK, ctx.at)
    clocks.resume(case, clocks.INTAKE, ctx.at)
    recipients.tell_staff(recipients.staff_for(case, "cases.intake"), case, "check_done", f"核实{CHECK_RESULTS[result]}",
                          actor=ctx.actor)


# 不予受理 and 作废 take two texts: `reason` (内部原因, required: the timeline, the audit trail, staff only) and
# `public_note` (告知上报人的说明, optional): the only words of the step that reach the reporters (the message, the
# follow page, Open311's public updates), personal data masked (`pii.scrub`). Without one the reporters read a
# neutral default. Kept on the step's data (`PUBLIC_NOTE_KEY`), never in the audit trail's.
PUBLIC_NOTE_ACTIONS = frozenset({"refuse", "void"})
PUBLIC_NOTE_KEY = "public_note"
# Read in the reader's language (the follow page, the form's placeholder); never stored.
DEFAULT_PUBLIC_NOTES = {"refuse": gettext_noop("经核实，不予受理。"), "void": gettext_noop("经核实，该反映已作废。")}
# How long the reporters' note may be: it goes whole into an SMS (refused, never cut).
TOLD_REASON = 200


def public_note_of(inputs: dict) -> str:
    """The `public_note` input as the reporters will read it (masked, trimmed); "" when none was written."""
    return scrub(str(inputs.get(PUBLIC_NOTE_KEY) or "").replace("\x00", "")).strip()


def _tell_why(ctx: Ctx) -> None:
    """Tell reporters what `public_note` says (after what `ctx.tell` says), as the follow page and the public
    feed show it (`follow.public_note`); the default needs no repeating after 不予受理 / 已作废. The internal
    `reason` is never told."""
    # The step's note is the internal reason, with a `note` sent beside it (the API takes one): both stay inside.
    reason, extra = (str(ctx.inputs.get(k) or "").strip() for k in ("reason", "note"))
    ctx.note = f"{reason}\n{extra}" if extra and extra != reason else reason
    written = ctx.public_note = public_note_of(ctx.inputs)
    told = written.rstrip("。.；;，, ")
    if not told:
        return
    ctx.tell_en = f"{recipients.TELLS_EN[ctx.tell]}, note: {told}"
    ctx.tell = f"{ctx.tell}，说明：{told}"


@action("refuse")
def refuse(ctx: Ctx) -> None:
    """不予受理 with an internal reason: no step was completed, so the clocks stop without facts. Reporters are
    told the public note (or the default)."""
    clocks.stop_all(ctx.case, ctx.at)
    ctx.case.ended_at = ctx.at
    ctx.tell = "不予受理"
    _tell_why(ctx)


@action("void")
def void(ctx: Ctx) -> None:
    """作废 with an internal reason (counts against 准确立案率 when the case had been accepted). Reporters are told
    the public note (or the default)."""
    clocks.stop_all(ctx.case, ctx.at)
    ctx.case.ended_at = ctx.at
    ctx.data["was_accepted"] = ctx.case.accepted_at is not None
    ctx.tell = "已作废"
    _tell_why(ctx)


def _parent(actor, case: Case, value) -> Case:
    """The parent named (a case or its number): in the actor's intake scope, not the case itself, joinable."""
    number = value.number if isinstance(value, Case) else str(value or "").strip()
    if not number:
        raise MissingInput("请填写主案卷号 / give the parent case's number", field="parent")
    parent = (Case.objects.visible_to(actor, "intake").select_related("department", "category__parent")
              .filter(number=number[:20]).first())
    if parent is None:
        shown = quotable(number, 20)
        raise ValidationFailed(f"主案卷不存在或不在您的范围内：「{shown}」 / parent case \"{shown}\" not found or not in "
                               f"your scope", field="parent")
    if parent.pk == case.pk:
        raise ValidationFailed("不能合并到自身 / a case cannot be merged into itself", field="parent")
    _check_joinable(parent)
    return parent


@dataclass(frozen=True)
class MergePreview:
    """A merge of `case` into `parent` before it is taken: what the form shows before the confirmation (number,
    title, category, status, distance, time apart) and what `merge` decides by. A parent the duplicate finder
    offers (`duplicates.fit`) is merged on the confirmation alone; any other needs the dispatcher's reason
    (`needs_reason`), and one farther than `conf.merge_max_distance_m()` is refused whatever the reason
    (`too_far`)."""

    case: Case
    parent: Case
    fit: duplicates.Fit
    max_distance_m: float

    @property
    def distance_m(self) -> float:
        return self.fit.distance_m

    @property
    def seconds_apart(self) -> float:
        """From the case's report to the parent's: negative when the parent was reported first."""
        return (self.parent.reported_at - self.case.reported_at).total_seconds()

    @property
    def too_far(self) -> bool:
        return self.fit.distance_m > self.max_distance_m

    @property
    def needs_reason(self) -> bool:
        return not self.fit.offered

    def too_far_message(self) -> str:
        d, most, n = f"{self.fit.distance_m:.0f}", f"{self.max_distance_m:.0f}", self.parent.number
        return (f"主案卷 {n} 与本案卷相距 {d} 米，超过合并的最大距离 {most} 米，不能合并：相距这么远的两件案卷不是同一问题；"
                f"如为定位错误，请先核实两件案卷的位置 / case {n} is {d} m away, beyond the {most} m a merge may span: "
                f"cases so far apart are not one problem; if a location is wrong, check both first")

    def reason_message(self) -> str:
        zh = "；".join(r.partition(" / ")[0] for r in self.fit.reasons)
        en = "; ".join(r.partition(" / ")[2] or r for r in self.fit.reasons)
        n = self.parent.number
        return (f"主案卷 {n} 不在本案卷的疑似重复之列（{zh}）：确为同一问题需要合并的，请填写合并理由，理由记入办理过程和审计记录 / "
                f"case {n} is not among this case's possible duplicates ({en}): to merge into it anyway, give the "
                f"reason, which the timeline and the audit trail keep")


def _preview(actor, case: Case, parent: Case) -> MergePreview:
    # The texts are weighed among the cases the case page searches (its list of possible duplicates).
    fit = duplicates.fit(case, parent, queryset=Case.objects.visible_to(actor))
    return MergePreview(case, parent, fit, conf.merge_max_distance_m())


def merge_preview(*, actor, case: Case, parent) -> MergePreview:
    """What merging `case` into `parent` (a case or its number) would join, for the form's preview step and the
    API's: checked as the merge itself is (the case in scope, the transition open to the actor in its state, the
    parent in scope and joinable: the same refusals), nothing written. A parent too far, or one needing a
    reason, is not refused here: the preview says so."""
    case = Case.objects.visible_to(actor).select_related("category__parent").filter(pk=case.pk).first()
    if case is None:  # as it is now (the page's copy may be older), and 404 outside the actor's scope
        raise NotFound(NOT_FOUND)
    t = CASE_WORKFLOW.transition("merge")
    CASE_WORKFLOW.check(case, actor, "merge", {"parent": parent or "-"})
    ensure_capability_scope(actor, case, t.capability, t.label)
    return _preview(actor, case, _parent(actor, case, parent))


def _guard(ctx: Ctx, parent: Case) -> None:
    """Refuse a merge into a parent too far away, and into one the duplicate finder does not offer unless a
    reason is given; the reason is the step's note (the timeline) and the audit trail keeps what the finder
    found and that a reason was given (its length and digest, as the trail keeps all free text)."""
    preview = _preview(ctx.actor, ctx.case, parent)
    if preview.too_far:
        raise ValidationFailed(preview.too_far_message(), field="parent")
    if not preview.needs_reason:
        return
    reason = str(ctx.inputs.get("reason") or "").strip()
    if not reason:
        raise MissingInput(preview.reason_message(), field="reason")
    ctx.data["not_offered"] = {"codes": list(preview.fit.codes), "why": list(preview.fit.reasons),
                               "distance_m": preview.distance_m, "reason": text_mark(reason)}
    ctx.event["not_offered"] = list(preview.fit.codes)


def _check_joinable(parent: Case) -> None:
    if parent.status not in MERGE_PARENT_STATUSES or parent.parent_id:
        raise ValidationFailed("主案卷须为仍在办理或挂账的案卷，已结案、不予受理、已作废或已合并的案卷不能再并入 / the "
                               "parent must be a case still being handled or on hold (suspended), not one closed, "
                               "refused, voided or merged", field="parent")


def supervisions(case: Case) -> list[dict]:
    """The leaders' 督办 a case carries, oldest first: its own 督办 steps, and those that came with cases merged into
    it (`merged_supervision` steps). Each is {"case", "step", "by" (account id), "by_name", "note", "at"}.
    超期自动督办 is not among them: it marks the case's own step as late, which stays on that case's record (and in
    the evaluation) when it is merged; the parent's own clocks escalate the parent."""
    if not case.is_supervised:
        return []
    found = []
    for step in case.steps.filter(action__in=("supervise", "merged_supervision")).order_by("at", "pk"):
        if step.action == "merged_supervision":
            found += (step.data or {}).get("supervisions", [])
        else:
            found.append({"case": case.number, "step": step.pk, "by": step.actor_id, "by_name": step.actor_label,
                          "note": step.note, "at": step.at.isoformat()})
    return found


def _carry_supervision(ctx: Ctx, parent: Case, carried: list[dict]) -> None:
    """A supervised duplicate's 督办 goes on with the case that now carries its problem (合并 would otherwise drop
    it from the 督办中的案件 lane unseen): the parent is put under supervision unless it already is, in which case
    it keeps its own and the duplicate's is recorded beside it. Either way a step on the parent keeps who
    supervised, when and with what words, with its audit entry and event; whoever answers for the parent's
    next step hears of a supervision that moved (a parent already supervised told them before), and each
    supervising leader is told where their 督办 went (`supervision_merged`, for their information)."""
    case = ctx.case
    parent = lock(parent)  # the flag is set on the parent's row: no transition of it may save over it meanwhile
    _check_joinable(parent)
    before = snapshot(parent)
    moved = not parent.is_supervised
    words = "；".join(f"{s['by_name']}：{s['note']}" for s in carried)
    if moved:
        parent.is_supervised = True
        parent.save(update_fields=["is_supervised", "updated_at"])
        note = f"合并案卷 {case.number} 的督办转入本案卷（{words}）"
        note_en = f"the supervision of case {case.number}, merged into this one, moves here ({words})"
    else:
        note = f"本案卷已在督办中，保留原督办；合并案卷 {case.number} 的督办意见一并记录（{words}）"
        note_en = (f"this case is already under supervision, which stays; the supervision of case {case.number}, "
                   f"merged into it, is recorded too ({words})")
    data = {"child": case.number, "moved": moved, "supervisions": carried}
    step = add_step(parent, action="merged_supervision", actor=ctx.actor, at=ctx.at, note=note, note_en=note_en,
                    data=data, department=parent.department)
    # The leaders' words stay on the step (the timeline, the case file), not in the audit trail's data.
    record(parent, actor=ctx.actor, action="merged_supervision", before=before,
           data={"child": case.number, "moved": moved, "step": step.pk, "supervisions": [s["step"] for s in carried]})
    publish(parent, "supervision_merged", action="merged_supervision", child=case.number, moved=moved,
            step_id=step.pk)
    if moved:
        recipients.tell_supervision(parent, words, actor=ctx.actor, moved_from=case.number)
    leaders = User.objects.filter(pk__in={s["by"] for s in carried if s["by"]}, is_active=True).order_by("pk")
    body = (f"您督办的案卷 {case.number} 已合并到本案卷 {parent.number}，"
            + ("督办随之转入本案卷" if moved else "本案卷已在督办中，您的督办意见已记入本案卷"))
    body_en = (f"case {case.number}, which you supervise, was merged into case {parent.number}: "
               + ("the supervision moved with it" if moved else "that case is already under supervision; your "
                  "words are recorded on it"))
    recipients.tell_staff(leaders, parent, "supervision_merged", "督办案卷已合并", body, body_en=body_en,
                          actor=ctx.actor)


@action("merge")
def merge(ctx: Ctx) -> None:
    """合并: the duplicate joins its parent; its reporters (and cases merged into it) follow the parent, and so does
    a leader's 督办 of it (`_carry_supervision`). A parent the duplicate finder does not offer takes a reason, one
    too far away none (`_guard`)."""
    case = ctx.case
    parent = _parent(ctx.actor, case, ctx.inputs.get("parent"))
    _guard(ctx, parent)
    carried = supervisions(case)
    clocks.stop_all(case, ctx.at)
    case.parent = parent
    case.ended_at = ctx.at
    moving = list(CaseReporter.objects.filter(case=case).values_list("pk", flat=True))
    moved = CaseReporter.objects.filter(pk__in=moving).update(case=parent)
    Case.objects.filter(parent=case).update(parent=parent)
    ctx.data.update({"parent": parent.number, "reporters_moved": moved})
    ctx.event["parent_number"] = parent.number
    note, note_en, data = f"合并案卷 {case.number}", f"case {case.number} merged into this one", {"child": case.number}
    if "not_offered" in ctx.data:  # the parent's timeline says so too, with the dispatcher's reason
        reason = str(ctx.inputs.get("reason") or "").strip()
        note += f"（不在疑似重复之列，合并理由：{reason}）"
        note_en += f" (not among its possible duplicates; reason: {reason})"
        data["not_offered"] = ctx.data["not_offered"]["codes"]
    add_step(parent, action="merged_in", actor=ctx.actor, at=ctx.at, note=note, note_en=note_en,
             data={**data, "reporters_moved": moved}, department=parent.department)
    record(parent, actor=ctx.actor, action="merged_in", before=None, data=data)
    if carried:
        ctx.data["supervisions_carried"] = len(carried)
        _carry_supervision(ctx, parent, carried)
    # The reporters who came with the duplicate now follow the parent: tell them (not the parent's own).
    recipients.tell_reporters(parent, f"已与同一问题的案卷合并办理（原案卷号 {case.number}）",
                              text_en=f"is handled together with a case about the same problem (it was case "
                                      f"{case.number})", except_user=ctx.actor, reporter_ids=moving)


def _reopen_reason(case: Case) -> str | None:
    """The reason of the 重新办理 this dispatch follows (none dispatched it since), or None."""
    if not case.reopen_count:
        return None
    last = (case.steps.filter(action__in=("reopen", "dispatch")).order_by("-at", "-pk")
            .values_list("action", "note").first())
    return last[1] if last is not None and last[0] == "reopen" else None


def _staffed(department: Organisation) -> list:
    """The department's handlers, told of the new task; none, and no one could act on it: refused."""
    handlers = recipients.department_handlers(department.pk)
    if not handlers:
        raise ValidationFailed(f"「{department.name}」还没有处置人员账号，派遣后无人能办理；请先由安全管理员为其授权处置人员 / "
                               f"\"{department.name}\" has no handler accounts yet: grant one first", field="department")
    return handlers


def _send_to(ctx: Ctx, department: Organisation, handlers: list) -> None:
    """What 派遣 and 改派 share: a choice other than the routing suggestion is kept as a correction for the
    router's retraining; a new assignment round (the handling clock starts with the category's limit, and the
    round's 按期处置 is judged afresh); `correct_rule` corrects the routing rule; the handlers get 新任务."""
    case = ctx.case
    drop_extension_request(case, ctx.data)  # a new assignment: nothing an earlier one asked for waits
    suggested = case.suggested_department_id
    ctx.data.update({"department": department.pk, "suggested_department": suggested,
                     "correction": bool(suggested and suggested != department.pk)})
    if case.suggestion:
        ctx.data["router_suggestion"] = case.suggestion
    case.department = department
    case.dispatched_at = ctx.at
    case.dispatched_by = ctx.actor if getattr(ctx.actor, "is_authenticated", False) else None
    clocks.stop(case, clocks.DISPATCH, ctx.at)
    clocks.begin_round(case)
    clocks.start(case, clocks.HANDLE, ctx.at)
    if truthy(ctx.inputs.get("correct_rule", False)):
        ctx.data["rule_corrected"] = _correct_rule(ctx, department)
    ctx.event.update({"correction": ctx.data["correction"], "suggested_department_id": suggested})
    ctx.department = department
    due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}" if case.deadline else ""
    # A deadline in a year whose holidays are not yet announced may still move (DOMAIN §3): the notice says so.
    provisional = bool(due) and clocks.deadline_provisional(case)
    body = f"{case.title}（处置期限 {due}{'，按临时日历推算' if provisional else ''}）" if due else ""
    body_en = f"{case.title} (handling deadline {due}{', on the provisional calendar' if provisional else ''})"
    reopened = _reopen_reason(case)
    if reopened is not None:  # the department hears of a 重新办理 when it has the work: here, with its reason
        body, body_en = (f"{body or case.title}；重新办理：{reopened}",
                         f"{body_en if due else case.title}; reopened: {reopened}")
    recipients.tell_staff(handlers, case, "new_task", "新任务", body, body_en=body_en, actor=ctx.actor)


@action("dispatch")
def dispatch(ctx: Ctx) -> None:
    """派遣 to a department (`_send_to`)."""
    department = resolve_department(ctx.inputs.get("department"))
    _send_to(ctx, department, _staffed(department))
    ctx.tell, ctx.milestone = "已派遣至处置部门", "dispatched"


@action("redirect")
def redirect(ctx: Ctx) -> None:
    """改派 by the dispatchers: the case dispatched to the wrong department is taken back and sent to another
    before that department reports back (待处置 or 处置中), with the reason. The old department's handling clock
    stops without a 按期处置 fact (as at 退回: it was not theirs to handle), its 新任务/返工 messages are settled
    (已改派) and it is told, with a word to stop if it had started; then the new department gets the case as
    at 派遣 (`_send_to`: a fresh handling clock and round, the optional rule correction, its 新任务). Counted as
    a dispatch redone (`redirect_count`), as 退回 is, by the evaluation's 准确派遣率. Reporters are not told: the
    problem is still being handled, by the right department now."""
    case = ctx.case
    previous = case.department
    department = resolve_department(ctx.inputs.get("department"))
    if previous is not None and department.pk == previous.pk:
        raise ValidationFailed(f"案卷已派遣至「{department.name}」，改派请选择另一个处置部门 / the case is already with "
                               f"\"{department.name}\": choose another department", field="department")
    handlers = _staffed(department)
    started = case.status == Status.HANDLING
    clocks.stop(case, clocks.HANDLE, ctx.at, record_fact=False)  # not theirs to handle: no 按期处置 fact
    case.redirect_count += 1
    ctx.data.update({"from_department": getattr(previous, "pk", None), "started": started})
    ctx.event.update({"from_department_id": getattr(previous, "pk", None), "started": started})
    recipients.settle_taken_back(case)  # before the new department's 新任务 goes out
    _send_to(ctx, department, handlers)
    if previous is not None and case.suggested_department_id == previous.pk:
        case.suggested_department = None  # the suggestion just proved wrong; do not pre-fill it again
    reason = str(ctx.inputs.get("reason") or "").strip()
    body = f"已改派至「{department.name}」，本部门的处置时限已停止" + \
        ("；本部门已开始处置，请停止并将已掌握的情况移交新部门" if started else "，无需再办理") + f"。原因：{reason}"
    body_en = f"taken back and sent to {department.name}; your handling deadline no longer runs" + \
        ("; you had started: please stop and hand over what you know to the new department" if started
         else ", nothing more to do") + f". Reason: {reason}"
    recipients.tell_staff(recipients.department_handlers(getattr(previous, "pk", None)), case, "redirected", "改派",
                          body, body_en=body_en, actor=ctx.actor)

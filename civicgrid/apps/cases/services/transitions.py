"""`act(...)`: every transition of `CASE_WORKFLOW` through one path.

    act(actor=dispatcher, case=case, action="dispatch", department=dept.pk)

Order of checks (each refusal changes nothing): the inputs themselves (no NUL, not too long: 400) → a form or
request sent again under its one-time key is answered as the first sending was (the same key with other
content: 409) → the case must be within the actor's scope (404 otherwise) → the page or client saw the case as
it is (`expected_step`, when sent: 409 naming what happened since) → the transition must start from the case's
state (409) and the actor's role may take it (403) → required inputs present (422) → the actor's grant for that
capability reaches the case (403). Then, in one
transaction: the action's own changes and clocks (`actions_intake`, `actions_handling`), the status, a
`CaseStep`, the photos, the audit entry and the `case.<…>` event; the task messages the step answers are settled
(`recipients.settle_tasks`) and reporters are told of status changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.workflow.engine import Transition
from civicgrid.foundation.workflow.steps import MAX_NOTE

from .. import clocks, recipients
from ..models import OPEN_STATUSES, SYSTEM_USERNAMES, Case
from ..workflow import CASE_WORKFLOW, REVIEW_ACTIONS
from .common import (
    MissingInput,
    add_step,
    attach_all,
    ensure_capability_scope,
    ensure_current,
    ensure_same_content,
    ensure_visible,
    lock,
    publish,
    read_photos,
    record,
    replayed_step,
    step_digest,
    step_key,
    user_or_none,
)


@dataclass
class Ctx:
    """One action being taken: what it acts on and what it has decided to record."""

    actor: object
    case: Case
    transition: Transition
    inputs: dict
    at: datetime
    photos: list
    note: str = ""
    note_en: str = ""  # the English of `note` when the system wrote it
    data: dict = field(default_factory=dict)
    event: dict = field(default_factory=dict)
    status: str | None = None  # set by actions whose target depends on the case (unsuspend)
    department: object = None  # the department the step is recorded against, when not the case's
    tell: str | None = None  # what reporters are told, when the status changed
    tell_en: str = ""  # its English, when it is not one of `recipients.TELLS_EN` (a refusal's reason)
    milestone: str | None = None  # what `tell` marks, told once (`recipients.MILESTONES`), whatever its words
    link: bool = False  # whether reporters get the follow link (rating after closing)
    key: str | None = None  # the hashed one-time key of the form or request (`common.step_key`)
    digest: str | None = None  # what that form or request carried (`common.step_digest`), kept beside the key
    reporter: object = None  # the CaseReporter whose follow link takes the step (told nothing of it)
    public_note: str = ""  # 不予受理, 作废: what the reporters read of the step (`actions_intake.PUBLIC_NOTE_KEY`)
    # What the action keeps beside its step once the step exists (退回: its 规则更正建议), each called with it.
    after_step: list = field(default_factory=list)


ACTIONS: dict[str, Callable[[Ctx], None]] = {}


def acts_in_person(actor) -> bool:
    """Whether `actor` is a person's own account: not the reporter's link, a channel's label or the system,
    nor an account a part of the system acts under (`SYSTEM_USERNAMES`: the router's auto-dispatch)."""
    user = user_or_none(actor)
    return user is not None and user.get_username() not in SYSTEM_USERNAMES


# Event topics, in the past tense subscribers expect.
TOPICS = {
    "accept": "accepted", "check_request": "check_requested", "check_result": "checked", "refuse": "refused",
    "void": "voided", "merge": "merged", "dispatch": "dispatched", "redirect": "redirected", "send_back": "sent_back",
    "start": "started", "progress": "progressed", "request_extension": "extension_requested", "decide_extension": "extension_decided",
    "report_back": "handled", "verify": "verified", "rework": "reworked", "close": "closed",
    "suspend": "suspended", "unsuspend": "unsuspended", "supervise": "supervised", "reopen": "reopened",
    "mark_major": "marked_major", "unmark_major": "unmarked_major",  # marked_major: as at report (`intake`)
}
# The free-text inputs an action records on its step (with their labels for the refusal).
FREE_TEXT = {"note": "说明", "reason": "原因"}
# The note told to the reporters (不予受理, 作废): short enough for a text message, taken by those actions only.
PUBLIC_NOTE_LABEL = "告知上报人的说明"
# Every input an action may take, as its form names it (a refusal of one names it so).
INPUT_LABELS = {**FREE_TEXT, "public_note": PUBLIC_NOTE_LABEL, "department": "处置部门", "category": "分类",
                "parent": "主案卷号", "hours": "延期时长", "decision": "审批结果", "result": "核实结果",
                "proposed_department": "应由哪个部门处置", "rule_region": "规则适用区域", "correct_rule": "更正分拨规则"}
PHOTO_KINDS = {"report_back": "after", "verify": "verify", "progress": "progress", "check_result": "verify"}


def action(name: str):
    """Register the function that carries out one transition of the table."""
    CASE_WORKFLOW.transition(name)  # a typo here fails at import, not at the first request

    def register(func):
        ACTIONS[name] = func
        return func

    return register


# A missing input said in the action's own words, where the check's "「…」须填写：field" would name a field code.
ACCEPT_NEEDS_CATEGORY = "立案须确定事项分类：请选择分类 / choose a category to accept the case"
MISSING_MESSAGES = {("accept", "category"): ACCEPT_NEEDS_CATEGORY}


def act(*, actor, case: Case, action: str, note_en: str = "", idempotency_key: str | None = None,
        expected_step=None, **inputs) -> Case:
    """Take `action` on `case` as `actor` with the action's inputs (reason, note, department, hours, photos …);
    `note_en`: the English of the note, when a part of the system acts and writes it.

    `idempotency_key`: the form's or request's one-time key. Sent again by the same actor with the same content
    (a browser resending a form whose answer was lost, a client retrying), it finds the step the first sending
    made and returns the case as it is, without a second step or a refusal of the now moved-on state; with other
    content (`common.step_digest`) it is refused (409, `KeyReused`), as is the same key for another case or
    action.

    `expected_step`: the case's version as the page or client saw it (`common.last_step_id`); when given, an
    action on a case that has had a step since is refused (409, saying what happened) and nothing changes."""
    t = CASE_WORKFLOW.transition(action)
    key = step_key(actor, idempotency_key)
    for name, value in inputs.items():  # PostgreSQL cannot store a NUL (a 500): refused by name, before anything
        refuse_nul(value, name, INPUT_LABELS.get(name, ""))
    for name, label in FREE_TEXT.items():
        if len(str(inputs.get(name) or "").strip()) > MAX_NOTE:  # refused, never cut: the timeline keeps it whole
            raise ValidationFailed(f"{label}不能超过 {MAX_NOTE} 个字符 / {name} is at most {MAX_NOTE} characters",
                                   field=name)
    _check_public_note(action, inputs)
    photos = _photos_of(action, inputs.pop("photos", None), t.label)
    digest = step_digest(action, inputs, photos) if key else None
    if replayed_step(key, case, action, digest):  # checked again under the lock (a resend racing the first)
        return case
    with transaction.atomic():
        case = lock(case)
        if replayed_step(key, case, action, digest):
            return case
        ensure_visible(actor, case)
        ensure_current(case, expected_step)
        try:
            CASE_WORKFLOW.check(case, actor, action, {**inputs, "photos": photos})
        except ValidationFailed as exc:
            raise MissingInput(MISSING_MESSAGES.get((action, exc.field), exc.message), field=exc.field) from None
        ensure_capability_scope(actor, case, t.capability, t.label)
        return run(Ctx(actor, case, t, inputs, timezone.now(), photos, note_en=note_en, key=key, digest=digest))


def _photos_of(action: str, items, label: str) -> list:
    """The photos sent with `action`, checked by content (`read_photos`), each of the action's kind."""
    kind = PHOTO_KINDS.get(action, "photo")
    return read_photos(_of_kind(items or (), kind, label), kind)


def _of_kind(items, kind: str, label: str) -> list:
    """An action's photos are of its kind (核查's show the site checked, 处置反馈's the work done), as the case page
    records the files sent with its form: one given another kind (the API's `kind`) is refused, not recorded as
    what it does not show."""
    items = list(items)
    for item in items:
        if isinstance(item, tuple) and item[0] != kind:
            shown = quotable(item[0], 16)
            raise ValidationFailed(f"「{label}」的照片类型须为 {kind}（或不填），不能是「{shown}」 / the photos of this "
                                   f"action are of kind {kind} (or none given), not \"{shown}\"",
                                   field="photos")
    return items


def _check_public_note(action: str, inputs: dict) -> None:
    """`public_note` only where the reporters are told one (不予受理, 作废), and short enough to be told whole: the
    words another action's step shows are its `note` (its form says where they go)."""
    from .actions_intake import PUBLIC_NOTE_ACTIONS, PUBLIC_NOTE_KEY, TOLD_REASON

    text = str(inputs.get(PUBLIC_NOTE_KEY) or "").strip()
    if not text:
        return
    if action not in PUBLIC_NOTE_ACTIONS:
        raise ValidationFailed(f"{PUBLIC_NOTE_LABEL}只用于不予受理和作废 / public_note is taken by refuse and void only",
                               field=PUBLIC_NOTE_KEY)
    if len(text) > TOLD_REASON:
        raise ValidationFailed(f"{PUBLIC_NOTE_LABEL}不能超过 {TOLD_REASON} 个字符（将以短信发送） / public_note is at most "
                               f"{TOLD_REASON} characters (it is sent as a text message)", field=PUBLIC_NOTE_KEY)


def replayed_case(*, actor, number: str, action: str, idempotency_key: str | None, inputs: dict | None = None,
                  photos=None) -> Case | None:
    """The case a first sending of this key took `action` on, when the case (by `number`) has since left the
    actor's scope through it (退回): the answer to the same form or request sent again. None otherwise. With
    `inputs` (and `photos`), what is sent again must be what the first sending carried (`KeyReused`, 409,
    otherwise: its content would be dropped)."""
    try:
        step = replayed_step(step_key(actor, idempotency_key), None, action)
        if step is None or step.case.number != str(number)[:20]:
            return None
        digest = None
        if inputs is not None:
            digest = step_digest(action, inputs, _photos_of(action, photos, CASE_WORKFLOW.transition(action).label))
    except (ValidationFailed, Conflict):
        return None
    ensure_same_content(step, digest)
    return step.case


# Transitions after which the case answers to new or moved clocks: a breach of the round before (a late
# department that sends the case back, a late closure reopened, a deadline an approved extension moved) no longer
# makes the open case 超期. The other steps keep the mark of the handling deadline they follow (`Case.deadline`).
NEW_ROUND = frozenset({"dispatch", "redirect", "send_back", "rework", "reopen", "unsuspend", "decide_extension"})


def run(ctx: Ctx) -> Case:
    """Carry out a checked transition (also used by the follow-link reopen, which checks by token)."""
    case, t = ctx.case, ctx.transition
    before = snapshot(case)
    from_status = case.status
    ACTIONS[t.name](ctx)
    if case.reviewed_at is None and t.name in REVIEW_ACTIONS and acts_in_person(ctx.actor):
        case.reviewed_at = ctx.at  # a person has taken it in hand: what the reporter wrote may now be published
    # The messages that asked for this step, or for one it makes moot, stop waiting in every reader's inbox.
    recipients.settle_tasks(case, t.name, ctx.data)
    if ctx.status:
        case.status = ctx.status
    elif t.target:
        case.status = t.target
    if case.is_overdue and t.name in NEW_ROUND and case.status in OPEN_STATUSES \
            and not clocks.any_breached(case, ctx.at):
        case.is_overdue = False  # the late round is over and the new one's clocks lie ahead
    case.save()
    changed = case.status != from_status
    note = ctx.note or str(ctx.inputs.get("note") or ctx.inputs.get("reason") or "").strip()
    # The reporters' note is the step's (the follow page, Open311), not the audit entry's: the trail keeps the
    # internal reason on the step and needs no second free text.
    step_data = {**ctx.data, "public_note": ctx.public_note} if ctx.public_note else ctx.data
    step = add_step(case, action=t.name, actor=ctx.actor, at=ctx.at, from_status=from_status,
                    to_status=case.status if changed else "", note=note, data=step_data,
                    department=ctx.department or case.department, note_en=ctx.note_en if note else "",
                    idempotency_key=ctx.key, idempotency_digest=ctx.digest)
    attach_all(case, ctx.photos, step=step, actor=ctx.actor)
    for keep in ctx.after_step:
        keep(step)
    record(case, actor=ctx.actor, action=t.name, before=before,
           data={**ctx.data, "step": step.pk, "photos": len(ctx.photos)})
    publish(case, TOPICS[t.name], action=t.name, from_status=from_status, step_id=step.pk, **ctx.event)
    if changed and ctx.tell:
        recipients.tell_reporters(case, ctx.tell, with_link=ctx.link, except_user=user_or_none(ctx.actor),
                                  text_en=ctx.tell_en, except_reporter=ctx.reporter,
                                  milestone=ctx.milestone)
    return case


def register_actions() -> None:
    """Import the modules that register actions, and make sure every transition has one."""
    from . import actions_handling, actions_intake  # noqa: F401

    missing = {t.name for t in CASE_WORKFLOW.transitions} - set(ACTIONS)
    if missing:
        raise RuntimeError(f"case transitions without an action: {sorted(missing)}")
    unknown = recipients.settling_transitions() - set(ACTIONS)
    if unknown:
        raise RuntimeError(f"task messages settled by transitions the table lacks: {sorted(unknown)}")

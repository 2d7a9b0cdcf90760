"""Who is told about a case: the people responsible for its next step, and everyone who reported it.

Staff are found through their active grants whose role carries the capability of the step they are told about
(`cases.handle` over the case's department; `cases.check`/`cases.verify`, `cases.dispatch`, `cases.approve` … over
a region covering the case's grid), so nobody is told about a case outside their scope and every role that may
take the step hears of it. The messages that ask for a step (`TASKS`) are settled for every reader by the
transitions that take it or make it moot (`settle_tasks`, one UPDATE per transition). Reporters are told
through the inbox when they have an account and through the configured SMS/email sender when they left a
contact (the sender decrypts the address only when it sends).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import roles_with
from civicgrid.foundation.access.scope import departments_with, user_roles
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.pii import scrub
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify import titles

from .models import PUBLIC_ROLES, Case, CaseReporter, Status

MOBILE = re.compile(r"1[3-9]\d{9}")  # a stored (normalised) mobile number: the only kind an SMS reaches
PHONE_CONTEXT = "cases.reporter.phone"
EMAIL_CONTEXT = "cases.reporter.email"
# What staff inbox titles say before "：<case number>" (stored in Chinese; the inbox shows the reader's language).
INBOX_TITLES = titles.register(
    gettext_noop("新任务"), gettext_noop("核实任务"), gettext_noop("核查任务"), gettext_noop("待结案"),
    gettext_noop("延期申请"), gettext_noop("延期申请同意"), gettext_noop("延期申请不同意"), gettext_noop("督办"),
    gettext_noop("返工"), gettext_noop("退回"), gettext_noop("重新办理"), gettext_noop("核实属实"),
    gettext_noop("核实不属实"), gettext_noop("案卷进展"),  # 案卷进展: a reporter's message (the status is in its body)
    gettext_noop("受理即将超期"), gettext_noop("核实即将超期"), gettext_noop("派遣即将超期"), gettext_noop("处置即将超期"),
    gettext_noop("核查即将超期"), gettext_noop("结案即将超期"),
    gettext_noop("受理已超期"), gettext_noop("核实已超期"), gettext_noop("派遣已超期"), gettext_noop("处置已超期"),
    gettext_noop("核查已超期"), gettext_noop("结案已超期"),
    gettext_noop("超期自动督办（受理）"), gettext_noop("超期自动督办（核实）"), gettext_noop("超期自动督办（派遣）"),
    gettext_noop("超期自动督办（处置）"), gettext_noop("超期自动督办（核查）"), gettext_noop("超期自动督办（结案）"),
    gettext_noop("挂账"), gettext_noop("恢复办理"),  # the department's handlers hear of both
    gettext_noop("重大事件"),  # the leaders who supervise, when a case is marked major
    gettext_noop("改派"),  # the department a case was taken from by 改派
    gettext_noop("督办案卷已合并"),  # the leaders whose 督办 went with a merged case to the case it joined
)
# The English of what reporters are told (`tell_reporters(text=...)`, the transitions' `ctx.tell`): the inbox shows
# it to a reporter reading in English; SMS and email go out in the district's language.
TELLS_EN = {
    "已收到": "has been received",
    "已自行处置并结案": "was handled on the spot and closed",
    "已立案": "has been accepted",
    "不予受理": "was not accepted",
    "已作废": "was voided",
    "已派遣至处置部门": "has been sent to the department that handles it",
    "已处置完毕，待现场核查": "has been handled and awaits an on-site check",
    "已办结，欢迎评价": "is closed; you are welcome to rate how it was handled",
    "已挂账（暂缓办理）": "is on hold (handling suspended for now)",
    "已恢复办理": "is being handled again",
    "已重新办理": "has been reopened",
}
# What a reporter who cannot rate (`rates_through_link`: staff reporting from the field, 自行处置) is told instead of
# a `TELLS_EN` text that invites a rating, with its English: the follow link stands for the public's word, and
# signed in, staff are refused when they rate through it (`services.follow.not_the_reporter`).
STAFF_TELLS = {"已办结，欢迎评价": ("已办结", "is closed")}


# The milestones a reporter hears of once, whatever the loop does inside (see the README, 「告知上报人」): the
# milestone an action names (`Ctx.milestone`, passed as `tell_reporters(milestone=...)`, never read from the words
# told, which may change or carry a note) → whether it comes once per round. A round is the case carrying the
# reporter now and its 重新办理 count: 派遣 again after 退回 and 处置反馈 again after 返工 stay inside the round and
# are not told twice; after 重新办理 the reporters hear of the new round's 派遣 and 处置 once more. 立案 is told once
# for good (a reporter whose own case was accepted before it was merged is not told of the carrier's 立案). The
# names are the keys of `CaseReporter.told`.
MILESTONES = {
    "accepted": False,
    "dispatched": True,
    "handled": True,
}


def _round(case: Case) -> str:
    return f"{case.pk}:{case.reopen_count}"


def _covering(code: str) -> list[str]:
    """The code itself and every ancestor code (a grant on any of them covers the grid)."""
    return [code[:n] for n in (6, 9, 12, 15) if n <= len(code)]


def _users(grants) -> list[User]:
    return list(User.objects.filter(is_active=True, grants__in=grants).distinct().order_by("pk"))


def _holders(capability: str, reach: Q) -> list[User]:
    """Active holders of a grant within `reach` whose role carries `capability` (`access.roles.roles_with`):
    the permission for the step decides who is told, not one role's name."""
    return _users(Grant.objects.active().filter(reach, role__in=sorted(roles_with(capability))))


def department_handlers(department_id: int | None) -> list[User]:
    """The handlers of a department (new tasks, rework, supervision, 挂账): whoever holds `cases.handle` for the
    department's work."""
    if not department_id:
        return []
    return _users(_handler_grants().filter(department_id=department_id))


def staffed_departments() -> set[int]:
    """The departments with at least one active holder of `cases.handle` (as `department_handlers` finds
    them): the ones a case can be sent to. One query."""
    return departments_with("cases.handle")


def _handler_grants():
    """The active grants whose role carries `cases.handle` (over a department's work)."""
    return Grant.objects.active().filter(role__in=sorted(roles_with("cases.handle")))


def staff_for(case: Case, capability: str) -> list[User]:
    """Whoever may take a step on `case` that needs `capability`: a grant carrying it whose region covers the
    case's grid, or over the case's department (the reach `Case.objects.visible_to` gives the grant)."""
    reach = Q(region__code__in=_covering(case.region_code))
    if case.department_id:
        reach |= Q(department_id=case.department_id)
    return _holders(capability, reach)


def dispatchers(case: Case) -> list[User]:
    """Who dispatches the case (told when it comes back to dispatch: 退回, 重新办理)."""
    return staff_for(case, "cases.dispatch")


def approvers(case: Case) -> list[User]:
    return staff_for(case, "cases.approve")


def leaders(case: Case) -> list[User]:
    """Who may put the case under supervision (told when the loop does so itself)."""
    return staff_for(case, "cases.supervise")


# What each step clock asks for: its holders answer for the step.
STEP_CAPABILITY = {"case.intake": "cases.intake", "case.check": "cases.check", "case.dispatch": "cases.dispatch",
                   "case.handle": "cases.handle", "case.verify": "cases.verify", "case.close": "cases.close"}
# The step an open case waits for, by its status.
WAITING_STEP = {Status.REPORTED: "case.intake", Status.CHECKING: "case.check", Status.ACCEPTED: "case.dispatch",
                Status.DISPATCHED: "case.handle", Status.HANDLING: "case.handle", Status.HANDLED: "case.verify",
                Status.VERIFIED: "case.close"}


def responsible_for(case: Case, clock_kind: str) -> list[User]:
    """Who answers for a step clock: the holders of the step's capability within reach (a department's
    handlers for handling, falling back to the dispatchers when it has none; grid workers and community staff
    for 核实/核查; dispatchers for intake, dispatch and closing)."""
    if clock_kind == "case.handle":
        return department_handlers(case.department_id) or dispatchers(case)
    return staff_for(case, STEP_CAPABILITY.get(clock_kind, "cases.dispatch"))


def responsible_now(case: Case) -> list[User]:
    """Who answers for the step the case waits for now (督办 goes to them); nobody for a case not waiting."""
    step = WAITING_STEP.get(case.status)
    return responsible_for(case, step) if step else []


def tell_supervision(case: Case, words: str, *, actor, moved_from: str = "") -> int:
    """Tell of a 督办 of `case` (`words`: the leader's) whoever it asks to act: whoever answers for the step the
    case waits for ("supervise", settled when that step is taken); for a case on hold (挂账督办) the approvers who
    may resume it, other than the leaders (a 督办 presses those who answer to them, not their peers), and the
    department that holds it ("supervise_suspended", settled by 恢复办理: no step of the loop waits until then).
    `moved_from`: the number of the merged case the 督办 came with."""
    if case.status == Status.SUSPENDED:
        supervisors = {u.pk for u in leaders(case)}
        kind = "supervise_suspended"
        users = [u for u in approvers(case) if u.pk not in supervisors] + department_handlers(case.department_id)
    else:
        kind, users = "supervise", responsible_now(case)
    body, body_en = words, ""  # a leader's own words are not translated
    if moved_from:
        body = f"由合并案卷 {moved_from} 转入：{words}"
        body_en = f"moved here from case {moved_from}, merged into this one: {words}"
    if kind == "supervise_suspended":
        body_en = f"on hold: press for a solution and resume handling: {body_en or words}"
        body = f"挂账中，请推动解决并恢复办理：{body}"
    return tell_staff(users, case, kind, "督办", body, body_en=body_en, actor=actor)


def tell_staff(users, case: Case, kind: str, title: str, body: str = "", dedupe: str | None = None,
               body_en: str = "", *, actor=None) -> int:
    """Inbox message about a case to each of `users` (`body_en`: the English of a body the system wrote). The
    `actor` whose action it reports is not told of their own action. The body (the case's title, a note or a
    reason written into it) is kept with its phone and ID numbers masked (`pii.scrub`), as lists show the title:
    a message is a list line that is forwarded, kept and read away from the case."""
    skip = getattr(actor, "pk", None)
    users = [u for u in users if u is not None and (skip is None or u.pk != skip)]
    return notify.notify_many(users, kind, f"{title}：{case.number}", scrub(body or case.title), target=case,
                              dedupe_prefix=dedupe, body_en=scrub(body_en) if body else "")


# ---- task messages: what settles them --------------------------------------------------------------------------
# A task message asks its readers to take a step. Once somebody takes it, or a transition makes it moot, the
# message is settled for every reader at once: read, with what became of it (`resolution`, words marked for
# translation and shown in the reader's language). Informational messages (延期申请同意, 挂账 …) stay as they are.
DONE = gettext_noop("已处理")  # the step asked for was taken (by this reader or another)
WITHDRAWN = gettext_noop("已撤销")  # a request that lapsed with the handling it was asked for
DECIDED = {"approve": gettext_noop("已同意"), "reject": gettext_noop("已不同意")}
# What a transition that makes the step moot says on the messages it settles.
MOOT = {"send_back": gettext_noop("已退回"), "redirect": gettext_noop("已改派"), "void": gettext_noop("已作废"),
        "merge": gettext_noop("已合并"), "refuse": gettext_noop("不予受理")}
# The transitions that end the step a case waits for (start, 挂账 and 恢复办理 keep it waiting).
STEP_ENDS = frozenset({"accept", "check_request", "check_result", "refuse", "void", "merge", "dispatch",
                       "redirect", "send_back", "report_back", "verify", "rework", "close"})


@dataclass(frozen=True)
class Task:
    """A message kind that asks for a step, and the transitions that settle it: `settled_by` names them, and
    `outcomes` says what a transition leaves on the message when it is not `MOOT`'s word or `DONE` (a text, or
    a function of the step's data)."""

    kind: str
    settled_by: frozenset[str]
    outcomes: Mapping[str, str | Callable[[dict], str]] = field(default_factory=dict)

    def outcome(self, transition: str, data: dict) -> str:
        found = self.outcomes.get(transition, MOOT.get(transition, DONE))
        return found(data) if callable(found) else found


TASKS = {task.kind: task for task in (
    Task("check_task", frozenset({"check_result", "refuse", "void", "merge"})),  # 核实任务 → 核实反馈
    Task("check_done", frozenset({"accept", "check_request", "refuse", "void", "merge"})),  # 核实属实 → 立案 or not
    Task("sent_back", frozenset({"dispatch", "void", "merge"})),  # 退回 → the dispatchers send it on
    Task("reopened", frozenset({"dispatch", "void"})),  # 重新办理 → the dispatchers dispatch it again
    # 改派 settles the old department's 新任务 and 返工 itself (`settle_taken_back`), before the new one is told.
    Task("new_task", frozenset({"report_back", "send_back"})),  # 新任务 → 处置反馈
    Task("rework", frozenset({"report_back", "send_back"})),  # 返工 → 处置反馈 again
    Task("verify_task", frozenset({"verify", "rework"})),  # 核查任务 → 核查 (passed or not)
    Task("close_task", frozenset({"close"})),  # 待结案 → 结案
    # 延期申请: decided by one approver, or withdrawn when the case leaves the handling it was asked for.
    Task("extension_request", frozenset({"decide_extension", "report_back", "send_back", "suspend", "dispatch",
                                         "redirect"}),
         {"decide_extension": lambda data: DECIDED[data["decision"]], "report_back": WITHDRAWN,
          "send_back": WITHDRAWN, "suspend": WITHDRAWN, "dispatch": WITHDRAWN, "redirect": WITHDRAWN}),
    # 督办 and the step clock's warnings ask whoever answers for the step the case waits for.
    Task("supervise", STEP_ENDS),
    Task("supervise_suspended", frozenset({"unsuspend"})),  # 挂账督办 → 恢复办理
    Task("warning", STEP_ENDS),
    Task("overdue", STEP_ENDS),
)}
_SETTLING: dict[str, list[Task]] = {}
for _task in TASKS.values():
    for _transition in _task.settled_by:
        _SETTLING.setdefault(_transition, []).append(_task)


def settling_transitions() -> frozenset[str]:
    """Every transition that settles some task message (checked against the workflow's table at start-up)."""
    return frozenset(_SETTLING)


def settle_tasks(case: Case, transition: str, data: dict) -> int:
    """Settle, for every reader, the task messages about `case` that `transition` answers or makes moot: one
    UPDATE (none for a transition that settles nothing). Returns how many."""
    tasks = _SETTLING.get(transition)
    if not tasks:
        return 0
    return notify.resolve_kinds(case, {task.kind: task.outcome(transition, data) for task in tasks})


# The department's own task messages, which 改派 makes moot.
TAKEN_BACK = ("new_task", "rework")


def settle_taken_back(case: Case) -> int:
    """改派: the task messages the department the case is taken from was sent (新任务, 返工) are settled for every
    reader (已改派). Called before the new department is told, whose 新任务 stays open: one UPDATE."""
    return notify.resolve_kinds(case, dict.fromkeys(TAKEN_BACK, MOOT["redirect"]))


def follow_url(token: str) -> str:
    """The reporter's follow page (a page for people: status, rating, reopening), not the JSON endpoint behind it;
    absolute when `CIVICGRID_PUBLIC_BASE_URL` is set, as SMS and email need."""
    base = getattr(settings, "CIVICGRID_PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}{reverse('ui:follow', args=[token])}"


def tell_reporters(case: Case, text: str, *, with_link: bool = False, except_user=None,
                   reporter_ids=None, text_en: str = "", except_reporter: CaseReporter | None = None,
                   milestone: str | None = None) -> int:
    """Tell every reporter of `case` (its own and those of duplicates merged into it; with `reporter_ids`, only
    those) what happened, once per person: someone who reported the same problem twice (now merged) gets one
    message per address. The account that caused the change (`except_user`) is not told in its own inbox; the
    reporter who caused it through their follow link (`except_reporter`: 重新办理) is told nothing, neither in
    the inbox of their account nor at their phone or email. SMS go to mobile numbers only (a landline callback
    number is called back, not texted). The inbox message also carries its English (`text_en`, else
    `TELLS_EN[text]`) for a reporter reading in English. A `milestone` (one of `MILESTONES`) a reporter was already
    told in this round is not told again, to any of their addresses."""
    told = 0
    with translation.override(settings.LANGUAGE_CODE):  # messages are written in the district's language
        label = str(dict(Status.choices).get(case.status, case.status))
    with translation.override("en"):
        label_en = str(dict(Status.choices).get(case.status, case.status))
    text_en = text_en or TELLS_EN.get(text, "")
    skip = getattr(except_user, "pk", None)
    users, addresses = set(), set()
    if except_reporter is not None:  # their account and addresses count as told already
        users.add(except_reporter.user_id)
        addresses.update(_addresses(except_reporter))
    reporters = CaseReporter.objects.filter(case=case).select_related("user").order_by("pk")
    if except_reporter is not None:
        reporters = reporters.exclude(pk=except_reporter.pk)
    if reporter_ids is not None:
        reporters = reporters.filter(pk__in=list(reporter_ids))
    reporters = list(reporters)
    if milestone is not None:
        if milestone not in MILESTONES:
            raise ValueError(f"unknown milestone {milestone!r}")
        per_round = MILESTONES[milestone]
        mark = _round(case) if per_round else True
        heard = [r for r in reporters if milestone in r.told and (not per_round or r.told[milestone] == mark)]
        for reporter in heard:  # told already: so is the same person under another report of theirs
            users.add(reporter.user_id)
            addresses.update(_addresses(reporter))
        reporters = [r for r in reporters if r not in heard]
        for reporter in reporters:
            reporter.told = {**reporter.told, milestone: mark}
        CaseReporter.objects.bulk_update(reporters, ["told"])
    for reporter in reporters:
        body, body_en = _told_body(case, reporter, text, text_en, label, label_en, with_link=with_link, rates=True)
        if (reporter.user_id and reporter.user.is_active and reporter.user_id != skip
                and reporter.user_id not in users):
            users.add(reporter.user_id)
            inbox, inbox_en = body, body_en
            if (with_link or text in STAFF_TELLS) and not rates_through_link(reporter.user):
                # staff who reported: told where the case stands, not invited to rate (they would be refused)
                inbox, inbox_en = _told_body(case, reporter, text, text_en, label, label_en, with_link=with_link,
                                             rates=False)
            told += notify.notify(reporter.user, "status", f"案卷进展：{case.number}", inbox, target=case,
                                  body_en=inbox_en) is not None
        if reporter.contact_enc:
            phone = keys.decrypt(reporter.contact_enc, PHONE_CONTEXT)
            if MOBILE.fullmatch(phone) and ("sms", phone) not in addresses:
                addresses.add(("sms", phone))
                notify.queue_message(channel="sms", to=phone, body=body)
                told += 1
        if reporter.email_enc:
            email = keys.decrypt(reporter.email_enc, EMAIL_CONTEXT)
            if ("email", email.lower()) not in addresses:
                addresses.add(("email", email.lower()))
                notify.queue_message(channel="email", to=email, subject=f"案卷 {case.number} {label}", body=body)
                told += 1
    return told


def rates_through_link(user) -> bool:
    """Whether a reporter's account rates (and reopens) through the follow link: a resident's or volunteer's.
    Staff never do (`services.follow.not_the_reporter`, whose `is_public_only` this asks as it does): the rating
    is the public's word on the district's work."""
    return not getattr(user, "is_superuser", False) and user_roles(user) <= PUBLIC_ROLES


def _told_body(case: Case, reporter: CaseReporter, text: str, text_en: str, label: str, label_en: str, *,
               with_link: bool, rates: bool) -> tuple[str, str]:
    """A reporter's message (and its English): for one who `rates`, with the link to follow and rate; for one who
    does not, `STAFF_TELLS`'s words and the link to follow only."""
    if not rates and text in STAFF_TELLS:
        text, text_en = STAFF_TELLS[text]
    body = f"您反映的问题（案卷号 {case.number}）{text}。当前状态：{label}。"
    body_en = f"Your report (case {case.number}) {text_en}. Current status: {label_en}." if text_en else ""
    if with_link:
        link = follow_url(reporter.follow_token)
        body += f" 查询与评价：{link}" if rates else f" 查询进度：{link}"
        if body_en:
            body_en += f" Follow and rate it: {link}" if rates else f" Follow it: {link}"
    return body, body_en


def _addresses(reporter: CaseReporter) -> set[tuple[str, str]]:
    """The SMS and email addresses `tell_reporters` would write to for `reporter`, as it keys them."""
    found = set()
    if reporter.contact_enc:
        phone = keys.decrypt(reporter.contact_enc, PHONE_CONTEXT)
        if MOBILE.fullmatch(phone):
            found.add(("sms", phone))
    if reporter.email_enc:
        found.add(("email", keys.decrypt(reporter.email_enc, EMAIL_CONTEXT).lower()))
    return found

"""What a reporter can do with the link or QR code handed out at report time, without an account:
see the status (no personal data), rate the work once after closing (满意度), and reopen within the window.

The link stands for the reporter. Staff hold such links too (a 12345 operator registers the caller's ticket, a
grid worker reports what a resident showed them) and forward them; signed in, they never rate or reopen through
one: the rating is the public's word on the district's work, and the trail would record it as the reporter's."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import Conflict, NotFound, ValidationFailed
from civicgrid.foundation.core.pii import scrub
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.workflow.steps import MAX_NOTE

from .. import conf
from ..models import Case, CaseReporter, Status
from ..workflow import (
    CASE_WORKFLOW,
    EXTRA_STEP_LABELS,
    rating_deadline,
    rating_window_open,
    reopen_deadline,
    reopen_window_open,
)
from .actions_intake import DEFAULT_PUBLIC_NOTES, PUBLIC_NOTE_ACTIONS, PUBLIC_NOTE_KEY
from .common import MissingInput, add_step, lock, publish, record, replayed_step, step_digest, step_key
from .intake import is_public_only
from .transitions import Ctx, run

NOT_FOUND = "链接无效或已失效 / unknown or expired link"
STAFF_REFUSED = ("工作人员不能通过报告人的查询链接评价或申请重新办理，请把链接交给反映问题的群众本人 / staff do not rate or "
                 "reopen through a reporter's link: hand the link to the person who reported the problem")
STEP_LABELS = {t.name: t.label for t in CASE_WORKFLOW.transitions} | EXTRA_STEP_LABELS
# Steps the public page names otherwise than staff do: a 返工 by what it means for the matter, the work found not
# done and being handled again (without it the page showed two 处置反馈 with nothing between). Its reason is
# written for staff and has no note for the reporters (as `refuse` and `void` have): it is never shown.
PUBLIC_LABELS = STEP_LABELS | {"rework": "核查未通过，重新处置"}
# Steps a reporter sees on the public page (internal hand-overs and notes stay inside). 挂账 and 恢复办理 are told
# to the reporters (`recipients.TELLS_EN`), so the page their message leads to names them too (without the reason,
# which is written for staff: they are not `NOTE_STEPS`).
PUBLIC_STEPS = {"report", "accept", "refuse", "void", "merge", "dispatch", "report_back", "verify", "rework",
                "close", "self_handle", "reopen", "rate", "suspend", "unsuspend"}
# Steps whose words to the reporter go with them, on the follow page as in Open311's public updates, with the
# personal data written into them masked (`pii.scrub`; names are not recognised): for 不予受理 and 作废 the note
# written for the reporters (`public_note`, never the internal reason), for 处置反馈 and 结案 the step's note (their
# forms say so).
NOTE_STEPS = frozenset({"refuse", "void", "report_back", "close"})


def public_note(step) -> str:
    """What the reporters read of `step` (a step of `NOTE_STEPS`; "" for any other). A 不予受理 or 作废 without a
    note for the reporters shows the neutral default in the reader's language, also one recorded before the note
    was asked for: its reason was written for staff."""
    if step.action not in NOTE_STEPS:
        return ""
    if step.action in PUBLIC_NOTE_ACTIONS:
        data = step.data if isinstance(step.data, dict) else {}
        return scrub(str(data.get(PUBLIC_NOTE_KEY) or gettext(DEFAULT_PUBLIC_NOTES[step.action])))
    return scrub(step.note)


def reporter_for(token: str) -> CaseReporter:
    token = str(token or "")
    if not 16 <= len(token) <= 64:
        raise NotFound(NOT_FOUND)
    row = (CaseReporter.objects.select_related("case", "case__category", "original_case")
           .filter(follow_token=token).first())
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def not_the_reporter(reporter: CaseReporter, viewer) -> bool:
    """Whether the signed-in `viewer` may not act as the reporter through this link: any staff account (a
    12345 operator's ticket has no reporter account, intake records the caller without one), and the account
    that registered the report for someone else. Anyone else holding the link, signed in or not, is taken for
    the reporter."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    if not is_public_only(viewer):
        return True
    if reporter.user_id == viewer.pk:  # their own report
        return False
    return reporter.original_case.reporter_id == viewer.pk


def rated_this_closing(case, reporter: CaseReporter) -> bool:
    """Whether `reporter`'s rating is of the case's present closing: given at or after it. A rating given
    before a 重新办理 belongs to the earlier round (its 评价 step keeps it in the timeline); once the case is
    closed again it is not the current one, and nothing is until the reporter rates the new closing."""
    return (case.status == Status.CLOSED and reporter.rating is not None and reporter.rated_at is not None
            and case.closed_at is not None and reporter.rated_at >= case.closed_at)


def current_rating(case, reporter: CaseReporter) -> int | None:
    """The reporter's rating of the present closing (`rated_this_closing`), else None."""
    return reporter.rating if rated_this_closing(case, reporter) else None


def closing_satisfaction(case) -> int | None:
    """满意度 of the case's present closing: the mean of its reporters' ratings of that closing, rounded; None
    while the case is not closed or no reporter has rated this closing (an earlier round's ratings stay in the
    timeline's 评价 steps)."""
    if case.status != Status.CLOSED or case.closed_at is None:
        return None
    ratings = list(CaseReporter.objects.filter(case=case, rating__isnull=False, rated_at__gte=case.closed_at)
                   .values_list("rating", flat=True))
    return round(sum(ratings) / len(ratings)) if ratings else None


def may_rate(case, reporter: CaseReporter, viewer=None) -> bool:
    """A reporter rates a closed case once per closing, within the rating days after it (`conf.rating_days`):
    after a reopening and a new closing, the rating of the work done since is asked again. Whoever holds the
    link rates, except staff signed in (`viewer`, see `not_the_reporter`)."""
    if case.status != Status.CLOSED or not_the_reporter(reporter, viewer) or not rating_window_open(case):
        return False
    return not rated_this_closing(case, reporter)


def rating_too_late() -> Conflict:
    """The refusal of a rating after the rating days: what happened and what the reporter can still do."""
    days = conf.rating_days()
    return Conflict(f"评价期限已过（结案后 {days} 天），不能再评价；如问题仍存在，请重新上报 / the {days} days after closing "
                    f"for rating have passed: if the problem is still there, report it again")


def _public_steps(case: Case) -> list[dict]:
    """The steps of `case` the public page shows, oldest first; a 合并 step names the case it joined."""
    return [
        {"action": s.action, "label": PUBLIC_LABELS.get(s.action, s.action), "at": s.at,
         "merged_into": (s.data or {}).get("parent") if s.action == "merge" and isinstance(s.data, dict) else None,
         # A 评价 step keeps the score it gave: the rating of its round, also after a 重新办理.
         "score": (s.data or {}).get("score") if s.action == "rate" and isinstance(s.data, dict) else None,
         "note": public_note(s)}
        for s in case.steps.filter(action__in=PUBLIC_STEPS).order_by("at", "id")
    ]


def merge_chain(case: Case, limit: int = 20) -> list[tuple[Case, object]]:
    """The cases a report went through by 合并, from `case` on: (case, when it joined the next) for each but
    the last, which is the case that carries the matter now (its time None). A merged into B, then B into C:
    [(A, t1), (B, t2), (C, None)]. Each 合并 step names the case joined (a merge moves the reporters and the
    cases merged earlier straight on to the new parent, so `parent` no longer shows B)."""
    chain, seen = [], {case.pk}
    while len(chain) < limit:
        step = (case.steps.filter(action="merge").order_by("-at", "-id").only("at", "data").first()
                if case.status == Status.MERGED else None)
        number = (step.data or {}).get("parent") if step is not None and isinstance(step.data, dict) else None
        nxt = (Case.objects.select_related("category").filter(number=number).first() if number else None)
        if nxt is None or nxt.pk in seen:
            chain.append((case, None))
            return chain
        chain.append((case, step.at))
        seen.add(nxt.pk)
        case = nxt
    chain.append((case, None))
    return chain


def follow_status(token: str, viewer=None) -> dict:
    """The public status of the case a follow link belongs to (the case that carries the report after a merge,
    or after merges one upon another); `viewer`, the signed-in account reading it, if any.

    A reporter whose report was merged into another case sees their own report: its time as 上报时间, its steps
    up to the merge (上报 … 合并, naming the case it joined), then the steps of the case they now follow taken
    since (not that case's own report or what it went through before they joined). When that case was in turn
    merged into a third, its steps run up to its own 合并 (naming the third) and the third's follow: each case
    from the moment the report reached it."""
    reporter = reporter_for(token)
    case = reporter.case
    merged = reporter.original_case_id != case.pk
    if merged:
        chain = merge_chain(reporter.original_case)
        if chain[-1][0].pk != case.pk:  # the merge steps do not lead to the case the reporter follows
            chain = [*chain[:-1], (chain[-1][0], chain[-1][0].ended_at), (case, None)]
    closed = case.status == Status.CLOSED
    staff = not_the_reporter(reporter, viewer)
    window_open = closed and reopen_window_open(case)
    rating = current_rating(case, reporter)  # of the closing now shown, not of one before a 重新办理
    rating_open = closed and rating_window_open(case)
    reported_at = case.reported_at
    if merged:
        steps, joined = [], None
        for link, left in chain:
            steps += [s for s in _public_steps(link) if joined is None or s["at"] > joined]
            joined = left
        reported_at = reporter.original_case.reported_at
    else:
        steps = _public_steps(case)
    return {
        "number": case.number,
        "status": case.status,
        "status_label": str(Status(case.status).label),
        "category": case.category.name if case.category_id else "",
        # Its English name, for the English follow page (`Category.display_name`) and the API beside the Chinese.
        "category_en": case.category.name_en if case.category_id else "",
        "reported_at": reported_at,
        "closed_at": case.closed_at,
        "merged": merged,
        "steps": steps,
        "rating": rating,
        "can_rate": may_rate(case, reporter, viewer),
        # The rating deadline of the present closing (open or past), and whether it passed unrated.
        "rate_until": rating_deadline(case) if closed else None,
        "rate_expired": closed and not rating_open and rating is None,
        "rating_days": conf.rating_days(),
        "can_reopen": window_open and not staff,
        # The reopen deadline, stated while the case is closed (open or past), and the rule's days.
        "reopen_until": reopen_deadline(case) if closed else None,
        "reopen_expired": closed and not window_open,
        "reopen_days": conf.reopen_days(),
        "staff_viewer": staff,
    }


def _follow_key(follow_token: str, key) -> str | None:
    """A follow-page form's one-time key, bound to the link it was sent through (`common.step_key`)."""
    return step_key(f"follow:{follow_token}", key)


SCORES = frozenset("12345")
RATING_MISSING = "请选择评分 / Please choose a rating"


def rate(*, follow_token: str, score, comment: str = "", actor=None, idempotency_key: str | None = None
         ) -> CaseReporter:
    """满意度 1–5 with an optional comment, once per reporter, after the case is closed and within the rating days
    (`conf.rating_days`; later a 409 saying so). `idempotency_key`: the
    form's one-time key; the same form sent again (its answer lost) finds the rating it made and answers as the
    first time did, never 您已评价过."""
    # One of the digits 1–5 as typed (int() also reads "٥" or " 5_0"), or the number itself.
    text = "" if isinstance(score, bool) else str(score).strip()
    if score is None or (isinstance(score, str) and not text):
        # No star chosen (the form's radios left alone): say what to do, not the range.
        raise ValidationFailed(RATING_MISSING, field="score")
    score = int(text) if text in SCORES else 0
    if not 1 <= score <= 5:
        raise ValidationFailed("评分须为 1–5 / score must be 1 to 5", field="score")
    comment = refuse_nul(str(comment or ""), "comment", "意见建议").strip()
    if len(comment) > 1000:
        raise ValidationFailed("评价内容不能超过 1000 字 / comment too long", field="comment")
    key = _follow_key(follow_token, idempotency_key)
    digest = step_digest("rate", {"score": score, "comment": comment}) if key else None
    with transaction.atomic():
        reporter = reporter_for(follow_token)
        case = lock(reporter.case)
        reporter = CaseReporter.objects.select_for_update().get(pk=reporter.pk)  # (a no-op on SQLite)
        if replayed_step(key, case, "rate", digest):
            return reporter
        if case.status != Status.CLOSED:
            raise Conflict("案卷办结后才能评价 / a case can be rated once it is closed")
        if not_the_reporter(reporter, actor):
            raise Conflict(STAFF_REFUSED)
        if not rating_window_open(case):
            raise rating_too_late()
        if not may_rate(case, reporter):
            raise Conflict("您已评价过本次办结 / this link has already been used to rate this closing")
        before = snapshot(case)
        now = timezone.now()
        reporter.rating, reporter.rating_comment, reporter.rated_at = score, comment, now
        reporter.save(update_fields=["rating", "rating_comment", "rated_at"])
        case.satisfaction = closing_satisfaction(case)  # this closing's ratings only
        case.save(update_fields=["satisfaction", "updated_at"])
        add_step(case, action="rate", actor="reporter", at=now, note=comment, data={"score": score},
                 idempotency_key=key, idempotency_digest=digest)
        record(case, actor="reporter", action="rate", before=before, data={"score": score})
        publish(case, "rated", score=score, satisfaction=case.satisfaction)
    return reporter


def reopen_by_token(*, follow_token: str, reason: str, actor=None, idempotency_key: str | None = None) -> Case:
    """重新办理 asked for by the reporter through their link (the token stands for the reporter); `actor`, the
    signed-in account sending it, if any: staff are refused (`not_the_reporter`). `idempotency_key`: the form's
    one-time key (sent again, it answers as the first time did)."""
    reason = refuse_nul(str(reason or ""), "reason", "原因").strip()
    if not reason:
        raise MissingInput("「重新办理」须填写：reason / required: reason", field="reason")
    if len(reason) > MAX_NOTE:  # refused, never cut: the timeline keeps the reporter's words whole (as `act`)
        raise ValidationFailed(f"重新办理的原因不能超过 {MAX_NOTE} 个字符 / reason is at most {MAX_NOTE} characters",
                               field="reason")
    t = CASE_WORKFLOW.transition("reopen")
    key = _follow_key(follow_token, idempotency_key)
    digest = step_digest("reopen", {"reason": reason}) if key else None
    with transaction.atomic():
        reporter = reporter_for(follow_token)
        case = lock(reporter.case)
        if replayed_step(key, case, "reopen", digest):
            return case
        if not_the_reporter(reporter, actor):
            raise Conflict(STAFF_REFUSED)
        if case.status not in t.sources:
            raise Conflict("只有已办结的案卷可以重新办理 / only a closed case can be reopened")
        # The actor is recorded as "reporter" (no name: the trail needs no personal data to show who it was).
        # The reporter who asked is not told of it (the page answers them); other reporters of the case are.
        return run(Ctx("reporter", case, t, {"reason": reason}, timezone.now(), [], key=key, digest=digest,
                       reporter=reporter))

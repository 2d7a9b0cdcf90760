"""留言: a comment on a case's timeline from outside the loop's transitions — a reporter (by account or by their
follow link), or a public channel that has authenticated its caller (Open311 `servicerequestupdates`).

A comment changes no state and starts or stops no clock: it is one timeline step, audited and published as
`case.commented`, so staff and subscribers see it next to the loop's steps. It is not shown on the public follow
page (what the public wrote may carry personal details).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul

from ..models import Case, CaseReporter, CaseStep
from .common import NOT_FOUND, actor_label, add_step, lock, publish, record, user_or_none
from .follow import reporter_for

MAX_TEXT = 4000
MAX_MEDIA_URL = 500
CHANNELS = ("web", "app", "api", "follow", "open311")


def _clean_text(text, field: str, label: str) -> str:
    return refuse_nul(str(text or ""), field, label).strip()  # a NUL is refused (`core.text`), never dropped


def comment(*, actor=None, case: Case, text: str, reporter_token: str | None = None, channel: str = "web",
            media_url: str = "", data: dict | None = None) -> CaseStep:
    """Add a comment to `case`; returns the timeline step.

    Who may comment:
    * a reporter through their follow link (`reporter_token`, which must belong to this case or to a case
      merged into it); `actor` is then recorded as "reporter" unless a channel label is given;
    * a signed-in account that may view the case (its reporter, or staff in scope);
    * an authenticated public channel (`actor` a label such as "open311:<client>"), whose caller has already
      been checked by that channel.
    Without any of these, or with a token of another case, the answer is 404 and nothing changes.
    """
    text = _clean_text(text, "text", "留言内容")
    media_url = _clean_text(media_url, "media_url", "media_url")
    if channel not in CHANNELS:
        shown = quotable(channel, 20)
        raise ValidationFailed(f"未知的渠道：「{shown}」 / unknown channel \"{shown}\"", field="channel")
    if not text and not media_url:
        raise ValidationFailed("请填写留言内容 / the comment is empty", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"留言不能超过 {MAX_TEXT} 字 / the comment is longer than {MAX_TEXT} characters",
                               field="text")
    if len(media_url) > MAX_MEDIA_URL:
        raise ValidationFailed("media_url 过长 / media_url is too long", field="media_url")
    with transaction.atomic():
        case = lock(case)
        by_reporter = False
        if reporter_token:
            reporter = reporter_for(reporter_token)
            if case.pk not in (reporter.case_id, reporter.original_case_id):
                raise NotFound(NOT_FOUND)
            by_reporter = True
        user = user_or_none(actor)
        if user is not None:
            if not (by_reporter or Case.objects.visible_to(user, "view").filter(pk=case.pk).exists()):
                raise NotFound(NOT_FOUND)
            by_reporter = by_reporter or case.reporter_id == user.pk or CaseReporter.objects.filter(
                case=case, user=user).exists()
        elif not by_reporter and not (isinstance(actor, str) and actor.strip()):
            raise NotFound(NOT_FOUND)  # no account, no token, no authenticated channel
        who = actor if actor is not None else "reporter"
        before = snapshot(case)
        info = {"channel": channel, "by_reporter": by_reporter, **({"media_url": media_url} if media_url else {}),
                **(data or {})}
        step = add_step(case, action="comment", actor=who, at=timezone.now(), from_status=case.status,
                        note=text, department=case.department, data=info)
        record(case, actor=who, action="comment", before=before,
               data={"step": step.pk, "channel": channel, "by_reporter": by_reporter, "length": len(text)})
        publish(case, "commented", step_id=step.pk, channel=channel, by_reporter=by_reporter,
                actor=actor_label(who))
    return step

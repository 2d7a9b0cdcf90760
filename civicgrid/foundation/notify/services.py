"""Inbox messages and outgoing email/SMS, written inside the caller's business transaction.

`notify(...)` adds an inbox row (once per `dedupe_key`, so event handlers that run twice do not repeat
themselves); its title must open with registered words (`titles`), and a body the system wrote may carry its
English (`body_en`). `resolve(...)` closes the messages about an object that asked for work now done, for every
recipient at once.

`queue_message(...)` records an `OutgoingMessage` with the address encrypted and hands it to the
channel's sender only after the transaction commits: a rolled-back action sends nothing, a sender that fails
(or cannot be loaded) never undoes the action, and a failed delivery is tried again by the worker (`deliver_pending`, on every pass) after a growing wait, `MAX_ATTEMPTS`
times in all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..core import keys
from ..core.errors import NotFound
from ..core.retries import retry_chosen
from . import titles
from .models import Notification, OutgoingMessage
from .senders import CHANNELS, mask_address, sender_for, sender_name

log = logging.getLogger(__name__)

TO_CONTEXT = "notify.outgoing.to"
MAX_ATTEMPT_ERRORS = 5  # the last errors kept on a message
MAX_ATTEMPTS = 10  # hand-overs before a message gives up: with the backoff, about four hours of trying
UNSENT = ("queued", "failed")


def _target_fields(target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    target_type, target_id = target
    return str(target_type), str(target_id)


def notify(user, kind: str, title: str, body: str = "", target=None, dedupe_key: str | None = None,
           url: str = "", body_en: str = "") -> Notification | None:
    """Put one message in `user`'s inbox; None when `dedupe_key` was already used (nothing written).
    `body_en`: the English of a body the system wrote (people's own words are not translated)."""
    titles.check(title)
    if user is None or not getattr(user, "pk", None):
        return None
    target_type, target_id = _target_fields(target)
    row = Notification(user_id=user.pk, kind=kind[:32], title=title[:200], body=body, body_en=body_en,
                       target_type=target_type, target_id=target_id, url=url[:200],
                       dedupe_key=dedupe_key[:120] if dedupe_key else None)
    if dedupe_key is None:
        row.save()
        return row
    if Notification.objects.filter(dedupe_key=row.dedupe_key).exists():
        return None
    try:
        with transaction.atomic():  # savepoint: a concurrent duplicate must not poison the caller's transaction
            row.save()
    except IntegrityError:
        return None
    return row


def notify_many(users: Iterable, kind: str, title: str, body: str = "", target=None,
                dedupe_prefix: str | None = None, url: str = "", body_en: str = "") -> int:
    """`notify` for several users (each once); with `dedupe_prefix` each user's key is `<prefix>:<user id>`."""
    titles.check(title)  # also when nobody is told this time
    count = 0
    seen: set[int] = set()
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        key = f"{dedupe_prefix}:{user.pk}" if dedupe_prefix else None
        count += notify(user, kind, title, body, target, dedupe_key=key, url=url, body_en=body_en) is not None
    return count


def resolve(target, kind: str, resolution: str) -> int:
    """Close every recipient's open messages of `kind` about `target`: the work they asked for is done (say, one
    approver decided a request all approvers were told about). Each is marked read, unless already, and keeps
    `resolution` (words in the district's language, marked for translation) for the inbox to show. Returns how
    many. Not audited, like `mark_read`: the business action that settles the work is."""
    return resolve_kinds(target, {kind: resolution})


def resolve_kinds(target, resolutions: Mapping[str, str]) -> int:
    """`resolve` for several kinds at once, each with its own resolution ({kind: resolution}): one UPDATE however
    many messages and kinds (nothing asked when `resolutions` is empty)."""
    resolutions = {kind[:32]: text[:32] for kind, text in resolutions.items()}
    if not resolutions:
        return 0
    target_type, target_id = _target_fields(target)
    now = timezone.now()
    texts = set(resolutions.values())
    if len(texts) == 1:
        resolution = models.Value(texts.pop())
    else:
        resolution = models.Case(*(models.When(kind=kind, then=models.Value(text))
                                   for kind, text in sorted(resolutions.items())),
                                 output_field=models.CharField())
    return _settle(Notification.objects.filter(target_type=target_type, target_id=target_id,
                                               kind__in=sorted(resolutions), resolved_at__isnull=True),
                   resolution, now)


def withdraw_link(*, dedupe_key: str, kind: str, resolution: str, at=None) -> int:
    """The message sent under `dedupe_key` offers a link that leads nowhere any more (the file it offered was
    removed): it loses the link and is settled as `resolve` settles one, with `resolution` (say 已过期), `at` that
    time (now by default). Returns how many (0 or 1). Not audited, like `resolve`."""
    return _settle(Notification.objects.filter(dedupe_key=dedupe_key[:120], kind=kind[:32]).exclude(url=""),
                   models.Value(resolution[:32]), at or timezone.now(), url="")


def _settle(messages, resolution, now, **also) -> int:
    """One UPDATE: `messages` resolved now with `resolution` and marked read (unless already), plus `also`."""
    return messages.update(resolved_at=now, resolution=resolution, read_at=Coalesce("read_at", models.Value(now)),
                           **also)


def inbox(user, *, unread_only: bool = False):
    """The user's own messages, newest first."""
    qs = Notification.objects.filter(user_id=user.pk)
    return qs.filter(read_at__isnull=True) if unread_only else qs


def mark_read(*, actor, notification_id: int) -> Notification:
    """Mark one of the actor's own messages read (another user's message is simply not found).

    Not audited: it changes the reader's own view of their inbox, not business data.
    """
    row = Notification.objects.filter(user_id=actor.pk, pk=notification_id).first()
    if row is None:
        raise NotFound("未找到该消息 / message not found")
    if row.read_at is None:
        row.read_at = timezone.now()
        row.save(update_fields=["read_at"])
    return row


def unread_state(user) -> tuple[int, int | None]:
    """How many of the user's messages are unread, and the id of the newest of them (None when none), in one
    query: the inbox page shows the count and sends the id back with 「全部标为已读」 (`mark_all_read`'s `up_to`)."""
    row = inbox(user, unread_only=True).aggregate(count=models.Count("id"), newest=models.Max("id"))
    return row["count"], row["newest"]


def mark_all_read(*, actor, up_to: int | None = None) -> int:
    """Mark the actor's unread messages read in one UPDATE, however many (through the (user, read_at) index;
    nobody else's, and the already read keep their time); returns how many. With `up_to` (the newest unread
    message's id when the reader's page was drawn, `unread_state`) only those up to it: a message that came in
    after the page was drawn, which the reader has not seen, stays unread (ids are given out in order). Without
    it, every unread message. Not audited, like `mark_read`."""
    unread = inbox(actor, unread_only=True)
    if up_to is not None:
        unread = unread.filter(pk__lte=up_to)
    return unread.update(read_at=timezone.now())


# ---- outgoing email / SMS -----------------------------------------------------------------------------------


def queue_message(*, channel: str, to: str, subject: str = "", body: str) -> OutgoingMessage | None:
    """Record a message for `to` and send it once the caller's transaction commits; None without an address."""
    to = (to or "").strip()
    if not to:
        return None
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    message = OutgoingMessage.objects.create(
        channel=channel,
        to_masked=mask_address(channel, to)[:64],
        to_enc=keys.encrypt(to, TO_CONTEXT),
        subject=subject[:200],
        body=body,
        sender=sender_name(channel)[:64],
    )
    transaction.on_commit(lambda: deliver(message.pk))
    return message


def _backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed hand-over: 1, 2, 4 … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def unsent(now=None):
    """Messages waiting for a hand-over that may be tried now (queued, or failed with attempts left and their
    backoff over), oldest first; read through the partial index `outgoing_unsent`."""
    now = timezone.now() if now is None else now
    return (OutgoingMessage.objects.filter(sent_at__isnull=True, status__in=UNSENT, attempts__lt=MAX_ATTEMPTS)
            .filter(models.Q(next_try_at__isnull=True) | models.Q(next_try_at__lte=now)).order_by("id"))


def given_up():
    """Messages that failed `MAX_ATTEMPTS` times: left for an administrator (`retry_given_up`)."""
    return OutgoingMessage.objects.filter(status="failed", attempts__gte=MAX_ATTEMPTS).order_by("id")


def retry_given_up(ids=None, *, actor=None) -> int:
    """Give messages that gave up (all, or those in `ids`) a fresh set of attempts, due now; audited. Every id
    must still name a message that gave up, or nothing changes (`core.retries`)."""
    from civicgrid.foundation.audit import verbs

    return retry_chosen(given_up(), ids, actor=actor, action=verbs.Ops.MESSAGES_RETRIED,
                        reset={"attempts": 0, "next_try_at": None}, what="短信/邮件")


def deliver(message_id: int) -> bool:
    """Hand one unsent message to its sender; True when it went out (now or before).

    The attempt is claimed first, by one conditional UPDATE (attempts + 1, not again before the backoff): the
    after-commit hand-over and the worker's retry may reach the same message at once, and only one of them
    sends it. A sender that fails leaves the message `failed`, for the worker to try again after the backoff,
    `MAX_ATTEMPTS` times in all; a process that dies mid-send leaves it claimed until then, so a message is
    sent at least once, and twice only if a process died between the gateway's answer and the record of it."""
    now = timezone.now()
    message = unsent(now).filter(pk=message_id).first()
    if message is None:
        return OutgoingMessage.objects.filter(pk=message_id, status="sent").exists()
    # Compare and set: only the deliverer that still finds the attempts it read takes this attempt.
    message.attempts += 1
    message.next_try_at = now + _backoff(message.attempts)
    claimed = OutgoingMessage.objects.filter(pk=message_id, status__in=UNSENT, attempts=message.attempts - 1).update(
        attempts=message.attempts, next_try_at=message.next_try_at)
    if not claimed:
        return False
    try:
        # Inside the try: a sender that cannot even be loaded (a misconfigured setting) fails this attempt,
        # recorded on the message, never the request that queued it.
        sender = sender_for(message.channel)
        sender.send(channel=message.channel, to=keys.decrypt(message.to_enc, TO_CONTEXT),
                    subject=message.subject, body=message.body)
    except Exception as exc:  # a gateway error must not break the request that queued the message
        log.warning("sending %s message %s failed (attempt %d of %d): %s", message.channel, message.pk,
                    message.attempts, MAX_ATTEMPTS, type(exc).__name__)
        errors = [e for e in message.error.split("\n") if e][-(MAX_ATTEMPT_ERRORS - 1):]
        message.status = "failed"
        message.error = "\n".join([*errors, f"{timezone.now():%Y-%m-%d %H:%M:%S} {type(exc).__name__}: {exc}"[:300]])
        message.save(update_fields=["status", "error"])
        return False
    message.status, message.sent_at, message.sender = "sent", timezone.now(), sender.name[:64]
    message.save(update_fields=["status", "sent_at", "sender"])
    return True


def deliver_pending(limit: int = 200) -> int:
    """Hand over the messages that may be tried now (oldest first, at most `limit`); returns how many went
    out. The worker runs it on every pass (a job registered by this app)."""
    ids = list(unsent().values_list("id", flat=True)[:limit])
    return sum(deliver(pk) for pk in ids)

"""Inbox messages and outgoing email/SMS, written inside the caller's business transaction.

`notify(...)` adds an inbox row (once per `dedupe_key`, so event handlers that run twice do not repeat
themselves). `queue_message(...)` records an `OutgoingMessage` with the address encrypted and hands it to the
channel's sender only after the transaction commits: a rolled-back action sends nothing, and a failed
delivery stays queued for `deliver_pending` (the worker, or a retry) to try again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..core import keys
from ..core.errors import NotFound
from .models import Notification, OutgoingMessage
from .senders import CHANNELS, mask_address, sender_for

log = logging.getLogger(__name__)

TO_CONTEXT = "notify.outgoing.to"
MAX_ATTEMPT_ERRORS = 5


def _target_fields(target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    target_type, target_id = target
    return str(target_type), str(target_id)


def notify(user, kind: str, title: str, body: str = "", target=None, dedupe_key: str | None = None,
           url: str = "") -> Notification | None:
    """Put one message in `user`'s inbox; None when `dedupe_key` was already used (nothing written)."""
    if user is None or not getattr(user, "pk", None):
        return None
    target_type, target_id = _target_fields(target)
    row = Notification(user_id=user.pk, kind=kind[:32], title=title[:200], body=body, target_type=target_type,
                       target_id=target_id, url=url[:200], dedupe_key=dedupe_key[:120] if dedupe_key else None)
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
                dedupe_prefix: str | None = None, url: str = "") -> int:
    """`notify` for several users (each once); with `dedupe_prefix` each user's key is `<prefix>:<user id>`."""
    count = 0
    seen: set[int] = set()
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        key = f"{dedupe_prefix}:{user.pk}" if dedupe_prefix else None
        count += notify(user, kind, title, body, target, dedupe_key=key, url=url) is not None
    return count


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
        sender=type(sender_for(channel)).name[:64],
    )
    transaction.on_commit(lambda: deliver(message.pk))
    return message


def deliver(message_id: int) -> bool:
    """Hand one queued message to its sender; True when it went out (or had already)."""
    message = OutgoingMessage.objects.filter(pk=message_id, status__in=("queued", "failed")).first()
    if message is None:
        return True
    sender = sender_for(message.channel)
    try:
        sender.send(channel=message.channel, to=keys.decrypt(message.to_enc, TO_CONTEXT),
                    subject=message.subject, body=message.body)
    except Exception as exc:  # a gateway error must not break the request that queued the message
        log.warning("sending %s message %s failed: %s", message.channel, message.pk, type(exc).__name__)
        errors = [e for e in message.error.split("\n") if e][-(MAX_ATTEMPT_ERRORS - 1):]
        message.status = "failed"
        message.error = "\n".join([*errors, f"{timezone.now():%Y-%m-%d %H:%M:%S} {type(exc).__name__}: {exc}"[:300]])
        message.save(update_fields=["status", "error"])
        return False
    message.status, message.sent_at, message.sender = "sent", timezone.now(), sender.name[:64]
    message.save(update_fields=["status", "sent_at", "sender"])
    return True


def deliver_pending(limit: int = 200) -> int:
    """Retry queued or failed messages (oldest first); returns how many went out."""
    ids = list(OutgoingMessage.objects.filter(status__in=("queued", "failed")).order_by("id")
               .values_list("id", flat=True)[:limit])
    return sum(deliver(pk) for pk in ids)

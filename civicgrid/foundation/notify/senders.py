"""Outgoing email/SMS senders behind one small interface; the console sender is the default.

A deployment plugs in its SMS gateway or mail relay by naming a class in its environment (or settings):

    CIVICGRID_SMS_SENDER=mydistrict.sms.GatewaySender
    CIVICGRID_EMAIL_SENDER=civicgrid.foundation.notify.senders.DjangoEmailSender

A sender that cannot be loaded stops the start (system check `notify.E001`, run by `migrate`, `check` and
`worker`). A sender receives the clear address (decrypted just before sending) and must not log it.
"""

from __future__ import annotations

import re
import sys
from functools import cache

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from ..core.pii import mask_phone

CHANNELS = ("sms", "email")
# A follow link (`/follow/<token>/`) is a bearer link: whoever has it reads and rates the case. Logs keep its
# first characters only, enough to tell two messages apart.
_FOLLOW_LINK = re.compile(r"(/follow/)([A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]*")
_SETTING = {"sms": "CIVICGRID_SMS_SENDER", "email": "CIVICGRID_EMAIL_SENDER"}
DEFAULT_SENDER = "civicgrid.foundation.notify.senders.ConsoleSender"


class SendFailed(Exception):
    """The sender could not hand the message over; it stays queued for a retry."""


class Sender:
    """Hands one message to an outside channel. Raise `SendFailed` (or any error) when it did not go out."""

    name = "sender"

    def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        raise NotImplementedError


def mask_address(channel: str, to: str) -> str:
    """How an address appears in records and logs: `138****5678`, `z***@example.org`."""
    if channel == "email":
        local, _, domain = to.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    return mask_phone(to)


def mask_links(text: str) -> str:
    """The text with every follow link's token cut to its first four characters (`/follow/AbCd…/`)."""
    return _FOLLOW_LINK.sub(r"\1\2…", text)


class ConsoleSender(Sender):
    """Prints one line per message (masked address and follow links) to standard output: the embedded demo's
    channel."""

    name = "console"

    def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        text = mask_links(" ".join(f"{subject} {body}".split()))[:200]
        print(f"[civicgrid {channel}] → {mask_address(channel, to)}: {text}", file=sys.stdout, flush=True)


class DjangoEmailSender(Sender):
    """Email through Django's configured mail backend (`EMAIL_*` settings)."""

    name = "django-email"

    def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        from django.core.mail import send_mail

        send_mail(subject or "civicgrid", body, None, [to], fail_silently=False)


@cache
def _load(path: str) -> Sender:
    cls = import_string(path)
    sender = cls()
    if not isinstance(sender, Sender):
        raise TypeError(f"{path} is not a civicgrid.foundation.notify.senders.Sender")
    return sender


def sender_path(channel: str) -> str:
    """The dotted path of the class configured for a channel ("sms" or "email")."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return getattr(settings, _SETTING[channel], None) or DEFAULT_SENDER


def sender_name(channel: str) -> str:
    """The configured sender's `name`, or its dotted path when it cannot be loaded (sending will fail, and
    says why on the message; the system check `notify.E001` stops a start with such a setting)."""
    try:
        return sender_for(channel).name
    except Exception:
        return sender_path(channel)


def check_senders(app_configs=None, **kwargs) -> list[checks.Error]:
    """System check: every channel's configured sender loads and is a `Sender`."""
    errors = []
    for channel in CHANNELS:
        path = sender_path(channel)
        try:
            _load(path)
        except Exception as exc:
            errors.append(checks.Error(
                f"{_SETTING[channel]}={path!r} 无法使用（{type(exc).__name__}: {exc}） / "
                f"{_SETTING[channel]}={path!r} cannot be used ({type(exc).__name__}: {exc})",
                hint=f"应为 civicgrid.foundation.notify.senders.Sender 子类的完整路径，如 {DEFAULT_SENDER} / "
                     "the dotted path of a civicgrid.foundation.notify.senders.Sender subclass",
                id="notify.E001"))
    return errors


def sender_for(channel: str) -> Sender:
    """The configured sender of a channel ("sms" or "email")."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return _load(sender_path(channel))

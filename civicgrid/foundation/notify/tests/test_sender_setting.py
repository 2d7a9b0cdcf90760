"""A sender setting naming a class that cannot be loaded: the start is stopped by a system check, and a process
that runs anyway never loses the business action that queued a message (the message is kept, marked failed)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.notify import senders, services
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

MISSING = "mydistrict.sms.GatewaySender"  # a module that is not installed


@pytest.fixture(autouse=True)
def _fresh_senders():
    senders._load.cache_clear()
    yield
    senders._load.cache_clear()


def test_the_system_check_names_a_sender_that_cannot_be_loaded(settings):
    settings.CIVICGRID_SMS_SENDER = MISSING
    settings.CIVICGRID_EMAIL_SENDER = "civicgrid.foundation.notify.models.Notification"  # not a Sender
    errors = senders.check_senders()
    assert [e.id for e in errors] == ["notify.E001", "notify.E001"]
    assert "CIVICGRID_SMS_SENDER='mydistrict.sms.GatewaySender'" in errors[0].msg
    assert "ModuleNotFoundError" in errors[0].msg and " / " in errors[0].msg
    assert "CIVICGRID_EMAIL_SENDER" in errors[1].msg and "TypeError" in errors[1].msg
    with pytest.raises(SystemCheckError, match="notify.E001"):
        call_command("check")


def test_configured_senders_pass_the_check(settings):
    settings.CIVICGRID_SMS_SENDER = "civicgrid.foundation.notify.senders.ConsoleSender"
    settings.CIVICGRID_EMAIL_SENDER = None  # the default
    assert senders.check_senders() == []
    call_command("check")


def test_a_sender_that_cannot_be_loaded_does_not_undo_the_action(settings, django_capture_on_commit_callbacks):
    settings.CIVICGRID_SMS_SENDER = MISSING
    user = user_with(Role.RESIDENT)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():  # the business action (a report, say) and its message
            services.notify(user, "supervise", "督办", body="您反映的问题已受理")
            message = services.queue_message(channel="sms", to="13812345678", body="您反映的问题已受理")
    assert Notification.objects.filter(user=user).count() == 1  # the action stands
    message = OutgoingMessage.objects.get(pk=message.pk)
    assert message.status == "failed" and message.attempts == 1 and message.sent_at is None
    assert "ModuleNotFoundError" in message.error and message.sender == MISSING
    # Once the setting is fixed (and the process restarted), the worker's retry sends it.
    settings.CIVICGRID_SMS_SENDER = "civicgrid.foundation.notify.senders.ConsoleSender"
    OutgoingMessage.objects.filter(pk=message.pk).update(next_try_at=None)
    assert services.deliver_pending() == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.sender == "console"

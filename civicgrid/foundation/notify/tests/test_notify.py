"""Inbox messages (deduplicated, one's own only) and outgoing SMS/email through pluggable senders."""

from __future__ import annotations

import pytest
from django.db import transaction

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.notify import senders, services
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def _auth(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}


class RecordingSender(senders.Sender):
    name = "recording"
    sent: list = []

    def send(self, *, channel, to, subject, body):
        RecordingSender.sent.append((channel, to, subject, body))


class BrokenSender(senders.Sender):
    name = "broken"

    def send(self, *, channel, to, subject, body):
        raise senders.SendFailed("gateway down")


@pytest.fixture(autouse=True)
def _fresh_senders():
    senders._load.cache_clear()
    RecordingSender.sent = []
    yield
    senders._load.cache_clear()


def test_notify_deduplicates_by_key_and_inbox_is_per_user(tree, api_client):
    alice, bob = user_with(Role.GRID_WORKER, region=tree["140213050001001"]), user_with(Role.LEADER, region=tree["140213"])
    first = services.notify(alice, "warning", "即将超期", "案卷 1", target=("cases.case", 1), dedupe_key="w:1")
    assert first is not None and services.notify(alice, "warning", "again", dedupe_key="w:1") is None
    assert services.notify_many([alice, bob, alice], "new_task", "新任务", dedupe_prefix="t:9") == 2
    assert services.notify_many([alice, bob], "new_task", "新任务", dedupe_prefix="t:9") == 0
    other = services.notify(bob, "supervise", "督办")

    body = api_client.get("/api/v1/inbox", **_auth(alice)).json()
    assert body["total"] == 2 and body["unread"] == 2
    assert {i["kind"] for i in body["items"]} == {"warning", "new_task"}
    assert body["items"][-1]["target_type"] == "cases.case" and body["items"][-1]["target_id"] == "1"
    read = api_client.post(f"/api/v1/inbox/{first.pk}/read", **_auth(alice))
    assert read.status_code == 200 and read.json()["read_at"]
    assert api_client.get("/api/v1/inbox", {"unread": "true"}, **_auth(alice)).json()["total"] == 1
    # somebody else's message is simply not there
    assert api_client.post(f"/api/v1/inbox/{other.pk}/read", **_auth(alice)).status_code == 404
    assert Notification.objects.get(pk=other.pk).read_at is None
    assert api_client.get("/api/v1/inbox").status_code == 401


def test_console_sender_prints_one_masked_line_after_commit(capsys, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.queue_message(channel="sms", to="13812345678", body="您反映的问题已办结")
        assert OutgoingMessage.objects.get(pk=message.pk).status == "queued"  # nothing goes out before commit
    message.refresh_from_db()
    assert message.status == "sent" and message.sender == "console" and message.to_masked == "138****5678"
    assert "13812345678" not in message.to_enc
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "138****5678" in out[0] and "13812345678" not in out[0]


def test_a_rolled_back_action_sends_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                services.queue_message(channel="sms", to="13812345678", body="x")
                raise RuntimeError("the business action failed")
        except RuntimeError:
            pass
    assert not callbacks and not OutgoingMessage.objects.exists()


def test_senders_are_chosen_by_settings_and_failures_stay_for_retry(settings, django_capture_on_commit_callbacks):
    settings.CIVICGRID_EMAIL_SENDER = f"{__name__}.RecordingSender"
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.BrokenSender"
    with django_capture_on_commit_callbacks(execute=True):
        email = services.queue_message(channel="email", to="zhang@example.org", subject="案卷", body="已办结")
        sms = services.queue_message(channel="sms", to="13812345678", body="已办结")
    email.refresh_from_db()
    sms.refresh_from_db()
    assert RecordingSender.sent == [("email", "zhang@example.org", "案卷", "已办结")]
    assert email.status == "sent" and email.to_masked == "z***@example.org"
    assert sms.status == "failed" and "gateway down" in sms.error
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.RecordingSender"
    senders._load.cache_clear()
    assert services.deliver_pending() == 1
    sms.refresh_from_db()
    assert sms.status == "sent" and RecordingSender.sent[-1][1] == "13812345678"
    assert services.queue_message(channel="sms", to="  ", body="x") is None

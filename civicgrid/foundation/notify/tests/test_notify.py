"""Inbox messages (deduplicated, one's own only) and outgoing SMS/email through pluggable senders."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.notify import senders, services
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.testing.builders import user_with
from civicgrid.testing.clock import clock_at

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


def test_console_sender_masks_the_follow_link_token_but_the_message_keeps_it(capsys, django_capture_on_commit_callbacks):
    token = "Zq3xT0kEnAbCdEfGhIjKlMnOpQrStUv"
    body = f"您反映的问题已受理，查看进度：https://wangge.example.gov.cn/follow/{token}/ 回复T退订"
    with django_capture_on_commit_callbacks(execute=True):
        message = services.queue_message(channel="sms", to="13812345678", body=body)
    message.refresh_from_db()
    assert message.status == "sent" and token in message.body  # the resident still gets the link
    out = capsys.readouterr().out
    assert token not in out and token[4:12] not in out
    assert "/follow/Zq3x…/" in out and "回复T退订" in out


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
    assert sms.status == "failed" and "gateway down" in sms.error and sms.attempts == 1
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.RecordingSender"
    senders._load.cache_clear()
    assert services.deliver_pending() == 0  # not before its backoff
    with clock_at(sms.next_try_at):
        assert services.deliver_pending() == 1
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.attempts == 2 and RecordingSender.sent[-1][1] == "13812345678"
    assert services.queue_message(channel="sms", to="  ", body="x") is None


def _failed_sms(settings, django_capture_on_commit_callbacks):
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.BrokenSender"
    with django_capture_on_commit_callbacks(execute=True):
        message = services.queue_message(channel="sms", to="13812345678", body="已办结")
    message.refresh_from_db()
    return message


def test_the_worker_retries_a_failed_message_after_a_growing_wait(settings, django_capture_on_commit_callbacks):
    sms = _failed_sms(settings, django_capture_on_commit_callbacks)
    waits = []
    for attempt in range(2, 5):  # the gateway is still down: each failure waits longer
        previous = sms.next_try_at
        with clock_at(previous - timedelta(seconds=1)):
            assert services.deliver_pending() == 0
        sms.refresh_from_db()
        assert sms.attempts == attempt - 1  # not tried early
        with clock_at(previous):
            call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
        sms.refresh_from_db()
        assert sms.status == "failed" and sms.attempts == attempt
        waits.append(sms.next_try_at - previous)
    assert waits == sorted(waits) and waits[0] < waits[-1]
    assert sms.error.count("gateway down") == 4
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.RecordingSender"
    senders._load.cache_clear()
    with clock_at(sms.next_try_at):
        call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    sms.refresh_from_db()
    assert sms.status == "sent" and RecordingSender.sent == [("sms", "13812345678", "", "已办结")]


def test_a_message_that_keeps_failing_gives_up_until_an_administrator_retries_it(
        settings, django_capture_on_commit_callbacks):
    sms = _failed_sms(settings, django_capture_on_commit_callbacks)
    for _ in range(services.MAX_ATTEMPTS - 1):
        with clock_at(sms.next_try_at):
            services.deliver_pending()
        sms.refresh_from_db()
    assert sms.attempts == services.MAX_ATTEMPTS and sms.status == "failed"
    assert len([e for e in sms.error.split("\n") if e]) == services.MAX_ATTEMPT_ERRORS  # the last ones kept
    assert list(services.given_up()) == [sms]
    settings.CIVICGRID_SMS_SENDER = f"{__name__}.RecordingSender"
    senders._load.cache_clear()
    with clock_at(sms.next_try_at + timedelta(days=1)):
        assert services.deliver_pending() == 0  # given up: no more tries
    with pytest.raises(ValidationFailed, match="未作任何改动"):  # a message that did not give up: nothing changes
        services.retry_given_up(ids=[sms.pk, sms.pk + 1])
    assert list(services.given_up()) == [sms]
    assert services.retry_given_up(ids=[sms.pk]) == 1
    assert AuditEntry.objects.get(action="ops.messages_retried").data == {"ids": [sms.pk], "count": 1}
    assert services.deliver_pending() == 1
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.attempts == 1 and not list(services.given_up())


def test_two_deliverers_reaching_one_message_send_it_once(settings, django_capture_on_commit_callbacks, monkeypatch):
    """The after-commit send and the worker's poll may reach the same message at once: the second finds the
    attempt claimed and sends nothing."""
    inner = []

    class ReentrantSender(senders.Sender):
        name = "reentrant"

        def send(self, *, channel, to, subject, body):
            RecordingSender.sent.append(to)
            if not inner:  # a second deliverer arrives while the first is at the gateway
                inner.append(services.deliver_pending())

    sms = _failed_sms(settings, django_capture_on_commit_callbacks)
    monkeypatch.setattr(services, "sender_for", lambda channel: ReentrantSender())
    with clock_at(sms.next_try_at):
        assert services.deliver(sms.pk) is True
    assert inner == [0] and RecordingSender.sent == ["13812345678"]
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.attempts == 2


def test_the_poll_reads_only_the_unsent_messages(settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(30):
            services.queue_message(channel="sms", to=f"138000000{i:02d}", body="已办结")
    queued = OutgoingMessage.objects.create(channel="sms", to_masked="x", to_enc="", body="x", sender="console")
    assert list(services.unsent().values_list("pk", flat=True)) == [queued.pk]
    if connection.vendor == "sqlite":
        sql, params = services.unsent().values_list("id", flat=True)[:200].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = [row[3] for row in cursor.fetchall()]
        assert any("outgoing_unsent" in step for step in plan), plan


def test_only_a_system_administrator_retries_what_gave_up(tree):
    """The service itself refuses a person without config.manage, and changes nothing."""
    sms = OutgoingMessage.objects.create(channel="sms", to_masked="138****5678", body="x", sender="console",
                                         status="failed", attempts=services.MAX_ATTEMPTS)
    with pytest.raises(PermissionDenied):
        services.retry_given_up(actor=user_with(Role.LEADER, region=tree["140213"]))
    assert list(services.given_up()) == [sms] and not AuditEntry.objects.filter(action="ops.messages_retried")
    assert services.retry_given_up(actor=user_with(Role.SYSTEM_ADMIN)) == 1
    entry = AuditEntry.objects.get(action="ops.messages_retried")
    assert entry.data == {"ids": "all", "count": 1} and entry.actor is not None

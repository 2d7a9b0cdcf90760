"""A failed queued report that can never be made (its idempotency key already names a different report) is given
up by the system administrator: 放弃 on the page (with a confirmation) or `open311_client dismiss`, audited. The row
stays for the trail, without the reporter's contacts; refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys, retention
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import DEVICE_CONTEXT, QueuedRequest, QueueState
from civicgrid.testing.builders import user_with

from .conftest import form, get, post, spec_error

pytestmark = pytest.mark.django_db
PAGE = "/manage/open311/"


def _conflicting_report(o311, http) -> QueuedRequest:
    """The client reported directly under a key, then, switched to queued, sent a different report under the same
    key: the queue takes it (it checks its own keys), the batch finds the key's case and fails it for good."""
    assert post(http, "requests.json", form(o311), HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201
    o311.client.queued = True
    o311.client.save(update_fields=["queued"])
    cache.clear()
    token = post(http, "requests.json", form(o311, description="另一件事：路灯不亮"),
                 HTTP_IDEMPOTENCY_KEY="k-1").json()[0]["token"]
    assert services.drain() == 1
    row = QueuedRequest.objects.get(token=token)
    assert row.state == QueueState.FAILED and "幂等键" in row.error and row.contacts_enc
    # Retrying cannot help: the next batch fails it again.
    services.retry_queued(actor=None, tokens=[token])
    services.drain()
    row.refresh_from_db()
    assert row.state == QueueState.FAILED
    return row


def _row_state(token: str) -> tuple:
    return QueuedRequest.objects.filter(token=token).values_list(
        "state", "error", "contacts_enc", "device_id_enc", "account_id_enc", "done_at", "key", "digest").get()


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_the_administrator_dismisses_a_report_that_can_never_be_made(o311, admin_http, http):
    row = _conflicting_report(o311, http)
    page = admin_http.get(PAGE).content.decode()
    assert f'data-failed-token="{row.token}"' in page and "data-dismiss" in page and "确认放弃所选上报" in page
    cases = Case.objects.count()

    response = admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token], "confirm": "1"})
    assert response.status_code == 302 and "已放弃 1 件" in _said(response)
    state, error, contacts, device, account, done_at, key, digest = _row_state(row.token)
    assert state == QueueState.DROPPED and done_at is not None
    # Kept for the trail (and a resend under the key): token, reason, key, digest; the contacts go at once.
    assert error == row.error and key == row.key and digest == row.digest and contacts == ""
    assert keys.decrypt(device, DEVICE_CONTEXT) == "device-42" and account  # until their retention period ends
    entry = AuditEntry.objects.get(action="open311.request_dismissed", target_id=str(row.pk))
    assert entry.actor_name == "sysadmin" and entry.result == "ok"
    assert entry.target_repr == f"open311 queued {row.token} (dropped)"
    assert entry.data == {"client": o311.client.pk, "token": row.token, "error": row.error}
    assert Case.objects.count() == cases  # nothing made

    page = admin_http.get(PAGE).content.decode()
    assert f'data-failed-token="{row.token}"' not in page and "data-failed>0<" in page
    said = spec_error(get(http, f"tokens/{row.token}.json"), 404)
    assert said.startswith("该上报未能立卷，已被放弃：幂等键已用于内容不同的上报 / ") and "was dismissed" in said
    assert services.drain() == 0  # never taken again


def test_a_dismissed_rows_callers_ids_go_when_their_period_ends(o311, admin_http, http):
    row = _conflicting_report(o311, http)
    admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token], "confirm": "1"})
    QueuedRequest.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=800))
    assert retention.apply()["open311.queue"] >= 1
    state, error, contacts, device, account, *_ = _row_state(row.token)
    assert (state, contacts, device, account) == (QueueState.DROPPED, "", "", "") and error == row.error


@pytest.mark.parametrize("posted", [{}, {"confirm": "0"}], ids=["unticked", "not confirmed"])
def test_dismissing_without_the_confirmation_changes_nothing(o311, admin_http, http, posted):
    row = _conflicting_report(o311, http)
    before, audit = _row_state(row.token), AuditEntry.objects.count()
    response = admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token], **posted})
    assert "确认放弃" in _said(response)
    assert _row_state(row.token) == before and AuditEntry.objects.count() == audit


def test_dismissing_a_report_that_did_not_fail_changes_nothing(o311, admin_http, http):
    row = _conflicting_report(o311, http)
    pending = post(http, "requests.json", form(o311, device_id="d-2")).json()[0]["token"]
    states = list(QueuedRequest.objects.order_by("pk").values_list("token", "state", "contacts_enc"))
    audit = AuditEntry.objects.count()
    for tokens in ([row.token, pending], [row.token, "no-such-token"], []):
        response = admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": tokens, "confirm": "1"})
        said = _said(response)
        assert "不存在或不是" in said or "请选择要放弃" in said
    assert list(QueuedRequest.objects.order_by("pk").values_list("token", "state", "contacts_enc")) == states
    assert AuditEntry.objects.count() == audit


def test_only_the_system_administrator_dismisses(o311, http):
    row = _conflicting_report(o311, http)
    before, audit = _row_state(row.token), AuditEntry.objects.count()
    for user in (o311.dispatcher, user_with(Role.SECURITY_ADMIN, username="secadmin")):
        c = Client()
        c.force_login(user)
        response = c.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token], "confirm": "1"})
        assert response.status_code == 403
        with pytest.raises(services.PermissionDenied):
            services.dismiss_queued(actor=user, tokens=[row.token])
    assert _row_state(row.token) == before and AuditEntry.objects.count() == audit


def test_the_command_dismisses(o311, http, capsys):
    row = _conflicting_report(o311, http)
    call_command("open311_client", "dismiss", row.token)
    assert "dismissed: 1" in capsys.readouterr().out
    assert _row_state(row.token)[0] == QueueState.DROPPED
    entry = AuditEntry.objects.get(action="open311.request_dismissed", target_id=str(row.pk))
    assert entry.actor_name == "system"


def test_the_dismissal_is_said_in_the_readers_language(o311, admin_http, http):
    from django.conf import settings
    from django.utils import translation

    row = _conflicting_report(o311, http)
    try:
        admin_http.post("/i18n/setlang/", {"language": "en", "next": PAGE})
        said = admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token]}, follow=True)
        assert "tick the confirmation first" in said.content.decode() and "确认放弃”" not in said.content.decode()
        said = admin_http.post(reverse("ui:open311_queue_dismiss"), {"token": [row.token], "confirm": "1"},
                               follow=True).content.decode()
        assert "1 failed reports dismissed" in said and "已放弃 1 件" not in said
    finally:
        translation.activate(settings.LANGUAGE_CODE)

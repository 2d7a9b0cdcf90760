"""运行监控: the system administrator sees whether the worker runs and what waits for it, retries what gave up
(audited; a stale choice changes nothing), and the command board warns when no worker runs."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import heartbeat, keys
from civicgrid.foundation.core.models import WorkerBeat
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

URL = "/ops/"


def _gave_up_event(topic="case.reported") -> OutboxEvent:
    return OutboxEvent.objects.create(topic=topic, aggregate_type="cases.case", aggregate_id="7",
                                      attempts=bus.MAX_ATTEMPTS, last_error="Traceback …\nKeyError: 'grid'")


def _gave_up_message(to_masked="138****5678") -> OutgoingMessage:
    return OutgoingMessage.objects.create(channel="sms", to_masked=to_masked, body="您反映的问题已办结",
                                          to_enc=keys.encrypt("13812345678", notify.TO_CONTEXT),
                                          sender="console", status="failed", attempts=notify.MAX_ATTEMPTS,
                                          error="2026-11-30 10:00:00 SendFailed: gateway down")


@pytest.fixture
def admin(tree):
    return user_with(Role.SYSTEM_ADMIN)


def test_only_the_system_administrator_reaches_the_page(client_for, admin, tree):
    assert reverse("ui:ops_status") == URL
    assert client_for(admin).get(URL).status_code == 200
    leader = user_with(Role.LEADER, region=tree["140213"])
    assert client_for(leader).get(URL).status_code == 403
    assert client_for(user_with(Role.AUDIT_ADMIN)).get(URL).status_code == 403
    event = _gave_up_event()
    assert client_for(leader).post(reverse("ui:ops_retry_events"), {"all": "1"}).status_code == 403
    assert OutboxEvent.objects.get(pk=event.pk).attempts == bus.MAX_ATTEMPTS  # nothing changed


def test_the_page_says_whether_the_worker_runs_and_what_waits(client_for, admin):
    html = client_for(admin).get(URL).content.decode()
    assert 'data-worker="down"' in html and "后台进程从未运行过" in html
    bus.publish("case.reported")
    notify.queue_message(channel="sms", to="13812345678", body="x")  # not yet handed over (no commit here)
    _gave_up_event()
    _gave_up_message()
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    heartbeat.started("web-1")
    html = client_for(admin).get(URL).content.decode()
    assert 'data-worker="ok"' in html and html.count('data-state="running"') == 2
    assert "单次运行（--once）" in html
    assert "KeyError: &#x27;grid&#x27;" in html and "Traceback" not in html  # the error's last line
    assert "138****5678" in html and "13812345678" not in html and "您反映的问题已办结" not in html
    WorkerBeat.objects.update(seen_at=timezone.now() - timedelta(minutes=5), stopped_at=None)
    html = client_for(admin).get(URL).content.decode()
    assert 'data-worker="down"' in html and html.count('data-state="silent"') == 2


def test_the_page_costs_the_same_queries_however_much_waits(client_for, admin):
    client = client_for(admin)
    _gave_up_event()
    _gave_up_message()
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for i in range(30):
        _gave_up_event(f"t.{i}")
        _gave_up_message(f"138****{i:04d}")
        bus.publish("case.reported")
        heartbeat.started(f"w{i}")
    with CaptureQueriesContext(connection) as many:
        html = client.get(URL).content.decode()
    assert html.count("data-event=") == 31 and html.count("data-message=") == 31
    assert len(many.captured_queries) == len(few.captured_queries)


def test_retrying_chosen_events_and_messages_is_audited(client_for, admin):
    client = client_for(admin)
    first, second = _gave_up_event(), _gave_up_event()
    response = client.post(reverse("ui:ops_retry_events"), {"id": [str(first.pk)]})
    assert response.status_code == 302 and response["Location"] == URL
    assert OutboxEvent.objects.get(pk=first.pk).attempts == 0
    assert OutboxEvent.objects.get(pk=second.pk).attempts == bus.MAX_ATTEMPTS
    entry = AuditEntry.objects.get(action="ops.events_retried")
    assert entry.actor_id == admin.pk and entry.data == {"ids": [first.pk], "count": 1}
    assert "已重新排队 1 条领域事件" in client.get(URL).content.decode()

    message = _gave_up_message()
    client.post(reverse("ui:ops_retry_messages"), {"all": "1"})
    message.refresh_from_db()
    assert message.attempts == 0 and list(notify.unsent()) == [message]
    assert AuditEntry.objects.get(action="ops.messages_retried").data == {"ids": "all", "count": 1}
    assert notify.deliver_pending() == 1  # the console sender takes it


@pytest.mark.parametrize("form, error", [
    ({}, "请先勾选要重试的记录"),
    ({"id": ["abc"]}, "所选记录无效"),
    ({"id": ["STALE"]}, "已不在「放弃重试」之列"),
])
def test_a_bad_or_stale_choice_changes_nothing(client_for, admin, form, error):
    client = client_for(admin)
    given_up, retried = _gave_up_event(), _gave_up_event()
    retried.attempts = 0
    retried.save()
    if form.get("id") == ["STALE"]:
        form = {"id": [str(given_up.pk), str(retried.pk)]}  # one of them was retried meanwhile
    before = list(OutboxEvent.objects.order_by("pk").values_list("pk", "attempts"))
    audit_before = AuditEntry.objects.count()
    response = client.post(reverse("ui:ops_retry_events"), form, follow=True)
    assert error in response.content.decode()
    assert list(OutboxEvent.objects.order_by("pk").values_list("pk", "attempts")) == before
    assert AuditEntry.objects.count() == audit_before


def test_the_board_warns_while_no_worker_runs(client_for, tree):
    command = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    client = client_for(command)
    html = client.get(reverse("ui:board")).content.decode()
    assert "data-worker-down" in html and "尚未运行过" in html
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    assert "data-worker-down" not in client.get(reverse("ui:board_figures")).content.decode()
    WorkerBeat.objects.update(seen_at=timezone.now() - timedelta(minutes=10))
    figures = client.get(reverse("ui:board_figures")).content.decode()
    assert "data-worker-down" in figures and "最后一次运行" in figures


def test_the_page_speaks_english_second(client_for, admin):
    from django.conf import settings
    from django.utils import translation

    client = client_for(admin)
    assert "运行监控" in client.get(URL).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": URL})
    try:
        html = client.get(URL).content.decode()
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    assert "System monitor" in html and "The background worker has never run." in html and "运行监控" not in html


def _failed_task(path, args=(), error="KeyError: 'calendar'"):
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    return DBTaskResult.objects.create(
        status=TaskResultStatus.FAILED, task_path=path, args_kwargs={"args": list(args), "kwargs": {}},
        queue_name="default", backend_name="default", run_after=now, finished_at=now,
        exception_class_path="builtins.KeyError", traceback=f"Traceback (most recent call last):\n  …\n{error}")


def test_failed_background_tasks_are_listed_and_a_derived_one_runs_again(client_for, admin, tree):
    reschedule = _failed_task("civicgrid.foundation.sla.sweep.reschedule_task", [None])
    imported = _failed_task("civicgrid.foundation.imports.tasks.run_import_task", [42], error="OSError: disk full")
    old = _failed_task("civicgrid.foundation.events.tasks.prune_outbox")
    type(old).objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))  # past the week
    client = client_for(admin)
    html = client.get(URL).content.decode()
    assert 'data-task-count="failed">' in html and "近 7 天失败：<b>2</b>" in html
    assert f'data-task="{reschedule.pk}"' in html and f'data-task="{imported.pk}"' in html
    assert f'data-task="{old.pk}"' not in html
    assert "工作日历变更后重算在办时限" in html and "KeyError: &#x27;calendar&#x27;" in html
    assert reverse("ui:import_job", args=[42]) in html and "OSError: disk full" in html

    # An import is retried from its own page: refused here, nothing queued, nothing audited.
    count = type(imported).objects.count()
    response = client.post(reverse("ui:ops_rerun_task"), {"id": str(imported.pk)}, follow=True)
    assert "不能在此重新运行" in response.content.decode()
    assert type(imported).objects.count() == count and not AuditEntry.objects.filter(action="ops.task_rerun")
    response = client.post(reverse("ui:ops_rerun_task"), {"id": "not-a-uuid"}, follow=True)
    assert "不存在或没有失败" in response.content.decode()

    # Someone without config.manage: 403, nothing queued.
    leader = user_with(Role.LEADER, region=tree["140213"])
    assert client_for(leader).post(reverse("ui:ops_rerun_task"), {"id": str(reschedule.pk)}).status_code == 403
    assert not AuditEntry.objects.filter(action="ops.task_rerun")

    # The SLA reschedule runs again (the test settings run tasks at once) and the rerun is audited.
    response = client.post(reverse("ui:ops_rerun_task"), {"id": str(reschedule.pk)}, follow=True)
    assert "已重新排队该后台任务" in response.content.decode()
    entry = AuditEntry.objects.get(action="ops.task_rerun")
    assert entry.actor_id == admin.pk and entry.data["failed"] == str(reschedule.pk)
    assert entry.data["task"] == "civicgrid.foundation.sla.sweep.reschedule_task"

    # With the database's queue (the worker's), the run again is a row of its own: the failure says how it went
    # and offers no second rerun.
    from django.tasks import TaskResultStatus

    again = _failed_task("civicgrid.foundation.sla.sweep.reschedule_task", [None])
    type(again).objects.filter(pk=again.pk).update(status=TaskResultStatus.SUCCESSFUL,
                                                   enqueued_at=timezone.now() + timedelta(seconds=1))
    html = client.get(URL).content.decode()
    row = html[html.index(f'data-task="{reschedule.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "data-rerun" in row and "已重新运行：成功" in row and "ops_rerun" not in row and "重新运行</button>" not in row


def test_the_page_warns_while_links_in_messages_would_be_bare_paths(client_for, admin, settings):
    settings.CIVICGRID_PUBLIC_BASE_URL = ""
    assert "data-no-public-url" in client_for(admin).get(URL).content.decode()
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://wangge.example.gov.cn"
    assert "data-no-public-url" not in client_for(admin).get(URL).content.decode()

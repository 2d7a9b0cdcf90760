"""A reopened case starts a round of its own: the rating of the closing before belongs to that round (its 评价
step), nothing is the current rating until the new closing is rated; the 重新办理 notice goes to those who must
act next (the dispatchers), says what to do, and reaches neither the department before it has the work again
nor the reporter who asked for it; a 即将超期 warning delivered after its deadline is not sent."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases import handlers
from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import act, follow_status, rate, reopen_by_token
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.clock import clock_at

from .conftest import jpeg, report

pytestmark = pytest.mark.django_db


def _to_closed(loop, case) -> Case:
    """From 待派遣 (a new report once accepted, or a reopened case) to 结案."""
    if case.status == Status.REPORTED:
        case = act(actor=loop.dispatcher, case=case, action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    case = act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    return act(actor=loop.dispatcher, case=case, action="close")


def _resident_case(loop):
    """A resident's own report (an account and a mobile number), closed, with its follow token."""
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    return _to_closed(loop, case), CaseReporter.objects.get(original_case=case).follow_token


def _signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


# ---- 1. each closing has its own rating ----------------------------------------------------------------------


def test_the_rating_of_a_closing_before_a_reopen_is_not_the_current_one(loop):
    case, token = _resident_case(loop)
    rate(follow_token=token, score=1, comment="没清干净")
    case = reopen_by_token(follow_token=token, reason="又堆满了")
    assert case.satisfaction is None and Case.objects.get(pk=case.pk).satisfaction is None
    assert follow_status(token)["rating"] is None  # open again: no current rating
    case = _to_closed(loop, case)

    status = follow_status(token)
    assert status["rating"] is None and status["can_rate"] is True
    assert Case.objects.get(pk=case.pk).satisfaction is None
    # the earlier round's rating stays in the history, with its score
    rated = [s for s in status["steps"] if s["action"] == "rate"]
    assert [s["score"] for s in rated] == [1]
    reopened = CaseStep.objects.get(case=case, action="reopen")
    assert reopened.data["satisfaction"] == 1

    rate(follow_token=token, score=4)
    assert Case.objects.get(pk=case.pk).satisfaction == 4  # this closing's rating alone, not (1 + 4) / 2
    status = follow_status(token)
    assert status["rating"] == 4 and status["can_rate"] is False
    assert [s["score"] for s in status["steps"] if s["action"] == "rate"] == [1, 4]


def test_the_pages_show_no_old_rating_as_current_after_a_reopen(loop):
    case, token = _resident_case(loop)
    page = Client()
    assert page.post(reverse("ui:follow_rate", args=[token]), {"score": "1"}).status_code == 302
    assert page.post(reverse("ui:follow_reopen", args=[token]), {"reason": "又堆满了"}).status_code == 302
    case = _to_closed(loop, Case.objects.get(pk=case.pk))

    html = page.get(reverse("ui:follow", args=[token])).content.decode()
    assert "<dd data-rating" not in html and "<dt>您的评价</dt>" not in html and 'id="rate"' in html
    assert 'data-score="1"' in html  # the earlier round's 评价 in the timeline
    staff = _signed_in(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "1 / 5</dd>" not in staff and 'data-score="1"' in staff

    assert page.post(reverse("ui:follow_rate", args=[token]), {"score": "5"}).status_code == 302
    html = page.get(reverse("ui:follow", args=[token])).content.decode()
    assert 'data-rating="5"' in html and 'id="rate"' not in html
    staff = _signed_in(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "5 / 5</dd>" in staff


def test_two_reporters_satisfaction_counts_only_the_ratings_of_the_present_closing(loop):
    case = report(loop, actor=loop.resident, source="public")
    duplicate = report(loop, source="public", reporter_phone="13700000002")
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=duplicate, action="merge", parent=case.number)
    case = _to_closed(loop, Case.objects.get(pk=case.pk))
    first, second = (r.follow_token for r in CaseReporter.objects.filter(case=case).order_by("pk"))
    rate(follow_token=first, score=1)
    rate(follow_token=second, score=3)
    assert Case.objects.get(pk=case.pk).satisfaction == 2
    case = reopen_by_token(follow_token=first, reason="又堆满了")
    case = _to_closed(loop, case)
    rate(follow_token=second, score=5)  # the other reporter's earlier 1 is of the earlier closing
    assert Case.objects.get(pk=case.pk).satisfaction == 5
    assert follow_status(first)["rating"] is None and follow_status(second)["rating"] == 5


def test_the_migration_recomputes_the_satisfaction_of_reopened_cases(loop):
    from django.apps import apps

    migration = importlib.import_module("civicgrid.apps.cases.migrations.0020_satisfaction_of_present_closing")
    stale, token = _resident_case(loop)
    rate(follow_token=token, score=1)
    stale = _to_closed(loop, reopen_by_token(follow_token=token, reason="又堆满了"))
    waiting, token2 = _resident_case(loop)
    rate(follow_token=token2, score=2)
    waiting = reopen_by_token(follow_token=token2, reason="又堆满了")
    rerated, token3 = _resident_case(loop)
    rate(follow_token=token3, score=1)
    rerated = _to_closed(loop, reopen_by_token(follow_token=token3, reason="又堆满了"))
    rate(follow_token=token3, score=4)
    plain, token4 = _resident_case(loop)
    rate(follow_token=token4, score=3)
    # what the old rule left: the earlier round's value kept, then averaged with the new closing's rating
    Case.objects.filter(pk=stale.pk).update(satisfaction=1)
    Case.objects.filter(pk=waiting.pk).update(satisfaction=2)
    Case.objects.filter(pk=rerated.pk).update(satisfaction=2)

    migration.recompute(apps, None)
    migration.recompute(apps, None)  # again: the same

    found = dict(Case.objects.filter(pk__in=[stale.pk, waiting.pk, rerated.pk, plain.pk])
                 .values_list("pk", "satisfaction"))
    assert found == {stale.pk: None, waiting.pk: None, rerated.pk: 4, plain.pk: 3}


# ---- 2. who hears of a 重新办理 --------------------------------------------------------------------------------


def _reopened_notes(case):
    return Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="reopened")


def test_a_reopen_asks_the_dispatchers_to_dispatch_and_tells_the_department_only_with_the_new_task(loop):
    case, token = _resident_case(loop)
    before_sms = OutgoingMessage.objects.filter(channel="sms").count()
    before_inbox = Notification.objects.filter(user=loop.resident).count()
    case = reopen_by_token(follow_token=token, reason="又堆满了")

    assert set(_reopened_notes(case).values_list("user_id", flat=True)) == {loop.dispatcher.pk,
                                                                            loop.street_dispatcher.pk}
    told = _reopened_notes(case).get(user=loop.dispatcher)
    assert told.title == f"重新办理：{case.number}"
    assert told.body == "请重新派遣（原处置部门：区城管局）：又堆满了"
    assert told.body_en == "please dispatch it again (handled before by 区城管局): 又堆满了"
    assert not Notification.objects.filter(user=loop.handler, target_id=str(case.pk), kind="reopened").exists()
    # the resident who asked is told nothing of their own step, by inbox or SMS
    assert Notification.objects.filter(user=loop.resident).count() == before_inbox
    assert OutgoingMessage.objects.filter(channel="sms").count() == before_sms

    # the dispatch settles the request for every dispatcher; the department hears of it with its new task
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    assert not _reopened_notes(case).filter(resolved_at__isnull=True).exists()
    assert set(_reopened_notes(case).values_list("resolution", flat=True)) == {"已处理"}
    task = Notification.objects.filter(user=loop.handler, target_id=str(case.pk), kind="new_task").latest("pk")
    assert task.body.endswith("；重新办理：又堆满了") and task.body_en.endswith("; reopened: 又堆满了")
    first = Notification.objects.filter(user=loop.handler, target_id=str(case.pk), kind="new_task").earliest("pk")
    assert "重新办理" not in first.body


def test_other_reporters_still_hear_of_the_reopen_and_a_dispatcher_not_of_their_own(loop):
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    duplicate = report(loop, source="public", reporter_phone="13700000002")
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=duplicate, action="merge", parent=case.number)
    case = _to_closed(loop, Case.objects.get(pk=case.pk))
    token = CaseReporter.objects.get(original_case=case).follow_token
    reopen_by_token(follow_token=token, reason="又堆满了")
    sms = list(OutgoingMessage.objects.filter(channel="sms", body__contains="已重新办理").values_list("to_masked",
                                                                                                  flat=True))
    assert len(sms) == 1 and sms[0].endswith("0002")

    # a dispatcher who reopens: the other dispatchers are asked, not the one who did it, not the department
    case = _to_closed(loop, Case.objects.get(pk=case.pk))
    act(actor=loop.street_dispatcher, case=case, action="reopen", reason="复查仍未解决")
    latest = _reopened_notes(case).filter(body__endswith="复查仍未解决")
    assert set(latest.values_list("user_id", flat=True)) == {loop.dispatcher.pk}


# ---- 3. no 即将超期 after the deadline -------------------------------------------------------------------------


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    bus.dispatch_pending()  # the report's own events first
    return case


def _handle_clock(case) -> SlaClock:
    return SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")


def _messages(case, kind):
    return Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=kind)


def test_a_warning_delivered_after_its_deadline_is_not_sent(loop):
    """The sweep queued the warning in time, but the worker was away until past the deadline."""
    case = _dispatched(loop)
    clock = _handle_clock(case)
    # instants of the test's own, an hour and two ahead: whatever the time of day, the calendar does not decide
    now = timezone.now()
    SlaClock.objects.filter(pk=clock.pk).update(warn_at=now + timedelta(hours=1), due_at=now + timedelta(hours=2))
    with clock_at(now + timedelta(hours=1, minutes=1)):
        assert sweep(now=timezone.now()) == (1, 0)
    late = now + timedelta(hours=3)
    with clock_at(late):
        bus.dispatch_pending()
        assert not _messages(case, "warning").exists()
        assert sweep(now=late) == (0, 1)
        bus.dispatch_pending()
    assert _messages(case, "overdue").filter(user=loop.handler).count() == 1  # the overdue notice covers it
    # redelivered, the warning sends nothing still, nor a second overdue
    with clock_at(late):
        handlers.on_sla_warning(OutboxEvent.objects.get(topic="sla.warning", aggregate_id=str(case.pk)))
        handlers.on_sla_breached(OutboxEvent.objects.get(topic="sla.breached", aggregate_id=str(case.pk)))
    assert not _messages(case, "warning").exists() and _messages(case, "overdue").count() == 1


def test_a_late_sweep_queues_warning_and_breach_and_only_the_overdue_is_sent(loop):
    case = _dispatched(loop)
    now = timezone.now()
    SlaClock.objects.filter(pk=_handle_clock(case).pk).update(warn_at=now - timedelta(hours=2),
                                                              due_at=now - timedelta(minutes=1))
    assert sweep(now=now) == (1, 1)
    bus.dispatch_pending()
    assert not _messages(case, "warning").exists()
    assert _messages(case, "overdue").filter(user=loop.handler).count() == 1


def test_a_warning_delivered_before_its_deadline_is_sent(loop):
    case = _dispatched(loop)
    now = timezone.now()
    SlaClock.objects.filter(pk=_handle_clock(case).pk).update(warn_at=now - timedelta(minutes=1),
                                                              due_at=now + timedelta(hours=1))
    assert sweep(now=now) == (1, 0)
    with clock_at(now + timedelta(minutes=59)):
        bus.dispatch_pending()
    assert _messages(case, "warning").filter(user=loop.handler).count() == 1

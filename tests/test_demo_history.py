"""The demo's case history: the last days of the loop played through the real services, each row stamped with
its simulated moment; all or nothing; Django's clock real again afterwards; the board and the rankings show it.

The demo (without people) is loaded once for the module inside a transaction rolled back at its end. The first
test runs a history that breaks halfway, before the real one is played (tests run in file order)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from civicgrid.apps.cases.models import OPEN_STATUSES, Case, CaseStep, Status
from civicgrid.apps.evaluation import selectors as evaluation
from civicgrid.dashboards.command import selectors as board
from civicgrid.demo import history
from civicgrid.demo.loader import load_demo
from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.foundation.regions import selectors as region_selectors

# Six days always hold at least four working days, whatever the weekday and the hour the suite runs (four days
# from just after midnight on a Monday held two, and too few cases had run their course to the end).
DAYS = 6
REAL_NOW = timezone.now


@pytest.fixture(scope="module")
def base(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            load_demo(people=False, history_days=0)
            region_selectors.invalidate_locator()
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            region_selectors.invalidate_locator()


@pytest.fixture(scope="module")
def played(base, django_db_blocker):
    with django_db_blocker.unblock():
        started = datetime.now(UTC)
        summary = history.load_demo_cases(DAYS)
        yield {"summary": summary, "started": started, "ended": datetime.now(UTC)}


pytestmark = pytest.mark.django_db


def _clock_is_real() -> bool:
    field = Grant._meta.get_field("valid_from")
    return (timezone.now is REAL_NOW and field.default is REAL_NOW
            and abs(timezone.now() - datetime.now(UTC)) < timedelta(seconds=5))


def test_a_history_that_breaks_halfway_leaves_nothing_and_the_clock_real(base, monkeypatch):
    assert not Case.objects.exists()
    real_act, calls = history._act, []

    def breaking(actor, case, action, **inputs):  # the 25th step of the courses fails, unexpectedly
        calls.append(action)
        if len(calls) == 25:
            raise RuntimeError("the disk is full")
        return real_act(actor, case, action, **inputs)

    monkeypatch.setattr(history, "_act", breaking)
    audit, events = AuditEntry.objects.count(), OutboxEvent.objects.count()
    with pytest.raises(RuntimeError):
        history.load_demo_cases(DAYS)
    assert len(calls) == 25
    assert not Case.objects.exists() and not CaseStep.objects.exists()
    assert OutboxEvent.objects.count() == events
    # the grants were made valid from before the history, in the same transaction: rolled back too
    assert AuditEntry.objects.count() == audit
    assert _clock_is_real()


@pytest.mark.parametrize("days", [-1, 367, "7"])
def test_a_bad_number_of_days_is_refused_before_anything_is_written(base, days):
    counts = (User.objects.count(), AuditEntry.objects.count(), Case.objects.count())
    with pytest.raises(ValidationFailed, match="0–366"):
        load_demo(people=False, history_days=days)
    if isinstance(days, int):
        with pytest.raises(CommandError, match="0–366"):
            call_command("demo", "--no-people", "--history-days", str(days), stdout=io.StringIO())
    assert (User.objects.count(), AuditEntry.objects.count(), Case.objects.count()) == counts


def test_the_history_plays_every_part_of_the_loop(played):
    assert "未能走完" not in played["summary"] and "件" in played["summary"]
    statuses = dict(Case.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    assert statuses.get(Status.CLOSED, 0) > 10
    assert sum(n for s, n in statuses.items() if s in OPEN_STATUSES) > 0  # some are still in hand today
    actions = set(CaseStep.objects.values_list("action", flat=True))
    assert {"report", "accept", "dispatch", "start", "report_back", "verify", "close"} <= actions
    # grid workers' reports and 12345 tickets, by several departments' handlers
    assert {"grid_worker", "hotline"} <= set(Case.objects.values_list("source", flat=True))
    handlers = set(CaseStep.objects.filter(action="report_back").values_list("actor__username", flat=True))
    department_handlers = set(Grant.objects.filter(role=Role.DEPARTMENT_HANDLER).values_list("user__username", flat=True))
    assert len(handlers) >= 2 and handlers <= department_handlers
    verified_by = set(CaseStep.objects.filter(action="verify").values_list("actor__username", flat=True))
    assert verified_by and all(u == "gridworker" or u.startswith("wg") for u in verified_by)


def test_every_row_carries_its_simulated_moment(played):
    first = timezone.localdate() - timedelta(days=DAYS)
    for case in Case.objects.all():
        steps = list(CaseStep.objects.filter(case=case).order_by("id").values_list("at", flat=True))
        assert steps == sorted(steps), case.number  # in the order they happened
        assert steps[0] == case.reported_at and timezone.localdate(case.reported_at) >= first
        assert steps[-1] <= played["ended"]
        assert case.number.startswith(f"{timezone.localtime(case.reported_at):%Y%m%d}")
    # the audit trail and the outbox carry the same past moments, not the moment the loader ran
    closed = CaseStep.objects.filter(action="close").first()
    entry = AuditEntry.objects.get(action="cases.close", target_id=str(closed.case_id))
    assert entry.at == closed.at < played["started"] - timedelta(minutes=1)
    old_events = OutboxEvent.objects.filter(aggregate_id=str(closed.case_id), topic__startswith="case.")
    closing = old_events.get(topic="case.closed")
    assert closing.created_at == closing.available_at == closed.at
    assert all(e.available_at < played["started"] for e in old_events)
    # every event was delivered, as the worker would have, and nothing waits
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert _clock_is_real()


def test_texts_to_invented_callers_are_recorded_not_sent(played):
    messages = OutgoingMessage.objects.all()
    if Case.objects.filter(source="hotline").exists():
        assert messages.exists()
    assert set(messages.values_list("sender", flat=True)) <= {"demo-history"}
    assert not messages.exclude(status="sent").exists()


def test_inboxes_hold_the_last_days_unread(played):
    from civicgrid.foundation.notify.models import Notification

    two_days_ago = played["started"] - timedelta(days=2)
    assert Notification.objects.filter(created_at__gte=two_days_ago, read_at__isnull=True).exists()
    assert not Notification.objects.filter(created_at__lt=two_days_ago, read_at__isnull=True).exists()
    # read an hour after they came, unless the work they asked for was settled first (a decided 延期 request)
    read = Notification.objects.filter(read_at__isnull=False, resolved_at__isnull=True).first()
    assert read.read_at == read.created_at + timedelta(hours=1)
    settled = Notification.objects.filter(resolved_at__isnull=False).first()
    assert settled is None or settled.read_at <= settled.resolved_at


def test_the_board_and_the_rankings_show_the_history(played):
    command = User.objects.get(username="command")
    counts = {row["status"]: row["count"] for row in board.status_counts(command)}
    assert sum(counts.values()) == Case.objects.filter(status__in=list(counts)).count() > 0
    leader = User.objects.get(username="leader")
    today = timezone.localdate()
    ranking = evaluation.evaluate(leader, "department", today - timedelta(days=DAYS), today)
    cg = next(r for r in ranking.rows if r.code == "140213-CGJ")
    assert cg.counts["accepted"] > 0 and cg.score is not None


def test_the_curated_grid_workers_grids_get_the_last_days_share(played):
    # Half of the last three days' reports come from the grids of the account a visitor signs in with (with a
    # thousand grids an even spread would give its three grids almost none), a few from them before that.
    from civicgrid.demo.accounts import PILOT_GRIDS

    since = played["started"] - timedelta(hours=72)
    recent = Case.objects.filter(reported_at__gte=since)
    share = recent.filter(grid__code__in=PILOT_GRIDS).count() / max(1, recent.count())
    assert recent.count() > 10 and 0.3 <= share <= 0.75
    assert Case.objects.filter(reported_at__lt=since).exclude(grid__code__in=PILOT_GRIDS).exists()


def test_the_open311_feed_shows_no_case_of_a_private_type(played, client):
    # 养老服务 ("老人行动不便，子女在外地。") and the other types about vulnerable people or leads are open to residents'
    # reports but kept out of the feed: their cases answer 404 like the disputes', and the feed holds none of their
    # words.
    from civicgrid.apps.categories.models import Category

    kept_out = Category.objects.filter(taxonomy__code="social", code__in=["0402", "0403", "0201", "0601"])
    assert kept_out.count() == 4 and not kept_out.filter(is_public=False).exists()
    assert not kept_out.filter(in_public_feed=True).exists()
    from django.db.models import Q

    out = Q(category__in_public_feed=False) | Q(category__is_public=False)
    hidden = list(Case.objects.filter(category__in=kept_out).values_list("number", flat=True)[:10])
    hidden += list(Case.objects.filter(out).exclude(number__in=hidden).values_list("number", flat=True)[:10])
    assert hidden
    for number in hidden:
        assert client.get(f"/open311/v2/requests/{number}.json").status_code == 404
    feed = client.get("/open311/v2/requests.json").content.decode() + client.get(
        "/open311/v2/servicerequestupdates.json").content.decode()
    assert "老人行动不便" not in feed and not any(number in feed for number in hidden)
    assert client.get("/open311/v2/requests.json").json()  # the public ones are still there


def test_a_second_run_adds_nothing(played):
    counts = (Case.objects.count(), CaseStep.objects.count(), AuditEntry.objects.count())
    assert history.load_demo_cases(DAYS) == history.UNCHANGED
    assert (Case.objects.count(), CaseStep.objects.count(), AuditEntry.objects.count()) == counts

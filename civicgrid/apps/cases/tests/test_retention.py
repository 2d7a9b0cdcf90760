"""Retention of reporters' data (core.retention): names and contacts are blanked once the period after the loop
ended has run out; the case stays, the rest of its data too; a wrong period is refused and changes nothing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import retention
from civicgrid.foundation.notify.models import OutgoingMessage

from .conftest import report

pytestmark = pytest.mark.django_db


def _ended(case, status, days_ago):
    at = timezone.now() - timedelta(days=days_ago)
    fields = {"status": status, "updated_at": at}
    if status == Status.CLOSED:
        fields["closed_at"] = at
    Case.objects.filter(pk=case.pk).update(**fields)


def _contacts(case) -> tuple:
    c = Case.objects.get(pk=case.pk)
    r = CaseReporter.objects.get(case=case)
    return (c.reporter_name, c.reporter_phone_enc, c.reporter_phone_masked, c.reporter_email_enc, r.name,
            r.contact_enc, r.email_enc)


def test_reporters_data_goes_two_years_after_the_loop_ended_and_the_case_stays(loop):
    old = report(loop, title="两年多前结案", reporter_name="张三", reporter_phone="13812345678",
                 reporter_email="zhang@example.org")
    voided = report(loop, title="早已作废", reporter_name="李四", reporter_phone="13912345678")
    recent = report(loop, title="去年结案", reporter_name="王五", reporter_phone="13712345678")
    still_open = report(loop, title="仍在办理", reporter_name="赵六", reporter_phone="13612345678")
    _ended(old, Status.CLOSED, 731)
    _ended(voided, Status.VOIDED, 800)
    _ended(recent, Status.CLOSED, 400)
    Case.objects.filter(pk=still_open.pk).update(reported_at=timezone.now() - timedelta(days=1000))
    kept = {c.pk: _contacts(c) for c in (recent, still_open)}

    assert retention.apply()["cases.reporter"] == 2
    for case in (old, voided):
        assert _contacts(case) == ("", "", "", "", "", "", "")
        row = Case.objects.get(pk=case.pk)
        assert row.title and row.number and row.grid_id  # the record of the work stays
    assert {c.pk: _contacts(c) for c in (recent, still_open)} == kept
    entries = AuditEntry.objects.filter(action="data.anonymised").order_by("id")
    assert [(e.data["set"], e.data["count"]) for e in entries if e.data["count"]] == [
        ("cases.followers", 2), ("cases.reporter", 2)]
    assert entries[0].actor_name == "system:retention"
    # a second pass finds nothing and writes nothing
    audit_before = AuditEntry.objects.count()
    assert set(retention.apply().values()) == {0} and AuditEntry.objects.count() == audit_before


def test_a_period_set_below_its_floor_or_not_a_number_is_refused_and_nothing_changes(loop, settings):
    case = report(loop, reporter_name="张三", reporter_phone="13812345678")
    _ended(case, Status.CLOSED, 3000)
    before = _contacts(case)
    for wrong in (10, "two years", -1):
        settings.CIVICGRID_RETAIN_REPORTER_DAYS = wrong
        with pytest.raises(CommandError, match="CIVICGRID_RETAIN_REPORTER_DAYS|保存期限"):
            call_command("retention", "--apply", stdout=io.StringIO(), stderr=io.StringIO())
        assert _contacts(case) == before
        assert "cases.reporter" not in retention.apply()  # the worker skips the set (logged) and goes on
        assert _contacts(case) == before
    settings.CIVICGRID_RETAIN_REPORTER_DAYS = 0  # kept for good
    assert retention.apply()["cases.reporter"] == 0 and _contacts(case) == before
    settings.CIVICGRID_RETAIN_REPORTER_DAYS = 2500
    out = io.StringIO()
    call_command("retention", stdout=out)
    assert "cases.reporter" in out.getvalue() and "2500" in out.getvalue()
    call_command("retention", "--apply", stdout=out)
    assert _contacts(case) == ("", "", "", "", "", "", "") and "已匿名化" in out.getvalue()


def test_message_addresses_go_after_half_a_year_the_masked_form_stays(loop, django_capture_on_commit_callbacks):
    from civicgrid.foundation.notify import services as notify

    with django_capture_on_commit_callbacks(execute=True):
        old = notify.queue_message(channel="sms", to="13812345678", body="已办结")
        new = notify.queue_message(channel="sms", to="13912345678", body="已受理")
    OutgoingMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=181))
    assert retention.apply()["notify.outgoing"] == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.to_enc == "" and old.to_masked == "138****5678" and old.body == "已办结"
    assert new.to_enc != ""


def test_the_worker_applies_the_periods(loop):
    case = report(loop, reporter_name="张三", reporter_phone="13812345678")
    _ended(case, Status.REFUSED, 1000)
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    assert _contacts(case) == ("", "", "", "", "", "", "")


def test_a_backlog_is_blanked_in_batches_each_audited(loop):
    cases = [report(loop, title=f"旧案{i}", reporter_name="张三", reporter_phone="13812345678") for i in range(5)]
    for case in cases:
        _ended(case, Status.CLOSED, 1000)
    data_set = next(s for s in retention.registered() if s.key == "cases.reporter")
    assert retention.apply_one(data_set, batch=2) == 5
    counts = [e.data["count"] for e in AuditEntry.objects.filter(action="data.anonymised").order_by("id")]
    assert counts == [2, 2, 1]
    assert all(_contacts(c)[:4] == ("", "", "", "") for c in cases)


def test_batches_follow_the_ids_of_every_ended_case_still_holding_data_and_name_them(loop):
    """Closed, refused, voided and merged cases past the period, one holding only its email, are blanked in id
    order, each batch audited with its first and last id; blank, recent and open cases are not touched."""
    due = [report(loop, title=f"旧案{i}", reporter_name="张三", reporter_phone="13812345678") for i in range(4)]
    for case, status in zip(due, (Status.CLOSED, Status.REFUSED, Status.VOIDED, Status.MERGED), strict=True):
        _ended(case, status, 900)
    only_email = report(loop, title="只留邮箱", reporter_email="li@example.org")
    Case.objects.filter(pk=only_email.pk).update(reporter_name="", reporter_phone_enc="", reporter_phone_masked="")
    _ended(only_email, Status.CLOSED, 800)
    blank = report(loop, title="早已匿名")
    Case.objects.filter(pk=blank.pk).update(reporter_name="", reporter_phone_enc="", reporter_phone_masked="",
                                            reporter_email_enc="")
    _ended(blank, Status.CLOSED, 900)
    recent = report(loop, title="近期结案", reporter_name="王五")
    _ended(recent, Status.VOIDED, 100)
    still_open = report(loop, title="仍在办理", reporter_name="赵六")
    Case.objects.filter(pk=still_open.pk).update(updated_at=timezone.now() - timedelta(days=900))
    untouched = {c.pk: _contacts(c)[:4] for c in (recent, still_open)}
    data_set = next(s for s in retention.registered() if s.key == "cases.reporter")

    assert retention.apply_one(data_set, batch=2) == 5

    ids = sorted(c.pk for c in [*due, only_email])
    entries = AuditEntry.objects.filter(action="data.anonymised", data__set="cases.reporter").order_by("id")
    assert [(e.data["count"], e.data["first_id"], e.data["last_id"]) for e in entries] == [
        (2, ids[0], ids[1]), (2, ids[2], ids[3]), (1, ids[4], ids[4])]
    assert all(_contacts(c)[:4] == ("", "", "", "") for c in [*due, only_email])
    assert {c.pk: _contacts(c)[:4] for c in (recent, still_open)} == untouched
    assert retention.apply_one(data_set) == 0 and entries.count() == 3


def test_the_hourly_pass_finds_what_is_due_through_the_retention_indexes_not_a_scan(loop):
    """SQLite without statistics (a database grown by reports has none) searches the partial indexes of the
    ended cases still holding data: an hour with nothing due is a probe, not a read of every case."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL chooses by its statistics")
    data_set = next(s for s in retention.registered() if s.key == "cases.reporter")
    sql, params = data_set.due().order_by().values_list("pk", flat=True).query.sql_with_params()  # as apply_one
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " | ".join(row[-1] for row in cur.fetchall())
    assert "cases_retention_closed_idx" in plan and "cases_retention_ended_idx" in plan, plan
    assert "SCAN cases_case" not in plan, plan

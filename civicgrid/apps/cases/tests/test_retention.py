"""Retention of reporters' data (core.retention): names and contacts are blanked once the period after the loop
ended has run out; the case stays, the rest of its data too; a wrong period is refused and changes nothing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.apps.cases.models import REPORTER_DATA_CLEARED, Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import retention
from civicgrid.foundation.notify.models import OutgoingMessage

from .conftest import report

pytestmark = pytest.mark.django_db


def _ended(case, status, days_ago):
    """The case closed (`closed_at`), or refused, voided or merged (`ended_at`), `days_ago` days ago."""
    at = timezone.now() - timedelta(days=days_ago)
    Case.objects.filter(pk=case.pk).update(status=status, **{"closed_at" if status == Status.CLOSED else "ended_at": at})


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
    assert "cases_retention_closed_idx" in plan and "cases_retention_ended_at_idx" in plan, plan
    assert "SCAN cases_case" not in plan, plan


def test_refusing_voiding_or_merging_starts_the_period_and_later_saves_do_not_move_it(loop):
    """The period of a refused, voided or merged case runs from that step (`ended_at`), not from its last save
    (`updated_at`, which every save changes and no index may hold: see the next test)."""
    parent = report(loop, title="主案卷")
    ended = {}
    for action, inputs in (("refuse", {"reason": "不属于受理范围"}), ("void", {"reason": "重复录入"}),
                           ("merge", {"parent": parent.number})):
        case = report(loop, title=action, reporter_name="张三", reporter_phone="13812345678")
        act(actor=loop.dispatcher, case=case, action=action, **inputs)
        step = CaseStep.objects.get(case=case, action=action)
        assert Case.objects.get(pk=case.pk).ended_at == step.at
        ended[action] = case
    assert Case.objects.get(pk=parent.pk).ended_at is None  # open, and closing is `closed_at`
    long_ago, lately = timezone.now() - timedelta(days=800), timezone.now() - timedelta(days=5)
    # Refused long ago and saved since: due. Voided lately, its last save long ago (as the data allows): kept.
    Case.objects.filter(pk=ended["refuse"].pk).update(ended_at=long_ago, updated_at=lately)
    Case.objects.filter(pk=ended["merge"].pk).update(ended_at=long_ago, updated_at=lately)
    Case.objects.filter(pk=ended["void"].pk).update(ended_at=lately, updated_at=long_ago)

    def held(case) -> tuple:  # the case's own (a merged case's reporters follow its parent)
        return tuple(Case.objects.filter(pk=case.pk).values_list(*REPORTER_DATA_CLEARED).get())

    kept = held(ended["void"])
    assert kept[0] == "张三"

    data_set = next(s for s in retention.registered() if s.key == "cases.reporter")
    assert retention.apply_one(data_set) == 2
    assert held(ended["refuse"]) == held(ended["merge"]) == ("", "", "", "")
    assert held(ended["void"]) == kept


def test_no_index_of_the_case_table_holds_updated_at(loop):
    """Every save of a case changes `updated_at`; on PostgreSQL an indexed column that changes (a partial index's
    condition included) makes the update non-HOT, a new entry in every index of the table."""
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'cases_case'::regclass")
        else:
            cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases_case' "
                        "AND sql IS NOT NULL")
        definitions = [row[0] for row in cur.fetchall()]
    assert any("cases_retention_ended_at_idx" in d for d in definitions)
    assert [d for d in definitions if "updated_at" in d] == []


def test_on_postgresql_a_progress_note_is_a_heap_only_update(loop):
    """A note changes no indexed column of the case, so PostgreSQL may update it in place (HOT), writing no
    index. Whether an update is HOT also needs room on the row's page, which the rows earlier tests left behind
    decide (a CI run saw 2 of 3): so the test checks the condition that is the code's to keep, that each note
    changes no column any index of the table reads (its key, expression or predicate)."""
    import re

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)

    def row() -> dict:
        with connection.cursor() as cur:
            cur.execute("SELECT * FROM cases_case WHERE id = %s", [case.pk])
            return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))

    def updates() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_get_xact_tuples_updated('cases_case'::regclass)")
            return cur.fetchone()[0]

    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'cases_case'::regclass")
        indexed = {c for (d,) in cur.fetchall() for c in re.findall(r"\b(\w+)\b", d.split(" USING ", 1)[1])}
    assert {"id", "status", "reported_at"} <= indexed  # the definitions were read
    changed, count = set(), updates()
    for n in range(3):
        before = row()
        act(actor=loop.handler, case=case, action="progress", note=f"第{n + 1}次进展")
        after = row()
        changed |= {c for c in after if after[c] != before[c]}
    assert updates() - count == 3  # one update of the case per note
    assert "updated_at" in changed  # the case did change …
    assert changed & indexed == set(), sorted(changed)  # … in no indexed column


def test_the_migration_starts_the_cases_ended_before_it_where_the_pass_counted_from(loop):
    """0011 gives the refused, voided and merged cases without `ended_at` their `updated_at` (what the pass
    counted from until then), and leaves the others, and a moment already set, as they are."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("civicgrid.apps.cases.migrations.0011_retention_ended_at")
    at = {s: timezone.now() - timedelta(days=d) for s, d in (("refused", 900), ("voided", 700), ("merged", 10))}
    cases = {s: report(loop, title=s) for s in (*at, "closed", "open", "set")}
    for status, moment in at.items():
        Case.objects.filter(pk=cases[status].pk).update(status=status, updated_at=moment, ended_at=None)
    Case.objects.filter(pk=cases["closed"].pk).update(status=Status.CLOSED, closed_at=at["refused"])
    already = timezone.now() - timedelta(days=3)
    Case.objects.filter(pk=cases["set"].pk).update(status=Status.VOIDED, ended_at=already)

    migration.fill_ended_at(apps, None)
    migration.fill_ended_at(apps, None)  # run again (a migration that stopped halfway): the same

    ended = dict(Case.objects.filter(pk__in=[c.pk for c in cases.values()]).values_list("title", "ended_at"))
    assert ended == {**at, "closed": None, "open": None, "set": already}

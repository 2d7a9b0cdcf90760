"""Deleting an account: the cases it reported, accepted and dispatched stay with those references emptied, their
timelines keep the name it acted under; its grants and inbox go; other accounts' references are untouched. The
references are found through indexes, not by reading the case table (migration 0007)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.notify.models import Notification
from civicgrid.testing.builders import user_with

from .conftest import report

pytestmark = pytest.mark.django_db

ACCOUNT_COLUMNS = ("reporter_id", "accepted_by_id", "dispatched_by_id")


@pytest.fixture
def leaver(loop):
    """A dispatcher who reported one case and accepted and dispatched it and another one; the other case was
    reported by the grid worker. A third case is someone else's work throughout."""
    user = user_with(Role.COMMAND_DISPATCHER, region=loop.tree["140213"], username="leaver")
    own = report(loop, actor=user, title="自己上报")
    other = report(loop, title="网格员上报")
    for case in (own, other):
        act(actor=user, case=case, action="accept")
        act(actor=user, case=case, action="dispatch", department=loop.dept.pk)
    untouched = report(loop, title="别人的")
    act(actor=loop.dispatcher, case=untouched, action="accept")
    act(actor=loop.dispatcher, case=untouched, action="dispatch", department=loop.dept.pk)
    Notification.objects.create(user=user, kind="new_task", title="新任务", target_type="cases.case",
                                target_id=str(own.pk))
    return user, own, other, untouched


def _references(case) -> tuple:
    return Case.objects.filter(pk=case.pk).values_list(*ACCOUNT_COLUMNS).get()


def test_deleting_an_account_keeps_its_cases_and_empties_its_references(loop, leaver):
    user, own, other, untouched = leaver
    pk = user.pk
    assert _references(own) == (pk, pk, pk) and _references(other) == (loop.worker.pk, pk, pk)
    cases_before = list(Case.objects.order_by("pk").values_list("pk", "number", "status", "department_id"))
    untouched_before = _references(untouched)
    steps_before = dict(CaseStep.objects.filter(actor_id=pk).values_list("pk", "actor_name"))
    audit_before = AuditEntry.objects.filter(actor_id=pk).count()
    assert len(steps_before) >= 5 and all(steps_before.values()) and audit_before >= 5

    user.delete()

    assert not User.objects.filter(pk=pk).exists()
    assert list(Case.objects.order_by("pk").values_list("pk", "number", "status", "department_id")) == cases_before
    assert _references(own) == (None, None, None)
    assert _references(other) == (loop.worker.pk, None, None)
    assert _references(untouched) == untouched_before
    # The timeline keeps who it was by name; the reporter's record stays, without the account.
    assert not CaseStep.objects.filter(actor_id=pk).exists()
    assert dict(CaseStep.objects.filter(pk__in=steps_before, actor__isnull=True)
                .values_list("pk", "actor_name")) == steps_before
    assert CaseReporter.objects.filter(case=own, user__isnull=True).exists()
    # The account's own rows go; the audit trail is append-only and keeps its records as written.
    assert not Grant.objects.filter(user_id=pk).exists() and not Notification.objects.filter(user_id=pk).exists()
    assert AuditEntry.objects.filter(actor_id=pk, actor_name="leaver").count() == audit_before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the planner's choice on a tiny table is asserted on SQLite")
def test_deleting_an_account_finds_its_cases_by_index(loop, leaver):
    user = leaver[0]
    with CaptureQueriesContext(connection) as captured:
        user.delete()
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "cases_case"')]
    assert {column for column in ACCOUNT_COLUMNS if any(f'"{column}" = NULL' in sql for sql in updates)} == set(
        ACCOUNT_COLUMNS)
    # The account's own DELETE: SQLite checks every foreign key to it, each by a lookup in the referencing table.
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('DELETE FROM "access_user"')]
    assert len(deletes) == 1
    with connection.cursor() as cur:
        for sql in updates + deletes:
            cur.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " | ".join(str(row[-1]) for row in cur.fetchall())
            assert "SCAN cases_case" not in plan and "cases_case USING" in plan, (sql, plan)

"""Purging past retention: only beyond six months, only through the owner's path, recorded, triggers restored."""

import os
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from civicgrid.foundation.audit import retention
from civicgrid.foundation.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table


def entry_aged(days: int, action: str = "data.changed") -> AuditEntry:
    return AuditEntry.objects.create(at=timezone.now() - timedelta(days=days), action=action, actor_name="t")


def delete_all_raw():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")


def test_purge_removes_only_records_past_the_retention_and_records_itself():
    old = [entry_aged(400), entry_aged(200)]
    young = [entry_aged(100), entry_aged(0)]
    deleted = retention.purge(older_than_days=180)
    assert deleted == 2
    remaining = set(AuditEntry.objects.values_list("pk", flat=True))
    assert {e.pk for e in young} <= remaining and not ({e.pk for e in old} & remaining)
    purged = AuditEntry.objects.get(action="audit.purged")
    assert purged.data["deleted"] == 2 and purged.data["older_than_days"] == 180


def test_triggers_are_back_after_a_purge():
    entry_aged(400)
    retention.purge(older_than_days=365)
    entry_aged(1)
    with pytest.raises(DatabaseError, match="append-only"):
        delete_all_raw()


@pytest.mark.parametrize("days", [0, 30, 179])
def test_less_than_six_months_is_refused(days):
    entry_aged(400)
    with pytest.raises(retention.RetentionError, match="180"):
        retention.purge(older_than_days=days)
    assert AuditEntry.objects.count() == 1
    assert not AuditEntry.objects.filter(action="audit.purged").exists()


def test_a_longer_configured_retention_raises_the_minimum(settings):
    settings.CIVICGRID_AUDIT_RETENTION_DAYS = 365
    entry_aged(300)
    with pytest.raises(retention.RetentionError):
        retention.purge(older_than_days=200)
    settings.CIVICGRID_AUDIT_RETENTION_DAYS = 30  # never below the legal minimum
    assert retention.minimum_days() == 180


def test_command_purges_and_refuses(capsys):
    entry_aged(500)
    entry_aged(10)
    with pytest.raises(CommandError, match="180"):
        call_command("audit_purge", "--older-than-days", "90")
    call_command("audit_purge", "--older-than-days", "180", "--dry-run")
    assert "would delete 1" in capsys.readouterr().out
    assert AuditEntry.objects.count() == 2
    call_command("audit_purge", "--older-than-days", "180")
    assert "deleted 1" in capsys.readouterr().out
    purged = AuditEntry.objects.get(action="audit.purged")
    assert purged.channel == "command"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="table ownership exists on PostgreSQL only")
def test_a_role_that_does_not_own_the_table_cannot_purge_or_delete():
    """The web processes of a hardened deployment connect as such a role: neither path is open to them."""
    entry_aged(400)
    role = f"civicgrid_app_{os.getpid()}"
    with connection.cursor() as cursor:
        # Rolled back with the test's transaction, like everything else here.
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {role}")
        cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"SET ROLE {role}")
    try:
        with pytest.raises(DatabaseError, match="must be owner"):
            retention.purge(older_than_days=180)
        with pytest.raises(DatabaseError, match="append-only"):
            delete_all_raw()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert AuditEntry.objects.filter(action="data.changed").count() == 1
    assert not AuditEntry.objects.filter(action="audit.purged").exists()

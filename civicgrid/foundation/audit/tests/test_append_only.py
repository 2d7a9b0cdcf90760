"""The audit trail cannot be changed or deleted: not through the model, not through raw SQL (both databases)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from civicgrid.foundation.audit.models import AppendOnlyError, AuditEntry
from civicgrid.foundation.audit.service import record

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table


def raw(sql, params=()):
    # A savepoint of its own: on PostgreSQL a failed statement would otherwise poison the test's transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_model_refuses_save_after_create_and_delete():
    entry = record(actor=None, action="config.changed", data={"k": 1})
    entry.action = "config.other"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "config.changed"


def test_raw_update_is_refused_by_the_database():
    entry = record(actor=None, action="config.changed")
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {TABLE} SET action = %s WHERE id = %s", ["tampered", entry.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {TABLE} SET at = %s", [timezone.now() - timedelta(days=999)])
    assert AuditEntry.objects.get(pk=entry.pk).action == "config.changed"


def test_raw_delete_is_refused_by_the_database():
    entry = record(actor=None, action="config.changed")
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"DELETE FROM {TABLE}")
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
def test_truncate_is_refused_on_postgresql():
    record(actor=None, action="config.changed")
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"TRUNCATE {TABLE}")
    assert AuditEntry.objects.count() == 1


def test_inserts_still_work():
    before = AuditEntry.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (at, actor_name, source_ip, channel, request_id, action, target_type, target_id,"
            " target_repr, region_code, result) VALUES (%s, '', '', '', '', 'config.changed', '', '', '', '', 'ok')",
            [timezone.now()],
        )
    assert AuditEntry.objects.count() == before + 1


def test_a_nul_in_recorded_values_is_kept_visible_not_refused():
    """PostgreSQL stores no NUL in text or jsonb; a request value carrying one (e.g. an export filter) must not
    make the audited action fail: it is recorded with U+FFFD in its place, on both databases."""
    entry = record(actor="client\x00x", action="data.exported", target_type="t", target_repr="a\x00b",
                   data={"filters": {"kind": "±\x00", "k\x00": ["\x00"]}})
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.data == {"filters": {"kind": "±\ufffd", "k\ufffd": ["\ufffd"]}}
    assert stored.target_repr == "a\ufffdb" and stored.actor_name == "client\ufffdx"

"""Purging audit records past their retention: a deliberate way round the append-only triggers (the other is
`remask.mask_stored`, through the same `triggers_lifted`).

The Cybersecurity Law (Art. 21) asks for at least six months of logs, so nothing younger than
`MIN_RETENTION_DAYS` (or a longer `CIVICGRID_AUDIT_RETENTION_DAYS`) can be purged. The database refuses
UPDATE and DELETE on the audit table (migration 0002); the purge lifts that refusal only inside its own
transaction, which needs the rights of the table's owner:

* PostgreSQL: `ALTER TABLE … DISABLE TRIGGER` (owner only; the lock it takes also holds back every other
  writer of the table until commit), delete, `ENABLE TRIGGER`. A deployment whose web processes connect as a
  role that does not own the table therefore cannot purge from the application at all.
* SQLite: drop the triggers, delete, create them again. DDL is transactional in SQLite, so either all three
  happen or none.

Either way the purge itself is recorded (`audit.purged`) in the same transaction.
"""

from __future__ import annotations

import contextlib
import importlib
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from . import verbs
from .models import AuditEntry
from .service import record

MIN_RETENTION_DAYS = 180  # six months, Cybersecurity Law Art. 21

_triggers = importlib.import_module("civicgrid.foundation.audit.migrations.0002_append_only")


class RetentionError(Exception):
    """The purge was refused (too short a retention, or a database it cannot handle)."""


def minimum_days() -> int:
    """The shortest retention allowed here: six months, or longer when the deployment says so."""
    return max(MIN_RETENTION_DAYS, int(getattr(settings, "CIVICGRID_AUDIT_RETENTION_DAYS", MIN_RETENTION_DAYS)))


def cutoff_for(older_than_days: int):
    """The moment before which records go; refuses a retention below the minimum."""
    if older_than_days < minimum_days():
        raise RetentionError(
            f"审计记录至少保留 {minimum_days()} 天（《网络安全法》第二十一条：不少于六个月）/ audit records are kept "
            f"at least {minimum_days()} days; refusing --older-than-days {older_than_days}"
        )
    return timezone.now() - timedelta(days=older_than_days)


def count_expired(older_than_days: int, *, using: str = "default") -> int:
    """How many records a purge with this retention would remove."""
    return AuditEntry.objects.using(using).filter(at__lt=cutoff_for(older_than_days)).count()


@contextlib.contextmanager
def triggers_lifted(connection):
    """The append-only triggers lifted for the body, which must run inside a transaction on `connection`, and
    restored after it (PostgreSQL: `DISABLE`/`ENABLE TRIGGER`; SQLite: drop and create them again). Both are
    transactional, so no other connection ever meets the table without them, and a body that fails leaves them
    as they were. Shared by the purge and `remask.mask_stored`."""
    if not connection.in_atomic_block:
        raise RetentionError("the audit triggers are lifted only inside a transaction")
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    if connection.vendor == "postgresql":
        lift = [f"ALTER TABLE {table} DISABLE TRIGGER audit_no_change"]
        restore = [f"ALTER TABLE {table} ENABLE TRIGGER audit_no_change"]
    elif connection.vendor == "sqlite":
        lift, restore = _triggers.SQLITE_DROP, _triggers.SQLITE
    else:
        raise RetentionError(f"unsupported database: {connection.vendor}")
    with connection.cursor() as cursor:
        for sql in lift:
            cursor.execute(sql)
    yield
    with connection.cursor() as cursor:
        for sql in restore:
            cursor.execute(sql)


def purge(*, older_than_days: int, using: str = "default") -> int:
    """Delete records older than the retention, as the table owner, in one transaction; returns the count."""
    cutoff = cutoff_for(older_than_days)
    connection = connections[using]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with transaction.atomic(using=using):
        with triggers_lifted(connection), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE at < %s", [cutoff])
            deleted = cursor.rowcount
        record(
            actor=None,
            action=verbs.AuditLog.PURGED,
            data={"older_than_days": older_than_days, "cutoff": cutoff.isoformat(), "deleted": deleted},
        )
    return deleted

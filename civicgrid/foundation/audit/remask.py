"""Masking in storage the records written before the snapshot policy (`service.field_policy`).

Records written before it hold a person's name, phone, ID number, address and free text in clear in their
`before`/`after` (and a resident's name in `target_repr`). Readers always masked them (`service.shown_snapshot`,
`service.shown_repr`); `mask_stored` rewrites them in the table to exactly what those readers show, so the clear
values no longer wait for the retention purge. It is run once by migration `audit.0004_mask_stored_snapshots`
and can be run again by the table's owner (`civicgrid audit_mask_stored`, e.g. after restoring an old backup).

Like the retention purge it is a deliberate way round the append-only triggers, and the same one
(`retention.triggers_lifted`): the triggers are lifted only inside its own transaction, so every other
connection meets them throughout (PostgreSQL: the lock `DISABLE TRIGGER` takes holds other writers of the table
back until commit; SQLite: the dropped and recreated triggers commit together, or not at all). Only `before`,
`after` and `target_repr` are written, and only where the policy changes them: a record already masked is left
as it is, so running it again changes nothing and records nothing. The rewrite records itself (`audit.remasked`,
with how many records) in the same transaction. Records are read by id in batches: memory stays flat however
large the table is.
"""

from __future__ import annotations

from django.db import connections, models, transaction

from . import verbs
from .models import AuditEntry
from .retention import RetentionError, triggers_lifted
from .service import entry, shown_repr, shown_snapshot

BATCH_SIZE = 1000


def _masked(row: tuple) -> dict:
    """The fields of a stored record (id, target_type, target_repr, before, after) the policy would change, with
    their masked values; empty for a record already masked."""
    _pk, target_type, target_repr, before, after = row
    changed = {}
    # The name first: it is masked by the clear values the record's own snapshot still holds.
    name = shown_repr(AuditEntry(target_type=target_type, target_repr=target_repr, before=before, after=after))
    if name != target_repr:
        changed["target_repr"] = name
    for field, value in (("before", before), ("after", after)):
        shown = shown_snapshot(target_type, value)
        if shown != value:
            changed[field] = shown
    return changed


def _batches(model, using: str, batch_size: int):
    last = 0
    while True:
        rows = list(
            models.QuerySet(model=model, using=using).filter(pk__gt=last).order_by("pk")
            .values_list("pk", "target_type", "target_repr", "before", "after")[:batch_size]
        )
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def count_unmasked(*, model=AuditEntry, using: str = "default", batch_size: int = BATCH_SIZE) -> int:
    """How many stored records still hold a value the policy masks."""
    return sum(1 for rows in _batches(model, using, batch_size) for row in rows if _masked(row))


def mask_stored(*, model=AuditEntry, using: str = "default", batch_size: int = BATCH_SIZE) -> int:
    """Rewrite every stored record that holds a value in clear as the policy keeps it, in one transaction with
    the triggers lifted, and record the rewrite; returns how many records were rewritten (0: nothing recorded).

    `model` is the audit model to read and write with: a migration passes its historical one."""
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        raise RetentionError(f"unsupported database: {connection.vendor}")
    rewritten = 0
    with transaction.atomic(using=using):
        with triggers_lifted(connection):
            for rows in _batches(model, using, batch_size):
                for row in rows:
                    changed = _masked(row)
                    if changed:
                        # A plain queryset: the model's own refuses updates, which is the point of the table.
                        models.QuerySet(model=model, using=using).filter(pk=row[0]).update(**changed)
                        rewritten += 1
        if rewritten:
            row = entry(actor=None, action=verbs.AuditLog.REMASKED, data={"rewritten": rewritten})
            # Only the columns `model` has (a migration's historical model may have fewer than today's).
            model.objects.using(using).create(**{
                f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields
                if not f.primary_key and hasattr(row, f.attname)})
    return rewritten

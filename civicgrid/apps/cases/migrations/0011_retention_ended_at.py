"""The retention index of the refused, voided and merged cases on `(status, ended_at)` instead of
`(status, updated_at)`.

`updated_at` changes on every save of every case, and on PostgreSQL an update that changes an indexed column
(a partial index's condition columns included) cannot be heap-only (HOT): with `cases_retention_ended_idx` every
progress note, comment or flag wrote a new entry in each of the table's indexes. `ended_at` is written once,
when the loop ends.

The cases that ended before this migration get their `updated_at`, the moment the retention pass counted from
until now: no reporter's data goes earlier than it would have. Filled in batches of ids, each its own
transaction, so no case stays locked for long on a large table, and only where still empty, so the migration
can run again. Then the new index is built and the old one dropped, CONCURRENTLY on PostgreSQL
(`core.migration_ops`), the new one first so the hourly pass always has one.
"""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently, RemoveIndexConcurrently

ENDED_UNCLOSED = ("merged", "refused", "voided")
BATCH = 10_000


def fill_ended_at(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    bounds = Case.objects.aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if bounds["first"] is None:
        return
    for start in range(bounds["first"], bounds["last"] + 1, BATCH):
        Case.objects.filter(pk__gte=start, pk__lt=start + BATCH, status__in=ENDED_UNCLOSED,
                            ended_at__isnull=True).update(ended_at=models.F("updated_at"))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0010_case_ended_at'),
    ]

    operations = [
        migrations.RunPython(fill_ended_at, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrently(
            model_name='case',
            index=models.Index(condition=models.Q(models.Q(('status', 'merged'), ('status', 'refused'), ('status', 'voided'), _connector='OR'), models.Q(('reporter_email_enc', ''), ('reporter_name', ''), ('reporter_phone_enc', ''), ('reporter_phone_masked', ''), _negated=True)), fields=['status', 'ended_at'], name='cases_retention_ended_at_idx'),
        ),
        RemoveIndexConcurrently(
            model_name='case',
            name='cases_retention_ended_idx',
        ),
    ]

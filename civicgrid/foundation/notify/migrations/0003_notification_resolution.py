"""A message asking for work somebody has since done (one approver decided a request every approver was told
about) is closed for every recipient: `resolved_at` and `resolution` (what became of it), found through the
object it is about (`notify_target`)."""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, which a transaction cannot hold. It comes first: a build
    # that fails leaves the columns not yet added, and the migration runs again from the start (core.migration_ops).
    atomic = False

    dependencies = [
        ("notify", "0002_outgoing_retries"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(fields=["target_type", "target_id"], name="notify_target"),
        ),
        migrations.AddField(
            model_name="notification",
            name="resolution",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="notification",
            name="resolved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

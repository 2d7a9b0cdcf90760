"""Outgoing messages count their hand-overs and wait between them: the worker retries a failed one after a
growing wait and gives up after `services.MAX_ATTEMPTS`. A partial index of the unsent ones keeps its poll
independent of how many sent messages are kept. Messages already failed start with no attempts counted."""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, which a transaction cannot hold. It comes first: a build
    # that fails leaves the columns not yet added, and the migration runs again from the start (core.migration_ops).
    atomic = False

    dependencies = [
        ("notify", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outgoingmessage",
            index=models.Index(condition=models.Q(sent_at__isnull=True), fields=["id"], name="outgoing_unsent"),
        ),
        migrations.AddField(
            model_name="outgoingmessage",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="outgoingmessage",
            name="next_try_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

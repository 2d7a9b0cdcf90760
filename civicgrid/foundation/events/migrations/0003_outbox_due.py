"""A partial index of the undelivered events (`outbox_due`), in id order: the worker's poll reads only them.

Without it, SQLite's planner may answer the poll (undelivered, due, oldest first) by walking the whole table in
id order, which it does whenever its statistics were taken while the outbox held few, alike rows: a poll a
second that reads every event kept for the last 30 days."""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # The indexes are built CONCURRENTLY on PostgreSQL, which a transaction cannot hold (core.migration_ops).
    atomic = False

    dependencies = [
        ("events", "0002_outbox_topic_unindexed"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(condition=models.Q(dispatched_at__isnull=True), fields=["id"], name="outbox_due"),
        ),
    ]

"""The outbox's `topic` loses its index: nothing reads events by topic alone (the worker reads pending events by
`outbox_pending`, purges by `dispatched_at`), and every published event (a burst of SLA warnings writes
thousands at once) maintained it. Dropped by name (and PostgreSQL's `_like` twin) rather than by AlterField,
which on SQLite would remake the whole table."""

from django.db import migrations, models


def _names(schema_editor, model):
    table, column = model._meta.db_table, model._meta.get_field("topic").column
    yield schema_editor._create_index_name(table, [column], suffix="")
    if schema_editor.connection.vendor == "postgresql":
        yield schema_editor._create_index_name(table, [column], suffix="_like")


def drop_index(apps, schema_editor):
    model = apps.get_model("events", "OutboxEvent")
    for name in _names(schema_editor, model):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore_index(apps, schema_editor):
    model = apps.get_model("events", "OutboxEvent")
    field = model._meta.get_field("topic")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
    like = getattr(schema_editor, "_create_like_index_sql", None)
    statement = like(model, field) if like else None
    if statement is not None:
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_index, restore_index)],
            state_operations=[
                migrations.AlterField(
                    model_name="outboxevent",
                    name="topic",
                    field=models.CharField(max_length=64, verbose_name="事件"),
                ),
            ],
        ),
    ]

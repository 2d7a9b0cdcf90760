"""Drop the plain index on `cases_case.closed_at`.

No read filters or sorts cases on `closed_at` alone (the board counts it inside the day's touched cases; the
evaluation reads its period by id); the retention pass reads it through `cases_retention_closed_idx`, the
closed cases still holding reporter data. With both there, PostgreSQL, which cannot know that the closed
cases past the period are the ones already blanked, took the plain index and rechecked every case closed
before the cutoff (300,000 at 1,000,000 cases, 0.3-0.5 s an hour) instead of probing the partial one (under a
millisecond). Dropped by name, as in 0004: on SQLite AlterField remakes the whole table.
"""

from django.db import migrations, models


def _name(schema_editor, model) -> str:
    return schema_editor._create_index_name(model._meta.db_table, [model._meta.get_field("closed_at").column],
                                            suffix="")


def drop_index(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_name(schema_editor, model))}")


def restore_index(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field("closed_at")]))


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0008_retention_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_index, restore_index)],
            state_operations=[
                migrations.AlterField(
                    model_name='case',
                    name='closed_at',
                    field=models.DateTimeField(blank=True, null=True),
                ),
            ],
        ),
    ]

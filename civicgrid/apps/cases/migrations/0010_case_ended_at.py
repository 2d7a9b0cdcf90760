"""`Case.ended_at`: when a case was refused, voided or merged, the start of its reporter's data retention in
place of `updated_at` (filled and indexed in 0011). A column that may be empty: PostgreSQL and SQLite add it
without rewriting the table."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0009_drop_closed_at_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='case',
            name='ended_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

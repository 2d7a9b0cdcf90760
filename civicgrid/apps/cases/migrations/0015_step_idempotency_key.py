"""A step's one-time key (`CaseStep.idempotency_key`): a form or API call sent again after its answer was lost
finds the step the first sending made instead of taking the action twice (`services.common.replayed_step`).

A nullable column without a default: on PostgreSQL a change of the catalogue only, no rewrite of the table. Its
index comes in 0016, built CONCURRENTLY.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0014_normalise_hotline_tickets'),
    ]

    operations = [
        migrations.AddField(
            model_name='casestep',
            name='idempotency_key',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
    ]

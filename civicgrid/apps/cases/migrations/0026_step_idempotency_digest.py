"""What a keyed step's form or request carried (`CaseStep.idempotency_digest`, `services.common.step_digest`):
the same one-time key sent again with other content is refused (409) instead of answered with the first
sending's result while the new content is dropped.

A nullable column without a default: on PostgreSQL a change of the catalogue only, no rewrite of the table (on
SQLite an ALTER TABLE ADD COLUMN). Not indexed: it is read from the step its key finds. The steps keyed before it
keep NULL and are answered as before (`digest_matches`).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0025_routing_proposal'),
    ]

    operations = [
        migrations.AddField(
            model_name='casestep',
            name='idempotency_digest',
            field=models.CharField(blank=True, max_length=129, null=True),
        ),
    ]

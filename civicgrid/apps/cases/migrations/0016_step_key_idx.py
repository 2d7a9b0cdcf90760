"""The index the replay of a step's one-time key reads (`services.common.replayed_step`), over the keyed steps
only (most steps have none). Built CONCURRENTLY on PostgreSQL (`core.migration_ops`): the steps table is the
largest of the loop. Not unique: two sendings of one key are serialised by the case's row lock, under which the
key is looked up before the step is taken."""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0015_step_idempotency_key'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='casestep',
            index=models.Index(condition=models.Q(('idempotency_key__isnull', False)), fields=['idempotency_key'],
                               name='cases_step_key_idx'),
        ),
    ]

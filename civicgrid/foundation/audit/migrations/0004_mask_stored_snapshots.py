"""Records written before the snapshot policy held personal values in clear in `before`/`after` (and a resident's
name in `target_repr`), masked only when read: rewrite them in storage as the policy keeps them
(`audit.remask.mask_stored`: in batches, with the append-only triggers lifted only inside this migration's
transaction, recorded as `audit.remasked`). Not reversible: the clear values are gone, which is the point."""

from django.db import migrations


def forwards(apps, schema_editor):
    from civicgrid.foundation.audit import remask
    from civicgrid.foundation.core import context

    with context.acting(channel="migration"):
        remask.mask_stored(model=apps.get_model("audit", "AuditEntry"), using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_actor_do_nothing")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

"""The demo model's note was written "演示模型（示例数据）/ demo model (example data)": without the space before
the slash it is not a bilingual pair, and the model page showed it whole in both languages. Versions the demo
stage registered before get the note it writes now (`demo.DEMO_NOTE`); notes people wrote are left alone."""

from django.db import migrations

OLD = "演示模型（示例数据）/ demo model (example data)"
NEW = "演示模型（示例数据） / demo model (example data)"
DEMO_SOURCE = "demo:example_data/messages.csv"


def forwards(apps, schema_editor):
    versions = apps.get_model("router", "RouterModelVersion")
    versions.objects.filter(source=DEMO_SOURCE, note=OLD).update(note=NEW)


class Migration(migrations.Migration):

    dependencies = [
        ("router", "0002_corrections_retrain_runs"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]

"""A message asking for work somebody has since done (one approver decided a request every approver was told
about) is closed for every recipient: `resolved_at` and `resolution` (what became of it), found through the
object it is about (`notify_target`)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("notify", "0002_outgoing_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="resolution",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="notification",
            name="resolved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["target_type", "target_id"], name="notify_target"),
        ),
    ]

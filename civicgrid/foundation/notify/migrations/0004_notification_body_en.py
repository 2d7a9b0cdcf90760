"""Inbox messages carry the English of a body the system wrote (`body_en`); older rows keep an empty one and
show their body as it is."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("notify", "0003_notification_resolution"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="body_en",
            field=models.TextField(blank=True),
        ),
    ]

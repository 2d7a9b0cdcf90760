"""When a category's cases last left the public feed (Open311) and came back: `left_feed_at`, `back_in_feed_at`.
Open311 dates what was done to a case while it was out of the feed at its return, so that a client fetching by
time windows sees it. Existing categories start with neither: one out of the feed now, put back later, has been
out from the start."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("categories", "0004_private_vulnerable_types")]

    operations = [
        migrations.AddField(
            model_name="category", name="left_feed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="移出开放接口时间"),
        ),
        migrations.AddField(
            model_name="category", name="back_in_feed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="重新公开到开放接口时间"),
        ),
    ]

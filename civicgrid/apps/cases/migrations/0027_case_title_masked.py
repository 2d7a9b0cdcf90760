"""`Case.title_masked`: the title as staff read it (`pii.scrub`), which the search of those who may not read the
title in clear matches (`selectors.search_q`), written for the cases reported before it.

Every title is copied in one UPDATE; then the titles that hold something `scrub` masks are written masked, in
batches of ids (most titles hold nothing: only those rows are written twice). It reads the live `pii.scrub`, as
intake writes the column: a later change to what `scrub` masks comes with a migration that runs `refresh` again.
Non-atomic, each batch its own transaction; it can run again."""

from django.db import migrations, models
from django.db.models import F

BATCH = 10_000


def refresh(apps, schema_editor):
    from civicgrid.foundation.core.pii import has_personal_data, scrub

    Case = apps.get_model("cases", "Case")
    Case.objects.update(title_masked=F("title"))
    bounds = Case.objects.aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if bounds["first"] is None:
        return
    for start in range(bounds["first"], bounds["last"] + 1, BATCH):
        for pk, title in Case.objects.filter(pk__gte=start, pk__lt=start + BATCH).values_list("pk", "title"):
            if has_personal_data(title):
                Case.objects.filter(pk=pk).update(title_masked=scrub(title)[:200])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0026_step_idempotency_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="title_masked",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.RunPython(refresh, migrations.RunPython.noop, elidable=True),
    ]

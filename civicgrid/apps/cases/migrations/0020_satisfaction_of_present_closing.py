"""满意度 of the present closing only: a case reopened kept the 满意度 of the closing before, shown as current on
the case page and in the ledger after it was closed again, until a reporter rated the new closing (and then
averaged with the earlier round's ratings). Recomputed for the cases ever reopened, as `services.follow.
closing_satisfaction` now keeps it: the mean of the ratings given at or after the case's present closing, None
while it is open or unrated. The earlier rounds' ratings stay in their 评价 steps."""

from django.db import migrations


def recompute(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseReporter = apps.get_model("cases", "CaseReporter")
    reopened = Case.objects.filter(reopen_count__gt=0, satisfaction__isnull=False).order_by("pk")
    # Read first, then written (SQLite does not isolate a read being iterated from writes to its table); the
    # reopened cases holding a 满意度 are few.
    for case in list(reopened.only("pk", "status", "closed_at", "satisfaction")):
        value = None
        if case.status == "closed" and case.closed_at is not None:
            ratings = list(CaseReporter.objects.filter(case_id=case.pk, rating__isnull=False,
                                                       rated_at__gte=case.closed_at)
                           .values_list("rating", flat=True))
            value = round(sum(ratings) / len(ratings)) if ratings else None
        if value != case.satisfaction:
            Case.objects.filter(pk=case.pk).update(satisfaction=value)


class Migration(migrations.Migration):
    dependencies = [("cases", "0019_merged_reviewed_at")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]

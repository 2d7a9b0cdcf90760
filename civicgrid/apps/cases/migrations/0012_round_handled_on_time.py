"""按期处置 (`Case.handled_on_time`) becomes the assignment round's: every handling since the last 派遣 in time.

Until now a 返工 let the next handling's clock overwrite the fact, so a case handled late, reworked and then
handled in time counted as 按期处置 and, once closed, 按期结案. This corrects the cases already reworked: where
a stopped handling clock of the current round (started at or after the case's last 派遣, `dispatched_at`, which
is when that 派遣 started its handling clock) was late, the fact becomes false. Only cases still in that round
are read (dispatched, being handled, handled, verified, closed, or suspended from handling): a case waiting for
its next 派遣 (after 退回 or 重新办理) has no handling fact that counts, and that 派遣 judges afresh.

The clocks are the record: each step's clock row keeps its `on_time`. In batches of ids, each its own
transaction, so no case stays locked for long on a large table; only facts still true are touched, so the
migration can run again. `updated_at` is left alone: the case did not change, an evaluation fact was corrected.
"""

from django.db import migrations, models
from django.db.models.functions import Cast

IN_ROUND = ("dispatched", "handling", "handled", "verified", "closed")
SUSPENDED_IN_ROUND = ("dispatched", "handling")
BATCH = 10_000


def keep_late_handlings_late(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    SlaClock = apps.get_model("sla", "SlaClock")
    late_in_round = SlaClock.objects.filter(
        target_type="cases.case", target_id=Cast(models.OuterRef("pk"), models.CharField()), kind="case.handle",
        state="stopped", on_time=False, started_at__gte=models.OuterRef("dispatched_at"),
    )
    in_round = models.Q(status__in=IN_ROUND) | models.Q(status="suspended", suspended_from__in=SUSPENDED_IN_ROUND)
    bounds = Case.objects.aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if bounds["first"] is None:
        return
    for start in range(bounds["first"], bounds["last"] + 1, BATCH):
        (Case.objects.filter(in_round, pk__gte=start, pk__lt=start + BATCH, rework_count__gt=0,
                             handled_on_time=True, dispatched_at__isnull=False)
         .filter(models.Exists(late_in_round))
         .update(handled_on_time=False))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0011_retention_ended_at'),
        ('sla', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(keep_late_handlings_late, migrations.RunPython.noop, elidable=True),
    ]

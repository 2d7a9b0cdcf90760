"""An extension granted in hours to a working-days clock stays hours: ``extra_minutes`` (granted) and
``extra_consumed`` (used) hold it in working minutes beside the clock's days, instead of a share of the working
day added to ``budget`` (which a later change of the working hours stretched or shrank).

Existing working-days clocks are split: ``budget`` goes back to the limit's days (``limit_amount``), what lay
beyond it becomes minutes of today's working day, and so does what ``consumed`` ran past the days. Today's
working day is the one every open clock's stored deadline was reckoned on (the reschedule after an hours change
recomputes them with it), so every deadline stays where it is and agrees with the stored state; an extension
that an earlier change of the hours had already stretched or shrunk keeps the length it has today.
Minutes clocks are left as they are: their extensions are minutes of their budget.
"""

from django.db import migrations, models

EPSILON = 1e-9


def _day_minutes(apps) -> int:
    from civicgrid.foundation.sla.calendar import DEFAULT_HOURS, parse_hours

    row = apps.get_model("sla", "CalendarSettings").objects.filter(pk=1).first()
    periods = parse_hours((row.hours if row is not None and row.hours else None) or DEFAULT_HOURS)
    return sum((e.hour * 60 + e.minute) - (s.hour * 60 + s.minute) for s, e in periods)


def _whole(value: float) -> float:
    return round(value, 6)


def split_extensions(apps, schema_editor):
    clocks = apps.get_model("sla", "SlaClock")
    day = _day_minutes(apps)
    rows = []
    for c in clocks.objects.filter(mode="working_days", extra_minutes=0).iterator(chunk_size=2000):
        base = c.limit_amount
        if not base or c.budget <= base + EPSILON:
            continue
        c.extra_minutes = _whole((c.budget - base) * day)
        c.budget = base
        if c.consumed > base + EPSILON:
            c.extra_consumed = _whole((c.consumed - base) * day)
            c.consumed = base
        rows.append(c)
    clocks.objects.bulk_update(rows, ["budget", "consumed", "extra_minutes", "extra_consumed"], batch_size=500)


def join_extensions(apps, schema_editor):
    clocks = apps.get_model("sla", "SlaClock")
    day = _day_minutes(apps)
    rows = list(clocks.objects.filter(mode="working_days").exclude(extra_minutes=0, extra_consumed=0))
    for c in rows:
        c.budget += c.extra_minutes / day
        c.consumed += c.extra_consumed / day
        c.extra_minutes = c.extra_consumed = 0
    clocks.objects.bulk_update(rows, ["budget", "consumed", "extra_minutes", "extra_consumed"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0005_running_warn_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="slaclock",
            name="extra_minutes",
            field=models.FloatField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="slaclock",
            name="extra_consumed",
            field=models.FloatField(db_default=0, default=0),
        ),
        migrations.RunPython(split_extensions, join_extensions, elidable=False),
    ]

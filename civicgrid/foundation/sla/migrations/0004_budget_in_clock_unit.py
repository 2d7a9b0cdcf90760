"""A working-days clock keeps its budget in working days, not in the minutes of the working day it was
started on (``clock.unit_of``): ``budget``/``consumed`` become ``budget``/``consumed``, and
the rows of working-days clocks are converted to days.

Minutes became days by the working day they were counted in. For a clock whose ``sla.started`` event is
still in the outbox, that day is the clock's limit minus the extensions it carried (the event's
``extra_minutes`` and the ``sla.extended`` hours), so a clock started under other working hours than
today's gets back exactly its N days; the extensions count as a share of today's working day. Otherwise
(events pruned) today's working day is taken, which is exact for every clock started since the hours last
changed and keeps every deadline where it is.
"""

from django.db import migrations

MAX_DAY_MINUTES = 24 * 60


def _day_minutes(apps) -> int:
    from civicgrid.foundation.sla.calendar import DEFAULT_HOURS, parse_hours

    row = apps.get_model("sla", "CalendarSettings").objects.filter(pk=1).first()
    periods = parse_hours((row.hours if row is not None and row.hours else None) or DEFAULT_HOURS)
    return sum((e.hour * 60 + e.minute) - (s.hour * 60 + s.minute) for s, e in periods)


def _extras(apps, ids: list[int]) -> dict[int, float]:
    """Extension minutes per clock id for the clocks whose ``sla.started`` event is still stored."""
    outbox = apps.get_model("events", "OutboxEvent")
    extras: dict[int, float] = {}
    started = outbox.objects.filter(topic="sla.started").values_list("payload", flat=True)
    wanted = set(ids)
    for payload in started.iterator():
        cid = (payload or {}).get("clock_id")
        if cid in wanted:
            extras[cid] = float(payload.get("extra_minutes") or 0)
    for payload in outbox.objects.filter(topic="sla.extended").values_list("payload", flat=True).iterator():
        cid = (payload or {}).get("clock_id")
        if cid in extras:
            extras[cid] += float(payload.get("hours") or 0) * 60
    return extras


def minutes_to_days(apps, schema_editor):
    clocks = apps.get_model("sla", "SlaClock")
    today = _day_minutes(apps)
    rows = list(clocks.objects.filter(mode="working_days"))
    if not rows:
        return
    extras = _extras(apps, [c.id for c in rows])
    for c in rows:
        day = today
        extra = extras.get(c.id)
        if extra is not None and c.limit_amount:
            started_day = (c.budget - extra) / c.limit_amount
            if 0 < started_day <= MAX_DAY_MINUTES:
                day = started_day
        if extra is not None and day != today:
            c.budget = c.limit_amount + extra / today
        else:
            c.budget = c.budget / day
        c.consumed = c.consumed / day
    clocks.objects.bulk_update(rows, ["budget", "consumed"], batch_size=500)


def days_to_minutes(apps, schema_editor):
    clocks = apps.get_model("sla", "SlaClock")
    today = _day_minutes(apps)
    rows = list(clocks.objects.filter(mode="working_days"))
    for c in rows:
        c.budget, c.consumed = c.budget * today, c.consumed * today
    clocks.objects.bulk_update(rows, ["budget", "consumed"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0003_sweep_watermark"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="slaclock", old_name="budget_minutes", new_name="budget"),
        migrations.RenameField(model_name="slaclock", old_name="consumed_minutes", new_name="consumed"),
        migrations.RunPython(minutes_to_days, days_to_minutes, elidable=False),
    ]

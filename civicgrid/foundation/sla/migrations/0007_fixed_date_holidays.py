"""The fallback calendar (years chinese_calendar does not cover yet) now keeps the statutory holidays that fall
on fixed Gregorian dates (元旦, 劳动节, 国庆节: ``calendar.FIXED_HOLIDAYS``). Open clocks whose deadline lies in
such a year were reckoned with those days as working days: the worker's reschedule task moves them, as after an
administrator's change of the calendar (``sweep.reschedule_task``). Only queued here, and only when there is such a
clock, so the migration itself stays quick and a fresh database does nothing."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations


def queue_reschedule(apps, schema_editor):
    from civicgrid.foundation.sla.calendar import _package_years

    first_uncovered = date(_package_years()[1] + 1, 1, 1)
    since = datetime.combine(first_uncovered, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))
    SlaClock = apps.get_model("sla", "SlaClock")
    if not SlaClock.objects.filter(state="running", due_at__gte=since).exclude(mode="natural_hours").exists():
        return
    from civicgrid.foundation.sla.sweep import reschedule_task

    reschedule_task.enqueue(first_uncovered.isoformat())


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0006_extension_in_minutes"),
        ("django_tasks_database", "__latest__"),
    ]

    operations = [migrations.RunPython(queue_reschedule, migrations.RunPython.noop)]

"""12345 ticket numbers stored before intake normalised them are written as intake now writes them (NFKC: the
full-width digits and dashes a Chinese input method types become ASCII; surrounding spaces go), so the case
list's exact ticket search and the repeat check find them too (`models.normalise_ticket`).

Only rows holding a character outside ASCII or a surrounding space can change, and only those are written, in
batches of ids, each its own transaction; the migration can run again. `updated_at` is left alone: the ticket
was re-spelt, the case did not change. Two cases may end up with the same ticket (one typed full width before
the repeat check could see it): both are kept, and the search finds both."""

import unicodedata

from django.db import migrations, models

BATCH = 10_000


def normalise(text: str) -> str:
    # the rule of `models.normalise_ticket`, frozen here as migrations must not import the live models
    return unicodedata.normalize("NFKC", text or "").strip()


def normalise_tickets(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    bounds = Case.objects.aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if bounds["first"] is None:
        return
    for start in range(bounds["first"], bounds["last"] + 1, BATCH):
        rows = (Case.objects.filter(pk__gte=start, pk__lt=start + BATCH).exclude(hotline_ticket="")
                .values_list("pk", "hotline_ticket"))
        for pk, ticket in rows:
            fixed = normalise(ticket)
            if fixed != ticket:
                Case.objects.filter(pk=pk).update(hotline_ticket=fixed)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0013_case_deadline_idx'),
    ]

    operations = [
        migrations.RunPython(normalise_tickets, migrations.RunPython.noop, elidable=True),
    ]

"""12345 ticket numbers stored as typed are written in the canonical form intake now stores (`models.
normalise_ticket`: NFKC, capital letters, each run of spaces and separators one "-", none at either end), so the
case list's exact ticket search and the repeat check, which ask in that form, find them.

Only rows whose ticket changes are written, each on its own (the migration is not atomic and can run again);
`updated_at` is left alone: the ticket was re-spelt, the case did not change. A ticket whose canonical form is no
ticket (`models.valid_ticket`) is re-spelt all the same: the format is intake's check of new ones.

Collisions: a held hotline case (`models.ticket_held`) whose canonical ticket another held case already holds (as
stored, or re-spelt earlier in this run: the lowest id first, as the run goes in order of ids) would break the unique index
`cases_hotline_ticket_once` (migration 0017) and is one ticket registered twice. It is kept as it was, ticket as
typed, and logged (warning, logger `civicgrid.migrations`, with both cases' numbers) for the command centre to void
or merge; the repeat check still refuses the ticket a third registration through the case that holds it. Cases
not held (other sources, refused or voided) are re-spelt whatever they collide with: no index holds them.
"""

import logging
import re
import unicodedata

from django.db import IntegrityError, migrations, models, transaction

log = logging.getLogger("civicgrid.migrations")
BATCH = 10_000
# `models.TICKET_SEPARATORS` and `models.ticket_held()`, frozen here as migrations must not import the live models.
SEPARATORS = re.compile(r"[\s\-_/\\.·・‐‑‒–—―−]+")
HELD = (models.Q(source="hotline") & ~models.Q(hotline_ticket="") & ~models.Q(status="refused")
        & ~models.Q(status="voided"))


def canonical(text: str) -> str:
    return SEPARATORS.sub("-", unicodedata.normalize("NFKC", text or "").upper()).strip("-")


def held(source: str, status: str) -> bool:
    return source == "hotline" and status not in ("refused", "voided")


def canonicalise_tickets(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    bounds = Case.objects.exclude(hotline_ticket="").aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if bounds["first"] is None:
        return
    changed, kept = 0, []
    for start in range(bounds["first"], bounds["last"] + 1, BATCH):
        rows = (Case.objects.filter(pk__gte=start, pk__lt=start + BATCH).exclude(hotline_ticket="").order_by("pk")
                .values_list("pk", "number", "hotline_ticket", "source", "status"))
        for pk, number, ticket, source, status in rows:
            fixed = canonical(ticket)
            if fixed == ticket or not fixed:
                continue  # already canonical; or nothing but separators: left for people to read
            if held(source, status):
                holder = (Case.objects.filter(HELD, hotline_ticket=fixed).exclude(pk=pk).order_by("pk")
                          .values_list("number", flat=True).first())
                if holder is not None:
                    kept.append((number, ticket, fixed, holder))
                    continue
            try:
                with transaction.atomic():
                    Case.objects.filter(pk=pk).update(hotline_ticket=fixed)
            except IntegrityError:  # a registration of the same ticket meanwhile (the unique index)
                kept.append((number, ticket, fixed, "?"))
                continue
            changed += 1
    if kept:
        log.warning("cases: %d hotline case(s) kept their ticket as typed: its canonical form is a ticket another "
                    "case holds (the same ticket registered twice); void or merge them: %s", len(kept),
                    "; ".join(f"{number} ({ticket!r} → {fixed}, held by {holder})"
                              for number, ticket, fixed, holder in kept))
    if changed:
        log.info("cases: %d hotline ticket(s) written in their canonical form", changed)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0027_case_title_masked'),
    ]

    operations = [
        migrations.RunPython(canonicalise_tickets, migrations.RunPython.noop, elidable=True),
    ]

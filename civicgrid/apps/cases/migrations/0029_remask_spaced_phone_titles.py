"""`pii.scrub` now reads a phone, ID or card number whose groups a dash with spaces round it separates
("138 - 1234 - 5678", "0352 - 1234567") or runs of spaces: the masked copies written before that hold those
numbers in clear. This writes them again with the live `scrub`, as intake and `tell_staff` write them:

- `Case.title_masked` (what the search of those who may not read the title in clear matches);
- the inbox messages about a case (`Notification.body`/`body_en`, scrubbed by `recipients.tell_staff`), which the
  inbox shows as stored. Other messages are not scrubbed when written and are left as they are.

The texts other pages show masked (descriptions, addresses, step notes, the reporters' notes) are scrubbed when
read, and need nothing. Rows are read by id in batches and only those whose masked copy changes are written.
Non-atomic, each batch its own transaction; it can run again (scrubbing a masked text changes nothing)."""

from django.db import migrations

BATCH = 10_000


def _batches(queryset, *fields):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def remask(apps, schema_editor):
    from civicgrid.foundation.core.pii import scrub

    Case = apps.get_model("cases", "Case")
    for rows in _batches(Case.objects.all(), "title", "title_masked"):
        for pk, title, stored in rows:
            masked = scrub(title)[:200]
            if masked != stored:
                Case.objects.filter(pk=pk).update(title_masked=masked)
    Notification = apps.get_model("notify", "Notification")
    for rows in _batches(Notification.objects.filter(target_type="cases.case"), "body", "body_en"):
        for pk, body, body_en in rows:
            changed = {field: scrub(value) for field, value in (("body", body), ("body_en", body_en))
                       if value and scrub(value) != value}
            if changed:
                Notification.objects.filter(pk=pk).update(**changed)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0028_canonical_hotline_tickets"),
        ("notify", "0004_notification_body_en"),
    ]

    operations = [
        migrations.RunPython(remask, migrations.RunPython.noop, elidable=True),
    ]

"""`civicgrid audit_purge --older-than-days N`: remove audit records past their retention (N ≥ 180)."""

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context

from ... import retention


class Command(BaseCommand):
    help = (
        "Delete audit records older than N days (at least 180: Cybersecurity Law Art. 21). Run it as the owner "
        "of the audit table; the purge is itself recorded in the trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, required=True, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, older_than_days, dry_run, **options):
        with context.acting(channel="command"):
            try:
                if dry_run:
                    count = retention.count_expired(older_than_days)
                    self.stdout.write(f"would delete {count} audit records older than {older_than_days} days")
                    return
                count = retention.purge(older_than_days=older_than_days)
            except retention.RetentionError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"deleted {count} audit records older than {older_than_days} days"))

"""`civicgrid audit_mask_stored`: mask in storage the audit records written before the snapshot policy."""

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context

from ... import remask, retention


class Command(BaseCommand):
    help = (
        "Rewrite the audit records that still hold personal values in clear (written before the snapshot policy, "
        "or restored from an old backup) as the policy keeps them. Migration audit.0004 did it once; run it as the "
        "owner of the audit table. Records already masked are left alone; the rewrite is itself recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=remask.BATCH_SIZE, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="only count the records that would be rewritten")

    def handle(self, *args, batch_size, dry_run, **options):
        if batch_size < 1:
            raise CommandError("--batch-size 须为正整数 / --batch-size must be a positive number")
        with context.acting(channel="command"):
            if dry_run:
                count = remask.count_unmasked(batch_size=batch_size)
                self.stdout.write(f"would mask {count} audit records")
                return
            try:
                count = remask.mask_stored(batch_size=batch_size)
            except retention.RetentionError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"masked {count} audit records"))

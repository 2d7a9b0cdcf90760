"""`civicgrid demo`: load the Pingcheng demo (idempotent) and print the demo accounts; `make run` calls it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core.errors import CivicgridError


class Command(BaseCommand):
    help = "加载平城区演示数据（可重复运行）并列出演示账号 / load the Pingcheng demo and list the demo accounts"

    def add_arguments(self, parser):
        parser.add_argument("--no-people", action="store_true", help="skip base data (people, households …)")
        parser.add_argument("--force", action="store_true",
                            help="add demo accounts even though real accounts exist (never in production)")
        parser.add_argument("--accounts", action="store_true", help="only print the demo accounts")
        parser.add_argument("--history-days", type=int, default=None,
                            help="past days of cases to play through the loop (default 30, "
                                 "CIVICGRID_DEMO_HISTORY_DAYS; 0: none; only on a database without cases)")

    def handle(self, *args, **options):
        from civicgrid.demo.loader import format_accounts, format_summary, load_demo

        if options["accounts"]:
            self.stdout.write(format_accounts())
            return
        try:
            summary = load_demo(people=not options["no_people"], force=options["force"],
                                history_days=options["history_days"])
        except CivicgridError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(format_summary(summary))
        self.stdout.write(f"用时 {summary.total_seconds:.1f} 秒 / loaded in {summary.total_seconds:.1f} s")

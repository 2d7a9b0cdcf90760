"""`civicgrid export_table --type resident --region CODE --format xlsx --out F [--clear] [--user U]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.imports import registry, services

from ._common import acting_user


class Command(BaseCommand):
    help = "Export a base-data table with Chinese headers; personal numbers are masked unless --clear (audited)."

    def add_arguments(self, parser):
        kinds = ", ".join(t.key for t in registry.all_types())
        parser.add_argument("--type", required=True, help=f"table type: {kinds}")
        parser.add_argument("--region", default="", help="region code: export its subtree (default: everything)")
        parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
        parser.add_argument("--out", required=True, help="output file")
        parser.add_argument("--clear", action="store_true", help="clear ID numbers and phones (needs people.reveal)")
        parser.add_argument("--user", help="export as this account (its scope applies)")

    def handle(self, *args, **opts):
        actor = acting_user(opts.get("user"))
        with context.acting(channel="command"):
            try:
                body, _, _, rows = services.export_table(
                    actor=actor, table=opts["type"], region=opts["region"], fmt=opts["format"], clear=opts["clear"]
                )
            except CivicgridError as exc:
                raise CommandError(exc.message) from None
        Path(opts["out"]).write_bytes(body)
        self.stdout.write(self.style.SUCCESS(f"已导出 {rows} 行到 {opts['out']} / exported {rows} rows"))

"""`civicgrid import_boundaries FILE [--dry-run] [--level grid]`: replace demo boundaries with real ones.

Prints every problem with its region code, feature number and field, and changes nothing unless the whole
file is clean (exit status 1 when there are problems).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context
from civicgrid.foundation.regions.importers import import_boundaries
from civicgrid.foundation.regions.models import Level


class Command(BaseCommand):
    help = "导入区域边界 GeoJSON（按 properties.code），全部通过检查才写入 / import region boundaries (all or nothing)"

    def add_arguments(self, parser):
        parser.add_argument("file", help="GeoJSON FeatureCollection keyed by properties.code")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--level", choices=Level.values, help="every feature must be of this level")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path} / no such file")
        with context.acting(channel="command"):
            report = import_boundaries(actor=None, data=path.read_bytes(), filename=path.name,
                                       level=options["level"], dry_run=options["dry_run"])
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problems:
            raise CommandError(report.summary_zh())
        self.stdout.write(self.style.SUCCESS(report.summary_zh()))

"""`civicgrid import_table --type resident --file F [--dry-run] [--user U]`: validate, then apply all-or-nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.imports import registry, services

from ._common import ProgressBar, acting_user


class Command(BaseCommand):
    help = "Import a base-data table (CSV or XLSX with Chinese headers); nothing is written unless every row is valid."

    def add_arguments(self, parser):
        kinds = ", ".join(t.key for t in registry.all_types())
        parser.add_argument("--type", required=True, help=f"table type: {kinds}")
        parser.add_argument("--file", required=True, help="CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument("--user", help="import as this account (its capability and scope apply)")
        parser.add_argument("--report", help="on errors, write the row-by-row report here (.xlsx or .csv)")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path} / no such file")
        actor = acting_user(opts.get("user"))
        with context.acting(channel="command"):
            try:
                job = services.create_job(
                    actor=actor, table=opts["type"], file_name=path.name, data=path.read_bytes(), dry_run=opts["dry_run"]
                )
            except CivicgridError as exc:
                raise CommandError(exc.message) from None
            job = services.run_import(job, progress=ProgressBar(self.stderr._out))
        if job.status == "done":
            self.stdout.write(self.style.SUCCESS(job.message))
            return
        self.stderr.write(job.message)
        for row, header, message in job.errors[:20]:
            self.stderr.write(f"  第 {row} 行「{header}」：{message}")
        if job.error_count > 20:
            self.stderr.write(f"  …… 另有 {job.error_count - 20} 处 / and {job.error_count - 20} more")
        if opts.get("report"):
            target = Path(opts["report"])
            body, _, _ = services.error_report(job, "csv" if target.suffix.lower() == ".csv" else "xlsx", actor=actor)
            target.write_bytes(body)
            self.stderr.write(f"错误报告已写入 {target} / report written")
        raise CommandError(f"导入未通过（任务 {job.pk}） / import failed", returncode=2)

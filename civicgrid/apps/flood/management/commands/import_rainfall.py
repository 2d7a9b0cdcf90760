"""`civicgrid import_rainfall FILE [--user U] [--water]`: rainfall (or water-level) readings from CSV/XLSX, all or
nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.apps.flood.services import import_rainfall
from civicgrid.apps.flood.services.imports import TEMPLATE_HEADERS, WATER_TEMPLATE_HEADERS
from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError


class Command(BaseCommand):
    help = ("Import rainfall readings (columns: " + ", ".join(TEMPLATE_HEADERS) + "); nothing is stored unless "
            "every row is valid.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX")
        parser.add_argument("--user", help="import as this account (its capability and scope apply)")
        parser.add_argument("--water", action="store_true",
                            help="water levels instead (columns: " + ", ".join(WATER_TEMPLATE_HEADERS) + ")")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path} / no such file")
        actor = None
        if opts.get("user"):
            from civicgrid.foundation.access.models import User

            actor = User.objects.filter(username=opts["user"], is_active=True).first()
            if actor is None:
                raise CommandError(f"账号不存在或已停用：{opts['user']} / no such active user")
        with context.acting(channel="command"):
            try:
                result = import_rainfall(actor=actor, data=path.read_bytes(), filename=path.name,
                                         water=opts["water"])
            except CivicgridError as exc:
                raise CommandError(exc.message) from None
        if result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"导入 {result.rows} 行：新增 {result.created} 条，重复 {result.replayed} 条 / imported"))
            return
        self.stderr.write(f"导入未通过，共 {len(result.errors)} 处错误，未写入任何数据 / nothing imported")
        for row, column, message in result.errors[:50]:
            self.stderr.write(f"  第 {row} 行{f'「{column}」' if column else ''}：{message}")
        raise CommandError("导入未通过 / import failed", returncode=2)

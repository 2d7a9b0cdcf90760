"""`civicgrid import_hazards FILE.xlsx|csv [--kind flood] [--user U] [--campaign ID]`: a ledger of hazard points,
all rows or none, with every broken row listed."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.apps.hazards.importers import COLUMNS, import_hazards
from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError


class Command(BaseCommand):
    help = ("Import hazard points (columns: " + ", ".join(names[0] for names in COLUMNS.values()) + "); nothing "
            "is stored unless every row is valid.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX")
        parser.add_argument("--kind", choices=["flood", "safety"], help="kind of rows without a 隐患类型 column")
        parser.add_argument("--user", help="import as this account (its capability and scope apply)")
        parser.add_argument("--campaign", type=int, help="the inspection campaign (排查行动) the rows were found in")

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
                result = import_hazards(actor=actor, data=path.read_bytes(), filename=path.name,
                                        default_kind=opts.get("kind"), campaign=opts.get("campaign"))
            except CivicgridError as exc:
                raise CommandError(exc.message) from None
        if result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"导入 {result.created} 个隐患点：{result.codes[0]} … {result.codes[-1]} / imported"))
            return
        self.stderr.write(f"导入未通过，共 {len(result.errors)} 处错误，未写入任何数据 / nothing imported")
        for e in result.errors[:200]:
            column = f"「{e['column']}」" if e["column"] else ""
            self.stderr.write(f"  第 {e['row']} 行{column}：{e['message']}")
        raise CommandError("导入未通过 / import failed", returncode=2)

"""`civicgrid retention`: the retention period of each data set of personal data, and how many rows are past it;
`--apply` blanks them now (the worker does so every hour). See `core.retention`."""

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context, retention
from civicgrid.foundation.core.errors import ValidationFailed


class Command(BaseCommand):
    help = "List the retention periods of personal data and what is past them; --apply blanks it now (audited)."

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="blank the data past its period now")

    def handle(self, *args, apply=False, **options):
        rows = retention.overview()
        self.stdout.write("数据集 / data set                 保存天数 days   到期行数 due   说明 / what")
        for row in rows:
            days = "长期 / kept" if row["days"] == 0 else ("—" if row["days"] is None else str(row["days"]))
            self.stdout.write(f"  {row['key']:<30} {days:>12} {row['due']:>12}   {row['label']}")
            if row["error"]:
                self.stderr.write(f"  {row['key']}: {row['error']}")
        wrong = [row for row in rows if row["error"]]
        if not apply:
            if wrong:
                raise CommandError("有数据集的保存期限设置无效，见上 / a retention setting is wrong (above)")
            return
        if wrong:  # nothing at all, so a wrong setting is put right before any data goes
            raise CommandError("有数据集的保存期限设置无效，未作任何处理 / a retention setting is wrong: nothing was done")
        with context.acting(channel="command"):
            try:
                done = {data_set.key: retention.apply_one(data_set) for data_set in retention.registered()}
            except ValidationFailed as exc:
                raise CommandError(exc.message) from None
        total = sum(done.values())
        self.stdout.write(self.style.SUCCESS(f"已匿名化 {total} 行 / blanked {total} rows: "
                                             + ", ".join(f"{k} {n}" for k, n in done.items())))

"""Tell the keepers' managers about stock expiring within N days (once per lot and expiry date); for cron."""

from django.core.management.base import BaseCommand

from civicgrid.apps.materials.services import notify_expiring


class Command(BaseCommand):
    help = "物资临期提醒：向仓库所在街道/社区及主管部门人员发送站内消息 / expiry alerts for emergency materials"

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="expiring within this many days (default 30)")

    def handle(self, *args, days: int, **options):
        sent = notify_expiring(days=max(0, min(days, 3650)))
        self.stdout.write(f"已发送临期提醒 {sent} 条 / {sent} expiry messages sent")

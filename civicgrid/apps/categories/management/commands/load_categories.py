"""`civicgrid load_categories`: load or complete the category directories (and the 包保 rules) without the demo."""

from django.core.management.base import BaseCommand

from civicgrid.apps.categories import loaders
from civicgrid.foundation.core import context


class Command(BaseCommand):
    help = "加载 GB/T 47678.5-2026 与社会治理事件分类（只补缺，不覆盖人工修改）/ load the category directories"

    def add_arguments(self, parser):
        parser.add_argument("--baobao", action="store_true",
                            help="也加载平城区汛期包保表（需已有街道）/ also load Pingcheng's 包保 table")

    def handle(self, *args, baobao: bool = False, **options):
        with context.acting(channel="command"):
            results = loaders.load_all(actor=None, baobao=baobao)
        for name, result in results.items():
            self.stdout.write(f"{name}: {result}")

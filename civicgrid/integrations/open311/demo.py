"""Demo stage: an Open311 client whose key is the published `civicgrid-demo-open311`, and the question
"是否影响通行" on the services where traffic can be blocked.

Runs after the categories and accounts stages. Idempotent: a second run changes nothing and says so. Like the
demo accounts, the demo key exists only with demo data (its key is public).
"""

from __future__ import annotations

from django.db import transaction

from civicgrid.apps.categories.models import Category
from civicgrid.demo import loader

from . import conf, services
from .models import Datatype, Open311Client, ServiceAttribute, hash_key

loader.STAGE_LABELS.setdefault("open311", "开放接口")
DEMO_KEY = "civicgrid-demo-open311"
DEMO_CLIENT = "演示客户端 / demo client"
TRAFFIC = {
    "code": "affects_traffic",
    "datatype": Datatype.SINGLE,
    "required": False,
    "description": "是否影响通行",
    "datatype_description": "是否阻碍车辆或行人通行 / does it block vehicles or pedestrians",
    "order": 1,
    "values": [{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}],
}
# Classes whose problems can block a road or a pavement (GB/T 47678.5-2026 matters; absent ones are skipped).
TRAFFIC_CLASSES = [("gbt47678_5_2026", "matter", code) for code in ("01", "02", "08", "09")]


def load_demo_open311() -> str:
    """Create what is missing; returns what was done, for the demo summary."""
    done = []
    with transaction.atomic():
        if not Open311Client.objects.filter(key_hash=hash_key(DEMO_KEY)).exists():
            services.create_client(actor=None, name=DEMO_CLIENT, jurisdiction=conf.default_jurisdiction(),
                                   rate_per_minute=120, burst=30, raw_key=DEMO_KEY, is_demo=True)
            done.append(f"客户端 api_key={DEMO_KEY}")
        added = 0
        for taxonomy, kind, code in TRAFFIC_CLASSES:
            category = Category.objects.filter(taxonomy__code=taxonomy, kind=kind, code=code).first()
            if category is None or ServiceAttribute.objects.filter(category=category, code=TRAFFIC["code"]).exists():
                continue
            ServiceAttribute.objects.create(category=category, **TRAFFIC)
            added += 1
        if added:
            done.append(f"服务属性 {added} 项（是否影响通行）")
    return "；".join(done) if done else "已存在，未改动"

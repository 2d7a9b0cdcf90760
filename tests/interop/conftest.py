"""Interop fixtures: a live server (the browser tests' one, safe for in-memory SQLite) serving a small district
with public categories and an Open311 client, driven over real HTTP by outside clients."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.cache import cache

from civicgrid.testing.browser import live_server, purge_test_audit_rows  # noqa: F401

KEY = "interop-open311-key-0123456789"
GRID = "140213050001001"
POINT = (113.2100, 40.0100)  # inside GRID (civicgrid.testing.builders.small_tree)


@dataclass
class Served:
    base: str  # e.g. http://localhost:41234/open311/v2
    key: str
    code: str  # a service with the 是否影响通行 attribute
    other_code: str
    case_category: object


@pytest.fixture
def served(live_server, transactional_db):  # noqa: F811
    from civicgrid.apps.categories.models import Category, CategoryKind, LimitMode, Taxonomy
    from civicgrid.integrations.open311 import services
    from civicgrid.integrations.open311.models import Datatype, ServiceAttribute
    from civicgrid.testing.builders import department, small_tree

    cache.clear()
    small_tree()
    dept = department("区城管局")
    tax = Taxonomy.objects.create(code="gbt47678_5_2026", name="GB/T 47678.5-2026")
    cls = Category.objects.create(taxonomy=tax, code="02", name="交通设施类", kind=CategoryKind.MATTER, is_public=True)
    cat = Category.objects.create(taxonomy=tax, code="02012", name="路灯异常", parent=cls, kind=CategoryKind.MATTER,
                                  time_limit_mode=LimitMode.WORKING_HOURS, time_limit_amount=Decimal("8"),
                                  default_department=dept, is_public=True, keywords="路灯;不亮")
    other = Category.objects.create(taxonomy=tax, code="02013", name="交通标志异常", parent=cls,
                                    kind=CategoryKind.MATTER, is_public=True)
    ServiceAttribute.objects.create(category=cls, code="affects_traffic", datatype=Datatype.SINGLE,
                                    description="是否影响通行",
                                    values=[{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}])
    services.create_client(actor=None, name="interop", raw_key=KEY, rate_per_minute=6000, burst=1000)
    yield Served(base=f"{live_server.url}/open311/v2", key=KEY, code=cat.key, other_code=other.key,
                 case_category=cat)
    cache.clear()
    purge_test_audit_rows()

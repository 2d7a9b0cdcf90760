"""The types about a person (治安隐患 and its types, 养老服务, 社会救助, 就业社保, 教育服务, 传染病疫情线索, GB/T 09003
流浪乞讨) stay open to residents' reports (`is_public`) and are kept out of the Open311 feed (`in_public_feed`): in
new databases through the data files, in existing ones through migration 0004, which records each change as the
system's."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from civicgrid.apps.categories import loaders
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import history

pytestmark = pytest.mark.django_db

migration = importlib.import_module("civicgrid.apps.categories.migrations.0004_private_vulnerable_types")
OUT_OF_FEED = {"02": "治安隐患", "0201": "可疑人员或物品", "0202": "黄赌毒线索", "0203": "出租房屋治安隐患",
               "0204": "寄递物流安全隐患", "0205": "校园周边治安隐患", "0206": "其他治安隐患", "0402": "养老服务",
               "0403": "社会救助", "0404": "就业社保", "0405": "教育服务", "0601": "传染病疫情线索"}
# Problems in public places stay published.
PUBLISHED = {"03", "0301", "0303", "04", "0401", "0406", "06", "0602", "0603", "07", "0701", "0705", "08", "0801"}
CLOSED = {"01", "0101", "0102", "0202", "05", "0501", "0506"}  # not open to reports at all, as before


def social(**flags) -> set[str]:
    return set(Category.objects.filter(taxonomy__code="social", **flags).values_list("code", flat=True))


def test_the_data_files_keep_them_open_to_reports_and_out_of_the_feed():
    loaders.load_social_types(actor=None)
    names = dict(Category.objects.filter(taxonomy__code="social").values_list("code", "name"))
    assert {code: names[code] for code in OUT_OF_FEED} == OUT_OF_FEED
    assert OUT_OF_FEED.keys() - {"0202"} <= social(is_public=True)  # residents report them, as before
    assert not social(in_public_feed=True) & OUT_OF_FEED.keys()
    assert PUBLISHED <= social(is_public=True, in_public_feed=True)
    assert not social(is_public=True) & CLOSED and not social(in_public_feed=True) & CLOSED

    loaders.load_gbt47678(actor=None)
    gbt = Category.objects.filter(taxonomy__code="gbt47678_5_2026")
    begging = gbt.get(kind="matter", code="09003")
    assert begging.name == "流浪乞讨" and begging.is_public and not begging.in_public_feed
    assert gbt.get(kind="matter", code="09009").in_public_feed  # 乱停车: a public place
    assert not gbt.filter(kind="component", in_public_feed=True).exists()  # not open to reports: not published


def _as_before() -> None:
    """An existing database as the field arrives: every category with the field's default."""
    Category.objects.update(in_public_feed=True)


def test_the_migration_fills_the_flag_and_keeps_them_out_as_a_system_change():
    loaders.load_social_types(actor=None)
    loaders.load_gbt47678(actor=None)
    _as_before()
    reports = social(is_public=True)
    edited = Category.objects.get(taxonomy__code="social", code="0403")
    Category.objects.filter(pk=edited.pk).update(edited_at=timezone.now())  # an administrator changed its limit
    audit = AuditEntry.objects.count()

    migration.fill(apps, None)

    assert social(is_public=True) == reports  # who may report is left as it was
    assert social(in_public_feed=True) == reports - OUT_OF_FEED.keys()
    assert not Category.objects.filter(is_public=False, in_public_feed=True).exists()
    begging = Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="09003")
    assert begging.is_public and not begging.in_public_feed
    # One system record per category the feed published until now (黄赌毒线索 was never open to reports).
    assert AuditEntry.objects.count() == audit + 11 + 1
    elderly = Category.objects.get(taxonomy__code="social", code="0402")
    assert elderly.edited_at is None  # not an administrator's edit: the loaders may still fill it
    entry = history(elderly).first()
    assert (entry.actor_id, entry.actor_name, entry.action) == (None, "system", "data.changed")
    assert entry.changes == [("in_public_feed", True, False)] and "Open311" in entry.data["reason"]
    assert history(edited).get().changes == [("in_public_feed", True, False)]  # nobody had chosen this flag
    assert not history(Category.objects.get(taxonomy__code="social", code="0202")).exists()

    migration.fill(apps, None)  # again: nothing left to change
    assert social(in_public_feed=True) == reports - OUT_OF_FEED.keys()
    assert AuditEntry.objects.count() == audit + 12


def test_the_migration_leaves_a_database_without_the_categories_alone():
    migration.fill(apps, None)
    assert not Category.objects.exists() and not AuditEntry.objects.exists()

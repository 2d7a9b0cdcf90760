"""The social-governance types about vulnerable people and about security or health leads are not public services
(`is_public`, which Open311 publishes): in new databases through `social_types.csv`, in existing ones through
migration 0004, which leaves an administrator's choice alone and records each change as the system's."""

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
PRIVATE = {"02": "治安隐患", "0201": "可疑人员或物品", "0202": "黄赌毒线索", "0203": "出租房屋治安隐患",
           "0204": "寄递物流安全隐患", "0205": "校园周边治安隐患", "0206": "其他治安隐患", "0402": "养老服务",
           "0403": "社会救助", "0404": "就业社保", "0405": "教育服务", "0601": "传染病疫情线索"}
# Problems in public places stay public services.
PUBLIC = {"03", "0301", "0303", "04", "0401", "0406", "06", "0602", "0603", "07", "0701", "0705", "08", "0801"}


def public_codes() -> set[str]:
    return set(Category.objects.filter(taxonomy__code="social", is_public=True).values_list("code", flat=True))


def test_the_csv_makes_them_private_and_keeps_the_public_places_public():
    loaders.load_social_types(actor=None)
    names = dict(Category.objects.filter(taxonomy__code="social").values_list("code", "name"))
    assert {code: names[code] for code in PRIVATE} == PRIVATE
    public = public_codes()
    assert not public & PRIVATE.keys()
    assert PUBLIC <= public
    assert not public & {"01", "0101", "0102", "05", "0501", "0506"}  # already private before


def _as_before() -> None:
    """An existing database, loaded from the csv before the change: these types public."""
    Category.objects.filter(taxonomy__code="social", code__in=[c for c in PRIVATE if c != "0202"]).update(
        is_public=True)


def test_the_migration_makes_them_private_in_existing_databases_as_a_system_change():
    loaders.load_social_types(actor=None)
    _as_before()
    kept = Category.objects.get(taxonomy__code="social", code="0403")
    Category.objects.filter(pk=kept.pk).update(edited_at=timezone.now())  # an administrator chose to publish it
    unrelated = public_codes() - PRIVATE.keys()
    audit = AuditEntry.objects.count()

    migration.make_private(apps, None)

    public = public_codes()
    assert public == unrelated | {"0403"}
    changed = Category.objects.filter(taxonomy__code="social", code__in=PRIVATE.keys() - {"0202", "0403"})
    assert changed.count() == 10 and not changed.filter(is_public=True).exists()
    assert AuditEntry.objects.count() == audit + 10
    elderly = Category.objects.get(taxonomy__code="social", code="0402")
    assert elderly.edited_at is None  # not an administrator's edit: the loaders may still fill it
    entry = history(elderly).first()
    assert (entry.actor_id, entry.actor_name, entry.action) == (None, "system", "data.changed")
    assert entry.changes == [("is_public", True, False)] and "Open311" in entry.data["reason"]
    assert not history(kept).exists()

    migration.make_private(apps, None)  # again: nothing left to change
    assert public_codes() == public and AuditEntry.objects.count() == audit + 10


def test_the_migration_leaves_a_database_without_the_social_types_alone():
    migration.make_private(apps, None)
    assert not Category.objects.exists() and not AuditEntry.objects.exists()

"""投诉 is no longer a keyword of 消费纠纷 (social type 0106): every complaint says it, so the category suggestion
put 消费纠纷 first on reports about anything. New databases load it without; migration 0007 takes it out of the
ones already loaded, unless an administrator edited the type."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from civicgrid.apps.categories import loaders, matching
from civicgrid.apps.categories.models import Category, Taxonomy
from civicgrid.foundation.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

migration = importlib.import_module("civicgrid.apps.categories.migrations.0007_consumer_dispute_keyword")
OLD = "消费纠纷,消费,退货,投诉,矛盾纠纷"


def _consumer(code: str, *, edited: bool = False) -> Category:
    social, _ = Taxonomy.objects.get_or_create(code=code, defaults={"name": code})
    parent = Category.objects.create(taxonomy=social, code="01", name="矛盾纠纷")
    return Category.objects.create(taxonomy=social, code="0106", name="消费纠纷", parent=parent, keywords=OLD,
                                   edited_at=timezone.now() if edited else None)


def test_the_shipped_type_no_longer_has_the_word():
    spec = next(s for s in loaders.social_specs() if s.code == "0106")
    assert "消费" in spec.keywords.split(",") and "投诉" not in spec.keywords.split(",")


def test_the_migration_takes_the_word_out_of_an_unedited_type_and_records_it():
    consumer = _consumer("social")
    other = _consumer("district")  # another taxonomy's 0106 is not the shipped type
    matching.clear_cache()
    assert [r["id"] for r in matching.suggest("多次投诉没人管")] == [consumer.pk, other.pk]

    migration.drop_word(apps, None)

    consumer.refresh_from_db()
    other.refresh_from_db()
    assert consumer.keywords == "消费纠纷,消费,退货,矛盾纠纷" and other.keywords == OLD
    entry = AuditEntry.objects.get(target_type="categories.category", target_id=str(consumer.pk))
    assert entry.before == {"keywords": OLD} and entry.after == {"keywords": consumer.keywords}
    assert [r["id"] for r in matching.suggest("多次投诉没人管")] == [other.pk]  # the index saw the change
    migration.drop_word(apps, None)  # twice changes nothing more
    assert AuditEntry.objects.filter(target_type="categories.category").count() == 1


def test_the_migration_leaves_a_type_an_administrator_edited():
    consumer = _consumer("social", edited=True)
    migration.drop_word(apps, None)
    consumer.refresh_from_db()
    assert consumer.keywords == OLD and not AuditEntry.objects.exists()

"""English names of the GB/T 47678.5-2026 subclasses (153 components, 250 matters): the loader gives them to
new databases (`data/gbt47678_subclass_names_en.csv`), migration 0010 to those already loaded, never over an
English name already there; the API shows `name_en` and the name in the reader's language."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from civicgrid.apps.categories import loaders
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
GBT = "gbt47678_5_2026"
MIGRATION = importlib.import_module("civicgrid.apps.categories.migrations.0010_gbt_subclass_english_names")


def subclasses():
    return Category.objects.filter(taxonomy__code=GBT, parent__isnull=False)


def one(kind: str, code: str) -> Category:
    return subclasses().get(kind=kind, code=code)


def test_every_subclass_has_a_short_printable_english_name():
    names = loaders.gbt_subclass_names_en()
    directory = {(loaders.KIND_OF[r["kind"]], r["code"]): r["name"] for r in loaders._read(loaders.GBT_CSV)}
    assert len(names) == len(directory) == 153 + 250
    assert {key: zh for key, (zh, _) in names.items()} == directory  # each translates the directory's name
    for _, english in names.values():
        assert english and english == english.strip() and len(english) <= 100 and english.isprintable()
    assert names[("component", "01001")][1] == "Water supply manhole cover"
    assert names[("component", "01002")][1] == "Sewage manhole cover"


def test_a_fresh_load_names_every_subclass_in_english(loaded):
    assert subclasses().count() == 153 + 250
    assert subclasses().filter(name_en="").count() == 0
    assert one("matter", "06010").name_en == "Exposed rubbish"


def test_the_migration_carries_what_the_data_file_gives():
    shipped = {(str(s.kind), s.code, s.name): s.name_en for s in loaders.gbt_specs() if s.parent_code}
    assert MIGRATION.NAMES_EN == shipped


def test_the_migration_names_the_subclasses_already_loaded_keeping_english_already_there(loaded):
    # A database loaded before the subclasses had English names, where an administrator named one already.
    subclasses().update(name_en="")
    Category.objects.filter(pk=one("component", "01001").pk).update(name_en="Fresh water manhole cover")

    MIGRATION.add_names(apps, None)
    MIGRATION.add_names(apps, None)  # twice changes nothing more

    assert subclasses().filter(name_en="").count() == 0
    assert one("component", "01001").name_en == "Fresh water manhole cover"  # kept
    assert one("component", "01002").name_en == "Sewage manhole cover"
    assert one("matter", "01001").name_en == "Water supply manhole cover issue"
    entries = list(AuditEntry.objects.filter(target_type="categories.category", data__reason=MIGRATION.REASON))
    assert len(entries) == 153 + 250 - 1  # one system change in the history of each subclass named
    sewage = next(e for e in entries if e.target_id == str(one("component", "01002").pk))
    assert (sewage.actor_name, sewage.before, sewage.after) == ("system", {"name_en": ""},
                                                                 {"name_en": "Sewage manhole cover"})


def test_the_migration_leaves_edited_and_renamed_subclasses_alone(loaded):
    subclasses().update(name_en="")
    Category.objects.filter(pk=one("component", "01003").pk).update(edited_at=timezone.now())
    Category.objects.filter(pk=one("component", "01004").pk).update(name="本区雨水箅子")
    MIGRATION.add_names(apps, None)
    assert one("component", "01003").name_en == "" and one("component", "01004").name_en == ""
    assert subclasses().filter(name_en="").count() == 2


def test_going_back_clears_only_the_names_the_migration_set_and_nobody_changed(loaded):
    subclasses().update(name_en="")
    Category.objects.filter(pk=one("component", "01001").pk).update(name_en="Fresh water manhole cover")
    MIGRATION.add_names(apps, None)
    # changed afterwards: stays when the migration is reversed
    Category.objects.filter(pk=one("component", "01002").pk).update(name_en="Foul sewer manhole cover")

    MIGRATION.remove_names(apps, None)

    assert one("component", "01001").name_en == "Fresh water manhole cover"  # not the migration's
    assert one("component", "01002").name_en == "Foul sewer manhole cover"  # changed since
    assert subclasses().exclude(name_en="").count() == 2
    undone = AuditEntry.objects.filter(target_type="categories.category", data__reason=MIGRATION.UNDO_REASON)
    assert undone.count() == 153 + 250 - 2
    entry = undone.get(target_id=str(one("component", "01003").pk))
    assert (entry.before, entry.after) == ({"name_en": "Storm drain manhole cover"}, {"name_en": ""})


@pytest.fixture
def worker_headers(loaded, token_for, tree):
    return token_for(user_with(Role.GRID_WORKER, region=tree["140213050001001"]))


def test_the_api_gives_the_english_name_and_the_name_in_the_readers_language(api_client, worker_headers):
    cover = one("component", "01001")
    body = api_client.get(f"/api/v1/categories/{cover.pk}", **worker_headers).json()
    assert (body["name"], body["name_en"], body["display_name"]) == (
        "供水井盖", "Water supply manhole cover", "供水井盖")  # Chinese by default
    assert all(set(c) >= {"name", "name_en", "display_name"} for c in
               api_client.get(f"/api/v1/categories/{cover.parent_id}", **worker_headers).json()["children"])

    api_client.cookies["django_language"] = "en"  # the language the site's switch chooses
    body = api_client.get(f"/api/v1/categories/{cover.pk}", **worker_headers).json()
    assert (body["name"], body["name_en"], body["display_name"]) == (
        "供水井盖", "Water supply manhole cover", "Water supply manhole cover")
    listed = api_client.get("/api/v1/categories", {"taxonomy": GBT, "kind": "component", "q": "manhole cover"},
                            **worker_headers).json()
    found = {i["code"]: i for i in listed["items"]}
    assert found["01001"]["display_name"] == "Water supply manhole cover"
    assert found["01002"]["name_en"] == "Sewage manhole cover" and found["01002"]["name"] == "污水井盖"
    parent = api_client.get(f"/api/v1/categories/{cover.parent_id}", **worker_headers).json()
    child = next(c for c in parent["children"] if c["code"] == "01001")
    assert (child["name_en"], child["display_name"]) == ("Water supply manhole cover", "Water supply manhole cover")


def test_a_category_without_english_shows_its_chinese_name_in_english_too(api_client, worker_headers):
    cover = one("component", "01001")
    Category.objects.filter(pk=cover.pk).update(name_en="")
    api_client.cookies["django_language"] = "en"
    body = api_client.get(f"/api/v1/categories/{cover.pk}", **worker_headers).json()
    assert (body["name_en"], body["display_name"]) == ("", "供水井盖")

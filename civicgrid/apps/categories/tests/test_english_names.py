"""Categories' English names (`Category.name_en`): shown in the English interface where set (`display_name`),
the Chinese name everywhere else; edited on the category page and through the xlsx (column 英文名称), checked
(length, no control characters) and kept in the category's history."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps
from django.utils import timezone, translation
from openpyxl import Workbook, load_workbook

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category, display_name
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def dispute() -> Category:
    return Category.objects.get(taxonomy__code="social", kind="event", code="01")


def english(client):
    client.cookies["django_language"] = "en"
    return client


def test_the_accessor_gives_english_only_in_english_and_only_when_set():
    named = Category(name="矛盾纠纷", name_en="Disputes")
    unnamed = Category(name="邻里纠纷", name_en="")
    with translation.override("en"):
        assert (named.display_name, unnamed.display_name) == ("Disputes", "邻里纠纷")
        assert named.display_label == f"{named.code} Disputes"
    with translation.override("zh-hans"):
        assert (named.display_name, unnamed.display_name) == ("矛盾纠纷", "邻里纠纷")
        assert display_name("矛盾纠纷", "Disputes") == "矛盾纠纷"
    assert str(named) == f"{named.code} 矛盾纠纷"  # what audit records and exports say stays Chinese


def test_the_loaders_fill_the_types_and_the_gbt_classes(loaded):
    assert dispute().name_en == "Disputes"
    assert Category.objects.get(taxonomy__code="social", code="0701").name_en == "Waterlogging"
    social_types = Category.objects.filter(taxonomy__code="social", parent__isnull=True)
    assert social_types.count() == 8 and not social_types.filter(name_en="").exists()
    gbt = Category.objects.filter(taxonomy__code="gbt47678_5_2026")
    assert gbt.get(kind="component", code="01").name_en == "Municipal public facilities"
    assert not gbt.filter(parent__isnull=True, name_en="").exists()
    assert gbt.get(kind="matter", code="06010").name_en == "Exposed rubbish"
    assert not gbt.filter(parent__isnull=False, name_en="").exists()  # every subclass too


def test_an_english_page_shows_the_english_name(admin):
    cat = dispute()
    zh = admin.get("/categories/", {"taxonomy": "social"}).content.decode()
    assert "矛盾纠纷" in zh and "Disputes" not in zh
    en = english(admin).get("/categories/", {"taxonomy": "social"}).content.decode()
    assert ">Disputes<" in en and ">Neighbour disputes<" in en and ">矛盾纠纷<" not in en
    page = admin.get(f"/categories/{cat.pk}/").content.decode()
    assert "01 Disputes" in page and "<dd data-name>矛盾纠纷</dd>" in page  # both names on its own page


def test_the_edit_form_changes_the_english_name_with_history(admin):
    cat = dispute()
    form = {"name": cat.name, "name_en": "Conflicts and disputes", "time_limit_amount": "20",
            "time_limit_mode": "working_days", "acceptance_condition": cat.acceptance_condition,
            "closure_condition": cat.closure_condition, "responsible_body": cat.responsible_body,
            "default_department": cat.default_department_id or "", "keywords": cat.keywords,
            "is_public": "", "in_public_feed": "on" if cat.in_public_feed else "", "is_active": "on"}
    assert 'name="name_en"' in admin.get(f"/categories/{cat.pk}/").content.decode()
    assert admin.post(f"/categories/{cat.pk}/", form).status_code == 302
    cat.refresh_from_db()
    assert cat.name_en == "Conflicts and disputes" and cat.edited_at is not None
    entry = AuditEntry.objects.filter(target_type="categories.category", target_id=str(cat.pk)).latest("id")
    assert (entry.before["name_en"], entry.after["name_en"]) == ("Disputes", "Conflicts and disputes")
    history = admin.get(f"/categories/{cat.pk}/").content.decode()
    assert "Conflicts and disputes" in history and "英文名称" in history
    # a control character is refused, and nothing changes
    before = AuditEntry.objects.count()
    bad = admin.post(f"/categories/{cat.pk}/", {**form, "name_en": "Bad\x07name"})
    assert bad.status_code == 400 and "控制字符" in bad.content.decode()
    cat.refresh_from_db()
    assert cat.name_en == "Conflicts and disputes" and AuditEntry.objects.count() == before


def test_the_service_checks_the_english_name(loaded, manager):
    cat = dispute()
    for bad in ("x" * 101, "Two\nlines", "Tab\there"):
        with pytest.raises(ValidationFailed) as refused:
            services.update_category(actor=manager, category=cat, name_en=bad)
        assert refused.value.field == "name_en"
    cat.refresh_from_db()
    assert cat.name_en == "Disputes"
    saved = services.update_category(actor=manager, category=cat, name_en="  Civil disputes  ")
    assert saved.name_en == "Civil disputes"


def _sheet(body: bytes) -> list[list]:
    return [list(r) for r in load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True)]


def _workbook(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = xlsx.SHEET_TITLE
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_round_trip_with_the_english_column(loaded, manager):
    body, _ = xlsx.export_categories(actor=manager, taxonomy=dispute().taxonomy)
    rows = _sheet(body)
    header = rows[0]
    assert header[-1] == "英文名称" and header[2] == "名称"
    at = header.index("英文名称")
    row = next(r for r in rows[1:] if r[1] == "01")
    assert (row[2], row[at]) == ("矛盾纠纷", "Disputes")  # the Chinese name keeps its column
    neighbours = next(r for r in rows[1:] if r[1] == "0101")
    row[at], neighbours[at] = "Civil disputes", ""
    report = xlsx.import_categories(actor=manager, data=_workbook([header, row, neighbours]), filename="en.xlsx")
    assert report.ok, report.errors
    assert dispute().name_en == "Civil disputes"
    assert Category.objects.get(taxonomy__code="social", code="0101").name_en == ""  # emptied: cleared
    entry = AuditEntry.objects.filter(target_type="categories.category", target_id=str(dispute().pk)).latest("id")
    assert entry.after["name_en"] == "Civil disputes" and entry.data["via"] == "xlsx"
    again = _sheet(xlsx.export_categories(actor=manager, taxonomy=dispute().taxonomy)[0])
    assert next(r for r in again[1:] if r[1] == "01")[at] == "Civil disputes"


def test_an_old_file_without_the_column_keeps_the_english_names(loaded, manager):
    body, _ = xlsx.export_categories(actor=manager, taxonomy=dispute().taxonomy)
    rows = _sheet(body)
    at = rows[0].index("英文名称")
    old = [r[:at] + r[at + 1:] for r in rows]
    row = next(r for r in old[1:] if r[1] == "01")
    row[old[0].index("关键词")] = "纠纷,矛盾,调解,吵架"
    report = xlsx.import_categories(actor=manager, data=_workbook([old[0], row]), filename="old.xlsx")
    assert report.ok and report.updated == 1, report.errors
    cat = dispute()
    assert cat.keywords == "纠纷,矛盾,调解,吵架" and cat.name_en == "Disputes"


@pytest.mark.parametrize("bad", ["x" * 101, "Line\nbreak", "Tab\there", "Next\x85line", "Para\u2029graph"])
def test_a_bad_english_name_refuses_the_whole_file(loaded, manager, bad):
    body, _ = xlsx.export_categories(actor=manager, taxonomy=dispute().taxonomy)
    rows = _sheet(body)
    header, at = rows[0], rows[0].index("英文名称")
    good = next(r for r in rows[1:] if r[1] == "0101")
    good[at] = "Neighbourhood disputes"
    wrong = next(r for r in rows[1:] if r[1] == "01")
    wrong[at] = bad
    before = (list(Category.objects.order_by("pk").values_list("pk", "name_en", "updated_at")),
              AuditEntry.objects.filter(result="ok").count())
    report = xlsx.import_categories(actor=manager, data=_workbook([header, good, wrong]), filename="bad.xlsx")
    assert not report.ok
    assert [(e.row, e.column) for e in report.errors] == [(3, "英文名称")]
    assert (list(Category.objects.order_by("pk").values_list("pk", "name_en", "updated_at")),
            AuditEntry.objects.filter(result="ok").count()) == before
    assert AuditEntry.objects.filter(result="refused").exists()


def test_the_migration_names_the_categories_already_loaded_and_records_it():
    from civicgrid.apps.categories.models import Taxonomy

    migration = importlib.import_module("civicgrid.apps.categories.migrations.0009_english_names")
    social, _ = Taxonomy.objects.get_or_create(code="social", defaults={"name": "社会治理事件类型"})
    plain = Category.objects.create(taxonomy=social, code="01", name="矛盾纠纷")
    edited = Category.objects.create(taxonomy=social, code="02", name="治安隐患", edited_at=timezone.now())
    renamed = Category.objects.create(taxonomy=social, code="03", name="本地安全隐患")  # not the shipped name
    own = Category.objects.create(taxonomy=social, code="04", name="民生服务", name_en="Services")

    migration.add_names(apps, None)
    migration.add_names(apps, None)  # twice changes nothing more

    assert [c.name_en for c in Category.objects.filter(pk__in=[plain.pk, edited.pk, renamed.pk, own.pk])
            .order_by("code")] == ["Disputes", "", "", "Services"]
    entry = AuditEntry.objects.get(target_type="categories.category")
    assert (entry.target_id, entry.before, entry.after) == (str(plain.pk), {"name_en": ""}, {"name_en": "Disputes"})


def test_the_migration_carries_what_the_data_files_give():
    """The migration's frozen names are those the loaders give new databases."""
    from civicgrid.apps.categories import loaders

    migration = importlib.import_module("civicgrid.apps.categories.migrations.0009_english_names")
    # 0009 named the GB/T classes and the social types; the GB/T subclasses are 0010's (test_gbt_subclass_names)
    shipped = {(tax, str(s.kind), s.code, s.name): s.name_en
               for tax, specs in (("gbt47678_5_2026", [s for s in loaders.gbt_specs() if not s.parent_code]),
                                  ("social", loaders.social_specs()))
               for s in specs if s.name_en}
    assert migration.NAMES_EN == shipped

"""A class switched off takes its subclasses out of use: they keep their own 启用 but are offered nowhere for new
reports (report page, API, Open311, text router, intake), the list and page say 上级已停用, and the import and the
edit form warn naming them. Switching the class on again brings them back."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from openpyxl import Workbook, load_workbook

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category, in_use_q
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
GBT = "gbt47678_5_2026"
GRID = "140213050001001"


def garbage() -> Category:
    return Category.objects.get(taxonomy__code=GBT, kind="matter", code="06010")


def environment() -> Category:
    return Category.objects.get(taxonomy__code=GBT, kind="matter", code="06")


def class_row_off() -> bytes:
    """The export's own row of matter class 06 with 启用 = 否, alone under the header."""
    body, _ = xlsx.export_categories(actor=None, taxonomy=environment().taxonomy)
    rows = list(load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
    row = list(next(r for r in rows[1:] if r[1] == "06" and r[4] == "事项"))
    row[14] = "否"
    book = Workbook()
    book.active.append(list(rows[0]))
    book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def offered_everywhere(category: Category, resident, staff) -> dict[str, bool]:
    from civicgrid.apps.cases.services import intake
    from civicgrid.integrations.open311.catalogue import service_categories
    from civicgrid.integrations.router import handlers
    from civicgrid.integrations.router.service import resolve_label
    from civicgrid.ui.pages import cases_report, cases_shared

    def picker(user) -> bool:
        return any(o["id"] == category.pk for g in cases_shared.category_groups(user) for o in g["options"])

    def report_accepts(user) -> bool:
        try:
            return cases_report._category(user, str(category.pk)) == category
        except ValidationFailed:
            return False

    def intake_accepts() -> bool:
        intake.forget_lookups()
        try:
            return intake.resolve_category(category.pk) == category
        except ValidationFailed:
            return False

    return {
        "resident picker": picker(resident), "staff picker": picker(staff),
        "report page": report_accepts(resident), "intake": intake_accepts(),
        "open311": service_categories().filter(pk=category.pk).exists(),
        "router label": resolve_label(category.name, "category")["category_id"] == category.pk,
        "router suggestion": handlers._category({"category_id": category.pk}) == category,
    }


@pytest.fixture
def people(loaded, tree):
    return user_with(Role.RESIDENT, region=tree[GRID]), user_with(Role.GRID_WORKER, region=tree[GRID])


def test_an_import_switching_a_class_off_takes_its_subclasses_out_and_warns(loaded, manager, people):
    resident, staff = people
    cat = garbage()
    assert all(offered_everywhere(cat, resident, staff).values())
    live = set(Category.objects.filter(parent=environment(), is_active=True).values_list("code", flat=True))
    report = xlsx.import_categories(actor=manager, data=class_row_off(), filename="06.xlsx")
    assert report.ok and report.updated == 1, report.errors
    # The subclasses keep their own flag, and the import says what switching the class off did to them.
    assert set(Category.objects.filter(parent=environment(), is_active=True).values_list("code", flat=True)) == live
    assert len(report.warnings) == 1 and "上级已停用" in report.warnings[0]
    assert "06001 私搭乱建" in report.warnings[0] and f"等 {len(live)} 个" in report.warnings[0]
    cat.refresh_from_db()
    assert cat.is_active and cat.parent_inactive and not cat.in_use
    assert not any(offered_everywhere(cat, resident, staff).values()), offered_everywhere(cat, resident, staff)
    services.update_category(actor=manager, category=environment(), is_active=True)
    assert all(offered_everywhere(cat, resident, staff).values())


def test_intake_names_the_class_switched_off(loaded, manager):
    from civicgrid.apps.cases.services import intake

    services.update_category(actor=manager, category=environment(), is_active=False)
    intake.forget_lookups()
    with pytest.raises(ValidationFailed, match="所属的大类「.*」已停用"):
        intake.resolve_category(garbage().pk)


def test_the_api_says_whether_a_category_is_in_use(loaded, manager, api_client, token_for, tree):
    services.update_category(actor=manager, category=environment(), is_active=False)
    staff = token_for(user_with(Role.GRID_WORKER, region=tree[GRID]))
    resident = token_for(user_with(Role.RESIDENT, region=tree[GRID]))
    item = api_client.get(f"/api/v1/categories/{garbage().pk}", **staff).json()
    assert item["is_active"] is True and item["in_use"] is False
    off = api_client.get("/api/v1/categories", {"parent": environment().pk, "in_use": "false", "limit": 1000},
                         **staff).json()
    on = api_client.get("/api/v1/categories", {"parent": environment().pk, "in_use": "true"}, **staff).json()
    assert off["total"] == Category.objects.filter(parent=environment()).count() and on["total"] == 0
    assert api_client.get(f"/api/v1/categories/{garbage().pk}", **resident).status_code == 404
    listed = api_client.get("/api/v1/categories", {"parent": environment().pk}, **resident).json()
    assert listed["total"] == 0


def test_the_edit_form_warns_and_the_pages_say_the_class_is_off(loaded, manager):
    admin = client_for(manager)
    cls = environment()
    data = {"name": cls.name, "time_limit_amount": str(cls.time_limit_amount), "time_limit_mode": cls.time_limit_mode,
            "keywords": cls.keywords, "acceptance_condition": cls.acceptance_condition,
            "closure_condition": cls.closure_condition, "responsible_body": cls.responsible_body,
            "default_department": cls.default_department_id or "",
            **{flag: "on" for flag in ("is_public", "in_public_feed") if getattr(cls, flag)}}  # 启用 unticked
    response = admin.post(f"/categories/{environment().pk}/", data, follow=True)
    text = response.content.decode()
    assert response.status_code == 200 and "06001 私搭乱建" in text and "上级已停用" in text
    assert not Category.objects.get(pk=environment().pk).is_active and garbage().is_active
    page = admin.get(f"/categories/{garbage().pk}/").content.decode()
    assert "data-parent-inactive" in page
    listed = admin.get("/categories/", {"taxonomy": GBT, "q": "暴露垃圾", "kind": "matter"}).content.decode()
    assert "上级已停用" in listed


def test_in_use_q_is_the_model_property(loaded, manager):
    services.update_category(actor=manager, category=environment(), is_active=False)
    in_use = set(Category.objects.filter(in_use_q()).values_list("pk", flat=True))
    assert in_use == {c.pk for c in Category.objects.select_related("taxonomy", "parent") if c.in_use}
    assert garbage().pk not in in_use


def test_the_import_page_shows_the_warning_after_applying(loaded, manager):
    upload = io.BytesIO(class_row_off())
    upload.name = "06.xlsx"
    response = client_for(manager).post("/categories/import/", {"file": upload}, follow=True)
    text = response.content.decode()
    assert response.status_code == 200 and "修改 1" in text and "上级已停用" in text and "06001 私搭乱建" in text
    assert not Category.objects.get(pk=environment().pk).is_active and garbage().is_active


def test_the_list_notes_a_class_off_in_the_readers_brackets(loaded, manager):
    """The 启用 cell of a subclass whose class is off: 是（上级已停用） in Chinese, "Yes (class disabled)"-like in
    English, never a full-width bracket in the English interface."""
    services.update_category(actor=manager, category=environment(), is_active=False)
    admin = client_for(manager)
    query = {"taxonomy": GBT, "q": "暴露垃圾", "kind": "matter"}
    assert "是（上级已停用）" in admin.get("/categories/", query).content.decode()
    admin.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = admin.get("/categories/", query).content.decode()
    cell = english[english.index(garbage().name_en or garbage().name):]
    assert "Yes (" in cell and "Yes（" not in cell

"""A category's default department (and a rule's department) is an organisation that handles cases, the same
kinds for the xlsx import, the edit form and the services; a value stored before it stopped qualifying is
shown and kept, never cleared by saving another field."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from civicgrid.apps.categories import services, xlsx
from civicgrid.apps.categories.models import Category, RoutingRule, Taxonomy
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.orgs.models import CASE_HANDLING_KINDS, Organisation, OrgKind

from .test_xlsx import workbook

pytestmark = pytest.mark.django_db


def garbage() -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


@pytest.fixture
def property_company(tree):
    return Organisation.objects.create(code="WY-01", name="永泰物业服务有限公司", short_name="永泰物业",
                                       kind=OrgKind.PROPERTY_COMPANY, region=tree["140213050"])


@pytest.fixture
def practice_centre(tree):
    return Organisation.objects.create(code="WM-01", name="平城区新时代文明实践中心", short_name="文明实践中心",
                                       kind=OrgKind.OTHER, region=tree["140213"])


@pytest.fixture
def admin(loaded, manager):
    client = Client()
    client.force_login(manager)
    return client


def _state(category):
    category.refresh_from_db()
    return (category.default_department_id, category.name, category.edited_at,
            AuditEntry.objects.filter(target_id=str(category.pk)).count())


def _edit_form(cat: Category, **changes) -> dict:
    form = {"name": cat.name, "time_limit_amount": str(cat.time_limit_amount), "time_limit_mode": cat.time_limit_mode,
            "acceptance_condition": cat.acceptance_condition, "closure_condition": cat.closure_condition,
            "responsible_body": cat.responsible_body,
            "default_department": cat.default_department_id or "", "keywords": cat.keywords,
            "is_public": "on" if cat.is_public else "", "is_active": "on" if cat.is_active else ""}
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""}


def _xlsx_with(manager, code: str, department: str) -> bytes:
    rows = [list(r) for r in load_workbook(io.BytesIO(xlsx.export_categories(
        actor=manager, taxonomy=Taxonomy.objects.get(code="social"))[0]), read_only=True).active.iter_rows(
        values_only=True)]
    for row in rows[1:]:
        if row[1] == code:
            row[10] = department
    return workbook(rows)


def test_the_shared_definition_leaves_out_who_does_not_handle_cases():
    assert OrgKind.PROPERTY_COMPANY not in CASE_HANDLING_KINDS and OrgKind.OTHER not in CASE_HANDLING_KINDS


# --------------------------------------------------------------------------------------- service and import


@pytest.mark.parametrize("org", ["property_company", "practice_centre"])
def test_the_service_refuses_an_organisation_that_does_not_handle_cases(loaded, manager, org, request):
    org = request.getfixturevalue(org)
    cat = garbage()
    before = _state(cat)
    with pytest.raises(ValidationFailed) as info:
        services.update_category(actor=manager, category=cat, default_department=org)
    assert info.value.field == "default_department" and "不处置案件" in info.value.message
    assert _state(cat) == before


def test_the_import_refuses_what_the_form_cannot_offer(loaded, manager, property_company):
    cat = Category.objects.get(taxonomy__code="social", code="0101")
    before = _state(cat)
    report = xlsx.import_categories(actor=manager, data=_xlsx_with(manager, "0101", "永泰物业"))
    assert not report.ok
    assert [(e.column, "不处置案件" in e.message) for e in report.errors] == [("默认处置部门", True)]
    assert _state(cat)[:3] == before[:3]


def test_the_import_keeps_a_stored_department_that_no_longer_qualifies(loaded, manager, departments):
    cat = Category.objects.get(taxonomy__code="social", code="0101")
    Category.objects.filter(pk=cat.pk).update(default_department=departments["区民政局"])
    Organisation.objects.filter(pk=departments["区民政局"].pk).update(is_active=False)
    report = xlsx.import_categories(actor=manager, data=_xlsx_with(manager, "0101", "区民政局"))
    assert report.ok, report.errors
    cat.refresh_from_db()
    assert cat.default_department == departments["区民政局"]


# ------------------------------------------------------------------------------------------------ the form


def test_the_form_offers_no_property_company(admin, property_company):
    page = admin.get(f"/categories/{garbage().pk}/").content.decode()
    assert f'value="{property_company.pk}"' not in page


@pytest.mark.parametrize("how", ["property_company", "deactivated"])
def test_saving_another_field_keeps_a_department_that_no_longer_qualifies(admin, departments, property_company,
                                                                          how):
    cat = garbage()
    org = property_company if how == "property_company" else departments["区城管局"]
    Category.objects.filter(pk=cat.pk).update(default_department=org)  # set by an old import
    if how == "deactivated":
        Organisation.objects.filter(pk=org.pk).update(is_active=False)
    cat.refresh_from_db()
    page = admin.get(f"/categories/{cat.pk}/").content.decode()
    assert f'<option value="{org.pk}" selected>' in page  # shown as the current value
    response = admin.post(f"/categories/{cat.pk}/", _edit_form(cat, keywords="垃圾,暴露"))
    assert response.status_code == 302
    cat.refresh_from_db()
    assert cat.keywords == "垃圾,暴露" and cat.default_department_id == org.pk
    entry = AuditEntry.objects.filter(action="data.changed", target_id=str(cat.pk)).latest("id")
    assert "default_department" not in {k for k in entry.after if entry.after[k] != entry.before.get(k)}


def test_the_form_refuses_choosing_an_organisation_that_does_not_handle_cases(admin, departments, property_company):
    cat = garbage()
    before = _state(cat)
    response = admin.post(f"/categories/{cat.pk}/", _edit_form(cat, default_department=property_company.pk))
    assert response.status_code == 400
    assert _state(cat) == before


def test_clearing_the_department_on_purpose_still_works(admin, departments):
    cat = garbage()
    Category.objects.filter(pk=cat.pk).update(default_department=departments["区城管局"])
    cat.refresh_from_db()
    form = _edit_form(cat)
    form.pop("default_department")
    assert admin.post(f"/categories/{cat.pk}/", form).status_code == 302
    cat.refresh_from_db()
    assert cat.default_department_id is None


def test_a_rule_keeps_its_deactivated_department_when_another_field_changes(admin, departments):
    cat = garbage()
    rule = RoutingRule.objects.create(category=cat, region_code="140213050", department=departments["区水务局"])
    Organisation.objects.filter(pk=departments["区水务局"].pk).update(is_active=False)
    response = admin.post(f"/categories/rules/{rule.pk}/", {
        "category": cat.pk, "region_code": "140213050", "department": departments["区水务局"].pk,
        "kind": "routing", "priority": 0, "is_active": "on", "note": "说明改了"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.note == "说明改了" and rule.department == departments["区水务局"]

"""Routing rules as an administrator keeps them: no exact duplicates, other rules for the same place pointed
out, deletion only with an explicit confirmation, a correction form that shows only what it changes, and the
category drop-down in the reader's language."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def garbage() -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


@pytest.fixture
def admin(loaded, manager):
    client = Client()
    client.force_login(manager)
    return client


def _rules_state():
    return (sorted(RoutingRule.objects.values_list("pk", "category_id", "region_code", "department_id", "kind",
                                                   "priority", "is_active", "note")),
            AuditEntry.objects.filter(target_type="categories.routingrule").count())


def _post(cat, dept, **extra):
    return {"category": cat.pk, "region_code": "140213050", "department": dept.pk, "kind": "routing",
            "priority": 0, "is_active": "on", **extra}


def test_an_exact_duplicate_is_refused_naming_the_existing_rule(loaded, manager, departments):
    cat = garbage()
    first = services.create_rule(actor=manager, category=cat, region_code="140213050",
                                 department=departments["区城管局"])
    before = _rules_state()
    with pytest.raises(ValidationFailed) as info:
        services.create_rule(actor=manager, category=cat, region_code="140213050", department=departments["区水务局"])
    assert f"#{first.pk}" in info.value.message
    assert _rules_state() == before


def test_moving_a_rule_onto_another_is_refused(loaded, manager, departments):
    cat = garbage()
    services.create_rule(actor=manager, category=cat, region_code="140213050", department=departments["区城管局"])
    second = services.create_rule(actor=manager, category=cat, region_code="140213050",
                                  department=departments["区水务局"], priority=5)
    before = _rules_state()
    with pytest.raises(ValidationFailed):
        services.update_rule(actor=manager, rule=second, priority=0)
    assert _rules_state() == before


def test_an_old_duplicate_stays_editable_and_correctable(loaded, manager, departments):
    cat = garbage()
    a = RoutingRule.objects.create(category=cat, region_code="140213050", department=departments["区城管局"])
    RoutingRule.objects.create(category=cat, region_code="140213050", department=departments["区水务局"])
    services.update_rule(actor=manager, rule=a, note="保留")
    rule = services.correct_rule(actor=manager, category=cat, region_code="140213050",
                                 department=departments["区住建局"])
    assert rule.department == departments["区住建局"]


def test_the_page_refuses_a_duplicate_and_warns_of_rivals(admin, departments):
    cat = garbage()
    assert admin.post("/categories/rules/new/", _post(cat, departments["区城管局"])).status_code == 302
    before = _rules_state()
    refused = admin.post("/categories/rules/new/", _post(cat, departments["区水务局"]))
    assert refused.status_code == 400 and "已有相同的规则" in refused.content.decode()
    assert _rules_state() == before
    saved = admin.post("/categories/rules/new/", _post(cat, departments["区水务局"], priority=3), follow=True)
    first = RoutingRule.objects.filter(category=cat).order_by("id").first()
    assert "另有启用的规则" in saved.content.decode() and f"#{first.pk}" in saved.content.decode()
    listing = admin.get("/categories/rules/", {"region": "140213050", "kind": "routing"}).content.decode()
    assert "同位规则" in listing and f"#{first.pk}" in listing


def test_deleting_needs_the_confirmation(admin, departments):
    cat = garbage()
    rule = RoutingRule.objects.create(category=cat, region_code="140213050", department=departments["区城管局"])
    page = admin.get(f"/categories/rules/{rule.pk}/").content.decode()
    assert 'name="confirm"' in page
    before = _rules_state()
    refused = admin.post(f"/categories/rules/{rule.pk}/", {"delete": "1"})
    assert refused.status_code == 400 and "确认删除" in refused.content.decode()
    assert _rules_state() == before
    assert admin.post(f"/categories/rules/{rule.pk}/", {"delete": "1", "confirm": "1"}).status_code == 302
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()


def test_the_correction_form_shows_only_what_a_correction_changes(admin, departments):
    cat = garbage()
    page = admin.get(f"/categories/rules/new/?correct=1&category={cat.pk}&region_code=140213050").content.decode()
    form = page.split('data-testid="rule-form"', 1)[1].split("</form>", 1)[0]
    assert 'name="department"' in form and 'name="region_code"' in form
    assert 'name="kind"' not in form and 'name="priority"' not in form and 'name="is_active"' not in form


def test_the_any_category_option_is_in_the_readers_language(admin):
    admin.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = admin.get("/categories/rules/new/").content.decode()
    assert "任意分类" not in page.split('data-testid="rule-form"', 1)[1].split("</form>", 1)[0]


def _history_items(page: str) -> list[list[str]]:
    """The rule page's history, newest first: each entry's changes as "field：before → after"."""
    import re

    history = page[page.index('id="history"'):]
    entries = history.split("<li class=")[1:]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r'<li><span class="field">.*?</li>', e)] for e in entries]


def test_the_history_of_a_rule_shows_its_region(admin, departments):
    """A routing rule is defined by where it applies: its history lists the region when the rule is created and
    when only the region changes (other models' region_code, which repeats their grid, stays hidden)."""
    rule = services.create_rule(actor=None, category=garbage(), region_code="140213050",
                                department=departments["区城管局"])
    assert admin.post(f"/categories/rules/{rule.pk}/", _post(garbage(), departments["区城管局"],
                                                             region_code="140213050001")).status_code == 302
    changed, created = _history_items(admin.get(f"/categories/rules/{rule.pk}/").content.decode())
    assert changed == ["区域代码：140213050 → 140213050001"]
    assert "区域代码：— → 140213050" in created

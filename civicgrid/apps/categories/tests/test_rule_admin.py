"""Routing rules as an administrator keeps them: no exact duplicates, other rules for the same place pointed
out, deletion only with an explicit confirmation, a correction form that shows only what it changes, and the
category drop-down in the reader's language."""

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import garbage

pytestmark = pytest.mark.django_db



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


def _query(url: str) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(url.replace("&amp;", "&")).query).items()}


def _overriding_link(page: str) -> str | None:
    import re

    found = re.search(r'<a href="([^"]+)" data-correct-overriding-rule>', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_correction_warns_when_a_more_specific_rule_decides_the_cases_place(admin, departments):
    """The send-back's correction of the street rule would not reach the case's own grid, where a community rule
    decides: the form says so before saving and offers that rule's correction pre-filled; saving anyway keeps the
    correction, says that it does not apply there and opens the offered correction; correcting that rule too
    sends the place's cases to the chosen department."""
    from civicgrid.foundation.regions.models import Region

    cat, city, housing = garbage(), departments["区城管局"], departments["区住建局"]
    street = services.create_rule(actor=None, category=cat, region_code="140213050", department=city)
    community = services.create_rule(actor=None, category=cat, region_code="140213050001", department=city)
    url = (f"/categories/rules/new/?correct=1&category={cat.pk}&region_code=140213050&department={housing.pk}"
           f"&reference=PC0001&location=140213050001001&note=由退回更正")
    page = admin.get(url).content.decode()
    place = Region.objects.get(code="140213050001001").name
    assert (f"本案所在位置{place}（140213050001001）适用更具体的规则 #{community.pk}（永泰社区1（140213050001））"
            in page) and "仍派往平城区城管局" in page  # room for the full name
    offered = _overriding_link(page)
    assert f"改为更正规则 #{community.pk}" in page
    assert _query(offered) == {"correct": "1", "category": str(cat.pk), "region_code": "140213050001",
                               "department": str(housing.pk), "reference": "PC0001",
                               "location": "140213050001001", "note": "由退回更正"}

    response = admin.post(url, {"category": cat.pk, "region_code": "140213050", "department": housing.pk,
                                "note": "由退回更正"})
    assert response.status_code == 302 and response.url == offered
    assert RoutingRule.objects.get(pk=street.pk).department == housing  # the correction is saved
    assert RoutingRule.objects.get(pk=community.pk).department == city  # and the place still routes by this
    assert services.resolve_department(cat, "140213050001001") == city
    follow = admin.get(offered).content.decode()
    assert f"仍按更具体的规则 #{community.pk}" in follow and "刚保存的规则在那里不起作用" in follow
    assert 'value="140213050001"' in follow and _overriding_link(follow) is None

    assert admin.post(offered, {"category": cat.pk, "region_code": "140213050001", "department": housing.pk,
                                "note": "由退回更正"}).url == f"/categories/rules/{community.pk}/"
    assert services.resolve_department(cat, "140213050001001") == housing
    assert AuditEntry.objects.filter(action=services.RULE_CORRECTED, target_id=str(community.pk)).count() == 1


def test_no_warning_where_the_specific_rule_already_agrees_or_the_place_is_unknown(admin, departments):
    cat, city, housing = garbage(), departments["区城管局"], departments["区住建局"]
    services.create_rule(actor=None, category=cat, region_code="140213050001", department=housing)
    base = f"/categories/rules/new/?correct=1&category={cat.pk}&region_code=140213050"
    assert "data-overriding-rule" not in admin.get(f"{base}&department={housing.pk}&location=140213050001001"
                                                   ).content.decode()  # it sends there already
    assert "data-overriding-rule" not in admin.get(f"{base}&department={city.pk}").content.decode()  # no place
    assert "data-overriding-rule" not in admin.get(f"{base}&department={city.pk}&location=14021305000"
                                                   ).content.decode()  # not a region code
    response = admin.post(f"{base}&department={housing.pk}&location=140213050001001",
                          {"category": cat.pk, "region_code": "140213050", "department": housing.pk})
    rule = RoutingRule.objects.get(category=cat, region_code="140213050")
    assert response.url == f"/categories/rules/{rule.pk}/"


def test_a_more_specific_patron_rule_is_offered_on_its_own_page(admin, departments):
    """A 包保 rule is not what a correction changes: the warning links to the rule's page instead."""
    cat, city, housing = garbage(), departments["区城管局"], departments["区住建局"]
    patron = services.create_rule(actor=None, category=cat, region_code="140213050001", department=city,
                                  kind="patron")
    page = admin.get(f"/categories/rules/new/?correct=1&category={cat.pk}&region_code=140213050"
                     f"&department={housing.pk}&location=140213050001002").content.decode()
    assert _overriding_link(page) == f"/categories/rules/{patron.pk}/" and f"修改包保规则 #{patron.pk}" in page

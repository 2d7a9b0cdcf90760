"""The text router in Chromium: a dispatcher types a 12345 hotline report, the router's suggestion (department,
confidence, top three) appears as they type, the case is registered, and on the case page the dispatch form is
pre-filled from the suggestion; the dispatcher accepts and dispatches with it. Then the router page shows the
live version and the threshold. The model is trained on the product's made-up example set."""

from __future__ import annotations

import os

import pytest

from civicgrid.testing.browser import DESKTOP, _page, browser_db, purge_test_audit_rows, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")
GRID = "140213050001001"
TEXT = "小区门口垃圾堆放很多天没人清运，路边暴露垃圾发臭"


@pytest.fixture
def desk(browser, live_server, settings, tmp_path):
    from civicgrid.apps.categories.models import Category, CategoryKind, Taxonomy
    from civicgrid.foundation.access.roles import Role
    from civicgrid.integrations.router import service, versions
    from civicgrid.integrations.router.cli import cmd_train
    from civicgrid.integrations.router.demo import EXAMPLE
    from civicgrid.testing.builders import department, small_tree, user_with

    settings.CIVICGRID_ROUTER_MODELS_DIR = str(tmp_path / "models")
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.01  # the dispatcher decides in this test
    service.clear_cache()
    tree = small_tree()
    dept = department("区城管局")
    department("区住建局")
    user_with(Role.DEPARTMENT_HANDLER, department=dept, username="cg-handler")  # a department someone can act for
    tax = Taxonomy.objects.create(code="gb47678", name="GB/T 47678.5-2026")
    cls = Category.objects.create(taxonomy=tax, code="06", name="市容环境类", kind=CategoryKind.MATTER)
    Category.objects.create(taxonomy=tax, code="06001", name="暴露垃圾", parent=cls, kind=CategoryKind.MATTER)
    dispatcher = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="zhao-dd")
    cmd_train(EXAMPLE, "text", "label", tmp_path / "example")
    v = versions.register(tmp_path / "example", actor=dispatcher, source="demo:example", activate=True)
    context, page = _page(browser, DESKTOP)
    page.base_url = live_server.url
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    yield {"page": page, "dept": dept, "version": v}
    context.close()
    service.clear_cache()
    purge_test_audit_rows()


def test_hotline_report_shows_the_suggestion_and_is_dispatched_with_it(desk):
    from civicgrid.apps.cases.models import Case, Status
    from civicgrid.apps.categories.models import Category
    from civicgrid.integrations.router.models import RouterCorrection

    office, dept = desk["page"], desk["dept"]
    sign_in(office, "zhao-dd")
    office.goto(f"{office.base_url}/cases/hotline/")
    office.wait_for_selector("#report-map[data-ready='1']")
    office.fill("input[name=hotline_ticket]", "12345-20261129-0101")
    office.fill("input[name=callback_phone]", "13912345678")
    office.fill("input[name=title]", "路边垃圾")
    office.locator("textarea[name=description]").press_sequentially(TEXT, delay=15)
    # The suggestion appears while typing (debounced htmx request to the router's fragment).
    office.wait_for_selector("#router-suggestion [data-suggested-department]")
    box = office.locator("#router-suggestion")
    assert box.locator("[data-suggested-department]").inner_text() == "区城管局"
    assert "置信度" in box.locator("[data-suggested-confidence]").inner_text()
    assert box.locator("[data-top3] li").count() == 3
    office.screenshot(path=f"{SHOTS}/civicgrid-router-hotline.png", full_page=True)
    # Place it by a click on the map inside the grid, then register.
    x, y = office.evaluate("""() => {
        const map = document.querySelector('form[data-report]').civicgrid.map;
        const p = map.latLngToContainerPoint([40.01, 113.21]);
        return [p.x, p.y];
    }""")
    office.locator("#report-map").click(position={"x": x, "y": y})
    office.wait_for_selector("[data-located][data-state='ok']")
    with office.expect_navigation():
        office.click("form[data-intake] button[type=submit]")
    case = Case.objects.get()
    assert case.suggestion["department_id"] == dept.pk and case.status == Status.REPORTED
    # The case page shows the router's panel; accept, then the dispatch form starts with the suggestion.
    office.wait_for_selector("[data-router-panel]")
    assert office.locator("[data-router-panel] [data-suggested-department]").inner_text() == "区城管局"
    # 立案 needs the category the caller did not give: the form asks for it (pre-chosen when the router knows it)
    _open(office, "accept")
    chosen = office.locator("form[data-action-form='accept'] select[name=category]")
    if not chosen.input_value():
        chosen.select_option(str(Category.objects.get(code="06001").pk))
    take(office, "accept")
    _open(office, "dispatch")
    select = office.locator("form[data-action-form='dispatch'] select[name=department]")
    assert select.input_value() == str(dept.pk)
    take(office, "dispatch")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.department_id == dept.pk and not case.auto_dispatched
    assert not RouterCorrection.objects.exists()
    office.screenshot(path=f"{SHOTS}/civicgrid-router-dispatched.png", full_page=True)
    # The router page: the live version and the threshold.
    office.goto(f"{office.base_url}/router/")
    assert office.locator("[data-active-version]").inner_text() == desk["version"].version
    assert office.locator("[data-threshold]").get_attribute("data-threshold") == "1.01"
    assert office.errors == [], office.errors


def _open(page, action: str) -> None:
    details = page.locator(f"details[data-action='{action}']")
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()


def take(page, action: str) -> None:
    """Open an action's form (or find its button) on the case page and confirm it as it stands."""
    _open(page, action)
    with page.expect_navigation():
        page.locator(f"form[data-action-form='{action}'] button[type=submit]").click()
    page.wait_for_selector("h1 [data-status]")


def test_the_panel_says_whether_the_ticket_will_be_dispatched_as_the_form_fills_in(desk, settings):
    """With auto-dispatch on, the panel follows the form: no category, no promise (立案 would be refused);
    a category but no point, nothing the place decides; located in the grid, the promise."""
    from civicgrid.apps.categories.models import Category

    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    office = desk["page"]
    sign_in(office, "zhao-dd")
    office.goto(f"{office.base_url}/cases/hotline/")
    office.wait_for_selector("#report-map[data-ready='1']")
    office.fill("input[name=title]", "路边垃圾")
    office.locator("textarea[name=description]").press_sequentially(TEXT, delay=15)
    office.wait_for_selector("#router-suggestion [data-outlook='held']")
    assert "未确定事项分类" in office.locator("#router-suggestion [data-outlook]").inner_text()
    office.locator("select[name=category]").select_option(str(Category.objects.get(code="06001").pk))
    office.wait_for_selector("#router-suggestion [data-outlook='unknown']")
    x, y = office.evaluate("""() => {
        const map = document.querySelector('form[data-report]').civicgrid.map;
        const p = map.latLngToContainerPoint([40.01, 113.21]);
        return [p.x, p.y];
    }""")
    office.locator("#report-map").click(position={"x": x, "y": y})
    office.wait_for_selector("#router-suggestion [data-outlook='auto']")
    assert "登记后将自动派遣" in office.locator("#router-suggestion [data-outlook]").inner_text()
    assert office.errors == [], office.errors

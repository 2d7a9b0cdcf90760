"""Keyboard and screen-reader use of the hazard pages and the maps in Chromium: 查看完整号码 moves the focus to the
number it reveals (as 回访 does on a case) and says a refusal beside the button; the hazard register's map points
are named links that Enter opens; the region map's paths stay out of the Tab order, its children being links in the
list below it."""

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_hazard_buttons_reach import district, office, open_hazard  # noqa: F401
from tests.browser.test_materials import depot  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]


def test_the_revealed_number_takes_the_focus(office, district):  # noqa: F811
    from civicgrid.foundation.audit.models import AuditEntry

    sign_in(office, "liu-jd")
    open_hazard(office, district["mine"])
    office.focus("[data-reveal]")
    office.keyboard.press("Enter")
    office.wait_for_function("() => document.activeElement.matches('.contact-result')")
    assert "13912345678" in office.evaluate("() => document.activeElement.textContent")
    assert office.locator("#owner-phone").inner_text() == "13912345678"
    assert AuditEntry.objects.filter(action="hazards.reveal_phone").count() == 1


def test_a_refused_reveal_is_said_beside_the_button(office, district):  # noqa: F811
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.audit.models import AuditEntry

    sign_in(office, "liu-jd")
    open_hazard(office, district["mine"])
    Grant.objects.filter(user__username="liu-jd").delete()  # no longer theirs to reveal
    office.focus("[data-reveal]")
    office.keyboard.press("Enter")
    note = office.locator("[data-reveal] + [data-reveal-error][role=alert]")
    note.wait_for()
    assert note.inner_text().strip()
    assert office.locator("#owner-phone").inner_text() == "139****5678"
    assert AuditEntry.objects.filter(action="hazards.reveal_phone").count() == 0


def test_a_hazard_map_point_is_a_named_link_opened_by_enter(office, district):  # noqa: F811
    sign_in(office, "liu-jd")
    office.goto(f"{office.base_url}/hazards/")
    office.wait_for_selector("#hazard-map[data-ready='1'] path.leaflet-interactive")
    mine = district["mine"]
    path = office.locator(f"#hazard-map path[data-hazard='{mine.code}']")
    assert path.get_attribute("tabindex") == "0" and path.get_attribute("role") == "link"
    assert path.get_attribute("aria-label") == f"{mine.code} {mine.name}（一般隐患，已登记）"
    office.focus("#hazard-map")
    for _ in range(4):  # from the map, Tab reaches its points
        office.keyboard.press("Tab")
        if office.evaluate("() => document.activeElement.dataset.hazard") == mine.code:
            break
    assert office.evaluate("() => document.activeElement.dataset.hazard") == mine.code
    office.keyboard.press("Enter")
    office.wait_for_url(f"**/hazards/{mine.pk}/")


def test_the_region_map_paths_are_out_of_the_tab_order_and_listed_below(office, district):  # noqa: F811
    sign_in(office, "liu-jd")
    office.goto(f"{office.base_url}/regions/140213/")
    office.wait_for_selector("#region-map[data-ready='1'] path.region-child")
    codes = office.locator("#region-map path.region-child").evaluate_all("ps => ps.map(p => p.dataset.code)")
    assert codes
    # Zoomed out, the names collide and show on hover only: each such path gets Leaflet's focus listeners, and
    # Chromium puts it in the Tab order (unnamed to Enter) whatever its tabIndex says. Walk the Tab order.
    for _ in range(3):
        office.click("#region-map .leaflet-control-zoom-out")
        office.wait_for_timeout(400)  # the zoom animation, then the labels placed again
    office.focus("#region-map")
    stops = []
    for _ in range(len(codes) + 2):
        office.keyboard.press("Tab")
        stops.append(office.evaluate("() => document.activeElement.tagName + ' ' + "
                                     "(document.activeElement.getAttribute('aria-label') || '')"))
    assert stops[:2] == ["A Zoom in", "A Zoom out"], stops
    assert not any(s.lower().startswith("path") for s in stops), stops
    for code in codes:  # the keyboard's way to each: its link in 下级区域
        assert office.locator(f"table[data-model='regions.region'] a[href$='/regions/{code}/']").count() == 1


def test_a_warehouse_on_the_map_is_a_named_link_opened_by_enter(office, depot):  # noqa: F811
    from civicgrid.apps.materials.models import Warehouse

    sign_in(office, depot.username)
    office.goto(f"{office.base_url}/materials/")
    office.wait_for_selector("#materials-map[data-ready='1']")
    path = office.locator("#materials-map path[data-code='WH-050']")
    assert path.get_attribute("tabindex") == "0" and path.get_attribute("role") == "link"
    assert path.get_attribute("aria-label") == "永泰街道物资库"
    path.focus()
    office.keyboard.press("Enter")
    office.wait_for_url(f"**/materials/warehouses/{Warehouse.objects.get(code='WH-050').pk}/")

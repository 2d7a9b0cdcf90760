"""A resident's report map on a phone: the district's public outline is drawn (the tester saw a grey box, the page
having no map data for an account without the region pages), it starts at the resident's community, and a tap
puts a marker where the finger was and fills in the coordinates, inside the district or outside it."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GRID, district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

MAP = "#report-map"


@pytest.fixture
def resident_on_phone(phone_page, district):
    """A resident of GRID on a phone that gives no GPS (the point comes from the map), with the report page open
    and its map drawn."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.regions.outline import forget_outline
    from civicgrid.testing.builders import user_with

    forget_outline()
    user_with(Role.RESIDENT, region=district["tree"][GRID], username="li-jm")
    pg = phone_page
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    outline_answers = []
    pg.on("response", lambda r: outline_answers.append(r.status) if "/cases/report/outline/" in r.url else None)
    sign_in(pg, "li-jm")
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector(f"{MAP}[data-ready='1'] path.leaflet-interactive")
    pg.outline_answers = outline_answers
    yield pg
    forget_outline()


def map_state(pg) -> dict:
    return pg.evaluate("""() => {
        const map = document.querySelector('form[data-report]').civicgrid.map;
        const markers = [];
        map.eachLayer((l) => { if (l instanceof L.CircleMarker) markers.push([l.getLatLng().lng, l.getLatLng().lat]); });
        const c = map.getCenter();
        return { markers, center: [c.lng, c.lat], zoom: map.getZoom() };
    }""")


def drawn(pg) -> int:
    """How many of the map's outlines have a shape on the screen (a path with more than the empty "M0 0")."""
    return pg.eval_on_selector_all(f"{MAP} svg path.leaflet-interactive",
                                   "ps => ps.filter((p) => /^M-?[0-9.]+ -?[0-9.]+L/.test(p.getAttribute('d') || '')).length")


def pixel_of(pg, lng: float, lat: float) -> dict:
    """Where a point is on the map, in the map element's own pixels."""
    return pg.evaluate(f"""() => {{
        const p = document.querySelector('form[data-report]').civicgrid.map.latLngToContainerPoint([{lat}, {lng}]);
        return {{ x: p.x, y: p.y }};
    }}""")


def test_the_map_draws_the_district_its_streets_and_communities_for_a_resident(resident_on_phone):
    pg = resident_on_phone
    assert pg.outline_answers == [200]
    # one SVG path per region of the outline: 4 communities, 2 streets, 1 district
    assert pg.locator(f"{MAP} svg path.leaflet-interactive").count() == 7
    # the map starts at the resident's community (113.20–113.24, 40.00–40.04), zoomed in on it, and draws it
    state = map_state(pg)
    assert 113.20 < state["center"][0] < 113.24 and 40.00 < state["center"][1] < 40.04, state
    assert state["zoom"] >= 12 and state["markers"] == []
    assert drawn(pg) >= 1
    # zoomed out to the whole district, every outline is drawn (Leaflet leaves a path outside the view empty)
    pg.evaluate("""() => { const map = document.querySelector('form[data-report]').civicgrid.map;
                           map.setView([40.08, 113.28], 11, { animate: false }); }""")
    assert drawn(pg) == 7
    # the hint says what a resident can do: no address picker on this page, none offered
    assert pg.inner_text("[data-map-hint]") == "也可以在地图上点选位置。"
    assert pg.locator("[data-building-search]").count() == 0
    assert pg.errors == []


def test_a_tap_inside_the_grid_puts_a_marker_there_and_fills_in_the_point(resident_on_phone):
    pg = resident_on_phone
    pg.locator(MAP).tap(position=pixel_of(pg, 113.21, 40.01))
    pg.wait_for_selector("[data-located][data-state='ok']")
    lng, lat = float(pg.input_value("input[name=lng]")), float(pg.input_value("input[name=lat]"))
    assert lng == pytest.approx(113.21, abs=2e-4) and lat == pytest.approx(40.01, abs=2e-4)
    assert map_state(pg)["markers"] == [[pytest.approx(lng, abs=1e-6), pytest.approx(lat, abs=1e-6)]]
    assert pg.locator(f"{MAP} path.leaflet-interactive[stroke='#b4232a'][fill='#b4232a']").count() == 1
    assert "永泰社区1第1网格" in pg.inner_text("[data-located]")
    assert pg.errors == []


def test_a_tap_outside_the_district_shows_where_it_was_and_offers_no_address_picker(resident_on_phone):
    """West of the community is outside the district: the marker still shows the tap, and the line under the map
    says to tap inside the district, naming no address picker (the resident has none)."""
    pg = resident_on_phone
    # On the map, some way from the district's western edge (113.20): a phone moves a tap close to a line onto it.
    at = pixel_of(pg, 113.19, 40.02)
    assert at["x"] > 10
    pg.locator(MAP).tap(position=at)
    pg.wait_for_selector("[data-located][data-state='bad']")
    lng = float(pg.input_value("input[name=lng]"))
    assert lng < 113.20
    assert lng == pytest.approx(113.19, abs=5e-4)
    assert map_state(pg)["markers"] == [[pytest.approx(lng, abs=1e-6), pytest.approx(40.02, abs=5e-4)]]
    text = pg.inner_text("[data-located]")
    assert "不在本区范围内" in text and "请在地图上点选本区内的位置。" in text and "按地址选择" not in text
    assert pg.errors == []

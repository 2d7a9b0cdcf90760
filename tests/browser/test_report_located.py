"""The located-grid line under the report forms' map keeps its height (`.located` in `ui/civicgrid.css`).

The line reads 尚未定位, then 正在确认所在网格… (one line) while the server is asked, then the grid's path (two
lines on a phone or in the desk form's column). Editing a coordinate and going straight for the button is one
click: its mousedown ends the editing, the change asks the server again and the line drops to one line, so
without a fixed height the button jumps up under the pointer, the mouseup lands beside it and the report is not
sent. Here the server's answer is held while the click happens, as on a slow connection.
"""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import re

import pytest

from civicgrid.testing.browser import DESKTOP, PHONE, _page, browser_db, purge_test_audit_rows, sign_in
from tests.browser.test_case_loop import GPS, district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

LOCATE = "**/cases/report/locate/**"
MOVED_LAT = "40.0120"  # still inside the grid
SUBMIT = "form[data-report] button[type=submit]"


@pytest.fixture(params=["desk", "phone"])
def form_page(request, browser, live_server, district):
    """The desk web form (登记) on a desktop, or the phone report page (提交上报) on a handset, signed in as the
    grid worker, with the point located in the grid."""
    if request.param == "desk":
        context, pg = _page(browser, DESKTOP)
    else:
        context, pg = _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                            geolocation=GPS, permissions=["geolocation"])
    pg.base_url = live_server.url
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    sign_in(pg, "wang-wg")
    if request.param == "desk":
        pg.goto(f"{pg.base_url}/cases/new/")
        pg.fill("input[name=title]", "小区门口垃圾堆放")
        pg.fill("input[name=lng]", str(GPS["longitude"]))
        pg.fill("input[name=lat]", str(GPS["latitude"]))
        pg.locator("input[name=lat]").dispatch_event("change")
    else:
        pg.goto(f"{pg.base_url}/cases/report/")
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.fill("textarea[name=description]", "小区门口垃圾堆放")
    pg.wait_for_selector("[data-located][data-state='ok']")
    yield request.param, pg
    context.close()
    purge_test_audit_rows()


def hold_locate(pg) -> list:
    """Hold the page's grid lookups until the test lets them go (returns the held routes)."""
    held = []
    pg.route(LOCATE, lambda route: held.append(route))
    return held


def release(pg, held: list) -> None:
    for _ in range(100):  # the route's handler runs as Playwright reads the browser's events
        if held:
            break
        pg.wait_for_timeout(20)
    assert held, "the page did not ask for the grid"
    for route in held:
        route.continue_()


def edit_latitude(pg) -> None:
    """Type a new latitude and leave the caret in the field: the change is sent when the field loses focus."""
    pg.fill("input[name=lat]", MOVED_LAT)
    assert pg.evaluate("() => document.activeElement.name") == "lat"


def button_offset(pg) -> float:
    """How far the button's top lies below the located line's top (what moves when the line's height does;
    independent of scrolling and of anything shown above the line)."""
    return pg.evaluate(f"""() => document.querySelector({SUBMIT!r}).getBoundingClientRect().top
                                 - document.querySelector('[data-located]').getBoundingClientRect().top""")


def test_the_button_stays_put_while_the_grid_is_asked_and_when_it_arrives(form_page):
    _, pg = form_page
    located = pg.locator("[data-located]")
    assert located.inner_text().count("›") == 2  # the grid's path (street › community › grid): two lines here
    located_lines = pg.evaluate("""() => { const l = document.querySelector('[data-located]');
        const r = document.createRange(); r.selectNodeContents(l);
        return new Set(Array.from(r.getClientRects(), (x) => Math.round(x.top))).size; }""")
    assert located_lines == 2
    before = button_offset(pg)
    held = hold_locate(pg)
    edit_latitude(pg)
    pg.locator("input[name=lat]").blur()
    pg.wait_for_selector("[data-located][data-state='']")
    assert located.inner_text() == "正在确认所在网格…"
    assert button_offset(pg) == before  # one line of text, the same height
    release(pg, held)
    pg.wait_for_selector("[data-located][data-state='ok']")
    assert button_offset(pg) == before
    assert pg.errors == []


# The desk form only: the phone page is scrolled this far down, and Chromium's scroll anchoring keeps the button
# under the pointer there even when the line shrinks (its layout is checked above).
@pytest.mark.parametrize("form_page", ["desk"], indirect=True)
def test_the_first_click_after_editing_a_coordinate_sends_the_report(form_page):
    """Given a coordinate being edited, when 登记 is clicked once near its lower edge (the mousedown ends the
    editing and the line drops to 正在确认所在网格…), then the click still lands on it: the report is sent."""
    from civicgrid.apps.cases.models import Case

    _, pg = form_page
    held = hold_locate(pg)
    edit_latitude(pg)
    pg.locator(SUBMIT).scroll_into_view_if_needed()  # scrolling keeps the caret in the field
    assert pg.evaluate("() => document.activeElement.name") == "lat"
    box = pg.locator(SUBMIT).bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 3)
    release(pg, held)
    pg.wait_for_url(re.compile(r"/cases/(?!new/)[^/]+/$"), timeout=5_000)  # the new case's page
    case = Case.objects.get()
    assert case.lat == pytest.approx(float(MOVED_LAT)) and case.description == "小区门口垃圾堆放"
    assert pg.errors == []

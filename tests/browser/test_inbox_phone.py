"""The inbox and 我的上报 on a 390 px phone: a message carrying a long follow link wraps inside its cell, so the
sentence after the link (and the link itself) stays on screen and the table never scrolls sideways."""
# ruff: noqa: F811  (the browser fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in

pytestmark = [pytest.mark.browser, browser_db]

LINK = "http://grid.example.gov.cn/follow/" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdefgh" + "/"
BODY = f"您反映的问题（案卷号 20261201000123）已办结，欢迎评价。当前状态：已结案。 查询与评价：{LINK} 请您对办理结果进行评价。"

OVERFLOW = """(selector) => {
    const table = document.querySelector(selector);
    const wrap = table.closest('.table-wrap') || table.parentElement;
    const cells = [...table.querySelectorAll('td')].map((td) => td.getBoundingClientRect().right);
    return {viewport: document.documentElement.clientWidth, page: document.documentElement.scrollWidth,
            wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth,
            tableRight: table.getBoundingClientRect().right, cellRight: Math.max(...cells)};
}"""


def assert_no_sideways_overflow(pg, selector: str) -> None:
    box = pg.evaluate(OVERFLOW, selector)
    assert box["page"] <= box["viewport"], box
    assert box["wrapScroll"] <= box["wrapClient"], box
    assert box["tableRight"] <= box["viewport"] and box["cellRight"] <= box["viewport"], box


def test_a_long_follow_link_wraps_in_the_phones_inbox(phone_page):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.notify.services import notify
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    resident = user_with(Role.RESIDENT, region=tree["140213050001001"], username="zhou-jm")
    notify(resident, "status", "案卷进展：20261201000123", BODY)
    pg = phone_page
    assert pg.viewport_size == {"width": 390, "height": 844}
    sign_in(pg, "zhou-jm")
    pg.goto(f"{pg.base_url}/inbox/")
    pg.wait_for_selector("table[data-model='notify.notification'] tr[data-oid]")
    assert_no_sideways_overflow(pg, "table[data-model='notify.notification']")
    # the sentence after the link is on screen, inside the cell
    cell = pg.locator("td", has_text="请您对办理结果进行评价")
    box = cell.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


def test_my_reports_fits_the_phone(phone_page):
    from civicgrid.apps.cases.models import Case, CaseReporter
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    grid = tree["140213050001001"]
    resident = user_with(Role.RESIDENT, region=grid, username="zhou-jm")
    case = Case.objects.create(number="2026120100012", title="小区门口" + "垃圾" * 30, source="public",
                               status="reported", lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid,
                               region_code=grid.code, reported_at="2026-12-01T08:00:00+08:00")
    CaseReporter.objects.create(case=case, original_case=case, user=resident,
                                follow_token="phone-fit-token-0123456789abcdef")
    pg = phone_page
    sign_in(pg, "zhou-jm")
    pg.click("ul.tiles a[href='/cases/mine/']")  # from the home page
    pg.wait_for_selector("table[data-my-reports] tr[data-oid]")
    assert_no_sideways_overflow(pg, "table[data-my-reports]")
    pg.click("a[data-follow='2026120100012']")
    pg.wait_for_url(f"{pg.base_url}/follow/phone-fit-token-0123456789abcdef/")
    assert "2026120100012" in pg.content()

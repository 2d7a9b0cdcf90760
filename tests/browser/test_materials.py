"""A street officer finds the emergency materials in the menu, sees the warehouses on the map, receives and
issues sandbags at the street warehouse (a draw beyond the stock is refused and changes nothing), sees the
street fall below its target on the shortages page, and finds the nearest warehouses for a point; the same on a
phone-sized screen."""

from __future__ import annotations

import os

import pytest

from civicgrid.testing.browser import browser_db, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")


@pytest.fixture
def depot():
    from civicgrid.apps.materials import services
    from civicgrid.apps.materials.models import Group, MaterialItem, Warehouse
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    MaterialItem.objects.create(code="sandbag", name="编织袋/沙袋", unit="条", group=Group.RESCUE, grade="A")
    for code, name, region, lat, lng in (("WH-D", "区防汛物资库", "140213", 40.08, 113.28),
                                         ("WH-050", "永泰街道物资库", "140213050", 40.04, 113.24),
                                         ("WH-050001", "永泰社区1储备点", "140213050001", 40.02, 113.22),
                                         ("WH-051", "古城街道物资库", "140213051", 40.04, 113.32)):
        Warehouse(code=code, name=name, region=tree[region], lat=lat, lng=lng).save()
    services.receive(actor=None, warehouse="WH-D", item="sandbag", quantity=5000, reason="入库")
    services.receive(actor=None, warehouse="WH-051", item="sandbag", quantity=9000, reason="入库")
    services.set_target(actor=None, street="140213050", item="sandbag", min_quantity=2000)
    user = user_with(Role.STREET_STAFF, region=tree["140213050"], username="yongtai-materials")
    user.display_name = "永泰街道 物资员"
    user.save()
    return user


def test_receive_issue_shortage_and_nearest(page, depot):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, depot.username)
    page.click("nav#nav a[data-nav='materials']")
    page.wait_for_selector("#materials-map[data-ready='1']")
    # Own street, its community and the district warehouse (read-only); not the other street's.
    assert page.locator("path.materials-warehouse").count() == 3
    assert page.locator("path[data-code='WH-051']").count() == 0

    page.click("table.list a:text('永泰街道物资库')")
    form = page.locator("[data-testid=movement-form]")
    form.locator("select[name=kind]").select_option("in")
    form.locator("input[name=quantity]").fill("2100")
    form.locator("input[name=reason]").fill("汛前采购入库")
    form.locator("button[type=submit]").click()
    assert "结存 2100" in page.locator(".messages").inner_text()

    form.locator("select[name=kind]").select_option("out")
    form.locator("input[name=quantity]").fill("3000")
    form.locator("input[name=reason]").fill("加固堤防")
    form.locator("button[type=submit]").click()
    assert "库存不足" in page.locator(".messages").inner_text()
    assert page.locator("[data-testid=holdings] tr[data-item=sandbag] [data-testid=usable]").inner_text() == "2100 条"

    form.locator("select[name=kind]").select_option("issue")
    form.locator("input[name=quantity]").fill("300")
    form.locator("input[name=incident_ref]").fill("XQ-2026-0601")
    form.locator("input[name=reason]").fill("御河路低洼积水封堵")
    form.locator("button[type=submit]").click()
    assert page.locator("[data-testid=holdings] tr[data-item=sandbag] [data-testid=usable]").inner_text() == "1800 条"
    assert "XQ-2026-0601" in page.locator("[data-testid=movements]").inner_text()
    page.screenshot(path=f"{SHOTS}/civicgrid-materials-warehouse.png", full_page=True)

    page.click("nav.breadcrumb a:text('应急物资')")
    page.click("a:text('储备缺口与临期物资')")
    row = page.locator("[data-testid=shortages] tbody tr").first
    assert "永泰街道" in row.inner_text() and "200" in row.inner_text()

    # From the shortage: warehouses that can lend, from the street's centre, its own store left out.
    page.click("[data-testid=shortages] a:text('查找可调拨仓库')")
    page.wait_for_selector("#materials-map[data-ready='1']")
    assert "为永泰街道调拨" in page.locator("[data-street]").inner_text()
    names = page.locator("[data-testid=nearest] tbody tr td:nth-child(2) a").all_inner_texts()
    assert names == ["区防汛物资库"]

    # The finder on its own, for a point: every warehouse holding enough, nearest first.
    page.goto(f"{page.base_url}/materials/nearest/?item=sandbag&quantity=200")
    finder = page.locator("[data-testid=nearest-form]")
    finder.locator("input[name=lat]").fill("40.041")
    finder.locator("input[name=lng]").fill("113.241")
    finder.locator("button[type=submit]").click()
    page.wait_for_selector("#materials-map[data-ready='1']")
    names = page.locator("[data-testid=nearest] tbody tr td:nth-child(2) a").all_inner_texts()
    assert names == ["永泰街道物资库", "区防汛物资库"]
    page.screenshot(path=f"{SHOTS}/civicgrid-materials-nearest.png", full_page=True)
    assert errors == []


def test_phone_sized_warehouse_page(phone_page, depot):
    sign_in(phone_page, depot.username)
    phone_page.goto(f"{phone_page.base_url}/materials/")
    phone_page.wait_for_selector("#materials-map[data-ready='1']")
    phone_page.click("table.list a:text('永泰街道物资库')")
    phone_page.wait_for_url("**/materials/warehouses/*/")
    phone_page.wait_for_selector("[data-testid=movement-form]", state="visible")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width
    phone_page.screenshot(path=f"{SHOTS}/civicgrid-materials-phone.png", full_page=True)

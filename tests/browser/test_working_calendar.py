"""On a phone, the system administrator pastes a year's holiday schedule into 工作日历 and sees it in the year's
month grids, without sideways scrolling."""

from __future__ import annotations

import os

import pytest

from civicgrid.testing.browser import browser_db, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")


@pytest.fixture
def admin(fresh_calendar):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    return user_with(Role.SYSTEM_ADMIN, username="calendar-admin")


def test_a_schedule_pasted_on_a_phone(phone_page, admin, purge_audit_rows):
    page = phone_page
    sign_in(page, admin.username)
    page.goto(f"{page.base_url}/calendar/?year=2027")
    assert page.locator("[data-calendar-status='provisional']").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("textarea[name=text]", "2027-02-05 至 2027-02-11 春节\n2027-02-13 调休上班")
    page.check("input[name=confirm]")
    page.click("[data-schedule-form] button[type=submit]")
    page.wait_for_selector("[data-calendar-status='confirmed']")
    assert "重新计算截止时间" in page.locator("ul.messages").inner_text()
    assert page.locator("td[data-date='2027-02-08']").get_attribute("data-kind") == "holiday"
    assert page.locator("td[data-date='2027-02-13']").get_attribute("data-kind") == "makeup"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=f"{SHOTS}/civicgrid-phone-calendar.png", full_page=True)

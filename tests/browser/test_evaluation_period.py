"""综合评价 over a date range, in Chromium: the page opens on this month (prefilled), the leader types a start and
an end date and presses 统计, and gets the range's table — not 「month 与 start/end 只能二选一」."""

from __future__ import annotations

import os
from datetime import datetime, time

import pytest

from civicgrid.testing.browser import browser_db, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")
GRID = "140213050001001"  # 永泰街道


@pytest.fixture
def leader():
    """The builders' tree, a district leader, and two cases of 永泰街道 reported in May 2026 (none this month)."""
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case, Status
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    grid = tree[GRID]
    user = user_with(Role.LEADER, region=tree["140213"], username="eval-leader")
    zone = timezone.get_current_timezone()
    for n, day in enumerate((10, 20), start=1):
        at = datetime.combine(datetime(2026, 5, day).date(), time(10), tzinfo=zone)
        Case.objects.create(number=f"20260510{n:05d}", title="占道经营", source="grid_worker", status=Status.ACCEPTED,
                            lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid, region_code=GRID,
                            reported_at=at, accepted_at=at, accepted_on_time=True, accepted_by=user)
    return user


def cell(page, street: str, header: str) -> str:
    headers = page.locator("table.evaluation thead th").all_inner_texts()
    row = page.locator("table.evaluation tbody tr", has_text=street)
    return row.locator("td").all_inner_texts()[headers.index(header)]


def test_a_date_range_is_counted_without_clearing_the_month_first(page, leader):
    from django.utils import timezone

    sign_in(page, leader.username)
    page.goto(f"{page.base_url}/evaluation/?subject=street")
    this_month = f"{timezone.localdate():%Y-%m}"
    assert page.input_value("input[name=month]") == this_month  # prefilled
    assert page.is_checked("input[name=period][value=month]")
    page.fill("input[name=start]", "2026-05-01")
    page.fill("input[name=end]", "2026-05-31")
    assert page.is_checked("input[name=period][value=range]")  # typing a date chose the range
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/evaluation/?**start=2026-05-01**")
    assert page.locator("p.error").count() == 0
    assert "2026-05-01 — 2026-05-31 上报的案件" in page.locator("p.hint").first.inner_text()
    assert cell(page, "永泰街道", "所辖网格立案数") == "2"  # the cases filed in its grids
    assert page.input_value("input[name=month]") == "" and page.is_checked("input[name=period][value=range]")
    page.screenshot(path=f"{SHOTS}/civicgrid-evaluation-range.png", full_page=True)

    # and back to a month: choosing one clears the dates; May's month counts the same two cases
    page.fill("input[name=month]", "2026-05")
    assert page.is_checked("input[name=period][value=month]") and page.input_value("input[name=start]") == ""
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/evaluation/?**month=2026-05**")
    assert "2026-05-01 — 2026-05-31 上报的案件" in page.locator("p.hint").first.inner_text()
    assert page.input_value("input[name=start]") == "" and page.locator("p.error").count() == 0

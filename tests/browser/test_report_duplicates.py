"""The phone report page offers the open case at the same spot before the report is sent: the live panel asks
with the category and the GPS point, and asks again when either changes."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, district  # noqa: F401
from tests.browser.test_report_phone import open_report

pytestmark = [pytest.mark.browser, browser_db]


def test_the_panel_names_the_open_case_of_the_category_at_the_gps_point(phone, district):
    from civicgrid.apps.cases.services import submit_case
    from civicgrid.apps.categories.models import Category

    garbage = Category.objects.get(name="暴露垃圾")
    first = submit_case(actor=district["worker"], title="小区门口垃圾堆放", description="小区门口垃圾堆放多天",
                        lng=GPS["longitude"], lat=GPS["latitude"], category=garbage.pk, source="grid_worker")[0]
    sign_in(phone, "wang-wg")
    open_report(phone)  # the GPS point is located
    phone.select_option("select[name=category]", label="暴露垃圾")
    phone.fill("textarea[name=description]", "门口垃圾没人清运")
    listed = phone.locator(f"#router-suggestion [data-nearby-case='{first.number}']")
    listed.wait_for()
    assert first.title in listed.inner_text()
    # Another category of the class, with unlike words: no longer offered once the category changes.
    phone.select_option("select[name=category]", label="道路不洁")
    phone.fill("textarea[name=description]", "路面有油污")
    phone.wait_for_selector("#router-suggestion [data-nearby]", state="detached")
    assert phone.errors == []

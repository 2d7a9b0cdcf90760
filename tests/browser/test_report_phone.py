"""The phone report page in Chromium, beyond the first report: two tabs with one draft, 继续上报 after a
self-handled report, the follow link with its copy button, and the English page's punctuation."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import re
import time

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, GRID, district, photo  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

ELSEWHERE = {"longitude": 113.2150, "latitude": 40.0150}  # also inside the grid, away from GPS


def open_report(pg) -> None:
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector("[data-located][data-state='ok']")


def key_of(pg) -> str:
    return pg.input_value("input[name=idempotency_key]")


def markers(pg) -> list:
    """The red point markers on the report map (the region outlines are not circle markers)."""
    return pg.evaluate("""() => {
        const found = [];
        document.querySelector('form[data-report]').civicgrid.map.eachLayer((l) => {
            if (l instanceof L.CircleMarker) found.push([l.getLatLng().lng, l.getLatLng().lat]);
        });
        return found;
    }""")


def two_tabs_with_one_draft(phone):
    """Tab A with a typed draft, tab B opened after it (the same browser, so the same stored draft)."""
    tab_a = phone
    sign_in(tab_a, "wang-wg")
    open_report(tab_a)
    tab_a.select_option("select[name=category]", label="暴露垃圾")
    tab_a.fill("textarea[name=description]", "小区门口垃圾堆放")
    tab_b = tab_a.context.new_page()
    tab_b.base_url = tab_a.base_url
    open_report(tab_b)
    return tab_a, tab_b


def test_the_same_draft_sent_from_two_tabs_makes_one_case_and_the_second_tab_shows_it(phone, district):
    """Given an unsent draft open in two tabs (tab B restored it), when both send it unchanged, then the server
    makes one case and answers tab B with it: B shows that case's number as a repeated submission."""
    from civicgrid.apps.cases.models import Case

    tab_a, tab_b = two_tabs_with_one_draft(phone)
    assert tab_b.input_value("textarea[name=description]") == "小区门口垃圾堆放"  # the draft is restored
    answers = []
    for tab in (tab_a, tab_b):
        tab.on("response", lambda r: answers.append(r.status) if r.url.endswith("/cases/report/submit/") else None)
    tab_a.click("button[data-submit]")
    tab_a.wait_for_selector("#report-done:not([hidden])")
    tab_b.click("button[data-submit]")
    tab_b.wait_for_selector("#report-done:not([hidden])")
    assert answers == [201, 200]
    case = Case.objects.get()
    assert tab_a.locator("[data-done-number]").inner_text() == case.number
    assert tab_b.locator("[data-done-number]").inner_text() == case.number
    assert tab_b.locator("[data-done-title]").inner_text() == "上报成功（重试的提交已合并为同一案卷）"
    assert tab_b.locator("[data-done-follow]").inner_text().endswith(
        f"/follow/{case.reporters.get().follow_token}/")
    assert tab_a.errors == []


def test_a_draft_edited_into_another_report_in_the_second_tab_makes_a_case_of_its_own(phone, district):
    """Given two tabs holding one draft's key, when tab A sends it and tab B sends a different text, then the
    server's 409 is not taken for success: B's report goes again under a fresh key and becomes a case of its
    own."""
    from civicgrid.apps.cases.models import Case

    tab_a, tab_b = two_tabs_with_one_draft(phone)
    key_a = key_of(tab_a)
    tab_a.click("button[data-submit]")
    tab_a.wait_for_selector("#report-done:not([hidden])")
    first = tab_a.locator("[data-done-number]").inner_text()

    answers = []
    tab_b.on("response", lambda r: answers.append(r.status) if r.url.endswith("/cases/report/submit/") else None)
    tab_b.fill("textarea[name=description]", "路灯不亮，晚上很黑")
    assert key_of(tab_b) == key_a  # an unsent draft keeps its key while edited: the server tells them apart
    tab_b.click("button[data-submit]")
    tab_b.wait_for_selector("#report-done:not([hidden])")
    second = tab_b.locator("[data-done-number]").inner_text()
    assert answers == [409, 201]
    assert second != first
    assert tab_b.locator("[data-done-title]").inner_text() == "上报成功"
    assert Case.objects.count() == 2
    assert Case.objects.get(number=second).description == "路灯不亮，晚上很黑"
    assert tab_a.errors == []


def test_two_tabs_opened_without_a_draft_are_two_reports(phone, district):
    """Given two report pages opened with no draft stored (another browser profile, or storage cleared), when
    both send the same text, then they are two reports: each page made its own key."""
    from civicgrid.apps.cases.models import Case

    sign_in(phone, "wang-wg")
    open_report(phone)
    other = phone.context.new_page()
    other.base_url = phone.base_url
    phone.evaluate("() => localStorage.clear()")
    open_report(other)
    assert key_of(other) != key_of(phone)
    for tab in (phone, other):
        tab.select_option("select[name=category]", label="暴露垃圾")
        tab.fill("textarea[name=description]", "小区门口垃圾堆放")
        tab.click("button[data-submit]")
        tab.wait_for_selector("#report-done:not([hidden])")
    assert Case.objects.count() == 2


def test_reporting_again_after_a_self_handled_report_starts_clean_and_asks_the_gps_again(phone, district, photo):
    """Given a self-handled report sent with before and after photos, when 继续上报 is pressed (the phone has
    moved), then the before/after section is hidden with the box unticked, the old marker is gone and the GPS
    is asked again, so the new report is located at the new point and can be sent."""
    from civicgrid.apps.cases.models import Case

    sign_in(phone, "wang-wg")
    open_report(phone)
    phone.select_option("select[name=category]", label="暴露垃圾")
    phone.fill("textarea[name=description]", "路边垃圾已清理")
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_before]", str(photo))
    phone.set_input_files("input[name=photos_after]", str(photo))
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-done:not([hidden])")
    assert markers(phone) == [[pytest.approx(GPS["longitude"]), pytest.approx(GPS["latitude"])]]

    phone.context.set_geolocation(ELSEWHERE)
    phone.click("button[data-report-again]")
    assert phone.locator("[data-self-handled-photos]").is_hidden()
    assert not phone.is_checked("input[name=self_handled]")
    phone.wait_for_selector("[data-located][data-state='ok']")
    assert float(phone.input_value("input[name=lng]")) == pytest.approx(ELSEWHERE["longitude"])
    assert markers(phone) == [[pytest.approx(ELSEWHERE["longitude"]), pytest.approx(ELSEWHERE["latitude"])]]

    phone.select_option("select[name=category]", label="暴露垃圾")
    phone.fill("textarea[name=description]", "另一处垃圾堆放")
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-done:not([hidden])")
    second = Case.objects.get(number=phone.locator("[data-done-number]").inner_text())
    assert not second.is_self_handled and abs(second.lng - ELSEWHERE["longitude"]) < 1e-5
    assert list(second.attachments.values_list("kind", flat=True)) == []
    assert phone.errors == []


def test_the_follow_link_is_a_link_with_a_copy_button(phone, district):
    sign_in(phone, "wang-wg")
    open_report(phone)
    phone.select_option("select[name=category]", label="暴露垃圾")
    phone.fill("textarea[name=description]", "垃圾堆放")
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-done:not([hidden])")
    link = phone.locator("a[data-done-follow]")
    href = link.get_attribute("href")
    assert "/follow/" in href and href.startswith(phone.base_url) and link.inner_text() == href
    phone.click("button[data-copy-follow]")
    phone.wait_for_selector("[data-copy-status]:has-text('已复制链接')")
    assert phone.evaluate("navigator.clipboard.readText()") == href
    # the follow page (with its QR code) opens from the link
    link.click()
    phone.wait_for_url(href)
    assert phone.locator("img[src$='qr.svg'], img[src$='qr.png']").count() >= 1


def test_english_page_uses_english_punctuation_for_the_located_grid(phone, district):
    from urllib.parse import urlparse

    phone.context.add_cookies([{"name": "django_language", "value": "en",
                                "domain": urlparse(phone.base_url).hostname, "path": "/"}])
    sign_in(phone, "wang-wg")
    open_report(phone)
    line = phone.locator("[data-located]").inner_text()
    assert line.startswith("Grid: ") and "：" not in line
    phone.select_option("select[name=category]", label="暴露垃圾")
    assert "：" not in phone.get_attribute("[data-category-search]", "placeholder")


def test_a_resident_held_back_by_the_rate_limit_is_told_why_and_keeps_the_draft(phone, district, settings):
    """Given a resident whose report would pass the rate limit (here: none left), when the report is sent, then
    the server's 429 is shown as it is (its Chinese message, with the wait) instead of a network problem, the
    draft stays on the phone and nothing is created."""
    from civicgrid.apps.cases.models import Case
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    settings.CIVICGRID_REPORT_BURST = 0  # the door closed: every report waits a minute
    user_with(Role.RESIDENT, region=district["tree"][GRID], username="li-jm")
    sign_in(phone, "li-jm")
    open_report(phone)
    phone.fill("textarea[name=description]", "小区门口垃圾堆放")
    answers = []
    phone.on("response", lambda r: answers.append(r.status) if r.url.endswith("/cases/report/submit/") else None)
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-status:has-text('操作过于频繁')")
    status = phone.locator("#report-status").inner_text()
    assert status == "操作过于频繁，请 60 秒后再试。草稿已保存在手机上，届时自动重试"
    assert answers == [429] and Case.objects.count() == 0
    assert phone.locator("[data-retry-now]").is_visible()
    assert phone.input_value("textarea[name=description]") == "小区门口垃圾堆放"
    assert phone.errors == []


def test_a_position_found_before_the_phone_script_arrives_is_kept(phone, district):
    """Given a slow network, where the GPS answers while the page's phone script is still loading, when the
    report is sent, then it goes with that position: a page opened afresh is not emptied as if Back had put
    a sent report into it (that took the position and the report was refused for lacking one)."""
    from civicgrid.apps.cases.models import Case

    def slow(route):
        time.sleep(1.5)
        route.continue_()

    phone.route(re.compile(r"report-phone[^/]*\.js"), slow)
    sign_in(phone, "wang-wg")
    open_report(phone)
    assert phone.input_value("input[name=lat]") != ""
    phone.select_option("select[name=category]", label="暴露垃圾")
    phone.fill("textarea[name=description]", "小区门口垃圾堆放")
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-done:not([hidden])")
    assert Case.objects.count() == 1

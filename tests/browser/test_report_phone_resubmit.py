"""The phone report page after a report is sent, and after a refused submit (a tester on a phone found both):

- Back to the report page after a report went through showed the form filled again (the browser put the fields
  back) under a fresh key: submitting it made a second case. The page now comes back empty;
- the word on a refused submit stayed on the page while the user corrected the report, and after it went.
"""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

NEED_WHAT = "请选择分类或填写描述"


def open_report(pg) -> None:
    # The live server's first page can take long on a loaded machine (it starts cold): wait longer once.
    pg.goto(f"{pg.base_url}/accounts/login/", timeout=90_000)
    sign_in(pg, "wang-wg")
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector("[data-located][data-state='ok']")


def send(pg, description: str = "小区门口垃圾堆放") -> str:
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.fill("textarea[name=description]", description)
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-done:not([hidden])")
    return pg.locator("[data-done-number]").inner_text()


def status_text(pg) -> str:
    return pg.locator("#report-status").inner_text()


def test_back_to_the_page_after_a_report_went_through_sends_no_second_case(phone, district):
    """Given a report sent from the phone, when the user goes on to another page and comes Back, then the report
    page holds no copy of the sent report: sending the form as it comes back makes no case."""
    from civicgrid.apps.cases.models import Case

    open_report(phone)
    send(phone)
    phone.goto(f"{phone.base_url}/")
    phone.go_back()
    phone.wait_for_selector("[data-located][data-state='ok']")
    assert phone.input_value("textarea[name=description]") == ""
    assert phone.input_value("select[name=category]") == ""
    if phone.locator("#report-form").is_visible():
        phone.click("button[data-submit]")
        phone.wait_for_function(f"() => document.getElementById('report-status').textContent.includes('{NEED_WHAT}')")
    assert Case.objects.count() == 1
    assert phone.errors == []


def test_the_sent_report_leaves_the_form_and_reporting_again_takes_a_new_key(phone, district):
    """Given a report sent, then its form is empty at once (behind the success card, which a back/forward cache
    keeps): sent as it is, nothing goes. 继续上报 gives a new key only then, and the next report is a case of its
    own."""
    from civicgrid.apps.cases.models import Case

    open_report(phone)
    first = send(phone)
    key = phone.input_value("input[name=idempotency_key]")
    assert phone.input_value("textarea[name=description]") == "" and phone.input_value("select[name=category]") == ""
    phone.evaluate("() => document.getElementById('report-form').requestSubmit()")
    phone.wait_for_function(f"() => document.getElementById('report-status').textContent.includes('{NEED_WHAT}')")
    assert Case.objects.count() == 1
    phone.click("button[data-report-again]")
    assert phone.input_value("input[name=idempotency_key]") != key
    assert status_text(phone) == ""
    phone.wait_for_selector("[data-located][data-state='ok']")
    assert send(phone, "另一处垃圾") != first
    assert Case.objects.count() == 2


def test_the_word_on_a_refused_submit_goes_when_the_user_corrects_the_report(phone, district):
    """Given a submit refused (on the phone: nothing chosen; by the server: its refusal), when the user edits the
    report, then the refusal goes; sent corrected, the report goes through with no word of it left."""
    from civicgrid.apps.cases.models import Case

    open_report(phone)
    phone.click("button[data-submit]")
    phone.wait_for_function(f"() => document.getElementById('report-status').textContent.includes('{NEED_WHAT}')")
    phone.fill("textarea[name=description]", "小区门口垃圾堆放")
    assert status_text(phone) == ""
    # the server refuses once (as it would a description it cannot store)
    refusal = {"detail": "「描述」含有不可见的控制字符（NUL），无法保存，请删除该字符后重新提交", "field": "description",
               "code": "invalid"}
    phone.route("**/cases/report/submit/", lambda route: route.fulfill(status=400, json=refusal))
    phone.click("button[data-submit]")
    phone.wait_for_function("() => document.getElementById('report-status').textContent.includes('NUL')")
    phone.unroute("**/cases/report/submit/")
    phone.fill("textarea[name=description]", "小区门口垃圾堆放，已清理")
    assert status_text(phone) == ""
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-done:not([hidden])")
    assert Case.objects.count() == 1
    phone.click("button[data-report-again]")
    assert status_text(phone) == "" and "NUL" not in phone.content()
    assert phone.errors == []

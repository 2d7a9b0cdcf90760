"""Keyboard and screen-reader use of the pages in Chromium: where the focus goes after a refused action, after
回访 reveals the reporter's contact and after the skip link; what the board says on a refresh; the language
switch browsed with the arrow keys; and the Tab order through the report page's map."""

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

ACTIVE = """() => { const a = document.activeElement;
  return {tag: a.tagName, name: a.getAttribute("name"), id: a.id, invalid: a.getAttribute("aria-invalid"),
          describedby: a.getAttribute("aria-describedby"), text: (a.textContent || "").trim().slice(0, 60),
          cls: a.getAttribute("class") || "", form: a.form ? a.form.dataset.actionForm : null}; }"""


def handled_case(district):  # noqa: F811
    """A case reported by the grid worker with a reporter's name, reported back by the department."""
    from civicgrid.apps.cases.services import act, submit_case
    from civicgrid.apps.categories.models import Category

    case = submit_case(actor=district["worker"], title="路边暴露垃圾", description="小区门口垃圾堆放",
                       lng=GPS["longitude"], lat=GPS["latitude"], category=Category.objects.get(code="06001").pk,
                       source="grid_worker")[0]
    case.reporter_name = "张三丰"
    case.save(update_fields=["reporter_name"])
    act(actor=district["dispatcher"], case=case, action="accept")
    act(actor=district["dispatcher"], case=case, action="dispatch", department=district["dept"].pk)
    act(actor=district["handler"], case=case, action="report_back", note="已清运")
    return case


def test_a_refused_action_puts_its_message_beside_the_input_and_the_focus_on_it(page, district):  # noqa: F811
    case = handled_case(district)
    sign_in(page, "wang-wg")
    page.goto(f"{page.base_url}/cases/{case.number}/")
    page.click("details[data-action='rework'] summary")
    page.fill("form[data-action-form='rework'] textarea[name=reason]", "   ")  # passes `required`, empty to the server
    page.click("form[data-action-form='rework'] button[type=submit]")
    page.wait_for_selector("[data-field-error='reason']")
    active = page.evaluate(ACTIVE)
    assert active["tag"] == "TEXTAREA" and active["name"] == "reason" and active["form"] == "rework", active
    assert active["invalid"] == "true"
    message = page.locator(f"#{active['describedby']}")
    assert message.inner_text() == "请填写「原因」"
    # beside the input, inside the open form
    assert page.locator("details[data-action='rework'][open] form [data-field-error='reason']").count() == 1
    case.refresh_from_db()
    assert case.status == "handled"


def test_the_revealed_contact_takes_the_focus(page, district):  # noqa: F811
    case = handled_case(district)
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/cases/{case.number}/")
    page.focus("[data-reveal-contact]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#reporter-contact [data-contact]")
    page.wait_for_function("() => document.activeElement.matches('[data-contact-result]')")
    active = page.evaluate(ACTIVE)
    assert "张三丰" in active["text"], active


def test_a_refused_contact_reveal_is_said_beside_the_button(page, district):  # noqa: F811
    """The refusal note is civicgrid.js's, shared with the hazard page's 查看完整号码."""
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.audit.models import AuditEntry

    case = handled_case(district)
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/cases/{case.number}/")
    before = AuditEntry.objects.count()
    Grant.objects.filter(user__username="zhao-dd").delete()  # no longer theirs to call back
    page.focus("[data-reveal-contact]")
    page.keyboard.press("Enter")
    note = page.locator("#reporter-contact form + [data-reveal-error][role=alert]")
    note.wait_for()
    assert note.inner_text().strip()
    assert "张三丰" not in page.inner_text("#reporter-contact")
    assert AuditEntry.objects.count() == before


def test_a_board_refresh_says_nothing_unless_the_overdue_count_changes(page, district):  # noqa: F811
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/board/")
    assert page.get_attribute("#board-figures", "aria-live") is None
    assert page.locator("[aria-live]:not(#board-announce):not(#board-announce *)").evaluate_all(
        "els => els.filter(e => e.closest('#board-figures, #board-lists')).length") == 0

    def refresh(target: str, url: str):
        """Refresh one partial as its timer does, and wait until the new content is in."""
        page.evaluate("(t) => document.querySelector(t).firstElementChild.dataset.stale = '1'", target)
        page.evaluate("([t, u]) => htmx.ajax('GET', u, {target: t, swap: 'innerHTML'})", [target, url])
        page.wait_for_function("(t) => !document.querySelector(t + ' [data-stale]')", arg=target)
        page.wait_for_timeout(100)  # the afterSwap handlers

    # No worker runs in the tests: the board warns, as an alert once, not again at each refresh.
    assert page.get_attribute("#board-figures [data-worker-down]", "role") == "alert"
    refresh("#board-figures", "/board/figures/")
    assert page.locator("#board-figures [data-worker-down]").count() == 1
    assert page.get_attribute("#board-figures [data-worker-down]", "role") is None
    refresh("#board-lists", "/board/lists/")
    assert page.inner_text("#board-announce") == ""
    # The overdue count changes (the same answer, with three overdue cases).
    page.route("**/board/lists/**", lambda route: route.fulfill(
        response=(r := route.fetch()), body=r.text().replace('data-overdue-total="0"', 'data-overdue-total="3"')))
    refresh("#board-lists", "/board/lists/")
    assert page.inner_text("#board-announce") == "超期案件数已变为 3 件"


def test_the_board_map_is_worked_by_keyboard(page, district):  # noqa: F811
    """Clusters are buttons that Enter zooms into, cases are named buttons that Enter opens the card of."""
    case = handled_case(district)
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/board/")
    # attached, not visible: Leaflet draws a shape outside the view as an empty path ("M0 0"), and the first one
    # in the document may well be such (it failed so on PostgreSQL, whose ids put another case first)
    page.wait_for_selector("#board-map [data-code], #board-map [data-oid]", state="attached")
    for _ in range(8):  # Enter on a cluster zooms in, until the case itself shows
        if page.locator(f"#board-map [data-oid='{case.pk}']").count():
            break
        cluster = page.locator("#board-map [data-code]").first
        assert cluster.get_attribute("role") == "button" and cluster.get_attribute("aria-label")
        level = page.get_attribute("#board-map", "data-level")
        cluster.focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(l) => document.getElementById('board-map').dataset.level !== l "
            "|| document.querySelector('#board-map [data-oid]')", arg=level)
    point = page.locator(f"#board-map [data-oid='{case.pk}']")
    assert point.get_attribute("tabindex") == "0" and point.get_attribute("role") == "button"
    assert case.number in point.get_attribute("aria-label")
    point.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f".leaflet-popup a[href$='/cases/{case.number}/']")


def test_the_language_is_switched_by_its_button_not_by_the_arrow_keys(page, district):  # noqa: F811
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/cases/")
    page.focus("form.lang select[name=language]")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(500)
    assert page.get_attribute("html", "lang") == "zh-hans"
    assert page.url == f"{page.base_url}/cases/"
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE)["tag"] == "BUTTON"
    page.keyboard.press("Enter")
    page.wait_for_selector("html[lang='en']")
    assert page.url == f"{page.base_url}/cases/"


def test_the_skip_link_is_the_first_tab_stop_and_leads_to_the_content(page, district):  # noqa: F811
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/cases/")
    page.keyboard.press("Tab")
    active = page.evaluate(ACTIVE)
    assert active["text"] == "跳到正文" and "skip-link" in active["cls"]
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate(ACTIVE)["id"] == "content"
    page.keyboard.press("Tab")  # the next stop is in the content, not the header
    assert page.evaluate("() => !!document.activeElement.closest('main')")


def test_tab_through_the_report_map_reaches_no_unnamed_path(phone, district):  # noqa: F811
    sign_in(phone, "wang-wg")
    phone.goto(f"{phone.base_url}/cases/report/")
    phone.wait_for_selector("#report-map[data-ready='1'] path.leaflet-interactive")
    phone.focus("#report-map")
    stops = []
    for _ in range(4):
        phone.keyboard.press("Tab")
        stops.append(phone.evaluate("() => document.activeElement.tagName + ' ' + "
                                    "(document.activeElement.getAttribute('aria-label') || '')"))
    assert stops[:2] == ["A Zoom in", "A Zoom out"], stops
    assert not any(s.lower().startswith("path") for s in stops), stops

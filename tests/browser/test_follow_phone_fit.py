"""The resident's follow page on a 390 px phone: a step's note holding a long unbroken run (a link the handler
pasted, a run of digits) wraps inside its card, so the page never scrolls sideways and the words after it stay on
screen. It once stretched the page to the run's width (some 1,800 px for a 200-character link)."""
# ruff: noqa: F811  (the browser fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db

pytestmark = [pytest.mark.browser, browser_db]

LINK = "https://example.com/report/" + "a" * 200
TOKEN = "phone-note-token-0123456789abcdef"

FIT = """() => {
    const note = document.querySelector('[data-step-note]');
    return {viewport: document.documentElement.clientWidth, page: document.documentElement.scrollWidth,
            noteRight: note.getBoundingClientRect().right};
}"""


def test_a_long_note_wraps_on_the_phones_follow_page(phone_page):
    from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep
    from civicgrid.testing.builders import small_tree

    grid = small_tree()["140213050001001"]
    case = Case.objects.create(number="2026120100013", title="井盖缺失", source="public", status="handled",
                               lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid, region_code=grid.code,
                               reported_at="2026-12-01T08:00:00+08:00")
    CaseReporter.objects.create(case=case, original_case=case, follow_token=TOKEN)
    CaseStep.objects.create(case=case, action="report_back", from_status="handling", to_status="handled",
                            note=f"详见 {LINK} 已更换井盖", at="2026-12-01T10:00:00+08:00")
    pg = phone_page
    assert pg.viewport_size == {"width": 390, "height": 844}
    pg.goto(f"{pg.base_url}/follow/{TOKEN}/")
    pg.wait_for_selector("[data-step-note]")
    box = pg.evaluate(FIT)
    assert box["page"] <= box["viewport"], box
    assert box["noteRight"] <= box["viewport"], box
    after = pg.locator("[data-step-note]", has_text="已更换井盖").bounding_box()
    assert after is not None and after["x"] >= 0 and after["x"] + after["width"] <= 390

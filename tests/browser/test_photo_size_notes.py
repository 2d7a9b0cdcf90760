"""A photo just over the size limit is named with a size that reads over it, on the phone's report page and in
a case action's form (the 核查 step): 10,486,551 bytes against 10 MB is 10.001 MB, not 10.0."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import district  # noqa: F401
from tests.browser.test_report_phone import open_report

pytestmark = [pytest.mark.browser, browser_db]
JUST_OVER = {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0" + b"\0" * (10_486_551 - 4)}


def test_the_report_page_shows_a_size_over_the_limit(phone, district):
    sign_in(phone, "wang-wg")
    open_report(phone)
    phone.set_input_files("input[name=photos]", [JUST_OVER])
    status = phone.locator("#report-status.error")
    status.wait_for()
    assert "照片“big.jpg”过大（10.001 MB），上限 10 MB，未添加" in status.inner_text()
    assert phone.locator("#thumbs-photos img").count() == 0
    assert phone.errors == []


def test_the_verify_form_shows_a_size_over_the_limit(phone, district):
    from civicgrid.apps.cases.services import act, submit_case
    from civicgrid.apps.categories.models import Category

    case, _ = submit_case(actor=district["worker"], title="垃圾堆放", lng=113.21, lat=40.01,
                          category=Category.objects.get(code="06001"), source="grid_worker")
    for actor, action, inputs in (("dispatcher", "accept", {}), ("dispatcher", "dispatch",
                                                                  {"department": district["dept"].pk}),
                                  ("handler", "report_back", {"note": "已清理"})):
        case = act(actor=district[actor], case=case, action=action, **inputs)
    sign_in(phone, "wang-wg")
    phone.goto(f"{phone.base_url}/cases/{case.number}/")
    phone.locator("details[data-action='verify'] summary").click()
    form = phone.locator("form[data-action-form='verify']")
    form.locator("input[name=photos]").set_input_files([JUST_OVER])
    note = form.locator("[data-photo-note]")
    note.wait_for(state="visible")
    assert "big.jpg" in note.inner_text() and "10.001 MB" in note.inner_text() and "10.0 MB" not in note.inner_text()
    assert form.locator("input[name=photos]").evaluate("i => i.files.length") == 0
    assert phone.errors == []

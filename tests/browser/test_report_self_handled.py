"""自行处置 on the phone report page: photos chosen for it belong to it. Unticked, they are not sent (the server
refuses after photos without 自行处置), and ticking it again brings them back."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, district, photo  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]


def _start(pg, description: str) -> None:
    sign_in(pg, "wang-wg")
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector("[data-located][data-state='ok']")
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.fill("textarea[name=description]", description)


def _send(pg):
    from civicgrid.apps.cases.models import Case

    answers = []
    pg.on("response", lambda r: answers.append(r.status) if r.url.endswith("/cases/report/submit/") else None)
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-done:not([hidden])")
    return Case.objects.get(number=pg.locator("[data-done-number]").inner_text()), answers


def test_photos_of_an_unticked_self_handled_report_are_not_sent(phone, district, photo):
    """Given 自行处置 ticked with a before and an after photo, when it is unticked and the report sent, then it
    goes as an ordinary report (201, not the server's 400 about after photos) without those photos."""
    _start(phone, "路边垃圾堆放")
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_before]", str(photo))
    phone.set_input_files("input[name=photos_after]", str(photo))
    phone.uncheck("input[name=self_handled]")
    assert phone.locator("[data-self-handled-photos]").is_hidden()

    case, answers = _send(phone)
    assert answers == [201]
    assert not case.is_self_handled and case.status == "reported"
    assert list(case.attachments.values_list("kind", flat=True)) == []
    assert phone.errors == []


def test_ticking_self_handled_again_brings_its_photos_back(phone, district, photo):
    """Unticking hides the photos without throwing them away: ticked again, the report is self-handled with them."""
    _start(phone, "路边垃圾已清理")
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_before]", str(photo))
    phone.set_input_files("input[name=photos_after]", str(photo))
    phone.uncheck("input[name=self_handled]")
    phone.check("input[name=self_handled]")
    assert phone.locator("#thumbs-after img").count() == 1

    case, answers = _send(phone)
    assert answers == [201]
    assert case.is_self_handled
    assert sorted(case.attachments.values_list("kind", flat=True)) == ["after", "before"]
    assert phone.errors == []


def test_self_handled_outside_the_workers_grid_says_why_and_goes_as_an_ordinary_report(phone, district, photo):
    """Given the phone in the neighbouring grid (not the worker's), when a self-handled report is sent, then the
    page says why it cannot be self-handled and keeps the draft; unticked, the same report goes as an ordinary
    one, without the before/after photos."""
    from civicgrid.apps.cases.models import Case

    phone.context.set_geolocation({"longitude": 113.2300, "latitude": 40.0100})
    _start(phone, "路边垃圾已清理")
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_before]", str(photo))
    phone.set_input_files("input[name=photos_after]", str(photo))
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-status.error")
    said = phone.locator("#report-status").inner_text()
    assert "不能登记为自行处置" in said and "普通事件" in said and "/" not in said
    assert phone.locator("#report-done").is_hidden() and Case.objects.count() == 0
    assert phone.input_value("textarea[name=description]") == "路边垃圾已清理"

    phone.uncheck("input[name=self_handled]")
    case, answers = _send(phone)
    assert answers == [201]
    assert not case.is_self_handled and case.region_code == "140213050001002"
    assert list(case.attachments.values_list("kind", flat=True)) == []
    assert phone.errors == []


def test_self_handled_without_a_category_is_stopped_on_the_phone_with_the_rule_said_beforehand(phone, district, photo):
    """Given 自行处置 ticked (the hint beside it says it needs a category and an after photo) and no category
    chosen, when the report is sent, then the page says a category is needed and sends nothing; with one chosen
    it goes."""
    from civicgrid.apps.cases.models import Case

    sign_in(phone, "wang-wg")
    phone.goto(f"{phone.base_url}/cases/report/")
    phone.wait_for_selector("[data-located][data-state='ok']")
    hint = phone.locator("[data-self-handled-hint]")
    assert hint.is_visible() and "须选择分类" in hint.inner_text() and "处置后照片" in hint.inner_text()
    phone.fill("textarea[name=description]", "路边垃圾已清理")
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_after]", str(photo))
    answers = []
    phone.on("response", lambda r: answers.append(r.status) if r.url.endswith("/cases/report/submit/") else None)
    phone.click("button[data-submit]")
    phone.wait_for_selector("#report-status.error")
    assert "自行处置须选择分类" in phone.locator("#report-status").inner_text()
    assert answers == [] and Case.objects.count() == 0

    phone.select_option("select[name=category]", label="暴露垃圾")
    case, answers = _send(phone)
    assert answers == [201] and case.is_self_handled and case.category.name == "暴露垃圾"
    assert phone.errors == []

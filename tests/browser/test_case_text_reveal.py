"""显示被遮盖的号码和姓名 in Chromium: one press of the case page's button puts the description, the address and each
masked note of the timeline in clear where they stood (htmx, the address and the notes out of band), and the focus on
what came in."""

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

NOTE, NOTE_MASKED = "已清运，联系人：李建国 13922223333", "已清运，联系人：李** 139****3333"
ADDRESS, ADDRESS_MASKED = "永安小区3号楼 联系人王五 13600002222", "永安小区3号楼 联系人王* 136****2222"


def test_one_press_shows_the_description_and_the_timelines_notes_in_clear(page, district):  # noqa: F811
    from civicgrid.apps.cases.models import CaseStep
    from civicgrid.apps.cases.services import act, submit_case
    from civicgrid.apps.categories.models import Category
    from civicgrid.foundation.audit.models import AuditEntry

    case = submit_case(actor=district["worker"], title="路边暴露垃圾", description="我是王小明，垃圾堆放三天了",
                       lng=GPS["longitude"], lat=GPS["latitude"], category=Category.objects.get(code="06001").pk,
                       source="grid_worker", address=ADDRESS)[0]
    act(actor=district["dispatcher"], case=case, action="accept")
    act(actor=district["dispatcher"], case=case, action="dispatch", department=district["dept"].pk)
    act(actor=district["handler"], case=case, action="report_back", note=NOTE)
    step = CaseStep.objects.get(case=case, action="report_back")
    sign_in(page, "zhao-dd")
    page.goto(f"{page.base_url}/cases/{case.number}/")
    assert page.inner_text("[data-case-description]") == "我是王**，垃圾堆放三天了"
    assert page.inner_text(f"#step-note-{step.pk}") == NOTE_MASKED
    assert page.inner_text("#case-address") == ADDRESS_MASKED
    page.focus("[data-reveal-text]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#case-text [data-text-result]")
    page.wait_for_function("() => document.activeElement.matches('[data-text-result]')")
    assert "我是王小明，垃圾堆放三天了" in page.inner_text("#case-text")
    assert page.inner_text(f"#step-note-{step.pk}") == NOTE  # in its place in the timeline
    assert page.inner_text("#case-address") == ADDRESS  # and the address in its own
    assert page.locator(f"#timeline [data-revealed-note='{step.pk}']").count() == 1
    revealed = AuditEntry.objects.filter(action="data.revealed", result="ok", data__field="case_text")
    assert [e.data["steps"] for e in revealed] == [[step.pk]]

"""The flood response in Chromium: the command centre's dispatcher enters a 3-hour, 60 mm reading by hand on the
防汛 page, the overview shows the orange signal in its colour and the Ⅱ response level with the gauge on the map;
the street's staff member, on a phone, finds the tasks issued to the street, acknowledges (签收) the evacuation
task and completes it with a note; the 包保 department has its own task and the other street has none."""

from __future__ import annotations

import os
import re

import pytest

from civicgrid.testing.browser import DESKTOP, PHONE, _page, browser_db, purge_test_audit_rows, sign_in

pytestmark = [pytest.mark.browser, browser_db]
SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")


@pytest.fixture
def district():
    from civicgrid.apps.flood.demo import load_demo_flood
    from civicgrid.apps.hazards.models import PatronAssignment, PatronKind
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import department, small_tree, user_with

    tree = small_tree()
    water = department("区水务局")
    PatronAssignment.objects.create(department=water, street=tree["140213050"], kind=PatronKind.FLOOD)
    people = {
        "dispatcher": user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="zhao-dd"),
        "street": user_with(Role.STREET_STAFF, region=tree["140213050"], username="zhou-jd"),
        "handler": user_with(Role.DEPARTMENT_HANDLER, department=water, username="sun-sw"),
    }
    load_demo_flood()
    return {"tree": tree, "water": water, **people}


@pytest.fixture
def contexts(browser, live_server):
    made = []

    def make(kind: str):
        if kind == "phone":
            context, pg = _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        else:
            context, pg = _page(browser, DESKTOP)
        pg.base_url = live_server.url
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        made.append(context)
        return pg

    yield make
    for context in made:
        context.close()
    purge_test_audit_rows()


def test_orange_reading_by_hand_then_the_street_acknowledges_and_completes(district, contexts):
    from civicgrid.apps.flood.models import ResponseTask

    desk = contexts("desktop")
    sign_in(desk, "zhao-dd")
    desk.click("nav#nav a[data-nav='flood']")
    desk.wait_for_url(re.compile(r"/flood/$"))
    assert desk.locator("#district-signal").get_attribute("data-signal") == "none"
    desk.click("nav.tabs a:has-text('录入观测')")
    desk.wait_for_url(re.compile(r"/flood/readings/$"))
    form = desk.locator("#reading-form")
    form.locator("[name=station]").fill("YL050")
    form.locator("[name=lat]").fill("40.0100")
    form.locator("[name=lng]").fill("113.2100")
    form.locator("[name=window_hours]").fill("3")
    form.locator("[name=rain_mm]").fill("60")
    with desk.expect_navigation():
        form.locator("button[type=submit]").click()
    desk.wait_for_url(re.compile(r"/flood/$"))
    assert "橙色预警" in desk.locator(".messages").inner_text()
    signal = desk.locator("#district-signal")
    assert signal.get_attribute("data-signal") == "orange"
    assert signal.inner_text().strip() == "橙色预警"
    assert signal.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(234, 88, 12)"
    level = desk.locator("#response-level")
    assert level.get_attribute("data-level") == "II" and "Ⅱ级响应" in level.inner_text()
    assert not desk.errors, desk.errors
    desk.wait_for_selector("#flood-map path.flood-station.flood-orange", state="attached")
    assert desk.locator("#flood-map path.flood-station").count() == 2  # the demo's two gauges
    # Tooltips only, nothing to open: no path of the map is a Tab stop.
    assert desk.locator("#flood-map path:not([tabindex='-1'])").count() == 0
    assert desk.locator("[data-street-tasks='140213050']").count() == 1
    assert desk.locator("[data-street-tasks='140213051']").count() == 0
    desk.screenshot(path=f"{SHOTS}/civicgrid-flood-overview.png", full_page=True)
    assert not desk.errors, desk.errors

    # Tasks went to that street and its 包保 department only.
    tasks = ResponseTask.objects.all()
    assert {t.region_code for t in tasks} == {"140213050"}
    assert {(t.target, t.department_id) for t in tasks if t.target == "department"} == {
        ("department", district["water"].pk)}

    phone = contexts("phone")
    sign_in(phone, "zhou-jd")
    phone.goto(f"{phone.base_url}/flood/tasks/")
    evacuate = ResponseTask.objects.get(level="II", target="street")
    row = phone.locator(f"#task-{evacuate.pk}")
    assert "地下空间人员撤离" in row.inner_text()
    # The department's task is listed for the street to follow, but only the department acts on it.
    dept_task = ResponseTask.objects.get(level="II", target="department")
    assert phone.locator(f"#task-{dept_task.pk} button").count() == 0
    with phone.expect_navigation():
        row.locator("button[data-action='ack']").click()
    row = phone.locator(f"#task-{evacuate.pk}")
    assert row.get_attribute("data-status") == "acknowledged"
    row.locator("input[name=note]").fill("地下车库 3 处人员已撤离并封闭入口")
    with phone.expect_navigation():
        row.locator("button[data-action='done']").click()
    phone.goto(f"{phone.base_url}/flood/tasks/?status=done")
    done = phone.locator(f"#task-{evacuate.pk}")
    assert done.get_attribute("data-status") == "done"
    assert "地下车库 3 处人员已撤离" in done.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=f"{SHOTS}/civicgrid-flood-tasks-phone.png", full_page=True)
    assert not phone.errors, phone.errors
    evacuate.refresh_from_db()
    assert evacuate.status == "done" and evacuate.acknowledged_by.username == "zhou-jd"

"""An incident (险情) in Chromium: street staff open the raise form from a hazard point's link, raise the incident
(the map shows the point), call out the district fire brigade, the brigade's duty account acknowledges from its
inbox link, closing without a report is refused with the reason (nothing changes), and closing with the report
ends the incident, sends the brigade back to 待命 and leaves the whole timeline on the page."""

from __future__ import annotations

import os
from datetime import date

import pytest

from civicgrid.testing.browser import DESKTOP, PHONE, _page, browser_db, purge_test_audit_rows, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")
GRID = "140213050001001"


@pytest.fixture
def district():
    from django.utils import timezone

    from civicgrid.apps.hazards.models import Hazard
    from civicgrid.apps.rescue import services
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.orgs.models import Organisation, OrgKind
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    command = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="chen-cd")
    org = Organisation.objects.create(code="140213-XFJY", name="平城区消防救援大队", kind=OrgKind.RESCUE_TEAM,
                                      region=tree["140213"])
    brigade = services.create_team(actor=command, region_code="140213", code="RT-XFJY", name="区消防救援大队",
                                   kind="main", leader_name="高峰", leader_phone="13912345678", organisation=org.pk,
                                   headcount=40)
    services.create_team(actor=command, region_code="140213050", code="RT-050", name="永泰街道抢险队", kind="street",
                         leader_name="赵刚", leader_phone="13700002222", headcount=15)
    grid = tree[GRID]
    hazard = Hazard.objects.create(
        code="FX-2026-0001", name="永泰路下穿通道", kind="flood", category="underpass", description="雨后积水",
        found_on=date(2026, 5, 20), lng=113.2100, lat=40.0100, address="永泰路与御河西路交叉口", grid=grid,
        region_code=grid.code, street_code=grid.code[:9], registered_at=timezone.now())
    street = user_with(Role.STREET_STAFF, region=tree["140213050"], username="zhang-ss")
    firefighter = user_with(Role.DEPARTMENT_HANDLER, department=org, username="gao-xf")
    return {"brigade": brigade, "hazard": hazard, "street": street, "firefighter": firefighter}


@pytest.fixture
def contexts(browser, live_server):
    made = []

    def make(viewport=DESKTOP, **options):
        context, pg = _page(browser, viewport, **options)
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


def open_action(page, action: str):
    details = page.locator(f"details[data-action='{action}']")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return page.locator(f"form[data-action-form='{action}']")


def status_of(page) -> str:
    return page.locator("h1 [data-status]").get_attribute("data-status")


def test_raise_call_out_acknowledge_and_close_with_report(contexts, district):
    from civicgrid.apps.rescue.models import CallOut, Incident, RescueTeam

    hazard, brigade = district["hazard"], district["brigade"]
    office = contexts()
    sign_in(office, "zhang-ss")
    # The menu leads to the incidents; the hazard page links to the raise form with ?hazard=<id>.
    office.click("nav#nav a[data-nav='rescue']")
    office.wait_for_selector("#rescue-map[data-ready='1']")
    office.goto(f"{office.base_url}/rescue/incidents/new/?hazard={hazard.pk}")
    office.wait_for_selector("#rescue-pick[data-ready='1']")
    assert hazard.code in office.locator("[data-hazard]").inner_text()
    assert office.input_value("input[name=lng]") == "113.210000"
    office.select_option("select[name=severity]", "large")
    office.fill("textarea[name=description]", "暴雨后通道积水约 0.8 米，一辆轿车被困")
    with office.expect_navigation():
        office.click("form[data-incident-form] button[type=submit]")
    office.wait_for_selector("#rescue-map[data-ready='1']")
    incident = Incident.objects.get()
    assert office.url.endswith(f"/rescue/incidents/{incident.pk}/")
    # The detail's map is one image of the incident: its point (with a tooltip) stays out of the Tab order.
    assert office.get_attribute("#rescue-map path.incident-point", "tabindex") == "-1"
    assert status_of(office) == "reported" and incident.hazard_id == hazard.pk and incident.region_code == GRID
    assert office.locator("path.incident-point").count() == 1

    # 调派: the brigade is on standby and offered first (it serves every street).
    form = open_action(office, "callout")
    form.locator(f"input[data-team='{brigade.code}']").check()
    form.locator("textarea[name=task]").fill("排涝，救助被困人员")
    with office.expect_navigation():
        form.locator("button[type=submit]").click()
    assert office.locator(f"[data-callout='{brigade.code}']").get_attribute("data-callout-status") == "called"
    assert RescueTeam.objects.get(pk=brigade.pk).availability == "deployed"

    # The brigade's duty account finds the call-out in its inbox and acknowledges it.
    team = contexts(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(team, "gao-xf")
    team.goto(f"{team.base_url}/inbox/")
    assert "抢险调派" in team.locator("table[data-model='notify.notification']").inner_text()
    with team.expect_navigation():
        team.click("button[data-open]")
    team.wait_for_selector("#rescue-map[data-ready='1']")
    assert team.url.endswith(f"/rescue/incidents/{incident.pk}/")
    assert team.locator("details[data-action='close']").count() == 0  # a team answers; it does not command
    with team.expect_navigation():
        team.click("button[data-callout-action='acknowledge']")
    assert team.locator(f"[data-callout='{brigade.code}']").get_attribute("data-callout-status") == "acknowledged"
    assert status_of(team) == "responding"
    assert team.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    team.screenshot(path=f"{SHOTS}/civicgrid-rescue-team-phone.png", full_page=True)

    # Closing without the report: refused with the reason, nothing changed.
    office.reload()
    form = open_action(office, "close")
    form.locator("textarea[name=summary]").fill("通道积水，车辆被困")
    with office.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "总结报告" in office.locator("[data-error]").inner_text()
    assert status_of(office) == "responding" and Incident.objects.get().status == "responding"
    # What was typed is still there, in the form left open.
    form = open_action(office, "close")
    assert form.locator("textarea[name=summary]").input_value() == "通道积水，车辆被困"
    form.locator("textarea[name=actions]").fill("消防队 12 人排涝 2 小时，救出被困 2 人")
    form.locator("textarea[name=losses]").fill("无人员伤亡，1 辆车进水")
    form.locator("textarea[name=lessons]").fill("通道入口加装积水警示")
    with office.expect_navigation():
        form.locator("button[type=submit]").click()
    assert status_of(office) == "closed"
    assert "通道入口加装积水警示" in office.locator("[data-report-out='lessons']").inner_text()
    steps = office.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.step)")
    assert steps == ["raise", "callout", "acknowledge", "respond", "release", "close"]
    assert RescueTeam.objects.get(pk=brigade.pk).availability == "standby"
    assert CallOut.objects.get().status == "released"
    # Phones only masked, anywhere on the way.
    assert "13912345678" not in office.content() and "139****5678" in office.content()
    office.screenshot(path=f"{SHOTS}/civicgrid-rescue-incident.png", full_page=True)
    # The refused close answered 400 on purpose (the page with the reason); anything else is a script error.
    errors = [e for e in office.errors + team.errors if "status of 400" not in e]
    assert not errors, errors

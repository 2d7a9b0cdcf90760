"""A hazard page offers only what its services accept, in Chromium: an official who is street staff in 永泰街道 and a
leader of the district opens a hazard of 古城街道 (seen through the leader's grant) and finds only 挂牌督办 there, no
整改 button, no plan form and no way to reveal the owner's phone; on a hazard of their own street they get all of
them, and the phone reveals. A 整改 form sent to the other street's hazard anyway is refused with the reason and
changes nothing; the 挂牌督办 they were offered there goes through."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from civicgrid.testing.browser import DESKTOP, _page, browser_db, purge_test_audit_rows, sign_in

pytestmark = [pytest.mark.browser, browser_db]

SHOTS = os.environ.get("CIVICGRID_SCREENSHOTS", "/tmp")
POINT = (113.2100, 40.0100)  # street 140213050
OTHER_STREET_POINT = (113.2900, 40.0100)  # street 140213051


@pytest.fixture
def district():
    from civicgrid.apps.hazards import services
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    official = user_with(Role.STREET_STAFF, region=tree["140213050"], username="liu-jd")
    Grant.objects.create(user=official, role=Role.LEADER, region=tree["140213"])
    centre = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="chen-cd")
    fields = {"kind": "flood", "category": "low_lying", "description": "暴雨后积水深约40厘米", "owner_unit": "区住建局",
              "owner_person": "王工", "owner_phone": "13912345678", "threatened_people": 120,
              "threatened_households": 40}
    mine = services.register_hazard(actor=official, name="永泰南路下穿积水点", lng=POINT[0], lat=POINT[1], **fields)
    theirs = services.register_hazard(actor=centre, name="古城街道积水点", lng=OTHER_STREET_POINT[0],
                                      lat=OTHER_STREET_POINT[1], **fields)
    return {"mine": mine, "theirs": theirs}


@pytest.fixture
def office(browser, live_server):
    context, pg = _page(browser, DESKTOP)
    pg.base_url = live_server.url
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    purge_test_audit_rows()


def open_hazard(page, hazard) -> None:
    page.goto(f"{page.base_url}/hazards/{hazard.pk}/")
    page.wait_for_selector("#hazard-map[data-ready='1']")


def offered(page) -> list[str]:
    return page.locator("[data-action-form]").evaluate_all("els => els.map(e => e.dataset.actionForm)")


def state(hazard) -> tuple:
    from civicgrid.apps.hazards.models import Hazard, HazardPlan, HazardStep
    from civicgrid.foundation.audit.models import AuditEntry

    h = Hazard.objects.select_related("rectification").get(pk=hazard.pk)
    return (h.status, h.is_supervised, h.deadline, h.updated_at, h.rectification.measures, h.rectification.rounds,
            HazardStep.objects.filter(hazard=h).count(), HazardPlan.objects.filter(hazard=h).count(),
            AuditEntry.objects.filter(action__startswith="hazards.", target_id=str(h.pk)).count())


def test_only_what_the_grant_reaches_is_offered(office, district):
    mine, theirs = district["mine"], district["theirs"]
    deadline = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    sign_in(office, "liu-jd")

    # the other street's hazard: the leader's 挂牌督办 only
    open_hazard(office, theirs)
    assert offered(office) == ["supervise"]
    assert office.locator("[data-plan-form]").count() == 0 and office.locator("[data-reveal]").count() == 0
    assert office.locator("#owner-phone").inner_text() == "139****5678"
    office.screenshot(path=f"{SHOTS}/civicgrid-hazard-out-of-reach.png", full_page=True)

    # their own street's hazard: the work, the plans and the phone
    open_hazard(office, mine)
    assert offered(office) == ["start", "supervise", "note"]
    assert office.locator("[data-plan-form]").count() == 2
    office.click("[data-reveal]")
    office.locator("#owner-phone", has_text="13912345678").wait_for()

    # a 整改 form sent to the other street's hazard anyway: refused with the reason, nothing changed
    before = state(theirs)
    office.eval_on_selector("form[data-action-form='start']", "(f, url) => { f.action = url; }",
                            f"{office.base_url}/hazards/{theirs.pk}/act/start/")
    office.locator("details[data-action='start'] summary").click()
    office.fill("form[data-action-form='start'] [name='measures']", "疏通管网")
    office.fill("form[data-action-form='start'] [name='deadline']", deadline)
    with office.expect_navigation():
        office.click("form[data-action-form='start'] button[type=submit]")
    assert office.locator("[data-error]").count() == 1
    assert "权限范围" in office.locator("[data-error]").inner_text()
    assert offered(office) == ["supervise"]  # the refusal's page offers no more than before
    assert state(theirs) == before
    office.errors = [e for e in office.errors if "status of 403" not in e]  # the refused page's own answer

    # the button they were offered there is one the service takes
    open_hazard(office, theirs)
    office.locator("details[data-action='supervise'] summary").click()
    office.fill("form[data-action-form='supervise'] [name='reason']", "汛前未整改")
    with office.expect_navigation():
        office.click("form[data-action-form='supervise'] button[type=submit]")
    office.wait_for_selector("[data-supervised]")
    assert office.locator("h1 [data-status]").get_attribute("data-status") == "registered"
    assert offered(office) == ["unsupervise"]  # the leader's grant reaches it: 解除督办 is offered in turn
    assert not office.errors, office.errors

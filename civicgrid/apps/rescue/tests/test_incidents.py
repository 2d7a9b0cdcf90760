"""Incidents: raised from a hazard, a case, a reading or a point; teams called out, acknowledged, released;
closed only with a report; refusals change nothing."""

from __future__ import annotations

import pytest

from civicgrid.apps.rescue import services
from civicgrid.apps.rescue.models import CallOut, Incident, IncidentStep, RescueTeam
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock

from .conftest import GRID, OTHER_STREET_POINT, OUTSIDE, POINT, make_hazard, state

REPORT = {"summary": "暴雨致下穿通道积水 0.8 米，2 辆车被困", "actions": "消防队排涝、转移被困人员 3 人",
          "losses": "无人员伤亡，2 辆车进水", "lessons": "排水泵站需增加备用电源"}

pytestmark = pytest.mark.django_db


def test_hazard_to_close_with_report(world):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk, severity="large")
    assert incident.code.startswith("XQ-") and incident.source == "hazard" and incident.hazard == world.hazard
    assert incident.region_code == GRID and incident.street_code == GRID[:9] and incident.kind == "waterlogging"
    assert incident.title == "永泰路下穿通道险情" and incident.status == "reported"

    [callout] = services.call_out(actor=world.street, incident=incident, teams=[world.brigade.pk], task="排涝救人")
    world.brigade.refresh_from_db()
    assert world.brigade.availability == "deployed"
    # The team's account gets an inbox message pointing at the incident.
    note = Notification.objects.get(user=world.firefighter)
    assert note.kind == "rescue_callout" and note.url.endswith(f"/rescue/incidents/{incident.pk}/")
    assert SlaClock.objects.filter(target_type="rescue.callout", target_id=str(callout.pk), state="running").exists()

    # The fire brigade's account sees the incident it was called to (not by region: by its organisation).
    assert Incident.objects.visible_to(world.firefighter).filter(pk=incident.pk).exists()
    services.acknowledge(actor=world.firefighter, callout=callout.pk, people=12, note="12 人出发")
    incident.refresh_from_db()
    callout.refresh_from_db()
    assert callout.status == "acknowledged" and callout.acknowledged_by == world.firefighter
    assert incident.status == "responding"
    assert SlaClock.objects.get(target_type="rescue.callout", target_id=str(callout.pk)).state == "stopped"
    services.arrive(actor=world.firefighter, callout=callout.pk)

    services.control(actor=world.street, incident=incident, note="积水已排除一半")
    services.add_note(actor=world.street, incident=incident, note="被困人员全部转移")
    closed = services.close_incident(actor=world.street, incident=incident, **REPORT)
    assert closed.status == "closed" and closed.closed_at and closed.report_lessons == REPORT["lessons"]
    world.brigade.refresh_from_db()
    callout.refresh_from_db()
    assert world.brigade.availability == "standby" and callout.status == "released"
    actions = list(IncidentStep.objects.filter(incident=incident).values_list("action", flat=True))
    assert actions == ["raise", "callout", "acknowledge", "respond", "arrive", "control", "note", "release", "close"]
    audited = set(AuditEntry.objects.filter(action__startswith="rescue.").values_list("action", flat=True))
    assert {"rescue.incident_raised", "rescue.callout", "rescue.acknowledged", "rescue.incident_closed",
            "rescue.released", "rescue.team_availability"} <= audited
    assert OutboxEvent.objects.filter(topic="rescue.incident_closed", aggregate_id=str(incident.pk)).exists()


@pytest.mark.parametrize("missing", ["summary", "actions", "losses", "lessons", "all"])
def test_close_without_report_is_refused_and_changes_nothing(world, missing):
    incident = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    services.call_out(actor=world.command, incident=incident, teams=[world.street_team.pk])
    before = state()
    report = {} if missing == "all" else {k: v for k, v in REPORT.items() if k != missing}
    with pytest.raises(ValidationFailed) as exc:
        services.close_incident(actor=world.command, incident=incident, **report)
    assert "总结报告" in exc.value.message and exc.value.field in REPORT
    assert state() == before
    # Blank text counts as missing too.
    with pytest.raises(ValidationFailed):
        services.close_incident(actor=world.command, incident=incident, **{**REPORT, "lessons": "   "})
    assert state() == before


def test_close_twice_is_a_conflict(world):
    incident = services.raise_incident(actor=world.command, lng=POINT[0], lat=POINT[1], title="路面塌陷", kind="other")
    services.close_incident(actor=world.command, incident=incident, **REPORT)
    before = state()
    with pytest.raises(Conflict):
        services.close_incident(actor=world.command, incident=incident, **REPORT)
    assert state() == before


def test_raise_directly_locates_the_grid(world):
    incident = services.raise_incident(actor=world.dispatcher, title="地下车库进水", kind="waterlogging",
                                       lng=POINT[0], lat=POINT[1], reading_ref="R-1001", station="御河站")
    assert incident.grid.code == GRID and incident.source == "reading" and incident.station == "御河站"


def test_raise_from_a_case(world):
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case

    grid = world.tree[GRID]
    case = Case.objects.create(number="2026060100001", title="小区门口积水严重", description="", source="grid_worker",
                               status="dispatched", lng=POINT[0], lat=POINT[1], grid=grid, region_code=grid.code,
                               reported_at=timezone.now())
    incident = services.raise_incident(actor=world.command, case=case.number)
    assert incident.case_id == case.pk and incident.case_number == case.number and incident.title == case.title
    assert incident.source == "case" and incident.region_code == GRID


@pytest.mark.parametrize("kwargs, field", [
    ({}, "location"),
    ({"lng": OUTSIDE[0], "lat": OUTSIDE[1], "title": "x"}, "location"),
    ({"lng": POINT[0], "lat": POINT[1]}, "title"),
    ({"lng": POINT[0], "lat": POINT[1], "title": "x", "kind": "meteor"}, "kind"),
    ({"lng": POINT[0], "lat": POINT[1], "title": "x", "severity": "huge"}, "severity"),
    ({"lng": 500, "lat": POINT[1], "title": "x"}, "lat"),
    ({"hazard": 999999}, "hazard"),
    ({"case": "2026060199999"}, "case"),
])
def test_bad_raise_changes_nothing(world, kwargs, field):
    before = state()
    with pytest.raises(ValidationFailed) as exc:
        services.raise_incident(actor=world.command, **kwargs)
    assert exc.value.field == field
    assert state() == before


def test_street_staff_cannot_raise_in_another_street_or_use_its_hazard(world):
    other_hazard = make_hazard(world.tree, code="FX-2026-0002", grid="140213051001001", point=OTHER_STREET_POINT)
    before = state()
    with pytest.raises(PermissionDenied):
        services.raise_incident(actor=world.street, title="x", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    with pytest.raises(ValidationFailed):  # a hazard outside one's scope is as unknown as a missing one
        services.raise_incident(actor=world.street, hazard=other_hazard.pk)
    with pytest.raises(PermissionDenied):
        services.raise_incident(actor=world.worker, title="x", lng=POINT[0], lat=POINT[1])
    assert state() == before


def test_callout_refusals_change_nothing(world):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    services.update_team(actor=world.command, team=world.brigade, availability="resting")
    before = state()
    with pytest.raises(Conflict) as exc:  # a resting team, together with a standby one: nothing dispatched
        services.call_out(actor=world.street, incident=incident, teams=[world.street_team.pk, world.brigade.pk])
    assert "休整" in exc.value.message
    with pytest.raises(ValidationFailed):  # another street's team is not the street's to call
        services.call_out(actor=world.street, incident=incident, teams=[world.other_street_team.pk])
    with pytest.raises(ValidationFailed):
        services.call_out(actor=world.street, incident=incident, teams=[])
    with pytest.raises(NotFound):  # another street's staff cannot even see the incident
        services.call_out(actor=world.other_street, incident=incident, teams=[world.other_street_team.pk])
    with pytest.raises(PermissionDenied):  # a grid worker sees the incident but does not command
        services.call_out(actor=world.worker, incident=incident, teams=[world.street_team.pk])
    assert state() == before
    services.call_out(actor=world.street, incident=incident, teams=[world.street_team.pk])
    before = state()
    with pytest.raises(Conflict):  # already out (and no longer standby)
        services.call_out(actor=world.street, incident=incident, teams=[world.street_team.pk])
    assert state() == before


def test_only_the_team_acknowledges(world):
    incident = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    [callout] = services.call_out(actor=world.command, incident=incident, teams=[world.brigade.pk])
    before = state()
    with pytest.raises(PermissionDenied):  # street staff answer for their street's team, not the brigade
        services.acknowledge(actor=world.street, callout=callout.pk)
    with pytest.raises(NotFound):  # another department's handler sees nothing of it
        services.acknowledge(actor=world.other_handler, callout=callout.pk)
    with pytest.raises(ValidationFailed):
        services.acknowledge(actor=world.firefighter, callout=callout.pk, people="many")
    assert state() == before
    services.acknowledge(actor=world.firefighter, callout=callout.pk)
    before = state()
    with pytest.raises(Conflict):
        services.acknowledge(actor=world.firefighter, callout=callout.pk)
    assert state() == before


def test_street_staff_answer_for_their_street_team_and_release(world):
    incident = services.raise_incident(actor=world.dispatcher, hazard=world.hazard.pk)
    [callout] = services.call_out(actor=world.dispatcher, incident=incident, teams=[world.street_team.pk])
    assert Notification.objects.filter(user=world.street).exists()
    services.acknowledge(actor=world.street, callout=callout.pk)
    services.release(actor=world.dispatcher, callout=callout.pk, availability="resting")
    world.street_team.refresh_from_db()
    assert world.street_team.availability == "resting"
    assert CallOut.objects.get(pk=callout.pk).status == "released"
    incident.refresh_from_db()
    assert incident.status == "responding"


def test_a_team_on_two_incidents_stays_deployed_until_the_last_release(world):
    a = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    b = services.raise_incident(actor=world.command, title="积水", lng=POINT[0], lat=POINT[1])
    [ca] = services.call_out(actor=world.command, incident=a, teams=[world.brigade.pk])
    # Availability is 出勤 now: a second call-out of the same team is refused …
    with pytest.raises(Conflict):
        services.call_out(actor=world.command, incident=b, teams=[world.brigade.pk])
    services.release(actor=world.command, callout=ca.pk)
    assert RescueTeam.objects.get(pk=world.brigade.pk).availability == "standby"


def test_manual_availability_cannot_hide_a_deployment(world):
    incident = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    services.call_out(actor=world.command, incident=incident, teams=[world.brigade.pk])
    before = state()
    with pytest.raises(Conflict):
        services.set_availability(actor=world.firefighter, team=world.brigade.pk, availability="standby")
    with pytest.raises(Conflict):
        services.update_team(actor=world.command, team=world.brigade.pk, availability="resting")
    assert state() == before


def test_a_team_that_does_not_answer_in_time_is_chased(world):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.foundation.events.bus import dispatch_pending
    from civicgrid.foundation.events.models import OutboxEvent
    from civicgrid.foundation.sla.sweep import sweep

    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    [callout] = services.call_out(actor=world.street, incident=incident, teams=[world.brigade.pk])
    dispatch_pending()
    sweep(timezone.now() + timedelta(minutes=services.ack_minutes() + 1))
    dispatch_pending()
    assert Notification.objects.filter(user=world.street, kind="rescue_overdue").count() == 1
    assert Notification.objects.filter(user=world.firefighter, kind="rescue_overdue").count() == 1
    assert IncidentStep.objects.filter(incident=incident, action="ack_overdue").count() == 1
    # Delivered again (at least once): nothing doubles.
    from civicgrid.apps.rescue.handlers import on_ack_overdue

    on_ack_overdue(OutboxEvent.objects.filter(topic="sla.breached").latest("id"))
    assert IncidentStep.objects.filter(incident=incident, action="ack_overdue").count() == 1
    assert Notification.objects.filter(kind="rescue_overdue").count() == 2
    # Answering afterwards still works; the clock keeps its breach.
    services.acknowledge(actor=world.firefighter, callout=callout.pk)
    clock = SlaClock.objects.get(target_type="rescue.callout")
    assert clock.state == "stopped" and clock.breached_at is not None

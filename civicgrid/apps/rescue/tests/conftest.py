"""A small district for rescue: the builders' tree, the fire brigade (an organisation of kind rescue team) with
its team account, a street's part-time team, a hazard point, and the people who command, respond and watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from django.utils import timezone

from civicgrid.apps.hazards.models import Hazard
from civicgrid.apps.rescue import services
from civicgrid.apps.rescue.models import (
    CallOut,
    Incident,
    IncidentMaterial,
    IncidentStep,
    RescueMember,
    RescueTeam,
)
from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.testing.builders import user_with

GRID = "140213050001001"
POINT = (113.2100, 40.0100)  # inside GRID
OTHER_STREET_POINT = (113.2900, 40.0100)  # grid 140213051001001
OUTSIDE = (112.0, 39.0)


@dataclass
class World:
    tree: dict
    brigade_org: object
    brigade: RescueTeam
    street_team: RescueTeam
    other_street_team: RescueTeam
    hazard: Hazard
    command: object  # command dispatcher, district
    street: object  # street staff of 140213050
    other_street: object  # street staff of 140213051
    dispatcher: object  # street dispatcher of 140213050
    firefighter: object  # department handler of the fire brigade (team account)
    other_handler: object  # department handler elsewhere
    worker: object  # grid worker in GRID
    resident: object


def make_hazard(tree, code="FX-2026-0001", grid=GRID, point=POINT) -> Hazard:
    g = tree[grid]
    return Hazard.objects.create(
        code=code, name="永泰路下穿通道", kind="flood", category="underpass", description="雨后积水深 0.8 米",
        found_on=date(2026, 5, 20), lng=point[0], lat=point[1], address="永泰路与御河西路交叉口", grid=g,
        region_code=g.code, street_code=g.code[:9], registered_at=timezone.now(),
    )


@pytest.fixture
def world(tree) -> World:
    command = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd")
    brigade_org = Organisation.objects.create(code="140213-XFJY", name="平城区消防救援大队", kind=OrgKind.RESCUE_TEAM,
                                              region=tree["140213"])
    brigade = services.create_team(actor=command, region_code="140213", code="RT-XFJY", name="区消防救援大队",
                                   kind="main", leader_name="高峰", leader_phone="13912345678", headcount=40,
                                   organisation=brigade_org.pk,
                                   equipment=[{"name": "冲锋舟", "quantity": 2, "unit": "艘"}])
    services.add_member(actor=command, team=brigade, name="李强", role="队员", phone="13800001111",
                        skills=["water_rescue", "排涝"], certificates="潜水员证")
    street_team = services.create_team(actor=command, region_code="140213050", code="RT-050", name="永泰街道抢险队",
                                       kind="street", leader_name="赵刚", leader_phone="13700002222", headcount=15)
    services.add_member(actor=command, team=street_team, name="王电", phone="13600003333", skills=["electrician"])
    other_street_team = services.create_team(actor=command, region_code="140213051", code="RT-051",
                                             name="古城街道抢险队", kind="street", leader_name="钱亮",
                                             leader_phone="13500004444", headcount=12)
    return World(
        tree=tree, brigade_org=brigade_org, brigade=brigade, street_team=street_team,
        other_street_team=other_street_team, hazard=make_hazard(tree), command=command,
        street=user_with(Role.STREET_STAFF, region=tree["140213050"], username="ss"),
        other_street=user_with(Role.STREET_STAFF, region=tree["140213051"], username="ss2"),
        dispatcher=user_with(Role.STREET_DISPATCHER, region=tree["140213050"], username="sd"),
        firefighter=user_with(Role.DEPARTMENT_HANDLER, department=brigade_org, username="xf"),
        other_handler=user_with(Role.DEPARTMENT_HANDLER, department=Organisation.objects.create(
            code="140213-CGJ", name="平城区城市管理局", kind=OrgKind.DEPARTMENT, region=tree["140213"]),
            username="cg"),
        worker=user_with(Role.GRID_WORKER, region=tree[GRID], username="wg"),
        resident=user_with(Role.RESIDENT, region=tree[GRID], username="jm"),
    )


def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}


def state() -> dict:
    """Everything a refused request must leave untouched."""
    return {
        "teams": list(RescueTeam.objects.order_by("pk").values_list("pk", "availability", "name", "updated_at")),
        "members": list(RescueMember.objects.order_by("pk").values_list("pk", "name", "phone_enc", "is_active")),
        "incidents": list(Incident.objects.order_by("pk").values_list("pk", "status", "closed_at", "report_summary",
                                                                       "updated_at")),
        "callouts": list(CallOut.objects.order_by("pk").values_list("pk", "status", "acknowledged_at")),
        "materials": IncidentMaterial.objects.count(),
        "steps": IncidentStep.objects.count(),
        "audit": AuditEntry.objects.filter(action__startswith="rescue.").count(),
        "outbox": OutboxEvent.objects.filter(topic__startswith="rescue.").count(),
        "clocks": list(SlaClock.objects.order_by("pk").values_list("pk", "state")),
        "inbox": Notification.objects.count(),
    }

"""A hazard's page and the API offer only what the services accept: the loop's actions (`act`), the plan forms
(`save_plan`) and the owner's phone (`reveal_owner_phone`) each ask whether the grant for their capability reaches
the hazard, not only whether the role carries it somewhere. An official who is street staff in one street and a
district leader sees every hazard of the district, but works (整改, 验收, 方案, the phone) only on their street's:
elsewhere they get the leader's 挂牌督办 alone, and a posted action there is refused with nothing changed. The
reach of everything the page offers is one query."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Hazard, HazardPlan, HazardStep, Rectification, Status
from civicgrid.apps.hazards.workflow import HAZARD_WORKFLOW
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.testing.builders import user_with

from .conftest import OTHER_STREET_POINT, flood_fields

pytestmark = pytest.mark.django_db


def _soon(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def official(world):
    """Street staff of street 050 who is also a leader of the district (two grants)."""
    user = user_with(Role.STREET_STAFF, region=world.tree["140213050"])
    Grant.objects.create(user=user, role=Role.LEADER, region=world.tree["140213"])
    return user


@pytest.fixture
def pair(world):
    """(a hazard of street 050, one of street 051), both 登记 with the owner's phone."""
    mine = services.register_hazard(actor=world.street, **flood_fields())
    theirs = services.register_hazard(actor=world.centre, **flood_fields(
        name="古城街道积水点", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]))
    return mine, theirs


def _fresh(user):
    """The account as a new request reads it (its grants not yet cached)."""
    return type(user).objects.get(pk=user.pk)


def _names(transitions) -> list[str]:
    return [t.name for t in transitions]


def _page(client, hazard) -> str:
    response = client.get(reverse("ui:hazard_detail", args=[hazard.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _buttons(html: str) -> list[str]:
    import re

    return re.findall(r'data-action-form="([a-z_]+)"', html)


def _api_actions(api_client, headers, hazard) -> tuple[list[str], list[str]]:
    detail = api_client.get(f"/api/v1/hazards/{hazard.pk}", **headers)
    listed = api_client.get(f"/api/v1/hazards/{hazard.pk}/allowed-actions", **headers)
    assert detail.status_code == listed.status_code == 200
    return [a["name"] for a in detail.json()["allowed_actions"]], [a["name"] for a in listed.json()["items"]]


def _state() -> dict:
    """Everything a refused request must leave untouched."""
    return {
        "hazards": list(Hazard.objects.order_by("pk").values_list("pk", "status", "is_supervised", "deadline",
                                                                   "closed_at", "updated_at")),
        "rectifications": list(Rectification.objects.order_by("pk").values_list(
            "pk", "measures", "deadline", "started_at", "rounds", "checker", "check_passed", "reported_done_at")),
        "steps": HazardStep.objects.count(),
        "plans": HazardPlan.objects.count(),
        "audit": AuditEntry.objects.filter(action__startswith="hazards.").count(),
        "outbox": OutboxEvent.objects.count(),
        "clocks": list(SlaClock.objects.order_by("pk").values_list("pk", "state", "due_at")),
    }


def test_the_table_alone_offers_work_outside_the_street_the_offers_do_not(world, official, pair):
    mine, theirs = pair
    user = _fresh(official)
    # the role carries 整改 (street staff) and 督办 (leader); the table asks no more than that
    assert _names(HAZARD_WORKFLOW.allowed(theirs, user)) == ["start", "supervise", "note"]
    offers = services.offers(theirs, user)
    assert _names(offers.actions) == ["supervise"]  # the leader's grant reaches the whole district
    assert _names(services.allowed_actions(theirs, user)) == ["supervise"]
    assert not offers.may_plan and not offers.may_reveal
    # in their own street: all of it
    offers = services.offers(mine, user)
    assert _names(offers.actions) == ["start", "supervise", "note"]
    assert offers.may_plan and offers.may_reveal


def test_no_button_no_plan_form_no_phone_outside_the_reach_and_the_page_refuses_them(world, official, pair):
    mine, theirs = pair
    c = _client(official)
    html = _page(c, theirs)
    assert _buttons(html) == ["supervise"]
    assert "data-plan-form" not in html and "data-reveal" not in html
    before = _state()
    refused = c.post(reverse("ui:hazard_act", args=[theirs.pk, "start"]), {"measures": "疏通管网", "deadline": _soon()})
    assert refused.status_code == 403 and "data-error" in refused.content.decode()
    assert _buttons(refused.content.decode()) == ["supervise"]  # the refusal's page offers no more either
    assert c.post(reverse("ui:hazard_act", args=[theirs.pk, "note"]), {"note": "已巡查"}).status_code == 403
    assert c.post(reverse("ui:hazard_plan", args=[theirs.pk, "emergency"]), {
        "responsible_person": "李四", "procedure": "封路抽排", "emergency_plan": "转移群众"}).status_code == 403
    assert c.post(reverse("ui:hazard_reveal", args=[theirs.pk])).status_code == 403
    assert _state() == before
    # with reach: the same official gets them on their street's hazard, and they work
    html = _page(c, mine)
    assert _buttons(html) == ["start", "supervise", "note"]
    assert 'data-plan-form="governance"' in html and "data-reveal" in html
    done = c.post(reverse("ui:hazard_act", args=[mine.pk, "start"]), {"measures": "疏通管网", "deadline": _soon()})
    assert done.status_code == 302
    mine.refresh_from_db()
    assert mine.status == Status.RECTIFYING
    # the button they were offered elsewhere is one the service takes
    assert c.post(reverse("ui:hazard_act", args=[theirs.pk, "supervise"]), {"reason": "汛前未整改"}).status_code == 302
    theirs.refresh_from_db()
    assert theirs.is_supervised and theirs.status == Status.REGISTERED


def test_the_api_lists_only_what_its_action_endpoint_accepts(world, official, pair, api_client, token_for):
    mine, theirs = pair
    headers = token_for(official)
    assert _api_actions(api_client, headers, theirs) == (["supervise"], ["supervise"])
    before = _state()
    refused = api_client.post(f"/api/v1/hazards/{theirs.pk}/actions/start",
                              {"measures": "疏通管网", "deadline": _soon()}, content_type="application/json",
                              **headers)
    assert refused.status_code == 403, refused.content
    assert api_client.post(f"/api/v1/hazards/{theirs.pk}/plans", {
        "kind": "emergency", "responsible_person": "李四", "procedure": "封路抽排", "emergency_plan": "转移群众"},
        content_type="application/json", **headers).status_code == 403
    assert _state() == before
    assert _api_actions(api_client, headers, mine) == (["start", "supervise", "note"],) * 2
    taken = api_client.post(f"/api/v1/hazards/{mine.pk}/actions/start", {"measures": "疏通管网", "deadline": _soon()},
                            content_type="application/json", **headers)
    assert taken.status_code == 200, taken.content
    # the answer's list is already the next state's, asked the same way
    assert [a["name"] for a in taken.json()["allowed_actions"]] == ["report_done", "supervise", "note"]


def test_acceptance_outside_the_street_is_not_offered(world, official, pair):
    """验收 (hazards.check) the same way: the table offers it to the street staff's role anywhere in the leader's
    view, the reach only in their street."""
    mine, theirs = pair
    for h, staff in ((mine, world.street), (theirs, world.other_street)):
        services.act(actor=staff, hazard=h, action="start", measures="疏通管网", deadline=_soon())
        services.act(actor=staff, hazard=h, action="report_done", note="已完成")
    mine, theirs = Hazard.objects.get(pk=mine.pk), Hazard.objects.get(pk=theirs.pk)
    user = _fresh(official)
    assert {"pass_check", "fail_check"} <= set(_names(HAZARD_WORKFLOW.allowed(theirs, user)))
    assert _names(services.allowed_actions(theirs, user)) == ["supervise"]
    assert _names(services.allowed_actions(mine, user)) == ["pass_check", "fail_check", "supervise", "note"]
    c = _client(official)
    before = _state()
    assert c.post(reverse("ui:hazard_act", args=[theirs.pk, "pass_check"]), {"checker": "王工"}).status_code == 403
    assert _state() == before


def test_the_reach_of_everything_the_page_offers_is_one_query(world, official, pair, django_assert_num_queries):
    mine, theirs = pair
    user = _fresh(official)
    has_capability(user, "hazards.view")  # the grants are read once per request, before any offer
    # three capabilities (整改, 督办, 方案), still one read
    with django_assert_num_queries(1):
        offers = services.offers(mine, user)
    assert offers.may_plan and offers.may_reveal and len(offers.actions) == 3
    with django_assert_num_queries(1):
        assert _names(services.allowed_actions(theirs, user)) == ["supervise"]
    leader = _fresh(world.leader)
    has_capability(leader, "hazards.view")
    closed = Hazard.objects.get(pk=theirs.pk)
    closed.status = Status.CLOSED  # nothing the leader's role may do to a closed hazard: nothing to ask
    with django_assert_num_queries(0):
        offers = services.offers(closed, leader)
    assert offers.actions == [] and not offers.may_plan and not offers.may_reveal


def test_the_detail_page_costs_the_same_however_much_it_offers(world, official, pair, django_assert_num_queries):
    mine, theirs = pair
    c = _client(official)
    _page(c, mine)  # the session warm
    with CaptureQueriesContext(connection) as full:
        assert len(_buttons(_page(c, mine))) == 3
    assert sum("in_scope_" in q["sql"] for q in full.captured_queries) == 1
    with django_assert_num_queries(len(full)):
        assert _buttons(_page(c, theirs)) == ["supervise"]

"""A case seen only as its reporter (outside the user's own grids or street) offers no work on it: the page and the
API list only what `act` accepts, which checks the reach of the user's grant, and a posted action is refused with
nothing changed. The check costs one query however many actions a page weighs."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import OTHER_STREET_POINT, auth, jpeg, loop, report, world_counts  # noqa: F401
from civicgrid.apps.cases.workflow import CASE_WORKFLOW, allowed_actions
from civicgrid.foundation.access.scope import has_capability

from .test_cases_pages import buttons, detail, post_action

pytestmark = pytest.mark.django_db


def _elsewhere(loop, reporter) -> Case:
    return report(loop, actor=reporter, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])


def _api_actions(api_client, user, case) -> list[str]:
    response = api_client.get(f"/api/v1/cases/{case.number}", **auth(user))
    assert response.status_code == 200
    return [a["name"] for a in response.json()["allowed_actions"]]


def test_a_grid_worker_following_a_report_outside_their_grids_gets_no_field_buttons(loop, client_for, api_client):
    c = client_for(loop.worker)
    checking = _elsewhere(loop, loop.worker)
    checking = act(actor=loop.dispatcher, case=checking, action="check_request")
    # the table alone would offer 核实反馈; the worker's grant does not reach the other street's grid
    assert [t.name for t in CASE_WORKFLOW.allowed(checking, loop.worker)] == ["check_result"]
    assert buttons(detail(c, checking).content.decode()) == []
    assert _api_actions(api_client, loop.worker, checking) == []

    handled = _elsewhere(loop, loop.worker)
    act(actor=loop.dispatcher, case=handled, action="accept")
    act(actor=loop.dispatcher, case=handled, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=handled, action="report_back", note="已处理")
    handled.refresh_from_db()
    assert {t.name for t in CASE_WORKFLOW.allowed(handled, loop.worker)} == {"verify", "rework"}
    assert buttons(detail(c, handled).content.decode()) == []
    assert _api_actions(api_client, loop.worker, handled) == []

    before = world_counts()
    assert post_action(c, handled, "rework", reason="没修好").status_code == 403
    assert post_action(c, checking, "check_result", result="confirmed").status_code == 403
    assert world_counts() == before
    # in their own grid the same worker gets them
    mine = report(loop)
    act(actor=loop.dispatcher, case=mine, action="check_request")
    assert buttons(detail(c, mine).content.decode()) == ["check_result"]


def test_a_street_dispatcher_following_their_report_in_another_street_cannot_accept_it(loop, client_for, api_client):
    case = _elsewhere(loop, loop.street_dispatcher)
    c = client_for(loop.street_dispatcher)
    assert {"accept", "refuse"} <= {t.name for t in CASE_WORKFLOW.allowed(case, loop.street_dispatcher)}
    assert buttons(detail(c, case).content.decode()) == []
    assert _api_actions(api_client, loop.street_dispatcher, case) == []
    before = world_counts()
    assert post_action(c, case, "accept").status_code == 403
    assert world_counts() == before
    # the dispatcher of that street gets them, and the table's order
    other = [t.name for t in CASE_WORKFLOW.allowed(case, loop.other_street_dispatcher)]
    assert buttons(detail(client_for(loop.other_street_dispatcher), case).content.decode()) == other
    assert _api_actions(api_client, loop.other_street_dispatcher, case) == other


def test_a_resident_reopens_their_own_report_the_reach_of_reopen_is_their_report(loop, api_client):
    case = report(loop, actor=loop.resident, source="public")
    for who, action, inputs in [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                                ("handler", "report_back", {"note": "已处理"}),
                                ("worker", "verify", {"photos": [jpeg()]}), ("dispatcher", "close", {})]:
        act(actor=getattr(loop, who), case=case, action=action, **inputs)
    case = Case.objects.get(pk=case.pk)
    assert [t.name for t in allowed_actions(case, loop.resident)] == ["reopen"]
    # the resident reopens through the follow link; the staff case file stays closed to them on the API too
    assert api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.resident)).status_code == 403


def test_the_reach_of_every_button_is_one_query(loop, django_assert_num_queries):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    user = loop.dispatcher
    case = Case.objects.get(pk=case.pk)
    has_capability(user, "cases.view")  # the grants are read once per request, before any button
    with django_assert_num_queries(1):
        names = [t.name for t in allowed_actions(case, user)]
    # four capabilities among them (派遣, 作废/合并 at intake, 挂账 by an approver, 标记重大事件), still one read
    assert {t.capability for t in CASE_WORKFLOW.allowed(case, user)} == {"cases.dispatch", "cases.intake",
                                                                         "cases.approve", "cases.mark_major"}
    assert names == [t.name for t in CASE_WORKFLOW.allowed(case, user)]
    has_capability(loop.resident, "cases.view")
    with django_assert_num_queries(0):
        assert allowed_actions(case, loop.resident) == []  # no action in the table: nothing to ask


def test_the_detail_page_asks_the_reach_once(loop, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    with CaptureQueriesContext(connection) as ctx:
        html = detail(client_for(loop.dispatcher), case).content.decode()
    assert "dispatch" in buttons(html)
    assert sum("in_scope_0" in q["sql"] for q in ctx.captured_queries) == 1

"""Scope by action: the cases a user reported outside their region are theirs to follow (view, and reopen as
their reporter), never to count, evaluate, export or work on as staff."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.selectors import CaseFilter, case_list
from civicgrid.apps.cases_documents import ledger
from civicgrid.apps.evaluation import selectors as evaluation
from civicgrid.dashboards.command import selectors as board
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

from .conftest import OTHER_STREET_POINT, auth, report

pytestmark = pytest.mark.django_db


def _numbers(qs) -> set[str]:
    return set(qs.values_list("number", flat=True))


def test_a_grid_worker_follows_their_out_of_grid_report_but_does_not_work_on_it(loop, api_client):
    inside = report(loop)
    outside = report(loop, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    assert _numbers(case_list(loop.worker, CaseFilter())) == {inside.number, outside.number}
    body = api_client.get("/api/v1/cases", **auth(loop.worker)).json()
    assert {i["number"] for i in body["items"]} == {inside.number, outside.number}
    assert api_client.get(f"/api/v1/cases/{outside.number}", **auth(loop.worker)).status_code == 200
    # 核实/核查 of that grid belong to its own workers
    for action in ("check", "verify", "report"):
        assert _numbers(Case.objects.visible_to(loop.worker, action)) == {inside.number}


def test_a_dispatchers_own_report_elsewhere_is_not_on_their_board_nor_in_their_ledger(loop, client):
    inside = report(loop, actor=loop.street_dispatcher)
    outside = report(loop, actor=loop.street_dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    sd = loop.street_dispatcher
    assert _numbers(case_list(sd, CaseFilter())) == {inside.number, outside.number}
    assert _numbers(board.board_cases(sd)) == {inside.number}
    assert board.today_figures(sd).reported == 1
    assert sum(row["count"] for row in board.status_counts(sd)) == 1
    assert [c.number for c in board.latest(sd)] == [inside.number]
    assert _numbers(ledger.ledger_cases(sd, CaseFilter())) == {inside.number}
    assert _numbers(Case.objects.visible_to(sd, "export")) == {inside.number}
    # the same through the download: one data row (plus the header)
    client.force_login(sd)
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [inside.number]
    # the other street's dispatcher does count it
    assert _numbers(board.board_cases(loop.other_street_dispatcher)) == {outside.number}


def test_a_leaders_own_report_elsewhere_is_not_evaluated_by_them(loop):
    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld50")
    # who also lives in the street and reports as a resident
    Grant.objects.create(user=street_leader, role=Role.RESIDENT, region=loop.tree["140213050"])
    inside = report(loop, actor=street_leader)
    outside = report(loop, actor=street_leader, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    today = timezone.localdate()
    assert _numbers(case_list(street_leader, CaseFilter())) == {inside.number, outside.number}
    assert _numbers(evaluation.cohort(street_leader, today - timedelta(days=1), today)) == {inside.number}
    table = evaluation.evaluate(street_leader, "grid", today - timedelta(days=1), today)
    assert not [r.key for r in table.rows if r.key.startswith("140213051")]
    assert _numbers(evaluation.cohort(loop.leader, today - timedelta(days=1), today)) == {inside.number,
                                                                                          outside.number}


def test_a_resident_sees_and_may_reopen_their_own_report_anywhere_but_exports_nothing(loop):
    outside = report(loop, actor=loop.resident, source="public", lng=OTHER_STREET_POINT[0],
                     lat=OTHER_STREET_POINT[1])
    assert _numbers(Case.objects.visible_to(loop.resident)) == {outside.number}
    assert _numbers(Case.objects.visible_to(loop.resident, "reopen")) == {outside.number}
    for action in ("export", "board", "evaluate", "intake"):
        assert not Case.objects.visible_to(loop.resident, action).exists()


def test_every_scope_override_takes_the_action():
    """`visible_to` passes the action to every model's `scope_q`: each override in the project accepts it."""
    import inspect

    from django.apps import apps

    from civicgrid.foundation.access.scope import ScopedModel

    checked = 0
    for model in apps.get_models():
        if issubclass(model, ScopedModel):
            params = inspect.signature(model.scope_q).parameters
            assert "action" in params and params["action"].kind == inspect.Parameter.KEYWORD_ONLY, model
            checked += 1
    assert checked >= 10

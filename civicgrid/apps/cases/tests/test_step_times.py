"""A step's data writes its instants in the district's zone, as the API writes every datetime (README): 延期审批's
`old_deadline` once came back "+00:00" beside `new_deadline` "+08:00"."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.apps.cases.models import CaseStep
from civicgrid.apps.cases.services import act

from .conftest import auth, report

pytestmark = pytest.mark.django_db


def _extended(loop):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=8)
    return act(actor=loop.leader, case=case, action="decide_extension", decision="approve")


def test_an_extension_decisions_deadlines_are_written_and_answered_in_district_time(loop):
    case = _extended(loop)
    stored = CaseStep.objects.get(case=case, action="decide_extension").data
    assert stored["old_deadline"].endswith("+08:00") and stored["new_deadline"].endswith("+08:00")
    steps = Client().get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()["timeline"]
    data = next(s["data"] for s in steps if s["action"] == "decide_extension")
    assert data["old_deadline"].endswith("+08:00") and data["new_deadline"].endswith("+08:00")
    assert data["old_deadline"] < data["new_deadline"]  # same zone: the text compares as the instants do


def test_a_row_written_before_in_utc_is_answered_in_district_time(loop):
    case = _extended(loop)
    step = CaseStep.objects.get(case=case, action="decide_extension")
    CaseStep.objects.filter(pk=step.pk).update(data={**step.data, "old_deadline": "2026-11-30T02:30:00+00:00",
                                                     "reason": "2026-11-30T02:30:00+00:00 之前"})
    steps = Client().get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()["timeline"]
    data = next(s["data"] for s in steps if s["action"] == "decide_extension")
    assert data["old_deadline"] == "2026-11-30T10:30:00+08:00"
    assert data["reason"] == "2026-11-30T02:30:00+00:00 之前"  # text that only contains a time stays as written
    assert data["decision"] == "approve" and data["hours"] == 8

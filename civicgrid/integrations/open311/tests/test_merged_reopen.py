"""OPEN on a request merged into another case: the merged report is over, its matter goes on in the case that
carries it. The client that reported it reopens that case, as the reporter's follow link does (same window, same
`reopen` step); when that case cannot be reopened the answer is a 409 naming it, and nothing is written (before,
a 200 whose text became a comment on the merged case while the carrier stayed closed)."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.cases.tests.conftest import jpeg
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import POINT, get, post, spec_error, world_counts
from .test_updates import close, reported, update_form

pytestmark = pytest.mark.django_db


def _merged(o311, http) -> tuple[Case, Case]:
    """B reported through Open311 and merged into A (also reported through it)."""
    a, b = reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=a, action="accept")
    act(actor=o311.dispatcher, case=b, action="merge", parent=a.number)
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.status == Status.MERGED
    return a, b


def _handled_and_closed(o311, case: Case) -> None:
    """The loop to its end, as the district closes a case (its clocks stopped on the way)."""
    for actor, action, inputs in ((o311.dispatcher, "dispatch", {"department": o311.dept.pk}),
                                  (o311.handler, "report_back", {"note": "已清理"}),
                                  (o311.worker, "verify", {"photos": [jpeg()]}), (o311.dispatcher, "close", {})):
        case = act(actor=actor, case=case, action=action, **inputs)
    assert case.status == Status.CLOSED


def test_open_on_a_merged_request_reopens_the_closed_case_that_carries_it(o311, http):
    a, b = _merged(o311, http)
    _handled_and_closed(o311, a)
    assert get(http, f"requests/{b.number}.json").json()[0]["status"] == "closed"
    b_steps = CaseStep.objects.filter(case=b).count()
    response = post(http, "servicerequestupdates.json", update_form(b, description="合并后还是没清理"))
    assert response.status_code == 200, response.content
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == Status.ACCEPTED and a.reopen_count == 1
    assert b.status == Status.MERGED and CaseStep.objects.filter(case=b).count() == b_steps  # no comment on B
    step = CaseStep.objects.get(pk=int(response.json()[0]["update_id"]))
    assert (step.case_id, step.action, step.note) == (a.pk, "reopen", "合并后还是没清理")
    entry = AuditEntry.objects.get(action="open311.update_received", target_id=str(b.pk))
    assert entry.data["reopen"] is True and entry.data["carrier"] == a.pk
    assert get(http, f"requests/{b.number}.json").json()[0]["status"] == "open"
    # the same update sent again answers as the first time, changing nothing
    before = world_counts()
    again = post(http, "servicerequestupdates.json", update_form(b, description="合并后还是没清理"))
    assert again.json() == response.json() and world_counts() == before


@pytest.mark.parametrize("state", ["still handled", "window passed"])
def test_open_on_a_merged_request_whose_carrier_cannot_be_reopened_is_a_409(o311, http, state):
    a, b = _merged(o311, http)
    if state == "window passed":
        _handled_and_closed(o311, a)
        close(a, days_ago=30)
    before = world_counts()
    text = spec_error(post(http, "servicerequestupdates.json", update_form(b)), 409)
    if state == "still handled":
        assert a.number in text
    assert world_counts() == before
    a.refresh_from_db()
    assert a.status == (Status.ACCEPTED if state == "still handled" else Status.CLOSED) and a.reopen_count == 0


def test_open_on_a_merged_request_another_channel_reported_is_a_409(o311, http):
    a = reported(o311, http)
    act(actor=o311.dispatcher, case=a, action="accept")
    staff = submit_case(actor=o311.worker, title="垃圾", lng=POINT[0], lat=POINT[1], category=o311.cat.pk,
                        source="grid_worker")[0]
    act(actor=o311.dispatcher, case=staff, action="merge", parent=a.number)
    close(a)
    before = world_counts()
    assert "merged" in spec_error(post(http, "servicerequestupdates.json", update_form(staff)), 409)
    assert world_counts() == before

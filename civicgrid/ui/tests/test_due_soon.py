"""即将超期: the shift lead lists the cases whose step is past its clock's warning time and not yet overdue (the case
list's and the API's `due_soon`, the ledger with the list's filters), and the board counts them beside 超期案件."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import auth, loop, report  # noqa: F401
from civicgrid.foundation.sla.models import SlaClock

pytestmark = pytest.mark.django_db


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _instants(case: Case, *, warn: timedelta, due: timedelta) -> None:
    """Put the case's handling clock's warning and deadline at these offsets from now."""
    now = timezone.now()
    SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="case.handle").update(
        warn_at=now + warn, due_at=now + due)


def _oids(html: str) -> set[int]:
    import re

    return {int(m) for m in re.findall(r'<tr data-oid="(\d+)"', html)}


def test_the_list_the_api_and_the_board_show_the_cases_about_to_go_overdue(loop, client_for):
    soon, fresh, late, suspended = (_dispatched(loop) for _ in range(4))
    _instants(soon, warn=-timedelta(minutes=5), due=timedelta(hours=1))  # warned, not yet due
    _instants(fresh, warn=timedelta(hours=1), due=timedelta(hours=2))
    _instants(late, warn=-timedelta(hours=2), due=-timedelta(hours=1))
    Case.objects.filter(pk=late.pk).update(is_overdue=True)
    _instants(suspended, warn=-timedelta(minutes=5), due=timedelta(hours=1))
    act(actor=loop.leader, case=suspended, action="suspend", reason="等待资金")  # 挂账: its clock stops
    client = client_for(loop.dispatcher)

    html = client.get(reverse("ui:case_list"), {"due_soon": "1"}).content.decode()
    assert _oids(html) == {soon.pk} and 'name="due_soon"' in html
    assert _oids(client.get(reverse("ui:case_list")).content.decode()) == {soon.pk, fresh.pk, late.pk, suspended.pk}

    api = auth(loop.dispatcher)
    found = client.get("/api/v1/cases", {"due_soon": "true"}, **api).json()
    assert [c["number"] for c in found["items"]] == [soon.number] and found["total"] == 1
    others = client.get("/api/v1/cases", {"due_soon": "false"}, **api).json()
    assert {c["number"] for c in others["items"]} == {fresh.number, late.number, suspended.number}

    # the ledger's 「按当前筛选」 reads the same filter from the list's query string
    from django.http import QueryDict

    from civicgrid.apps.cases import selectors
    f = selectors.filter_from_query(QueryDict("status=open&due_soon=1"))
    assert f.due_soon is True and [c.pk for c in selectors.case_list(loop.dispatcher, f)] == [soon.pk]

    board = client.get("/board/lists/").content.decode()
    assert 'data-due-soon="1"' in board and "due_soon=1" in board and "即将超期 1 件" in board

    # once the deadline passes it is overdue, no longer about to be
    _instants(soon, warn=-timedelta(hours=2), due=-timedelta(minutes=1))
    assert _oids(client.get(reverse("ui:case_list"), {"due_soon": "1"}).content.decode()) == set()
    assert 'data-due-soon="0"' in client.get("/board/lists/").content.decode()


def test_the_filtered_list_costs_the_same_queries_whatever_the_page_length(loop, client_for):
    client = client_for(loop.dispatcher)
    first = _dispatched(loop)
    _instants(first, warn=-timedelta(minutes=5), due=timedelta(hours=1))
    client.get(reverse("ui:case_list"), {"due_soon": "1"})
    with CaptureQueriesContext(connection) as one:
        assert len(_oids(client.get(reverse("ui:case_list"), {"due_soon": "1"}).content.decode())) == 1
    for _ in range(3):
        _instants(_dispatched(loop), warn=-timedelta(minutes=5), due=timedelta(hours=1))
    with CaptureQueriesContext(connection) as four:
        assert len(_oids(client.get(reverse("ui:case_list"), {"due_soon": "1"}).content.decode())) == 4
    assert len(four) == len(one)

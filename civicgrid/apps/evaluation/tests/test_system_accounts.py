"""Staff rankings compare people: the router's auto-dispatch account (智能分拨（系统）) is listed below the
ranking, marked and unranked, on the page, in the xlsx and in the API, and no person loses a rank to it."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from civicgrid.apps.cases.models import Status
from civicgrid.apps.evaluation import selectors
from civicgrid.apps.evaluation.xlsx import SYSTEM_RANK
from civicgrid.integrations.router.handlers import SYSTEM_USERNAME, system_account

from .conftest import AS_OF, MAY, at, closed_case, make_case

pytestmark = pytest.mark.django_db


def _auto_dispatched(d, n: int = 3):
    """The system account dispatches more, and more punctually, than the person: it would rank first."""
    system = system_account("140213050001001")
    for _ in range(n):
        make_case(d, status=Status.DISPATCHED, accepted_at=at(10, 11), accepted_by=system, accepted_on_time=True,
                  dispatched_at=at(10, 11), dispatched_by=system, dispatched_on_time=True, department=d.dept,
                  deadline=at(3, month=6), auto_dispatched=True)
    closed_case(d, dispatched_on_time=False)  # the person's one case, dispatched late
    return system


@pytest.mark.parametrize("kind", ["dispatcher", "intake", "shift_lead"])
def test_the_system_account_is_listed_apart_and_never_ranked(district, kind):
    system = _auto_dispatched(district)
    ev = selectors.evaluate(district.leader, kind, *MAY, as_of=AS_OF)
    # the street dispatcher, without a case, is listed unranked
    assert [(r.code, r.rank, r.system) for r in ev.rows] == [("cd", 1, False), ("sd", None, False)]
    assert [(r.code, r.rank, r.system) for r in ev.system_rows] == [(SYSTEM_USERNAME, None, True)]
    assert ev.system_rows[0].key == str(system.pk)
    if kind == "dispatcher":  # scored and shown, only not ranked: 3 dispatches, all in time
        assert ev.system_rows[0].counts["dispatched"] == 3 and ev.system_rows[0].score is not None


def test_departments_and_regions_have_no_system_rows(district):
    _auto_dispatched(district)
    for kind in ("department", "street", "grid_worker"):
        assert selectors.evaluate(district.leader, kind, *MAY, as_of=AS_OF).system_rows == []


def test_the_page_and_the_export_mark_it_below_the_ranking(district, client):
    _auto_dispatched(district)
    client.force_login(district.leader)
    html = client.get("/evaluation/", {"subject": "dispatcher", "month": "2026-05"}).content.decode()
    ranking, _, below = html.partition("data-system-accounts")
    assert below and "系统账号（不参与排名）" in below and "智能分拨（系统）" in below and SYSTEM_USERNAME in below
    assert SYSTEM_USERNAME not in ranking
    assert '<td class="num" data-label="排名">1</td>' in ranking  # the person keeps first place

    response = client.get("/evaluation/export.xlsx", {"subject": "dispatcher", "month": "2026-05"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert [r[:3] for r in rows[1:]] == [(1, district.dispatcher.display_name or "cd", "cd"),
                                         (None, district.street_dispatcher.display_name or "sd", "sd"),
                                         (SYSTEM_RANK, "智能分拨（系统）", SYSTEM_USERNAME)]


def test_the_api_lists_it_apart(district, client):
    from civicgrid.apps.cases.tests.conftest import auth

    _auto_dispatched(district)
    body = client.get("/api/v1/evaluation", {"subject": "dispatcher", "month": "2026-05", "unranked": "true"},
                      **auth(district.leader)).json()
    assert [(i["code"], i["rank"]) for i in body["items"]] == [("cd", 1), ("sd", None)] and body["count"] == 2
    assert [(i["code"], i["rank"]) for i in body["system_items"]] == [(SYSTEM_USERNAME, None)]


@pytest.mark.parametrize("kind", ["dispatcher", "intake", "shift_lead"])
def test_in_english_the_page_names_it_as_the_case_history_does(district, client, kind):
    """The reader's language, as `SYSTEM_ACCOUNT_LABELS` names its steps on the case page; the xlsx stays Chinese."""
    from django.conf import settings
    from django.utils import translation

    _auto_dispatched(district)
    client.force_login(district.leader)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    try:
        html = client.get("/evaluation/", {"subject": kind, "month": "2026-05"}).content.decode()
        rows = list(load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", {
            "subject": kind, "month": "2026-05"}).content)).active.iter_rows(values_only=True))
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    below = html.partition("data-system-accounts")[2]
    assert "System accounts (not ranked)" in below and "Smart routing (system)" in below
    assert "智能分拨（系统）" not in html and SYSTEM_USERNAME in below
    assert rows[-1][:3] == (SYSTEM_RANK, "智能分拨（系统）", SYSTEM_USERNAME)

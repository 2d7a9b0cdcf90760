"""按期结案 (DOMAIN.md §4) is one fact for the case page and the board: closed with both the handling and the
closing step in time. A case closed promptly after a late handling is 超期 on its page and not counted as
按期结案 on the board."""
# ruff: noqa: F811  (`people` is the board tests' fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.apps.cases.models import Case, closed_timely_q
from civicgrid.dashboards.command import selectors
from civicgrid.dashboards.command.tests.test_board import close_loop, fresh, people, report  # noqa: F401

pytestmark = pytest.mark.django_db


def tag_on_page(user, case) -> str:
    client = Client()
    client.force_login(user)
    html = client.get(f"/cases/{case.number}/").content.decode()
    found = [value for value in ("yes", "no") if f'data-closed-timely="{value}"' in html]
    return found[0] if len(found) == 1 else ""


def test_a_late_handling_makes_the_closing_late_on_the_page_and_on_the_board(people):
    p = people
    on_time = close_loop(p, report(p))
    late = close_loop(p, report(p, title="暴露垃圾"))
    # The department's handling came after its deadline; the 值班长 then closed within the closing time.
    Case.objects.filter(pk=late.pk).update(handled_on_time=False)
    late.refresh_from_db()
    assert late.closed_on_time is True and late.handled_on_time is False
    assert (on_time.closed_timely, late.closed_timely) == (True, False)
    assert tag_on_page(p["cd"], on_time) == "yes" and tag_on_page(p["cd"], late) == "no"
    figures = selectors.today_figures(fresh(p["cd"]))
    assert figures.closed == 2 and figures.closed_timely == 1
    assert list(Case.objects.filter(closed_timely_q()).values_list("pk", flat=True)) == [on_time.pk]


def test_an_unknown_fact_or_an_open_case_shows_no_tag(people):
    p = people
    case = close_loop(p, report(p))
    Case.objects.filter(pk=case.pk).update(handled_on_time=None)
    case.refresh_from_db()
    assert case.closed_timely is None and tag_on_page(p["cd"], case) == ""
    assert selectors.today_figures(fresh(p["cd"])).closed_timely == 0
    still_open = report(p)
    assert still_open.closed_timely is None and tag_on_page(p["cd"], still_open) == ""

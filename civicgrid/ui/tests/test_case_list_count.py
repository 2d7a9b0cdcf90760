"""The case list page counts at most COUNT_CAP + 1 cases: past the cap it shows "共 10,000+ 条" on every page
(its cursor links page on to the end); under it, the exact total as before. The API keeps its exact total. A
small cap stands in for 10,000 here (the constant is patched), so a list of 130 cases is "long"."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.tests.conftest import auth, loop  # noqa: F401
from civicgrid.ui.pages import cases_list

pytestmark = pytest.mark.django_db

N = 130
GRIDS = ["140213050001001", "140213050001001", "140213050002001", "140213051001001"]  # the grid worker's twice


@pytest.fixture
def cases(loop):
    """N cases over both streets, some dispatched to the department, some reported by the grid worker and
    the handler (their own reports, seen wherever they are); a few share a report time."""
    rng = random.Random(11)
    now = timezone.now().replace(microsecond=0)
    Case.objects.bulk_create([
        Case(number=f"{now:%Y%m%d}{60000 + i:05d}", title=f"事件{i}", title_masked=f"事件{i}",  # as intake writes it
             source="grid_worker", lng=113.21, lat=40.01,
             grid=loop.tree[code], region_code=code, category=loop.cat,
             department=rng.choice([None, loop.dept, loop.dept]),
             reporter=rng.choice([None, loop.worker, loop.handler]),
             status=rng.choice([Status.DISPATCHED, Status.CLOSED]), is_overdue=rng.random() < 0.2,
             reported_at=now - timedelta(minutes=rng.randrange(0, N * 2)))
        for i, code in enumerate(rng.choice(GRIDS) for _ in range(N))])


def expected(user, **f) -> list[str]:
    """The list's numbers in order, read plainly (the scoped queryset, sorted: checked against a reference
    in cases/tests/test_list_pages.py)."""
    return list(selectors.case_list(user, selectors.CaseFilter(**f)).values_list("number", flat=True))


def get(client, **params):
    response = client.get(reverse("ui:case_list"), params)
    assert response.status_code == 200
    return response, response.content.decode()


def numbers(response) -> list[str]:
    return [row["case"].number for row in response.context["rows"]]


def count_text(html: str) -> str:
    return re.search(r'<p class="hint count"[^>]*>(.*?)</p>', html, re.S).group(1).strip()


def pager(html: str) -> dict:
    nav = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', html, re.S)
    text = nav.group(1) if nav else ""
    return {"prev": 'rel="prev"' in text, "next": 'rel="next"' in text}


def next_cursor(html: str) -> str:
    return re.search(r'href="\?[^"]*cursor=([0-9_-]+)[^"]*" rel="next"', html)[1]


def test_a_list_longer_than_the_cap_shows_cap_plus_and_the_api_the_exact_total(
        loop, cases, client_for, api_client, monkeypatch):
    monkeypatch.setattr(cases_list, "COUNT_CAP", 60)
    all_numbers = expected(loop.dispatcher)
    assert len(all_numbers) == N
    response, html = get(client_for(loop.dispatcher))
    assert count_text(html) == "共 60+ 条" and "130" not in count_text(html)
    assert response.context["pager"]["capped"]
    assert pager(html) == {"prev": False, "next": True}
    assert numbers(response) == all_numbers[:50]
    # The API is not the page: its total stays exact.
    body = api_client.get("/api/v1/cases", {"limit": 10}, **auth(loop.dispatcher)).json()
    assert body["total"] == N


def test_the_capped_count_speaks_english_too(loop, cases, client_for, monkeypatch):
    monkeypatch.setattr(cases_list, "COUNT_CAP", 60)
    c = client_for(loop.dispatcher)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    _, html = get(c)
    assert count_text(html) == "60+ records"
    _, html = get(c, cursor=next_cursor(html))
    assert count_text(html) == "60+ records"


def test_a_list_at_or_under_the_cap_shows_the_exact_total(loop, cases, client_for, monkeypatch):
    c = client_for(loop.dispatcher)
    for cap in (N, N + 1, 10_000):
        monkeypatch.setattr(cases_list, "COUNT_CAP", cap)
        response, html = get(c)
        assert count_text(html) == f"共 {N} 条", cap
        assert pager(html) == {"prev": False, "next": True}
        assert not response.context["pager"]["capped"]
    monkeypatch.setattr(cases_list, "COUNT_CAP", N - 1)
    assert count_text(get(c)[1]) == f"共 {N - 1:,}+ 条"
    # The real cap reads with a thousands separator.
    monkeypatch.setattr(cases_list, "COUNT_CAP", 10_000)
    assert get(c)[0].context["pager"]["cap_label"] == "10,000"


@pytest.mark.parametrize("who", ["dispatcher", "street_dispatcher", "handler", "worker", "superuser"])
def test_paging_across_a_capped_list_returns_every_row_once_in_order(loop, cases, client_for, monkeypatch, who):
    """Each page shows the capped count (the same on every page, however deep)."""
    user = (get_user_model().objects.create_superuser(username="root", password="Civic-Test-2026!")
            if who == "superuser" else getattr(loop, who))
    for params, f in (({}, {}), ({"overdue": "0"}, {"overdue": False})):
        want = expected(user, **f)
        assert len(want) > 50, (who, params)  # more than one page
        cap = len(want) // 3  # capped, and smaller than a page for some
        monkeypatch.setattr(cases_list, "COUNT_CAP", cap)
        c = client_for(user)
        got, page, cursor = [], 1, None
        while True:
            response, html = get(c, **params, **({"cursor": cursor} if cursor else {}))
            assert count_text(html) == f"共 {cap}+ 条", (who, params, page)
            assert pager(html) == {"prev": page > 1, "next": page * 50 < len(want)}
            got += numbers(response)
            if not pager(html)["next"]:
                break
            page, cursor = page + 1, next_cursor(html)
        assert got == want, (who, params)


def _queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        get(client, **params)
    return len(ctx.captured_queries)


def test_the_page_makes_the_same_queries_short_or_long(loop, cases, client_for, monkeypatch):
    monkeypatch.setattr(cases_list, "COUNT_CAP", 60)
    c = client_for(loop.dispatcher)
    short = _queries(c, q="事件7")  # 事件7, 事件7x: 11 cases, counted exactly
    assert count_text(get(c, q="事件7")[1]) == "共 11 条"
    second = next_cursor(get(c)[1])
    third = next_cursor(get(c, cursor=second)[1])
    for params in ({}, {"cursor": second}, {"cursor": third}, {"before": third}, {"overdue": "0"}):
        assert _queries(c, **params) <= short, params
    monkeypatch.setattr(cases_list, "COUNT_CAP", 10)
    assert count_text(get(c, q="事件7")[1]) == "共 10+ 条"
    assert _queries(c, q="事件7") <= short


@pytest.mark.parametrize(("query", "zh", "en"), [
    ({"region": "abc"}, "「街道/社区」须为区划代码", "Street / community must be a region code"),
    ({"category": "abc"}, "「分类」须为编号", "Category must be an id"),
    ({"overdue": "maybe"}, "「超期」须为 1（是）或 0（否）", "Overdue must be 1 (yes) or 0 (no)"),
    ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "「上报日期至」早于「上报日期自」",
     "Reported to is before Reported from"),
])
def test_a_refused_filter_names_the_field_as_labelled_and_offers_the_list_without_filters(client, query, zh, en):
    """"region 须为区划代码" named the parameter, not the field the reader filled; the page's only way on was home."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    user = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    client.force_login(user)
    page = client.get("/cases/", query)
    html = page.content.decode()
    assert page.status_code == 400 and zh in html and en not in html
    assert 'href="/cases/" data-clear-filters' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get("/cases/", query).content.decode()
    assert en in html and zh not in html
    from civicgrid.foundation.access.models import ApiToken

    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}
    api = client.get("/api/v1/cases", query, **token)  # the API names the parameter in `field`
    assert api.status_code in (400, 422) and any(f'"{name}"' in api.content.decode() for name in query)

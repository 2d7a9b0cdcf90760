"""The case list page (`/cases/`) pages by cursor, as the API does (`CaseListing.cursor_page`): 下一页 and 上一页
links that keep every filter (the language is the reader's cookie), a 第一页 link, the capped count on every
page; walked forward and back it shows every case once in the list's order, a cursor the list did not give
shows the first page with a message in the reader's language, and every page costs the same queries however
deep. A small page length stands in for 50 (the constant is patched), so 130 cases make many pages."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import html as markup
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.tests.conftest import loop  # noqa: F401
from civicgrid.ui.pages import cases_list

from .test_case_list_count import N, cases, count_text, expected, get, numbers  # noqa: F401

pytestmark = pytest.mark.django_db

SIZE = 7  # the page length here (130 cases: 19 pages unfiltered)
REFUSED = "翻页链接无效（可能被改动过），已显示第一页。"


@pytest.fixture(autouse=True)
def short_pages(monkeypatch):
    monkeypatch.setattr(cases_list, "PAGE_SIZE", SIZE)


def english(msgid: str) -> str:
    """The catalogue's English for a msgid (a new one reads as its Chinese until the catalogue is compiled)."""
    with translation.override("en"):
        return translation.gettext(msgid)


def links(html: str) -> dict[str, str]:
    """The pager's links by rel (first, prev, next): each href's query string, unescaped."""
    nav = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', html, re.S)
    found = re.findall(r'<a href="([^"]*)" rel="(\w+)"', nav.group(1)) if nav else []
    return {rel: markup.unescape(href) for href, rel in found}


def query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query, keep_blank_values=True)


def follow(client, href: str):
    response = client.get(reverse("ui:case_list") + href)
    assert response.status_code == 200
    return response, response.content.decode()


def user_of(loop, who: str):
    if who == "superuser":
        return get_user_model().objects.create_superuser(username="root", password="Civic-Test-2026!")
    return getattr(loop, who)


FILTERS = (
    ({}, {}),
    ({"overdue": "0", "status": "closed"}, {"overdue": False, "status": "closed"}),
    ({"q": "事件1", "region": "140213050", "category": "{cat}", "supervised": "0", "department": ""},
     {"q": "事件1", "region": "140213050", "supervised": False, "category": "{cat}"}),
)


def _filters(loop, params: dict, f: dict) -> tuple[dict, dict]:
    fill = lambda d: {k: (loop.cat.pk if v == "{cat}" else v) for k, v in d.items()}  # noqa: E731
    return {k: str(v) for k, v in fill(params).items()}, fill(f)


@pytest.mark.parametrize("who", ["dispatcher", "street_dispatcher", "handler", "worker", "superuser"])
def test_paging_forward_and_back_through_a_filtered_list_shows_every_case_once_in_order(loop, cases, client_for, who):
    """By the page's own links: forward to the last page, every case once in order; back by 上一页 to the
    first, the same pages in reverse; every link carries every filter and one cursor, no page number."""
    user = user_of(loop, who)
    c = client_for(user)
    walked = 0
    for raw, raw_f in FILTERS:
        params, f = _filters(loop, raw, raw_f)
        want = expected(user, **f)
        response, html = get(c, **params)
        pages = [numbers(response)]
        assert "prev" not in links(html) and "first" not in links(html)
        while "next" in links(html):
            href = links(html)["next"]
            assert {k: v[0] for k, v in query(href).items() if k != "cursor"} == params, (who, href)
            response, html = follow(c, href)
            pages.append(numbers(response))
            assert count_text(html) == f"共 {len(want)} 条"
            assert len(pages) <= len(want) + 1, "the next links never end"
        assert [n for page in pages for n in page] == want, (who, params)
        assert all(len(page) == SIZE for page in pages[:-1]) and pages[-1]
        back = [pages[-1]]
        while "prev" in links(html):
            current = links(html)
            for rel in ("prev", "first"):
                assert {k: v[0] for k, v in query(current[rel]).items() if k != "before"} == params, (who, rel)
            assert "before" in query(current["prev"]) and "before" not in query(current["first"])
            response, html = follow(c, current["prev"])
            back.append(numbers(response))
            assert len(back) <= len(pages), "the previous links never end"
        assert back[::-1] == pages, (who, params)
        assert "first" not in links(html)  # back at the first page
        walked += len(pages)
    assert walked > 20  # many pages, through report times several cases share


def test_the_first_page_link_leads_to_the_first_page_from_deep_down(loop, cases, client_for):
    c = client_for(loop.dispatcher)
    want = expected(loop.dispatcher, overdue=False)
    response, html = get(c, overdue="0")
    for _ in range(5):
        response, html = follow(c, links(html)["next"])
    assert numbers(response) == want[5 * SIZE : 6 * SIZE]
    response, html = follow(c, links(html)["first"])
    assert numbers(response) == want[:SIZE] and query(links(html)["next"])["overdue"] == ["0"]


def test_the_links_and_the_language_switch_keep_the_english_interface_and_the_page(loop, cases, client_for):
    c = client_for(loop.dispatcher)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    want = expected(loop.dispatcher, status="closed")
    _, html = get(c, status="closed")
    response, html = follow(c, links(html)["next"])
    response, html = follow(c, links(html)["next"])
    assert numbers(response) == want[2 * SIZE : 3 * SIZE]
    assert '<html lang="en"' in html
    nav = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r'rel="\w+">([^<]*)</a>', nav) == [english("第一页"), "Previous", "Next"]
    # Switching the language comes back to this same page (the switch's `next` keeps the cursor).
    back_to = re.search(r'name="next" type="hidden" value="([^"]*)"', html)[1]
    assert "cursor=" in markup.unescape(back_to) and "status=closed" in markup.unescape(back_to)


BAD = ("x", "12_", "_5", "1_2_3", "999999999999999999_1", "-999999999999999999_1", "1.5_2", "١_1", "²_1",
       "<script>alert(1)</script>", "1" * 5000)


@pytest.mark.parametrize("name", ["cursor", "before"])
def test_a_tampered_or_garbage_cursor_shows_the_first_page_and_says_so(loop, cases, client_for, name):
    c = client_for(loop.street_dispatcher)
    want = expected(loop.street_dispatcher, overdue=False)
    for bad in BAD:
        response, html = get(c, overdue="0", **{name: bad})
        assert numbers(response) == want[:SIZE], bad
        assert REFUSED in html and 'role="alert"' in html, bad
        assert "prev" not in links(html) and query(links(html)["next"])["overdue"] == ["0"]
        assert "<script>alert" not in html
    # Two cursors at once were not given by the list either.
    _, html = get(c, overdue="0")
    good = query(links(html)["next"])["cursor"][0]
    response, html = get(c, overdue="0", cursor=good, before=good)
    assert numbers(response) == want[:SIZE] and REFUSED in html
    # A good cursor says nothing.
    response, html = get(c, overdue="0", **{name: good})
    assert REFUSED not in html and "data-cursor-refused" not in html


def test_the_refusal_speaks_english_too(loop, cases, client_for):
    c = client_for(loop.dispatcher)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    response, html = get(c, cursor="garbage")
    assert english(REFUSED) in html and '<html lang="en"' in html
    assert numbers(response) == expected(loop.dispatcher)[:SIZE]


def test_a_link_the_list_changed_under_shows_the_first_page_quietly(loop, cases, client_for):
    """Nothing after the cursor (its rows went), or less than a page before it: the first page, no message;
    an old page-number link shows the first page too."""
    c = client_for(loop.dispatcher)
    first = expected(loop.dispatcher)[:SIZE]
    for params in ({"cursor": "0_1"}, {"before": "4102444800000000_1"}, {"page": "3"}):  # 1970; 2100
        response, html = get(c, **params)
        assert numbers(response) == first and REFUSED not in html, params
        assert "page=" not in links(html)["next"]
    # Less than a page before the cursor: the first page, whole.
    second = expected(loop.dispatcher)[SIZE : 2 * SIZE]
    c2 = expected(loop.dispatcher)
    from civicgrid.apps.cases.models import Case

    third_row = Case.objects.get(number=c2[2])
    response, html = get(c, before=selectors.cursor_of(third_row))
    assert numbers(response) == first and "prev" not in links(html)
    assert numbers(follow(c, links(html)["next"])[0]) == second


def _queries(client, href: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        follow(client, href)
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["dispatcher", "street_dispatcher", "handler"])
def test_every_page_costs_the_queries_of_the_first_however_deep(loop, cases, client_for, who):
    """The first page, each page down to the last, each page back, and a refused cursor: the same number of
    queries (for a scope of one part, the district's, and of several, the street's and the department's)."""
    user = getattr(loop, who)
    c = client_for(user)
    first = _queries(c, "?overdue=0")
    _, html = get(c, overdue="0")
    hrefs = []
    while "next" in links(html):
        hrefs.append(links(html)["next"])
        _, html = follow(c, hrefs[-1])
    while "prev" in links(html):
        hrefs.append(links(html)["prev"])
        _, html = follow(c, hrefs[-1])
    assert len(hrefs) > 8
    counts = [_queries(c, href) for href in [*hrefs, "?overdue=0&cursor=nonsense", "?overdue=0&before=1_2_3"]]
    assert counts == [first] * len(counts), (who, first, counts)

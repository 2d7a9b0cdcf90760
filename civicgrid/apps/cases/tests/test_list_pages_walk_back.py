"""The case list walked back by `previous_cursor` (`CaseListing.cursor_page(before=…)`) on test_list_pages.py's
cases and reference: a file of its own so that, with `--dist loadfile`, this long walk and the rest of the list's
tests run on two workers at once."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.selectors import CaseFilter, CaseListing

from .test_list_pages import _filters, _users, reference, world  # noqa: F401 (world: the fixture)

pytestmark = pytest.mark.django_db


def test_cursor_pages_walk_back_to_the_first_page_along_the_same_pages(loop, world):  # noqa: F811
    """`cursor_page(before=…)` reads the page before a page (seeking the other way): walked forward by
    `next_cursor` and back by `previous_cursor`, every kind of user meets the same pages in both directions,
    ending at the first, through report times shared by several cases, each page in the queries of a first
    page; the first page has no previous cursor and the last no next one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users, filters = _users(loop, world), _filters(loop, world)
    for who, user in users.items():
        for name in ("none", "not overdue", "category class", "region"):
            expected = reference(user, loop, **filters[name])
            for size in (1, 7, 40):
                listing = CaseListing(user, CaseFilter(**filters[name]))
                with CaptureQueriesContext(connection) as first:
                    page = listing.cursor_page(size)
                assert page.previous_cursor is None, (who, name, size)
                forward = [page]
                while page.next_cursor and len(forward) <= len(expected):  # a walk that never ends fails
                    page = listing.cursor_page(size, after=page.next_cursor)
                    forward.append(page)
                assert [c.pk for p in forward for c in p.rows] == expected, (who, name, size)
                backward = [page]
                while page.previous_cursor and len(backward) <= len(forward):
                    with CaptureQueriesContext(connection) as seek:
                        page = listing.cursor_page(size, before=page.previous_cursor)
                    assert len(seek.captured_queries) <= len(first.captured_queries), (who, name, size)
                    backward.append(page)
                assert [[c.pk for c in p.rows] for p in reversed(backward)] == [[c.pk for c in p.rows]
                                                                                for p in forward], (who, name, size)
                assert [p.next_cursor for p in reversed(backward)] == [p.next_cursor for p in forward]

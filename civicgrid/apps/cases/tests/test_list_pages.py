"""The case list's pages (`selectors.CaseListing`, read by `/cases/` and `GET /api/v1/cases`) give exactly the rows,
in exactly the order, and the total that a plain reading of the rules gives, for every kind of user.

The reference is written here in Python over a few hundred cases: a user sees the cases in their regions'
subtrees, the cases of their departments, and the cases they reported wherever they are; newest report first,
the larger id first among equal report times. Some cases share a report time, and several users reported
outside their own region.

The walk back by `previous_cursor` is in test_list_pages_walk_back.py (on the same cases, `world` below): with
`--dist loadfile` a file runs on one worker, and the two walks of every page at sizes 1, 7 and 40 together held
one worker for minutes.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import OPEN_STATUSES, Case, Status
from civicgrid.apps.cases.selectors import CaseFilter, CaseListing
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role, capabilities_of
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.testing.builders import user_with

from .conftest import auth

pytestmark = pytest.mark.django_db

GRIDS = ["140213050001001", "140213050001002", "140213050002001", "140213051001001", "140213051002002"]
N = 320


@pytest.fixture
def world(loop):
    """N cases over five grids in both streets, with repeated report times, random statuses, flags,
    categories, departments and reporters (among them reports outside the reporter's region)."""
    rng = random.Random(47)
    # Someone with two grants (a community and the other street's department work) and someone with none.
    two = user_with(Role.COMMUNITY_STAFF, region=loop.tree["140213050002"], username="two-grants")
    Grant.objects.create(user=two, role=Role.DEPARTMENT_HANDLER, department=loop.other_dept)
    nobody = get_user_model().objects.create_user(username="no-grants", password="Civic-Test-2026!")
    reporters = [None, None, None, loop.worker, loop.street_dispatcher, loop.handler, loop.leader, loop.resident,
                 two, nobody, loop.other_street_dispatcher]
    categories = [None, loop.cat, loop.sibling, loop.other_cat]
    departments = [None, loop.dept, loop.other_dept]
    now = timezone.now().replace(microsecond=0)
    times = [now - timedelta(hours=rng.randrange(0, 24 * 60)) for _ in range(N // 3)]  # about 3 cases a time
    cases = []
    for i in range(N):
        code = rng.choice(GRIDS)
        cases.append(Case(
            number=f"{now:%Y%m%d}{70000 + i:05d}", title=f"事件{i}", source="grid_worker", lng=113.21, lat=40.01,
            grid=loop.tree[code], region_code=code, category=rng.choice(categories),
            department=rng.choice(departments), reporter=rng.choice(reporters),
            status=rng.choice(Status.values), is_overdue=rng.random() < 0.3, is_supervised=rng.random() < 0.1,
            reported_at=rng.choice(times)))
    Case.objects.bulk_create(cases)
    return {"two": two, "nobody": nobody, "now": now}


def _sees(user, grants: list[Grant], case: Case) -> bool:
    """`grants`: the user's grants with their regions (read once per reference, not once per case)."""
    if user.is_superuser:
        return True
    if case.reporter_id == user.pk:
        return True
    for g in grants:
        if "cases.view" not in capabilities_of(g.role):
            continue
        if g.region_id and case.region_code.startswith(g.region.code):
            return True
        if g.department_id and case.department_id == g.department_id:
            return True
    return False


def _matches(case: Case, loop, **f) -> bool:
    if "status" in f:
        groups = {"open": {*OPEN_STATUSES, Status.SUSPENDED}, "active": set(OPEN_STATUSES)}
        wanted = groups.get(f["status"]) or set(f["status"].split(","))
        if case.status not in wanted:
            return False
    if "overdue" in f and case.is_overdue != f["overdue"]:
        return False
    # 督办中 is now: a case whose loop ended is not under supervision, as the supervision lane reads it
    if "supervised" in f and (case.is_supervised and case.status in {*OPEN_STATUSES, Status.SUSPENDED}) != f["supervised"]:
        return False
    if "category" in f and not (case.category_id == f["category"]
                                or (case.category_id and case.category.parent_id == f["category"])):
        return False
    if "region" in f and not case.region_code.startswith(f["region"]):
        return False
    if "department" in f and case.department_id != f["department"]:
        return False
    local = timezone.localtime(case.reported_at).date()
    if "date_from" in f and local < f["date_from"]:
        return False
    return not ("date_to" in f and local > f["date_to"])


def reference(user, loop, **f) -> list[int]:
    grants = list(Grant.objects.filter(user=user).select_related("region"))
    rows = [c for c in Case.objects.select_related("category") if _sees(user, grants, c) and _matches(c, loop, **f)]
    rows.sort(key=lambda c: (c.reported_at, c.pk), reverse=True)
    return [c.pk for c in rows]


def _users(loop, world):
    admin = get_user_model().objects.create_superuser(username="root", password="Civic-Test-2026!")
    # Those who read case files (a resident and an account without grants read none: see below).
    return {"district": loop.dispatcher, "leader": loop.leader, "street": loop.street_dispatcher,
            "grid worker": loop.worker, "department": loop.handler, "two grants": world["two"], "superuser": admin}


def test_who_reads_no_case_files_gets_no_list_from_the_selector_the_api_or_the_page(loop, world, api_client,
                                                                                    client):
    """A resident's own reports are in their `view` scope (they reported them), yet the list is refused them,
    as to an account without grants: they follow their reports by link."""
    assert Case.objects.filter(reporter=loop.resident).exists()
    for user in (loop.resident, world["nobody"]):
        with pytest.raises(PermissionDenied):
            CaseListing(user, CaseFilter())
        assert api_client.get("/api/v1/cases", **auth(user)).status_code == 403
        client.force_login(user)
        assert client.get("/cases/").status_code == 403


def _filters(loop, world):
    today = timezone.localtime(world["now"]).date()
    return {
        "none": {}, "open": {"status": "open"}, "active": {"status": "active"},
        "two statuses": {"status": "closed,handling"},
        "overdue": {"overdue": True}, "not overdue": {"overdue": False}, "supervised": {"supervised": True},
        "category class": {"category": loop.cls.pk}, "subclass": {"category": loop.sibling.pk},
        "region": {"region": "140213050"}, "department": {"department": loop.dept.pk},
        "last 20 days": {"date_from": today - timedelta(days=20), "date_to": today},
        "not overdue, open, class": {"overdue": False, "status": "open", "category": loop.cls.pk},
    }


def test_every_kind_of_user_gets_the_reference_rows_in_order_and_total(loop, world):
    users, filters = _users(loop, world), _filters(loop, world)
    # The fixture really has what the split must get right.
    assert Case.objects.filter(reporter=loop.worker).exclude(region_code=loop.worker.grants.get().region.code)
    assert Case.objects.filter(reporter=loop.handler).exclude(department=loop.dept).exists()
    assert Case.objects.values("reported_at").distinct().count() < N
    seen = 0
    for who, user in users.items():
        for name, f in filters.items():
            expected = reference(user, loop, **f)
            seen += len(expected)
            listing = CaseListing(user, CaseFilter(**f))
            assert listing.count() == len(expected), (who, name)
            got = []
            for start in range(0, len(expected) + 40, 40):  # every page, and one past the end
                got += [c.pk for c in listing[start : start + 40]]
            assert got == expected, (who, name)
            # The plain scoped queryset (what the list read before) agrees too.
            assert list(selectors.case_list(user, CaseFilter(**f)).values_list("pk", flat=True)) == expected
    assert seen > 5 * N  # not a comparison of empty lists


def test_deep_pages_odd_slices_and_single_items_agree(loop, world, monkeypatch):
    users = _users(loop, world)
    for user in (users["street"], users["grid worker"], users["two grants"]):
        expected = reference(user, loop)
        listing = CaseListing(user, CaseFilter())
        assert listing.split  # the scope has several parts
        assert [c.pk for c in listing[7:61]] == expected[7:61]
        assert listing[3].pk == expected[3]
        assert listing[5:5] == [] and listing[len(expected) : len(expected) + 10] == []
        with pytest.raises(IndexError):
            listing[len(expected)]
        monkeypatch.setattr(selectors, "SPLIT_MAX_ROWS", 10)  # deeper pages read the scoped queryset
        assert [c.pk for c in CaseListing(user, CaseFilter())[20:70]] == expected[20:70]
        monkeypatch.undo()


def test_the_api_and_the_page_show_the_reference(loop, world, api_client, client):
    users = _users(loop, world)
    numbers = dict(Case.objects.values_list("pk", "number"))
    for who in ("district", "street", "grid worker", "department", "two grants"):
        user = users[who]
        for f, params in (({}, {}), ({"overdue": False}, {"overdue": "0"}),
                          ({"category": loop.cls.pk}, {"category": loop.cls.pk})):
            expected = [numbers[pk] for pk in reference(user, loop, **f)]
            body = api_client.get("/api/v1/cases", {**params, "limit": 30, "offset": 10}, **auth(user)).json()
            assert [i["number"] for i in body["items"]] == expected[10:40], who
            assert body["total"] == len(expected) and body["count"] == len(expected[10:40])
            client.force_login(user)
            first = client.get("/cases/", params)
            assert [r["case"].number for r in first.context["rows"]] == expected[:50], who
            assert first.context["pager"]["count"] == len(expected)
            if len(expected) > 50:  # the second page, by the first one's 下一页 cursor
                second = client.get("/cases/", {**params, "cursor": first.context["pager"]["next"]})
                assert second.status_code == 200
                assert [r["case"].number for r in second.context["rows"]] == expected[50:100], who


def test_a_refused_filter_is_refused_as_before(loop, world, api_client):
    bad = api_client.get("/api/v1/cases", {"status": "lost"}, **auth(loop.worker))
    assert bad.status_code == 400 and bad.json()["field"] == "status"


def test_capped_count_is_the_total_up_to_the_cap_for_every_kind_of_user(loop, world, django_assert_num_queries):
    """`capped_count(cap)` (the page's total) is min(total, cap + 1): each scope alternative is counted with a
    LIMIT of what is left, without the earlier alternatives' rows, so no row counts twice at any cap."""
    users, filters = _users(loop, world), _filters(loop, world)
    for who, user in users.items():
        for name in ("none", "not overdue", "category class", "region", "department", "last 20 days"):
            f = filters[name]
            total = len(reference(user, loop, **f))
            for cap in sorted({0, 1, total // 3, total // 2, total - 1, total, total + 1, 10_000} - {-1}):
                listing = CaseListing(user, CaseFilter(**f))
                assert listing.capped_count(cap) == min(total, cap + 1), (who, name, cap)
                assert listing.count() == total, (who, name, cap)  # the exact count is still exact
            # Under the cap the answer is exact and kept; a known total answers without a query.
            listing = CaseListing(user, CaseFilter(**f))
            assert listing.capped_count(total) == total
            with django_assert_num_queries(0):
                assert listing.count() == total and listing.capped_count(0) == min(total, 1)


def test_cursor_pages_give_every_row_once_in_order_through_ties_in_as_many_queries_as_a_page(loop, world):
    """Seeking after the last row of a page (`CaseListing.after`) walks the whole list: the reference's rows in
    its order, none twice and none left out, through report times shared by several cases (the page boundary
    falls inside such ties), each page in the queries an offset page of the first rows takes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users, filters = _users(loop, world), _filters(loop, world)
    # How many cases share each report time (the cases do not change during the walk): read once, not per page.
    reported = Counter(Case.objects.values_list("reported_at", flat=True))
    ties = 0
    for who, user in users.items():
        for name in ("none", "not overdue", "category class", "region", "last 20 days"):
            expected = reference(user, loop, **filters[name])
            for size in (1, 7, 40):
                listing = CaseListing(user, CaseFilter(**filters[name]))
                with CaptureQueriesContext(connection) as first:
                    got = [c.pk for c in listing[0:size]]
                rows, cursor = [], None
                while True:
                    with CaptureQueriesContext(connection) as seek:
                        rows = listing.after(cursor, size) if cursor else listing[0:size]
                    assert len(seek.captured_queries) <= len(first.captured_queries), (who, name, size)
                    if cursor:
                        got += [c.pk for c in rows]
                    if len(rows) < size or not rows:
                        break
                    ties += reported[rows[-1].reported_at] > 1  # another case has the page's last report time
                    cursor = selectors.cursor_of(rows[-1])
                assert got == expected, (who, name, size)
    assert ties > 20  # many pages ended inside a group of cases reported at the same moment


def test_the_api_walks_the_list_by_next_cursor_and_refuses_a_made_up_one(loop, world, api_client):
    users = _users(loop, world)
    numbers = dict(Case.objects.values_list("pk", "number"))
    for who in ("district", "street", "two grants"):
        user = users[who]
        expected = [numbers[pk] for pk in reference(user, loop, overdue=False)]
        body = api_client.get("/api/v1/cases", {"overdue": "0", "limit": 25, "offset": 5}, **auth(user)).json()
        got = [i["number"] for i in body["items"]]
        while body["next_cursor"]:
            body = api_client.get("/api/v1/cases", {"overdue": "0", "limit": 25, "cursor": body["next_cursor"],
                                                    "offset": 999}, **auth(user)).json()
            assert body["total"] == len(expected) and body["count"] == len(body["items"])
            got += [i["number"] for i in body["items"]]
        assert got == expected[5:] and len(got) > 100, who
    last = api_client.get("/api/v1/cases", {"limit": 1000}, **auth(users["street"])).json()
    assert last["next_cursor"] is None and last["count"] == last["total"]
    for bad in ("x", "12_", "_5", "1_2_3", "999999999999999999_1", "-999999999999999999_1", "1.5_2", "²_1", "١_1"):
        response = api_client.get("/api/v1/cases", {"cursor": bad}, **auth(users["street"]))
        assert response.status_code in (400, 422) and "items" not in response.json(), bad


def test_a_made_up_cursor_is_refused_both_ways_and_two_at_once(loop, world):
    listing = CaseListing(loop.dispatcher, CaseFilter())
    good = selectors.cursor_of(listing[10])
    for bad in ("x", "12_", "1_2_3", "999999999999999999_1", "١_1"):
        for kwargs in ({"after": bad}, {"before": bad}, {"after": good, "before": bad}):
            with pytest.raises(selectors.BadCursor):
                listing.cursor_page(5, **kwargs)
    with pytest.raises(selectors.BadCursor):
        listing.cursor_page(5, after=good, before=good)

"""The command-centre board: today's figures through the real loop, scope (a street dispatcher's board counts only
their street), the map's clusters and points, the page and its htmx partials, and fixed query counts."""

from __future__ import annotations

import io
import itertools
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from PIL import Image

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.dashboards.command import selectors
from civicgrid.foundation.access.models import User
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import category, department, user_with

pytestmark = pytest.mark.django_db
IN_STREET = (113.21, 40.01)  # grid 140213050001001
OTHER_STREET = (113.29, 40.01)  # grid 140213051001001
_numbers = itertools.count(1)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 60, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def people(tree):
    dept = department("区城管局", code="D-CG")
    return {
        "dept": dept,
        "cd": user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd"),
        "sd": user_with(Role.STREET_DISPATCHER, region=tree["140213050"], username="sd"),
        "leader": user_with(Role.LEADER, region=tree["140213051"], username="ld51"),
        "worker": user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg"),
        "worker51": user_with(Role.GRID_WORKER, region=tree["140213051001001"], username="wg51"),
        "handler": user_with(Role.DEPARTMENT_HANDLER, department=dept, username="h"),
    }


def report(p, where=IN_STREET, worker="worker", title="占道经营"):
    return submit_case(actor=p[worker], title=title, lng=where[0], lat=where[1], source="grid_worker",
                       category=category().pk)[0]


def close_loop(p, case):
    for actor, action, inputs in (("cd", "accept", {}), ("cd", "dispatch", {"department": p["dept"].pk}),
                                  ("handler", "report_back", {"note": "已清理"}),
                                  ("worker" if case.region_code.startswith("140213050") else "worker51", "verify",
                                   {"photos": [jpeg()]}), ("cd", "close", {})):
        case = act(actor=p[actor], case=case, action=action, **inputs)
    return case


def fresh(user):
    return User.objects.get(pk=user.pk)  # without the per-request grant cache


def test_todays_figures_through_the_loop(people):
    p = people
    close_loop(p, report(p))
    accepted = report(p)
    act(actor=p["cd"], case=accepted, action="accept")
    report(p)
    close_loop(p, report(p, OTHER_STREET, "worker51"))
    figures = selectors.today_figures(p["cd"])
    assert (figures.reported, figures.accepted, figures.dispatched, figures.handled, figures.closed) == (4, 3, 2, 2, 2)
    assert figures.closed_timely == 2 and figures.timely_closure_rate == 100.0
    counts = {s["status"]: s["count"] for s in selectors.status_counts(p["cd"])}
    assert counts["reported"] == 1 and counts["accepted"] == 1 and sum(counts.values()) == 2


def figures_of(user) -> tuple:
    f = selectors.today_figures(fresh(user))
    return f.reported, f.accepted, f.dispatched, f.handled, f.closed, f.closed_timely, f.timely_closure_rate


def test_a_closing_today_stays_todays_when_the_case_is_reopened(people):
    """重新办理 clears the case's closed_at, handled_at and 按期结案 fact; the day's figures count what happened
    that day, from the timeline (and judge the reopened closing from its clocks), so nothing drops."""
    p = people
    kept = close_loop(p, report(p))
    reopened = close_loop(p, report(p))
    before = figures_of(p["cd"])
    assert before == (2, 2, 2, 2, 2, 2, 100.0)
    act(actor=p["cd"], case=reopened, action="reopen", reason="垃圾又堆起来了")
    reopened.refresh_from_db()
    assert reopened.status == Status.ACCEPTED and reopened.closed_at is None and reopened.handled_at is None
    assert figures_of(p["cd"]) == before
    assert figures_of(p["sd"]) == before  # the street's board too (both cases are in its street)
    # handled and closed again the same day: still one closing of that case, still on time
    for actor, action, inputs in (("cd", "dispatch", {"department": p["dept"].pk}),
                                  ("handler", "report_back", {"note": "再次清理"}),
                                  ("worker", "verify", {"photos": [jpeg()]}), ("cd", "close", {})):
        reopened = act(actor=p[actor], case=reopened, action=action, **inputs)
    assert figures_of(p["cd"]) == before and kept.status == Status.CLOSED


def test_a_reopened_closing_that_was_late_stays_late(people):
    p = people
    case = close_loop(p, report(p))
    Case.objects.filter(pk=case.pk).update(closed_on_time=False)
    from civicgrid.foundation.sla.models import SlaClock
    SlaClock.objects.filter(target_id=str(case.pk), kind="case.close").update(on_time=False)
    assert figures_of(p["cd"])[4:] == (1, 0, 0.0)
    act(actor=p["cd"], case=case, action="reopen", reason="没有修好")
    assert figures_of(p["cd"])[4:] == (1, 0, 0.0)


def make_case(tree, code="140213050001001", *, reported=None, steps=(), **facts):
    """A case row with explicit facts and the timeline steps its milestones leave (at the same instants)."""
    grid = tree[code]
    reported = reported or timezone.now()
    case = Case.objects.create(number=f"2026{next(_numbers):09d}", title="看板测试", source="grid_worker",
                               lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid, region_code=code,
                               reported_at=reported, **facts)
    CaseStep.objects.create(case=case, action="report", at=reported)
    for action, moment in steps:
        CaseStep.objects.create(case=case, action=action, at=moment)
    return case


def test_a_case_reported_earlier_counts_today_for_what_happened_today(tree, people):
    now = timezone.now()
    before = now - timedelta(days=3)
    make_case(tree, reported=before, status=Status.CLOSED, accepted_at=before, dispatched_at=before,
              handled_at=now, closed_at=now, handled_on_time=False, closed_on_time=True,
              steps=[("accept", before), ("dispatch", before), ("report_back", now), ("close", now)])
    make_case(tree, reported=before, status=Status.ACCEPTED, accepted_at=before, steps=[("accept", before)])
    figures = selectors.today_figures(people["cd"])
    assert (figures.reported, figures.accepted, figures.dispatched, figures.handled, figures.closed) == (0, 0, 0, 1, 1)
    assert figures.closed_timely == 0 and figures.timely_closure_rate == 0.0  # handled late: not 按期
    yesterday = selectors.today_figures(people["cd"], day=timezone.localdate() - timedelta(days=3))
    assert yesterday.reported == 2 and yesterday.accepted == 2


def a_case_due(tree, deadline, *, status=Status.HANDLING, since=None, **facts):
    """An accepted, dispatched case with the handling deadline `deadline` (its steps before the day tested)."""
    since = since or deadline - timedelta(days=3)
    return make_case(tree, reported=since, status=status, accepted_at=since, dispatched_at=since,
                     deadline=deadline, steps=[("accept", since), ("dispatch", since), *facts.pop("steps", ())],
                     **facts)


def a_case_closed(tree, at, deadline, *, on_time=True):
    since = deadline - timedelta(days=3)
    return a_case_due(tree, deadline, status=Status.CLOSED, since=since, handled_at=at, closed_at=at,
                      handled_on_time=on_time, closed_on_time=True, steps=[("report_back", at), ("close", at)])


def test_the_on_time_closure_rate_is_over_the_cases_due_to_close_today(tree, people):
    """按期结案率 = 按期结案数 / 应结案数 (DOMAIN.md §4): five cases whose handling deadline passed today unclosed
    and two closed on time make 2 / 7, not the 2 / 2 of today's closings alone."""
    now = timezone.now()
    start, _ = selectors.day_bounds(timezone.localdate())
    passed = start + (now - start) / 2  # today, already past
    for status in (Status.DISPATCHED, Status.HANDLING, Status.HANDLING, Status.HANDLED, Status.VERIFIED):
        a_case_due(tree, passed, status=status)
    a_case_closed(tree, passed, deadline=passed)  # due today and closed today: counted once
    a_case_closed(tree, passed, deadline=now + timedelta(days=2))
    # not due today: not yet past, past yesterday, 挂账, 作废, closed before today, in another board's region
    a_case_due(tree, now + timedelta(hours=1))
    a_case_due(tree, start - timedelta(minutes=1))
    a_case_due(tree, passed, status=Status.SUSPENDED)
    a_case_due(tree, passed, status=Status.VOIDED)
    a_case_closed(tree, start - timedelta(days=1), deadline=passed)
    a_case_due(tree, passed, code="140213051001001")
    f = selectors.today_figures(fresh(people["sd"]))
    assert (f.closed, f.closed_timely, f.due_close) == (2, 2, 7)
    assert f.timely_closure_rate == 28.57
    whole = selectors.today_figures(fresh(people["cd"]))
    assert (whole.closed, whole.closed_timely, whole.due_close, whole.timely_closure_rate) == (2, 2, 8, 25.0)


def test_a_past_days_rate_counts_the_cases_it_left_unclosed(tree, people):
    """Asked for a past day, the board judges that day at its midnight: a case whose deadline fell that day and
    was closed only later still counts as due (and missed) that day; one closed early counts on its own day."""
    day = timezone.localdate() - timedelta(days=3)
    start, end = selectors.day_bounds(day)
    noon = start + timedelta(hours=12)
    a_case_due(tree, noon)  # still open
    late = a_case_closed(tree, end + timedelta(days=1), deadline=noon, on_time=False)  # closed two days later
    a_case_closed(tree, noon + timedelta(hours=2), deadline=noon, on_time=False)  # that day, late
    a_case_closed(tree, noon, deadline=start + timedelta(hours=15))  # that day, on time
    a_case_closed(tree, start - timedelta(hours=1), deadline=noon)  # closed the day before, ahead of time
    a_case_due(tree, end + timedelta(hours=1))  # due the next day
    f = selectors.today_figures(fresh(people["cd"]), day=day)
    assert (f.closed, f.closed_timely, f.due_close, f.timely_closure_rate) == (2, 1, 4, 25.0)
    later = selectors.today_figures(fresh(people["cd"]), day=timezone.localtime(late.closed_at).date())
    assert (later.closed, later.closed_timely, later.due_close) == (1, 0, 1)
    before = selectors.today_figures(fresh(people["cd"]), day=day - timedelta(days=1))
    assert (before.closed, before.closed_timely, before.due_close) == (1, 1, 1)


def test_the_days_cases_are_found_through_indexes_not_a_scan(people):
    """The day's steps (`at`) and the day's handling deadlines (`cases_deadline_idx`) find the cases counted: the
    figures read a day's worth of rows, not every open case (nor, for a past day, every case closed since)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL chooses by its statistics")
    for day in (timezone.localdate(), timezone.localdate() - timedelta(days=2)):
        with CaptureQueriesContext(connection) as ctx:
            selectors.today_figures(fresh(people["cd"]), day=day)
        sql = ctx.captured_queries[-1]["sql"]
        with connection.cursor() as cur:
            cur.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " | ".join(row[-1] for row in cur.fetchall())
        assert "cases_deadline_idx" in plan and "cases_casestep_at" in plan, plan
        assert "SCAN" not in plan, plan


def test_the_rate_says_what_it_divides(client, tree, people):
    now = timezone.now()
    start, _ = selectors.day_bounds(timezone.localdate())
    passed = start + (now - start) / 2
    a_case_due(tree, passed)
    a_case_closed(tree, passed, deadline=passed)
    client.force_login(people["cd"])
    html = client.get("/board/figures/").content.decode()
    tile = html.split('data-figure="timely_closure_rate"')[1].split("</li>")[0]
    assert "50.0%" in tile and "按期结案 1 件 / 应结案 2 件" in tile


def test_self_handled_cases_are_accepted_as_the_evaluation_counts_them(people):
    """自行处置 is 立案, 处置 and 结案 in one step: the board's 今日立案 counts it as the evaluation's 立案数 does."""
    from civicgrid.apps.evaluation.selectors import aggregates

    p = people
    submit_case(actor=p["worker"], title="路灯不亮", lng=IN_STREET[0], lat=IN_STREET[1], source="grid_worker",
                category=category().pk, self_handled=True, photos=[("before", jpeg()), ("after", jpeg())])
    act(actor=p["cd"], case=report(p), action="accept")
    report(p)
    f = selectors.today_figures(fresh(p["cd"]))
    assert (f.reported, f.accepted, f.handled, f.closed) == (3, 2, 1, 1)
    start, end = selectors.day_bounds(timezone.localdate())
    today = Case.objects.filter(reported_at__gte=start, reported_at__lt=end)
    assert today.aggregate(**aggregates(["accepted"], timezone.now()))["accepted"] == f.accepted


def test_a_street_dispatchers_board_counts_only_their_street(tree, people):
    p = people
    close_loop(p, report(p))
    report(p)
    for _ in range(3):
        close_loop(p, report(p, OTHER_STREET, "worker51"))
    report(p, OTHER_STREET, "worker51")
    overdue = make_case(tree, "140213051001001", status=Status.HANDLING, is_overdue=True,
                        deadline=timezone.now() - timedelta(hours=5))
    # The street dispatcher's own report in the other street: theirs to follow, not their street board's.
    own = submit_case(actor=p["sd"], title="路过看到", lng=OTHER_STREET[0], lat=OTHER_STREET[1],
                      source="grid_worker")[0]  # a field report: a desk channel's (video) is its own street's
    assert Case.objects.visible_to(p["sd"]).filter(pk=own.pk).exists()
    street = selectors.today_figures(p["sd"])
    assert (street.reported, street.closed) == (2, 1)
    whole = selectors.today_figures(p["cd"])
    assert (whole.reported, whole.closed) == (8, 4)
    other = selectors.today_figures(p["leader"])
    assert (other.reported, other.closed) == (6, 3)
    assert sum(s["count"] for s in selectors.status_counts(p["sd"])) == 1
    assert selectors.overdue(p["sd"]) == ([], 0) and selectors.overdue(p["leader"]) == ([overdue], 1)
    assert {c.region_code[:9] for c in selectors.latest(p["sd"])} == {"140213050"}
    assert selectors.map_data(p["sd"])["total"] == 1
    assert [r["name"] for r in selectors.scope_regions(p["sd"])] == ["永泰街道"]
    assert [r["name"] for r in selectors.scope_regions(p["cd"])] == ["平城区"]


def test_the_map_clusters_by_region_when_many_cases_are_open(tree, people, monkeypatch):
    codes = ["140213050001001", "140213050001002", "140213050002001", "140213051001001"]
    for i, code in enumerate(codes):
        for _ in range(i + 1):
            make_case(tree, code, status=Status.DISPATCHED)
    make_case(tree, codes[0], status=Status.CLOSED)  # closed: not on the map
    few = selectors.map_data(people["cd"])
    assert few["level"] == "case" and len(few["items"]) == 10 and few["total"] == 10

    monkeypatch.setattr(selectors, "POINTS_MAX", 5)
    streets = selectors.map_data(people["cd"], zoom=11)
    assert streets["level"] == "street" and streets["items"] == []
    assert {c["code"]: c["count"] for c in streets["clusters"]} == {"140213050": 6, "140213051": 4}
    assert all(c["lng"] and c["name"] for c in streets["clusters"])
    communities = selectors.map_data(people["cd"], zoom=13)
    assert {c["code"]: c["count"] for c in communities["clusters"]} == {"140213050001": 3, "140213050002": 3,
                                                                        "140213051001": 4}
    grids = selectors.map_data(people["cd"], zoom=15)
    assert len(grids["clusters"]) == 4
    g = tree[codes[3]]
    zoomed = selectors.map_data(people["cd"], zoom=17, bbox=(g.min_lng, g.min_lat, g.max_lng, g.max_lat))
    assert zoomed["level"] == "case" and len(zoomed["items"]) == 4
    assert {i["status_label"] for i in zoomed["items"]} == {"待处置"}


def test_cases_of_a_region_without_a_centre_point_are_counted_apart_not_lost(tree, people, monkeypatch):
    from civicgrid.foundation.regions.models import Region

    for code, n in (("140213050001001", 3), ("140213051001001", 2)):
        for _ in range(n):
            make_case(tree, code, status=Status.DISPATCHED)
    Region.objects.filter(code="140213051").update(centroid_lng=None, centroid_lat=None)  # no centre point
    monkeypatch.setattr(selectors, "POINTS_MAX", 2)
    streets = selectors.map_data(people["cd"], zoom=11)
    assert {c["code"]: c["count"] for c in streets["clusters"]} == {"140213050": 3}
    assert streets["total"] == 5 and streets["unlocated"] == 2  # the map's figures add up
    assert sum(c["count"] for c in streets["clusters"]) + streets["unlocated"] == streets["total"]
    grids = selectors.map_data(people["cd"], zoom=15)  # the grid has its point: placed there
    assert grids["unlocated"] == 0 and sum(c["count"] for c in grids["clusters"]) == grids["total"] == 5
    monkeypatch.setattr(selectors, "POINTS_MAX", 500)
    assert selectors.map_data(people["cd"], zoom=11)["unlocated"] == 0  # single cases: each has its own point


def test_the_page_and_its_partials(client, people):
    p = people
    case = report(p)
    client.force_login(p["sd"])
    page = client.get("/board/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-trigger="every 30s"' in html and 'data-model="cases.case"' in html
    assert f'data-oid="{case.pk}"' in html and "永泰街道" in html and "echarts.min.js" in html
    figures = client.get("/board/figures/")
    data = json.loads(figures.content.decode().split('id="board-chart-data" type="application/json">')[1]
                      .split("</script>")[0])
    assert [f["value"] for f in data["flow"]] == [1, 0, 0, 0, 0] and data["timely_closure_rate"] is None
    assert 'data-figure="reported"' in figures.content.decode()
    lists = client.get("/board/lists/")
    assert f'data-oid="{case.pk}"' in lists.content.decode() and "没有超期案件" in lists.content.decode()
    points = client.get("/board/map.json", {"zoom": "not a number", "bbox": "1,2,3"}).json()
    assert [i["id"] for i in points["items"]] == [case.pk]

    client.force_login(p["worker"])  # a grid worker has no board
    assert client.get("/board/").status_code == 403 and client.get("/board/map.json").status_code == 403
    client.logout()
    assert client.get("/board/figures/").status_code == 302


def test_the_overdue_list_shows_a_case_no_department_holds_yet(client, tree, people):
    """Overdue before dispatch (at intake or verification by the command centre): no department to name. The
    board once answered 500 here (a template filter's argument looked up on None)."""
    late = timezone.now() - timedelta(hours=5)
    waiting = make_case(tree, status=Status.ACCEPTED, is_overdue=True, deadline=late)
    held = make_case(tree, status=Status.HANDLING, is_overdue=True, deadline=late, department=department("区城管局"))
    client.force_login(people["cd"])
    for url in ("/board/", "/board/lists/"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        row = html.split(f'data-oid="{waiting.pk}"')[1].split("</tr>")[0]
        assert "—" in row and "区城管局" in html.split(f'data-oid="{held.pk}"')[1].split("</tr>")[0]


def through(p, case, *steps):
    for actor, action, inputs in (("cd", "accept", {}), ("cd", "dispatch", {"department": p["dept"].pk}),
                                  ("handler", "report_back", {"note": "已清理"}),
                                  ("worker", "verify", {"photos": [jpeg()]}))[:len(steps)]:
        case = act(actor=p[actor], case=case, action=action, **inputs)
    return case


def clock(case, kind):
    from civicgrid.foundation.sla.models import SlaClock

    return SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=kind)


def test_the_overdue_list_names_the_step_each_case_is_late_at(client, tree, people):
    """A case late at 结案 after handling in time is 结案超期 by the time past the closing clock's due time, whether
    its handling deadline has passed or not; a case handled late is 处置超期 by how late it was handled."""
    p = people
    now = timezone.now()
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    steps = ("accept", "dispatch", "report_back", "verify")
    closing_late = through(p, report(p, title="结案超期，处置期限已过"), *steps)
    clock(closing_late, "case.handle").update(due_at=ago(600), stopped_at=ago(700), on_time=True)
    Case.objects.filter(pk=closing_late.pk).update(deadline=ago(600), is_overdue=True)
    clock(closing_late, "case.close").update(due_at=ago(180))
    closing_late_early = through(p, report(p, title="结案超期，处置期限未到"), *steps)
    Case.objects.filter(pk=closing_late_early.pk).update(deadline=now + timedelta(days=2), is_overdue=True)
    clock(closing_late_early, "case.close").update(due_at=ago(60))
    handled_late = through(p, report(p, title="处置超期，已处置"), *steps[:3])
    clock(handled_late, "case.handle").update(due_at=ago(300), stopped_at=ago(180), on_time=False)
    Case.objects.filter(pk=handled_late.pk).update(deadline=ago(300), is_overdue=True, handled_on_time=False)
    handling_late = through(p, report(p, title="处置超期，处置中"), *steps[:2])
    clock(handling_late, "case.handle").update(due_at=ago(30))
    Case.objects.filter(pk=handling_late.pk).update(deadline=ago(30), is_overdue=True)

    rows, total = selectors.overdue(fresh(p["cd"]))
    assert total == 4 and [c.pk for c in rows] == [closing_late.pk, handled_late.pk, closing_late_early.pk,
                                                   handling_late.pk]
    late = {c.pk: (c.lateness.kind, round(c.lateness.late_by.total_seconds() / 60)) for c in rows}
    assert late == {closing_late.pk: ("case.close", 180), handled_late.pk: ("case.handle", 120),
                    closing_late_early.pk: ("case.close", 60), handling_late.pk: ("case.handle", 30)}

    client.force_login(p["cd"])
    html = client.get("/board/lists/").content.decode()
    cells = {}
    for c in rows:
        row = html.split(f'data-oid="{c.pk}"')[1].split("</tr>")[0]
        step = re.search(r'data-late-step="([^"]*)">([^<]*)', row)
        cells[c.pk] = (step[2].strip(), int(re.search(r'data-late-minutes="(\d+)"', row)[1]))
        assert "待结案" not in row and "待核查" not in row
    assert cells == {closing_late.pk: ("结案超期", 180), handled_late.pk: ("处置超期", 120),
                     closing_late_early.pk: ("结案超期", 60), handling_late.pk: ("处置超期", 30)}
    closing_row = html.split(f'data-oid="{closing_late.pk}"')[1].split("</tr>")[0]
    assert ">3\xa0小时</td>" in closing_row  # past the closing clock's due time, not the handling deadline's


def test_the_number_of_queries_does_not_grow_with_the_cases(tree, people):
    def count(func, **kw) -> int:
        user = fresh(people["cd"])
        with CaptureQueriesContext(connection) as ctx:
            func(user, **kw)
        return len(ctx.captured_queries)

    reads = [(selectors.today_figures, {}), (selectors.status_counts, {}), (selectors.overdue, {}),
             (selectors.latest, {}), (selectors.map_data, {"zoom": 11})]
    make_case(tree, status=Status.DISPATCHED, is_overdue=True)
    few = [count(f, **kw) for f, kw in reads]
    for code in ("140213050001001", "140213050002001", "140213051001001") * 5:
        make_case(tree, code, status=Status.HANDLING, is_overdue=True)
    # grants + one query each; the overdue page and its total are two; the map counts, then draws points
    assert [count(f, **kw) for f, kw in reads] == few == [2, 2, 3, 2, 3]


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_the_board_in_english(client, people, chinese_afterwards):
    report(people)
    client.force_login(people["cd"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/board/"})
    page = client.get("/board/").content.decode()
    for english in ("Command-centre board", "Today's flow", "Overdue cases", "Latest reports", "Open cases"):
        assert english in page, english
    figures = client.get("/board/figures/").content.decode()
    assert "Reported today" in figures and "On-time closure rate today" in figures
    assert "今日" not in figures
    assert '"label": "Reported"' in figures  # the chart's labels too


def test_the_overdue_list_puts_the_longest_late_first_and_links_to_all(client, tree, people):
    """A case late without a deadline (at intake) comes after those past theirs, on both databases; when more are
    late than the board lists, a link leads to all of them."""
    now = timezone.now()
    no_deadline = make_case(tree, status=Status.REPORTED, is_overdue=True, deadline=None)
    latest = make_case(tree, status=Status.HANDLING, is_overdue=True, deadline=now - timedelta(hours=1))
    longest = make_case(tree, status=Status.HANDLING, is_overdue=True, deadline=now - timedelta(days=3))
    rows, total = selectors.overdue(fresh(people["cd"]))
    assert [c.pk for c in rows] == [longest.pk, latest.pk, no_deadline.pk] and total == 3
    client.force_login(people["cd"])
    assert "data-all-overdue" not in client.get("/board/lists/").content.decode()  # all three are listed
    for _ in range(selectors.LIST_SIZE):
        make_case(tree, status=Status.HANDLING, is_overdue=True, deadline=now - timedelta(hours=2))
    html = client.get("/board/lists/").content.decode()
    assert 'href="/cases/?status=active&amp;overdue=1" data-all-overdue' in html
    assert f"查看全部 {selectors.LIST_SIZE + 3} 件超期案件" in html


def test_the_link_to_all_overdue_cases_lists_as_many_as_it_says(client, tree, people):
    """The board counts the open overdue cases: its link lists those, not the closed ones that were once late."""
    now = timezone.now()
    for _ in range(selectors.LIST_SIZE + 2):
        make_case(tree, status=Status.HANDLING, is_overdue=True, deadline=now - timedelta(hours=2))
    # closed ones that were once late, and a 挂账 case that was late before it was put on hold (in the list's
    # 全部未办结, not in the board's 在办)
    for status in (Status.CLOSED, Status.VOIDED, Status.SUSPENDED):
        make_case(tree, status=status, is_overdue=True, deadline=now - timedelta(days=2))
    client.force_login(people["cd"])
    html = client.get("/board/lists/").content.decode()
    link = re.search(r'href="([^"]+)" data-all-overdue>查看全部 (\d+) 件超期案件', html)
    assert link is not None and int(link[2]) == selectors.LIST_SIZE + 2
    listed = client.get(link[1].replace("&amp;", "&"))
    assert listed.status_code == 200
    rows = [r["case"] for r in listed.context["rows"]]
    assert listed.context["pager"]["count"] == len(rows) == int(link[2])
    assert {c.status for c in rows} == {Status.HANDLING}


def test_the_open_cases_chart_counts_what_the_open_cases_figure_counts(people, client):
    """在办 is the loop's open statuses (the map and the lists agree): a 挂账 case is neither in the figure nor in
    its chart by status; it is still counted on the board, on its own."""
    p = people
    report(p)
    suspended = report(p)
    act(actor=p["cd"], case=suspended, action="accept")
    act(actor=p["cd"], case=suspended, action="suspend", reason="等待专项资金")
    client.force_login(p["cd"])
    html = client.get("/board/figures/").content.decode()
    chart = json.loads(re.search(r'id="board-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    charted = {s["status"]: s["count"] for s in chart["statuses"]}
    assert "suspended" not in charted and sum(charted.values()) == 1 and charted["reported"] == 1
    assert re.search(r'data-figure="open"><span class="board-value">1<', html)
    assert re.search(r'data-status="suspended">[^<]*<b>1</b>', html)
    # the case list's 在办 lists what the figure counts; its 全部未办结 takes the 挂账 case in as well
    counts = {status: client.get("/cases/", {"status": status}).context["pager"]["count"]
              for status in ("active", "open")}
    assert counts == {"active": 1, "open": 2}

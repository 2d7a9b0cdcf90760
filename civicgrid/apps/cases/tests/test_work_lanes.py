"""我的待办: each user sees the steps of the loop waiting for them, counted within their scope, on the home page,
and the same cases in the list (`?work=`), the API and the ledger; a case leaves the lane when its step is taken."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.testing.builders import user_with

from .conftest import NEIGHBOUR_POINT, OTHER_STREET_POINT, auth, jpeg, report

pytestmark = pytest.mark.django_db


def lanes(user) -> dict[str, int]:
    return {lane["key"]: lane["count"] for lane in selectors.my_work(user)}


def page_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_each_role_sees_its_own_steps_within_its_scope(loop):
    waiting = report(loop)
    other_street = report(loop, actor=loop.dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    assert lanes(loop.street_dispatcher) == {"intake": 1, "dispatch": 0, "close": 0}  # its street only
    assert lanes(loop.dispatcher) == {"intake": 2, "dispatch": 0, "close": 0, "extension": 0}
    assert lanes(loop.worker) == {"check": 0, "verify": 0}
    assert lanes(loop.handler) == {"handle": 0}
    assert lanes(loop.resident) == {}
    act(actor=loop.dispatcher, case=waiting, action="accept")
    assert lanes(loop.street_dispatcher)["intake"] == 0 and lanes(loop.street_dispatcher)["dispatch"] == 1
    act(actor=loop.dispatcher, case=waiting, action="dispatch", department=loop.dept.pk)
    assert lanes(loop.handler) == {"handle": 1} and lanes(loop.other_handler) == {"handle": 0}
    act(actor=loop.handler, case=waiting, action="start")
    act(actor=loop.handler, case=waiting, action="request_extension", reason="材料未到", hours=8)
    assert lanes(loop.leader) == {"extension": 1, "supervised": 0, "major": 0} and lanes(loop.dispatcher)["extension"] == 1
    act(actor=loop.leader, case=waiting, action="decide_extension", decision="approve")
    act(actor=loop.handler, case=waiting, action="report_back", note="已清理")
    assert lanes(loop.handler) == {"handle": 0} and lanes(loop.leader) == {"extension": 0, "supervised": 0, "major": 0}
    assert lanes(loop.worker)["verify"] == 1 and lanes(loop.neighbour_worker)["verify"] == 0
    act(actor=loop.worker, case=waiting, action="verify", photos=[jpeg()])
    assert lanes(loop.worker)["verify"] == 0 and lanes(loop.street_dispatcher)["close"] == 1
    act(actor=loop.street_dispatcher, case=waiting, action="close")
    assert lanes(loop.street_dispatcher) == {"intake": 0, "dispatch": 0, "close": 0}
    assert lanes(loop.dispatcher)["intake"] == 1 and other_street.status == "reported"


def test_the_leaders_keep_the_supervised_cases_of_their_region_in_a_lane(loop):
    """督办中的案件: the open cases under supervision (a leader's 督办, or 超期自动督办), suspended ones included, of
    the leader's own region; a case leaves the lane when its loop ends."""
    supervised = report(loop)
    act(actor=loop.dispatcher, case=supervised, action="accept")
    act(actor=loop.dispatcher, case=supervised, action="dispatch", department=loop.dept.pk)
    plain = report(loop)
    elsewhere = report(loop, actor=loop.dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    street_leader = user_with(Role.LEADER, region=loop.tree["140213050"], username="ld-street-sup")
    assert lanes(loop.leader)["supervised"] == 0
    act(actor=loop.leader, case=supervised, action="supervise", note="请加快处置")
    act(actor=loop.leader, case=elsewhere, action="supervise", note="请核实")
    assert lanes(loop.leader)["supervised"] == 2 and lanes(street_leader)["supervised"] == 1
    assert "supervised" not in lanes(loop.dispatcher) and "supervised" not in lanes(loop.handler)
    c = page_for(loop.leader)
    listed = c.get("/cases/", {"work": "supervised"}).content.decode()
    assert supervised.number in listed and elsewhere.number in listed and plain.number not in listed
    home = c.get("/").content.decode()
    assert 'data-lane="supervised" data-count="2"' in home and "督办中的案件" in home
    work = c.get("/api/v1/cases/work", **auth(loop.leader)).json()["lanes"]
    assert ("supervised", 2) in [(w["key"], w["count"]) for w in work]
    act(actor=loop.dispatcher, case=elsewhere, action="void", reason="重复录入")
    assert lanes(loop.leader)["supervised"] == 1


def test_an_ended_case_is_not_under_supervision_in_the_list_nor_tagged_so(loop):
    """The list's 督办中 filter (page and API) is the supervision lane: a case voided or closed under 督办 leaves
    both; the page and the list tag an ended case neither 督办 nor 超期 (only 曾超期, a fact of its past)."""
    kept, voided = report(loop), report(loop)
    for case in (kept, voided):
        act(actor=loop.dispatcher, case=case, action="accept")
        act(actor=loop.leader, case=case, action="supervise", note="请加快处置")
    act(actor=loop.dispatcher, case=voided, action="void", reason="重复录入")
    type(voided).objects.filter(pk=voided.pk).update(is_overdue=True)  # it had run late before it was voided
    c = page_for(loop.leader)
    for query in ({"supervised": "1"}, {"work": "supervised"}):
        listed = c.get("/cases/", query).content.decode()
        assert kept.number in listed and voided.number not in listed
        api = Client().get("/api/v1/cases", query, **auth(loop.leader)).json()
        assert [i["number"] for i in api["items"]] == [kept.number]
    not_supervised = c.get("/cases/", {"supervised": "0"}).content.decode()
    assert voided.number in not_supervised and kept.number not in not_supervised
    listed = c.get("/cases/", {"status": "voided"}).content.decode()
    assert voided.number in listed
    assert 'tag warn">督办<' not in listed and 'tag warn">超期<' not in listed and '">曾超期</span>' in listed
    page = c.get(f"/cases/{voided.number}/").content.decode()
    heading = page.split("<h1", 1)[1].split("</h1>", 1)[0]
    assert "督办" not in heading and ">超期<" not in heading and "曾超期" in heading
    heading = c.get(f"/cases/{kept.number}/").content.decode().split("<h1", 1)[1].split("</h1>", 1)[0]
    assert 'tag warn">督办<' in heading


def test_the_home_page_links_each_lane_to_its_cases(loop):
    mine = report(loop)
    act(actor=loop.dispatcher, case=mine, action="accept")
    report(loop)
    c = page_for(loop.street_dispatcher)
    home = c.get("/").content.decode()
    assert 'data-lane="intake" data-count="1"' in home and 'data-lane="dispatch" data-count="1"' in home
    assert '<span class="tag">街道派遣员</span>' in home  # the role's name, not its code
    listed = c.get("/cases/", {"work": "dispatch"}).content.decode()
    assert mine.number in listed and 'data-work="dispatch"' in listed
    assert listed.count('href="/cases/2') == 1  # only the accepted case (numbers start with the year)
    # the API and the ledger take the same lane
    api = Client().get("/api/v1/cases", {"work": "dispatch"}, **auth(loop.street_dispatcher)).json()
    assert [i["number"] for i in api["items"]] == [mine.number]
    assert Client().get("/api/v1/cases", {"work": "nonsense"}, **auth(loop.street_dispatcher)).status_code == 400
    # the same counts for an app: GET /api/v1/cases/work
    work = Client().get("/api/v1/cases/work", **auth(loop.street_dispatcher)).json()["lanes"]
    assert [(w["key"], w["label"], w["count"], w["more"]) for w in work] == [
        ("intake", "待受理", 1, False), ("dispatch", "待派遣", 1, False), ("close", "待结案", 0, False)]
    assert Client().get("/api/v1/cases/work").status_code == 401
    # an unknown lane on the page is refused, as the API and the ledger refuse it
    assert c.get("/cases/", {"work": "nonsense"}).status_code == 400
    # a clear lane says so; a lane searched for something else only finds no match
    clear = c.get("/cases/", {"work": "close"}).content.decode()
    assert "data-lane-empty" in clear and "「待结案」里没有事件，都办完了。" in clear
    searched = c.get("/cases/", {"work": "dispatch", "q": "没有这样的标题"}).content.decode()
    assert "data-lane-empty" not in searched and "没有符合条件的记录。" in searched
    assert "data-lane-empty" not in listed


def test_a_user_without_steps_sees_no_work_section(loop):
    home = page_for(loop.resident).get("/").content.decode()
    assert "data-my-work" not in home
    viewer = user_with(Role.LEADER, region=loop.tree["140213050"], username="street-leader")
    assert [lane["key"] for lane in selectors.my_work(viewer)] == ["extension", "supervised", "major"]


def test_the_home_page_costs_one_count_per_lane(loop):
    c = page_for(loop.dispatcher)
    c.get("/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as q:
            assert c.get("/").status_code == 200
        return len(q)

    few = queries()
    for _ in range(6):
        report(loop)
    assert queries() == few


def test_a_lane_counts_at_most_its_cap(loop, monkeypatch):
    monkeypatch.setattr(selectors, "WORK_COUNT_CAP", 2)
    for _ in range(4):
        report(loop)
    intake = next(lane for lane in selectors.my_work(loop.dispatcher) if lane["key"] == "intake")
    assert intake["more"] and intake["shown"] == "2+" and intake["count"] == 2


def test_an_unknown_lane_is_refused_by_the_selector(loop):
    with pytest.raises(ValidationFailed, match="待办"):
        list(selectors.case_list(loop.dispatcher, selectors.CaseFilter(work="everything")))


def test_a_report_outside_ones_grid_is_followed_but_not_ones_to_verify(loop):
    """The grid worker reported in the neighbouring grid: they follow the case in their list, but its 核查 is
    the neighbour's work, in the lane and in the list the lane opens."""
    case = report(loop, lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert lanes(loop.worker)["verify"] == 0 and lanes(loop.neighbour_worker)["verify"] == 1
    c = page_for(loop.worker)
    assert case.number in c.get("/cases/").content.decode()
    assert case.number not in c.get("/cases/", {"work": "verify"}).content.decode()
    assert case.number in page_for(loop.neighbour_worker).get("/cases/", {"work": "verify"}).content.decode()


def test_a_suspended_case_leaves_the_extension_lane_and_does_not_come_back_to_it(loop):
    """挂账 withdraws the handler's waiting extension request (`drop_extension_request`): the lane (home count,
    list, API) no longer holds the case, nor does it after 恢复办理, when the department asks again if need be."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=8)
    assert lanes(loop.leader)["extension"] == 1
    act(actor=loop.leader, case=case, action="suspend", reason="等待预算")
    case.refresh_from_db()
    assert case.status == "suspended" and not case.extension_pending and case.extension_hours is None
    assert "decide_extension" not in {t.name for t in CASE_WORKFLOW.allowed(case, loop.leader)}
    assert lanes(loop.leader)["extension"] == 0 and lanes(loop.dispatcher)["extension"] == 0
    c = page_for(loop.leader)
    assert 'data-lane="extension" data-count="0"' in c.get("/").content.decode()
    assert case.number not in c.get("/cases/", {"work": "extension"}).content.decode()
    api = Client().get("/api/v1/cases", {"work": "extension"}, **auth(loop.leader)).json()
    assert api["items"] == []
    act(actor=loop.leader, case=case, action="unsuspend")
    case.refresh_from_db()
    assert not case.extension_pending and lanes(loop.leader)["extension"] == 0
    assert case.number not in c.get("/cases/", {"work": "extension"}).content.decode()


def test_the_extension_lane_follows_the_decisions_transition():
    lane = selectors.LANES["extension"]
    assert set(lane.statuses) == set(CASE_WORKFLOW.transition("decide_extension").sources)
    assert "suspended" not in lane.statuses


def test_a_lane_that_is_not_the_readers_is_not_called_clear(loop):
    """A handler opening the leaders' 督办 lane (a link passed on) lists nothing, as the lane is read in the
    scope of its step; the page says the lane is not theirs rather than that everything in it is done."""
    case = report(loop)
    for actor, action, inputs in ((loop.dispatcher, "accept", {}),
                                  (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.leader, "supervise", {"note": "请加快办理"})):
        case = act(actor=actor, case=case, action=action, **inputs)
    assert case.is_supervised
    page = page_for(loop.handler).get("/cases/", {"work": "supervised"}).content.decode()
    assert case.number not in page
    assert "data-lane-not-theirs" in page and "「督办中的案件」不是您的待办" in page
    assert "data-lane-empty" not in page and "都办完了" not in page
    # the leader's own lane lists it; once it is empty, it is clear for them
    leader = page_for(loop.leader)
    assert case.number in leader.get("/cases/", {"work": "supervised"}).content.decode()
    mine = leader.get("/cases/", {"work": "major"}).content.decode()
    assert "data-lane-not-theirs" not in mine and "「办理中的重大事件」里没有事件，都办完了。" in mine

"""Fetching by windows (fix-mergefeed) together with publication once a person takes a case in hand (fix-o311priv).

FixMyStreet's GetServiceRequests asks each hour for the last hour, skips a request without lat/long and one whose
updated_datetime lies outside the hour it asked for, and imports each request once. A report published only when
a person first acts on it must therefore be found again, placed and with its words, in the hour of that step:
after the router's own 立案 and 派遣 (智能分拨（系统）, which publishes nothing) the department starting it, or a
human 立案 hours after the report. A request merged into a carrier nobody has read yet shows its carrier's state
but never the carrier's words or place. Django's clock is moved (`clock_at`), as the hours would pass.
"""
# ruff: noqa: F811  (fixtures imported so pytest finds them here)

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.handlers import SYSTEM_USERNAME
from civicgrid.integrations.router.tests.conftest import example_model, models_dir  # noqa: F401
from civicgrid.testing.clock import clock_at

from .conftest import POINT, form, get, post, xml

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
WORDS = "小区门口垃圾堆放很多天没人清运，路边暴露垃圾发臭。我叫赵大妈，住振华南街176号新华苑1号楼2单元301"
CARRIER_WORDS = "菜市场后门暴露垃圾成堆，多日无人清运，我是孙大爷，住振华南街9号楼1单元102，电话13700001111"
CARRIER_POINT = (113.2110, 40.0110)


@pytest.fixture
def t0():
    # ahead of the real clock: what was set up just now (accounts, grants, events) is there at T0
    return timezone.now().replace(microsecond=0) + timedelta(minutes=1)  # FixMyStreet asks in whole seconds


@pytest.fixture
def confident(o311, example_model, settings):  # noqa: F811
    versions.register(example_model, actor=o311.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    return o311


def _params(start, end) -> dict:
    return {
        "start_date": timezone.localtime(start).isoformat(timespec="seconds"),
        "end_date": timezone.localtime(end).isoformat(timespec="seconds"),
    }


def last_hour(http, now, case: Case) -> dict | None:
    """GET requests.xml for the hour up to `now`, asked at `now`; the case's request as FixMyStreet would take
    it (placed, and its updated_datetime in the hour), or None when it would not (absent or skipped)."""
    with clock_at(now):
        root = xml(get(http, "requests.xml", **_params(now - HOUR, now)))
        listed = {r.find("service_request_id").text: r for r in root.findall("request")}
        json = {
            r["service_request_id"]: r for r in get(http, "requests.json", **_params(now - HOUR, now)).json()
        }
    assert listed.keys() == json.keys()
    item = json.get(case.number)
    if item is None:
        return None
    element = listed[case.number]
    placed = bool(element.find("lat").text and element.find("long").text)
    assert placed == (item["lat"] not in (None, "") and item["long"] not in (None, ""))
    if not item["description"]:
        assert not placed and not item["address"] and not item["media_url"]  # words and place go together
    in_hour = now - HOUR <= datetime.fromisoformat(item["updated_datetime"]) <= now
    return item if placed and in_hour else {"skipped": item}


def _report(o311, http, at, description=WORDS, point=POINT) -> Case:
    with clock_at(at):
        r = post(
            http, "requests.json", form(o311, description=description, lat=str(point[1]), long=str(point[0]))
        )
    assert r.status_code == 201, r.content
    return Case.objects.get(number=r.json()[0]["service_request_id"])


def _deliver(at) -> None:
    """The worker's pass at `at` (an event's `available_at` defaults to the real clock, bound at import)."""
    OutboxEvent.objects.filter(dispatched_at__isnull=True).update(available_at=at)
    with clock_at(at):
        bus.dispatch_pending()  # case.reported → router.auto_dispatch


def _auto_dispatched(case: Case, at) -> Case:
    _deliver(at)
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.auto_dispatched and case.reviewed_at is None, list(case.steps.values_list("action", "note"))
    assert case.steps.get(action="accept").actor.username == SYSTEM_USERNAME
    return case


def _hourly(http, t0, case, hours: int, events: dict) -> dict[int, dict | None]:
    """Ask for the last hour at T0, T0+1h, … (consecutive windows), running `events[k]` just before asking at
    T0+k h; what FixMyStreet would take from each window."""
    seen = {}
    for k in range(hours + 1):
        now = t0 + k * HOUR
        if k in events:
            with clock_at(now):
                events[k]()
        seen[k] = last_hour(http, now, case)
    return seen


def test_a_report_the_router_dispatched_is_listed_placed_in_the_hour_the_department_starts_it(
    confident, http, t0
):
    case = _auto_dispatched(_report(confident, http, t0), t0)
    seen = _hourly(http, t0, case, 5, {3: lambda: act(actor=confident.handler, case=case, action="start")})
    # at T0 (and on the boundary after) it is listed, followed by its id, status and service, but not placed
    for k in (0, 1):
        item = seen[k]["skipped"]
        assert item["description"] == "" and item["lat"] in (None, "") and item["long"] in (None, "")
        assert item["status"] == "open" and item["detailed_status"] == Status.DISPATCHED
        assert item["agency_responsible"] == "区城管局"
    assert seen[2] is None  # nothing happened to it in that hour
    # the department's start, a person's step, publishes it and moves its updated_datetime into that hour
    placed = seen[3]
    assert placed is not None and "skipped" not in placed, placed
    assert "赵大妈" in placed["description"] and placed["media_url"] == "https://fms.example/photo/1.jpeg"
    assert placed["lat"] == pytest.approx(POINT[1]) and placed["long"] == pytest.approx(POINT[0])
    assert datetime.fromisoformat(placed["updated_datetime"]) == t0 + 3 * HOUR
    case.refresh_from_db()
    assert case.reviewed_at == t0 + 3 * HOUR and case.updated_at == t0 + 3 * HOUR
    assert seen[4] == placed  # a step exactly on a boundary is in both windows
    assert seen[5] is None
    # the first window that shows it placed is the one of the person's step: no window missed it placed
    assert min(k for k, item in seen.items() if item and "skipped" not in item) == 3


def test_a_report_accepted_by_a_person_two_hours_later_is_listed_placed_in_that_hour(o311, http, t0):
    case = _report(o311, http, t0)
    _deliver(t0)  # no router model: it waits for intake
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.reviewed_at is None
    seen = _hourly(http, t0, case, 4, {2: lambda: act(actor=o311.dispatcher, case=case, action="accept")})
    assert seen[0]["skipped"]["lat"] in (None, "") and seen[1]["skipped"]["description"] == ""
    placed = seen[2]
    assert placed is not None and "skipped" not in placed, placed
    assert "赵大妈" in placed["description"]
    assert placed["lat"] == pytest.approx(POINT[1]) and placed["long"] == pytest.approx(POINT[0])
    assert datetime.fromisoformat(placed["updated_datetime"]) == t0 + 2 * HOUR
    assert seen[3] == placed and seen[4] is None


def _no_carrier_words(http, at, merged: Case) -> None:
    """Nothing of the carrier's report reaches the merged request's answers (nor the feeds at all)."""
    with clock_at(at):
        texts = [
            get(http, path).content.decode()
            for path in (
                f"requests/{merged.number}.json",
                f"requests/{merged.number}.xml",
                "requests.json",
                "requests.xml",
                "servicerequestupdates.json",
                "servicerequestupdates.xml",
            )
        ]
    for text in texts:
        assert "孙大爷" not in text and "9号楼" not in text and "13700001111" not in text
        assert "40.011" not in text and "113.211" not in text


def test_a_merged_request_shows_its_carriers_state_never_its_words_before_and_after_a_person_reads_it(
    confident, http, t0, settings
):
    """B, dispatched by the router at T0, carries A, which an intake officer accepted and merged into it an hour
    later; the department starts B at T0+3h. A answers with B's state throughout and its own words and place
    (a person read A), never B's; B's own are published from its start; the updates feed repeats B's public
    steps under A's id after the merge, naming the steps, never the words."""
    carrier = _auto_dispatched(_report(confident, http, t0, CARRIER_WORDS, CARRIER_POINT), t0)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 2.0  # the next report waits for intake
    merged = _report(confident, http, t0 + timedelta(minutes=10))
    _deliver(t0 + HOUR)
    with clock_at(t0 + HOUR):
        act(actor=confident.dispatcher, case=merged, action="accept")
        act(actor=confident.dispatcher, case=merged, action="merge", parent=carrier.number)
    merged.refresh_from_db()
    carrier.refresh_from_db()
    assert merged.status == Status.MERGED and merged.parent_id == carrier.pk and carrier.reviewed_at is None
    _no_carrier_words(http, t0 + 2 * HOUR, merged)
    with clock_at(t0 + 2 * HOUR):
        item = get(http, f"requests/{merged.number}.json").json()[0]
        carrier_item = get(http, f"requests/{carrier.number}.json").json()[0]
    assert (item["status"], item["detailed_status"], item["agency_responsible"]) == (
        "open",
        Status.DISPATCHED,
        "区城管局",
    )
    assert item["status_notes"].startswith(f"已并入 {carrier.number}")
    # its own words and place, read by a person
    assert "赵大妈" in item["description"] and item["lat"] == pytest.approx(POINT[1])
    assert carrier_item["description"] == "" and carrier_item["lat"] in (None, "")  # nobody has read B yet

    seen = _hourly(
        http, t0, merged, 5, {3: lambda: act(actor=confident.handler, case=carrier, action="start")}
    )
    carrier.refresh_from_db()
    assert carrier.reviewed_at == t0 + 3 * HOUR
    # A (reported at T0+10min) is placed from its 立案 and merge at T0+1h; its updated_datetime follows B's start
    # into T0+3h's hour
    assert seen[0] is None
    assert seen[1]["lat"] == pytest.approx(POINT[1]) and seen[2] == seen[1]
    assert datetime.fromisoformat(seen[3]["updated_datetime"]) == t0 + 3 * HOUR
    for k in (3, 4):
        assert seen[k]["lat"] == pytest.approx(POINT[1]) and "赵大妈" in seen[k]["description"]
        assert "孙大爷" not in seen[k]["description"]
    assert seen[5] is None
    # B, now read by a person, is published under its own id only
    with clock_at(t0 + 3 * HOUR):
        carrier_item = get(http, f"requests/{carrier.number}.json").json()[0]
        mine = get(http, f"requests/{merged.number}.json").json()[0]
    assert "孙大爷" in carrier_item["description"] and "137****1111" in carrier_item["description"]
    assert carrier_item["lat"] == pytest.approx(CARRIER_POINT[1])
    assert "孙大爷" not in mine["description"] and mine["lat"] == pytest.approx(POINT[1])
    assert mine["address"] != carrier_item["address"] or not mine["address"]

    # updates: B's steps under B; under A its own 立案 and 合并, then B's public steps taken after the merge
    with clock_at(t0 + 4 * HOUR):
        dispatch_b = carrier.steps.get(action="dispatch")
        act(
            actor=confident.handler,
            case=carrier,
            action="report_back",
            note="已清理，联系孙大爷13700001111确认",
        )
        updates = get(http, "servicerequestupdates.json", **_params(t0 - HOUR, t0 + 4 * HOUR)).json()
    of_b = [u for u in updates if u["service_request_id"] == carrier.number]
    of_a = [u for u in updates if u["service_request_id"] == merged.number]
    assert [u["description"] for u in of_b] == [
        "立案",
        "派遣：区城管局",
        "处置反馈：已清理，联系孙大爷137****1111确认",
    ]
    assert [u["description"] for u in of_a] == [
        "立案",
        "合并到主案卷",
        "处置反馈：已清理，联系孙大爷137****1111确认",
    ]
    # B's 派遣 came before A joined
    assert str(dispatch_b.pk) not in {u["update_id"].split("-")[0] for u in of_a}
    assert of_a[-1]["update_id"] == f"{of_b[-1]['update_id']}-{merged.number}"
    assert all(u["media_url"] == "" for u in updates)
    body = "".join(u["description"] for u in updates)
    assert "9号楼" not in body and "菜市场" not in body and "13700001111" not in body


def test_a_request_merged_before_its_own_intake_never_shows_its_carriers_words(confident, http, t0, settings):
    """A merged straight from 待受理 into B, which only the router has touched: A's answers carry B's state and
    nothing of what B's reporter wrote or where, before or after the department starts B."""
    carrier = _auto_dispatched(_report(confident, http, t0, CARRIER_WORDS, CARRIER_POINT), t0)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 2.0
    merged = _report(confident, http, t0 + timedelta(minutes=10))
    _deliver(t0 + HOUR)
    with clock_at(t0 + HOUR):
        act(actor=confident.dispatcher, case=merged, action="merge", parent=carrier.number)
    _no_carrier_words(http, t0 + 2 * HOUR, merged)
    with clock_at(t0 + 3 * HOUR):
        act(actor=confident.handler, case=carrier, action="start")
        item = get(http, f"requests/{merged.number}.json").json()[0]
        listed = get(http, "requests.json", **_params(t0 + 2 * HOUR, t0 + 3 * HOUR)).json()
    assert (item["status"], item["detailed_status"]) == ("open", Status.HANDLING)
    assert datetime.fromisoformat(item["updated_datetime"]) == t0 + 3 * HOUR
    assert "孙大爷" not in item["description"] and item["lat"] != pytest.approx(CARRIER_POINT[1])
    assert item["address"] == "" or "9号楼" not in item["address"]
    assert {r["service_request_id"] for r in listed} == {merged.number, carrier.number}
    mine = next(r for r in listed if r["service_request_id"] == merged.number)
    assert "孙大爷" not in mine["description"] and "9号楼" not in mine["address"]
    assert mine["lat"] in (None, "") or mine["lat"] == pytest.approx(POINT[1])

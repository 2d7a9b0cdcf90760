"""A report merged (合并) straight from 待受理, never accepted itself: the person who merged it read it, so its own
words, media and place are published, with its carrier: once the carrier is published (a person has taken it in
hand) and in the feed, never before, and no more once the carrier is refused or voided. An hourly client
(FixMyStreet's GetServiceRequests) finds it placed in the hour its carrier was read. Django's clock is moved
(`clock_at`), as the hours would pass.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.categories.models import Category
from civicgrid.apps.categories.services import update_category
from civicgrid.integrations.open311.models import Open311Request
from civicgrid.testing.clock import clock_at

from .conftest import POINT, get, xml
from .test_review_windows import CARRIER_POINT, CARRIER_WORDS, HOUR, _hourly, _params, _report

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("civicgrid.apps.cases.migrations.0019_merged_reviewed_at").backfill
WORDS = "小区门口垃圾堆放很多天没人清运，我叫赵大妈，电话13911112222"
MASKED = "小区门口垃圾堆放很多天没人清运，我叫赵大妈，电话139****2222"
ADDRESS = "永泰街道新建北路12号3单元门口"
PUBLIC_ADDRESS = "永泰街道新建北路12号"  # published to the building (`pii.public_address`)
ADDRESS_ID = "1402130500010012"


@pytest.fixture(autouse=True)
def _room_for_many_reads(settings):
    """These tests read the feeds window after window, some fifty requests from one address in a few seconds:
    more than the per-address burst (40) when the machine is slow to refill it (a 429 was seen in CI)."""
    settings.CIVICGRID_OPEN311_ADDRESS_RATE = 6000
    settings.CIVICGRID_OPEN311_ADDRESS_BURST = 1000


@pytest.fixture
def t0():
    return timezone.now().replace(microsecond=0) + timedelta(minutes=1)


def _with_place(case: Case) -> Case:
    Case.objects.filter(pk=case.pk).update(address=ADDRESS)
    Open311Request.objects.filter(case=case).update(address_id=ADDRESS_ID)
    return case


def _answers(http, at, merged: Case) -> list[str]:
    """Every public answer that could carry the merged request's words or place, at `at`."""
    with clock_at(at):
        return [get(http, path).content.decode() for path in (
            f"requests/{merged.number}.json", f"requests/{merged.number}.xml", "requests.json", "requests.xml",
            "servicerequestupdates.json", "servicerequestupdates.xml")]


def _unpublished(http, at, merged: Case) -> None:
    """Listed by its id, status and service; nothing of what its reporter wrote or sent, nor where it is."""
    answers = _answers(http, at, merged)
    for text in answers:  # its words are its own: in no answer at all
        assert "赵大妈" not in text and "13911112222" not in text and "139****2222" not in text
    for text in answers[:2]:  # its place and media (the carrier, published, may have its own)
        assert PUBLIC_ADDRESS not in text and ADDRESS_ID not in text and "fms.example/photo" not in text
        assert "40.01," not in text and "40.01<" not in text and "40.01\"" not in text
    with clock_at(at):
        item = get(http, f"requests/{merged.number}.json").json()[0]
        element = xml(get(http, f"requests/{merged.number}.xml")).find("request")
        listed = {r["service_request_id"]: r for r in get(http, "requests.json").json()}
    assert listed[merged.number] == item  # GET requests lists it the same
    assert item["service_request_id"] == merged.number and item["status"] in ("open", "closed")
    assert (item["description"], item["media_url"], item["address"], item["address_id"]) == ("", "", "", "")
    assert item["lat"] in (None, "") and item["long"] in (None, "")
    assert not element.find("description").text and not element.find("lat").text
    assert not element.find("address").text


def _published(http, at, merged: Case) -> dict:
    """Its own words (masked), media and place, under its own id in JSON and XML; never its carrier's."""
    with clock_at(at):
        item = get(http, f"requests/{merged.number}.json").json()[0]
        element = xml(get(http, f"requests/{merged.number}.xml")).find("request")
        listed = {r["service_request_id"]: r for r in get(http, "requests.json").json()}
    assert listed[merged.number] == item  # GET requests lists it the same
    assert item["description"] == MASKED and item["media_url"] == "https://fms.example/photo/1.jpeg"
    assert (item["address"], item["address_id"]) == (PUBLIC_ADDRESS, ADDRESS_ID)
    assert item["lat"] == pytest.approx(POINT[1]) and item["long"] == pytest.approx(POINT[0])
    assert element.find("description").text == MASKED and element.find("address").text == PUBLIC_ADDRESS
    assert float(element.find("lat").text) == pytest.approx(POINT[1])
    for text in _answers(http, at, merged)[:2]:  # its own answers: the carrier's own are the carrier's
        assert "孙大爷" not in text and "9号楼" not in text and "13911112222" not in text
    for text in _answers(http, at, merged):
        assert "13700001111" not in text and "13911112222" not in text
    return item


def _merged_from_intake(o311, http, t0, carrier_category=None) -> tuple[Case, Case]:
    """B reported at T0 (in `carrier_category`), A at T0+10min; at T0+1h an intake officer merges A, never
    accepted, into B, still 待受理 itself."""
    carrier = _report(o311, http, t0, CARRIER_WORDS, CARRIER_POINT)
    if carrier_category is not None:
        Case.objects.filter(pk=carrier.pk).update(category=carrier_category)
    merged = _with_place(_report(o311, http, t0 + timedelta(minutes=10), WORDS))
    # B recategorised is no longer a duplicate the finder offers A: the merge takes the dispatcher's reason
    reason = {"reason": "同一处问题，主案卷分类另有调整"} if carrier_category is not None else {}
    with clock_at(t0 + HOUR):
        act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number, **reason)
    merged.refresh_from_db()
    assert merged.status == Status.MERGED and merged.accepted_at is None and merged.reviewed_at == t0 + HOUR
    return carrier, merged


def test_a_report_merged_from_intake_is_published_placed_in_the_hour_its_carrier_is_read(o311, http, t0):
    carrier, merged = _merged_from_intake(o311, http, t0)
    _unpublished(http, t0 + 2 * HOUR, merged)  # merged, but its carrier is read by nobody yet
    seen = _hourly(http, t0, merged, 5,
                   {3: lambda: act(actor=o311.dispatcher, case=carrier, action="accept")})
    assert seen[0] is None  # reported after T0
    for k in (1, 2):  # listed (it changed: merged) but not placed: FixMyStreet skips it
        assert seen[k]["skipped"]["description"] == "" and seen[k]["skipped"]["lat"] in (None, "")
        assert seen[k]["skipped"]["status_notes"].startswith(f"已并入 {carrier.number}")
    placed = seen[3]
    assert placed is not None and "skipped" not in placed, placed
    assert placed["description"] == MASKED and placed["lat"] == pytest.approx(POINT[1])
    assert datetime.fromisoformat(placed["updated_datetime"]) == t0 + 3 * HOUR
    assert seen[4] == placed and seen[5] is None
    assert min(k for k, item in seen.items() if item and "skipped" not in item) == 3
    item = _published(http, t0 + 3 * HOUR, merged)
    assert item["detailed_status"] == Status.ACCEPTED and item["status"] == "open"
    # the updates feed names the steps, never the words: A's 合并, then B's 立案 under A's id
    with clock_at(t0 + 3 * HOUR):
        updates = get(http, "servicerequestupdates.json", **_params(t0, t0 + 3 * HOUR)).json()
        body = get(http, "servicerequestupdates.xml", **_params(t0, t0 + 3 * HOUR)).content.decode()
    mine = [u for u in updates if u["service_request_id"] == merged.number]
    assert [u["description"] for u in mine] == ["合并到主案卷", "立案"]
    assert "赵大妈" not in body and PUBLIC_ADDRESS not in body and "<lat>" not in body


def test_a_report_merged_into_a_carrier_out_of_the_feed_is_published_when_the_carrier_comes_back(
    o311, http, t0
):
    """B is in a category an administrator took out of the feed: B's 立案 by a person publishes neither B nor A.
    Put back at T0+4h, both are listed placed in that hour, dated then."""
    with clock_at(t0 - HOUR):
        update_category(actor=None, category=o311.plain, in_public_feed=False)
    carrier, merged = _merged_from_intake(o311, http, t0, carrier_category=o311.plain)

    def back():
        update_category(actor=None, category=Category.objects.get(pk=o311.plain.pk), in_public_feed=True)

    seen = _hourly(http, t0, merged, 5, {2: lambda: act(actor=o311.dispatcher, case=carrier, action="accept"),
                                         3: lambda: _unpublished(http, t0 + 3 * HOUR, merged), 4: back})
    for k in (1, 2, 3):
        assert seen[k] is None or seen[k]["skipped"]["description"] == "", seen[k]
    assert seen[2] is not None  # B's 立案 touched it: listed, still not placed
    placed = seen[4]
    assert placed is not None and "skipped" not in placed, placed
    assert placed["description"] == MASKED and datetime.fromisoformat(placed["updated_datetime"]) == t0 + 4 * HOUR
    assert seen[5] == placed
    _published(http, t0 + 4 * HOUR, merged)
    # the carrier itself is listed placed in that hour too, and its 立案, taken while it was out of the feed,
    # is an update of that hour, under B's id and A's
    with clock_at(t0 + 4 * HOUR):
        listed = get(http, "requests.json", **_params(t0 + 3 * HOUR, t0 + 4 * HOUR)).json()
        updates = get(http, "servicerequestupdates.json", **_params(t0 + 3 * HOUR, t0 + 4 * HOUR)).json()
        before = get(http, "servicerequestupdates.json", **_params(t0 + HOUR, t0 + 3 * HOUR)).json()
    mine = next(r for r in listed if r["service_request_id"] == carrier.number)
    assert mine["lat"] == pytest.approx(CARRIER_POINT[1]) and "孙大爷" in mine["description"]
    assert datetime.fromisoformat(mine["updated_datetime"]) == t0 + 4 * HOUR
    accepted = [(u["service_request_id"], u["updated_datetime"]) for u in updates if u["description"] == "立案"]
    stamp = timezone.localtime(t0 + 4 * HOUR).isoformat()
    assert sorted(accepted) == sorted([(carrier.number, stamp), (merged.number, stamp)])
    assert [u["description"] for u in before if u["service_request_id"] == merged.number] == ["合并到主案卷"]


def test_a_report_merged_into_a_carrier_refused_or_voided_shows_no_words_or_place(o311, http, t0):
    carrier, merged = _merged_from_intake(o311, http, t0)
    with clock_at(t0 + 2 * HOUR):
        act(actor=o311.dispatcher, case=carrier, action="accept")
    _published(http, t0 + 2 * HOUR, merged)
    with clock_at(t0 + 3 * HOUR):
        act(actor=o311.dispatcher, case=carrier, action="void", reason="重复上报，现场无此问题")
    _unpublished(http, t0 + 3 * HOUR, merged)
    with clock_at(t0 + 3 * HOUR):
        item = get(http, f"requests/{merged.number}.json").json()[0]
    assert (item["status"], item["detailed_status"]) == ("closed", Status.VOIDED)

    other, refused = _merged_from_intake(o311, http, t0 + 4 * HOUR)
    with clock_at(t0 + 6 * HOUR):
        act(actor=o311.dispatcher, case=other, action="refuse", reason="不属于受理范围")
    _unpublished(http, t0 + 6 * HOUR, refused)


def test_a_carrier_in_a_category_kept_out_of_the_feed_never_publishes_the_merged_report(o311, http, t0):
    carrier, merged = _merged_from_intake(o311, http, t0)
    Case.objects.filter(pk=carrier.pk).update(category=o311.private)  # 社会矫正: never published
    with clock_at(t0 + 2 * HOUR):
        act(actor=o311.dispatcher, case=carrier, action="accept")
    carrier.refresh_from_db()
    assert carrier.reviewed_at == t0 + 2 * HOUR
    _unpublished(http, t0 + 2 * HOUR, merged)


def test_a_report_merged_from_intake_before_review_times_were_kept_takes_its_merge_as_read(o311, http, t0):
    """Merged before 0018, a report never accepted had no `reviewed_at`: nobody is on record as having read it,
    and it stays unpublished; 0019 takes its merge (a person's step) as its review."""
    carrier, merged = _merged_from_intake(o311, http, t0)
    with clock_at(t0 + 2 * HOUR):
        act(actor=o311.dispatcher, case=carrier, action="accept")
    Case.objects.filter(pk=merged.pk).update(reviewed_at=None)
    _unpublished(http, t0 + 2 * HOUR, merged)
    untouched = list(Case.objects.exclude(pk=merged.pk).order_by("pk").values_list("pk", "reviewed_at"))

    backfill(apps, None)

    merged.refresh_from_db()
    assert merged.reviewed_at == t0 + HOUR  # its merge
    assert list(Case.objects.exclude(pk=merged.pk).order_by("pk").values_list("pk", "reviewed_at")) == untouched
    _published(http, t0 + 2 * HOUR, merged)

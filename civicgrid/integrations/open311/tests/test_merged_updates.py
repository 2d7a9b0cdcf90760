"""servicerequestupdates for merged requests, and window-based fetching as FixMyStreet does it.

A request merged (合并) into another hears what the case carrying it does from then on, under its own id; and a
client that fetches by consecutive windows (FixMyStreet: requests hourly, updates over the last two hours) never
misses a request or an update: each is in the window in which it became public, with its updated_datetime there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import jpeg
from civicgrid.apps.categories.models import Category
from civicgrid.integrations.open311 import conf

from .conftest import form, get, post, spec_error, xml

pytestmark = pytest.mark.django_db
NOTE = "已联系当事人王小明（13700001111）清理完毕"
MASKED_NOTE = "已联系当事人王**（137****1111）清理完毕"


def reported(o311, http) -> Case:
    response = post(http, "requests.json", form(o311))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def handle_and_close(o311, case: Case) -> None:
    """派遣 → 处置反馈 → 核查 → 结案, each a public step."""
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    act(actor=o311.handler, case=case, action="report_back", note=NOTE)
    act(actor=o311.worker, case=case, action="verify", photos=[jpeg()])
    act(actor=o311.dispatcher, case=case, action="close", note=NOTE)


def feed(http, **params) -> list[dict]:
    response = get(http, "servicerequestupdates.json", **params)
    assert response.status_code == 200, response.content
    return response.json()


def of(updates: list[dict], case: Case) -> list[dict]:
    return [u for u in updates if u["service_request_id"] == case.number]


def test_a_merged_request_hears_its_carriers_steps_under_its_own_id(o311, http):
    carrier, merged = reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    handle_and_close(o311, carrier)
    updates = feed(http)
    carriers = of(updates, carrier)
    assert [u["description"] for u in carriers] == ["立案", "派遣：区城管局", f"处置反馈：{MASKED_NOTE}", "核查通过",
                                                    f"结案：{MASKED_NOTE}"]
    mine = of(updates, merged)
    # its own 合并 (the matter stays open in the carrier), then the carrier's steps taken since, not its 立案
    assert [u["description"] for u in mine] == ["合并到主案卷", *[u["description"] for u in carriers[1:]]]
    assert [u["status"] for u in mine] == ["open", "open", "open", "open", "closed"]
    assert [u["status"] for u in carriers[1:]] == [u["status"] for u in mine[1:]]  # mapped the same way
    assert [u["updated_datetime"] for u in carriers[1:]] == [u["updated_datetime"] for u in mine[1:]]
    # ids stay unique: a repeat's id is the step's and the request's
    ids = [u["update_id"] for u in updates]
    assert len(ids) == len(set(ids))
    assert [u["update_id"] for u in mine[1:]] == [f"{u['update_id']}-{merged.number}" for u in carriers[1:]]
    assert mine[0]["update_id"].isdigit()
    # personal data stays masked, and the feed has no place in it
    body = get(http, "servicerequestupdates.xml").content.decode()
    assert "13700001111" not in body and "lat" not in body
    root = xml(get(http, "servicerequestupdates.xml"))
    closure = [u for u in root.findall("request_update") if u.find("service_request_id").text == merged.number][-1]
    assert (closure.find("status").text, closure.find("description").text) == ("closed", f"结案：{MASKED_NOTE}")
    # GET requests tells the same: the merged request is closed with its carrier
    assert get(http, f"requests/{merged.number}.json").json()[0]["status"] == "closed"


def test_after_merges_one_upon_another_each_request_hears_each_carrier_from_when_it_reached_it(o311, http):
    """A into B, then B into C: A hears B's steps after its merge up to B's 合并, then C's after that; C's steps
    from before B joined it are not A's (as A's follow page shows them)."""
    c, b, a = (reported(o311, http) for _ in range(3))
    act(actor=o311.dispatcher, case=c, action="accept")
    act(actor=o311.dispatcher, case=b, action="accept")
    act(actor=o311.dispatcher, case=a, action="merge", parent=b.number)
    act(actor=o311.dispatcher, case=c, action="dispatch", department=o311.dept.pk)  # before B joins C
    act(actor=o311.handler, case=c, action="report_back", note="已清理")
    act(actor=o311.dispatcher, case=b, action="merge", parent=c.number)
    act(actor=o311.worker, case=c, action="verify", photos=[jpeg()])
    act(actor=o311.dispatcher, case=c, action="close", note="已结案")
    updates = feed(http)
    assert [u["description"] for u in of(updates, a)] == ["合并到主案卷", "合并到主案卷", "核查通过", "结案：已结案"]
    assert [u["description"] for u in of(updates, b)] == ["立案", "合并到主案卷", "核查通过", "结案：已结案"]
    assert [u["status"] for u in of(updates, a)] == ["open", "open", "open", "closed"]
    b_merge = CaseStep.objects.get(case=b, action="merge")
    assert of(updates, a)[1]["update_id"] == f"{b_merge.pk}-{a.number}"
    ids = [u["update_id"] for u in updates]
    assert len(ids) == len(set(ids))


def test_a_carrier_or_a_request_not_published_to_the_feed_is_not_repeated(o311, http):
    carrier, merged, quiet = (reported(o311, http) for _ in range(3))
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    act(actor=o311.dispatcher, case=quiet, action="merge", parent=carrier.number)
    Case.objects.filter(pk=quiet.pk).update(category=o311.plain)
    Category.objects.filter(pk=o311.plain.pk).update(in_public_feed=False)  # the merged request's category
    act(actor=o311.dispatcher, case=carrier, action="dispatch", department=o311.dept.pk)
    updates = feed(http)
    assert [u["description"] for u in of(updates, merged)] == ["合并到主案卷", "派遣：区城管局"]
    assert of(updates, quiet) == []
    # the carrier's category taken out of the feed: its steps are published under no id
    Category.objects.filter(pk=o311.cat.pk).update(in_public_feed=False)
    Case.objects.filter(pk=merged.pk).update(category=o311.cls)  # still published itself
    assert [u["description"] for u in of(feed(http), merged)] == ["合并到主案卷"]


def _shift(hours: float, *cases: Case) -> None:
    """Move the cases' times and steps `hours` into the past, as if they had happened then."""
    delta = timedelta(hours=hours)
    ids = [c.pk for c in cases]
    Case.objects.filter(pk__in=ids).update(reported_at=F("reported_at") - delta, updated_at=F("updated_at") - delta,
                                           accepted_at=F("accepted_at") - delta, ended_at=F("ended_at") - delta)
    CaseStep.objects.filter(case_id__in=ids).update(at=F("at") - delta)


def _windows(start, end, hours: float):
    """Consecutive windows as FixMyStreet's cron asks for them (each from where the last ended)."""
    while start < end:
        yield start, min(start + timedelta(hours=hours), end)
        start += timedelta(hours=hours)


def _params(start, end) -> dict:
    return {"start_date": timezone.localtime(start).isoformat(timespec="seconds"),
            "end_date": timezone.localtime(end).isoformat(timespec="seconds")}


def test_fetching_updates_window_by_window_misses_none(o311, http):
    carrier, merged = reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    _shift(5, carrier, merged)
    act(actor=o311.dispatcher, case=carrier, action="dispatch", department=o311.dept.pk)
    act(actor=o311.handler, case=carrier, action="report_back", note=NOTE)
    _shift(3, carrier, merged)
    act(actor=o311.worker, case=carrier, action="verify", photos=[jpeg()])
    act(actor=o311.dispatcher, case=carrier, action="close", note=NOTE)
    everything = feed(http)
    assert [u["description"] for u in of(everything, merged)][-1] == f"结案：{MASKED_NOTE}"
    now = timezone.now().replace(microsecond=0) + timedelta(seconds=1)  # FixMyStreet asks in whole seconds
    seen = []
    for start, end in _windows(now - timedelta(hours=10), now, 1):
        for update in feed(http, **_params(start, end)):
            # what FixMyStreet checks before taking an update: its time lies in the window it asked for
            assert start <= datetime.fromisoformat(update["updated_datetime"]) <= end
            seen.append(update["update_id"])
    assert sorted(set(seen)) == sorted(u["update_id"] for u in everything)


def test_a_request_accepted_hours_after_it_came_in_is_listed_in_the_hour_it_was_accepted(o311, http):
    """FixMyStreet's GetServiceRequests asks for the last hour, skips a request without lat/long (blank until
    立案) and one whose updated_datetime is outside the hour: a report accepted three hours after it came in
    was in no hour it asked for."""
    case = reported(o311, http)
    _shift(3, case)
    before = get(http, "requests.json", **_params(timezone.now() - timedelta(hours=1), timezone.now())).json()
    assert before == []  # nothing happened to it in the last hour
    act(actor=o311.dispatcher, case=case, action="accept")
    now = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    listed = get(http, "requests.json", **_params(now - timedelta(hours=1), now)).json()
    assert [r["service_request_id"] for r in listed] == [case.number]
    assert now - timedelta(hours=1) <= datetime.fromisoformat(listed[0]["updated_datetime"]) <= now
    assert listed[0]["lat"] and listed[0]["long"]
    # the spec's requested_datetime still selects it too
    reported_day = timezone.localtime(case.reported_at - timedelta(hours=3))
    assert [r["service_request_id"] for r in get(http, "requests.json", **_params(
        reported_day - timedelta(minutes=1), reported_day + timedelta(minutes=1))).json()] == [case.number]


def test_merged_requests_are_found_by_their_carriers_status_and_updated_time(o311, http):
    carrier, merged = reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    _shift(5, carrier, merged)
    numbers = lambda **p: sorted(r["service_request_id"] for r in get(http, "requests.json", **p).json())  # noqa: E731
    assert numbers(status="open") == sorted([carrier.number, merged.number])  # it shows open: it is found open
    assert numbers(status="closed") == []
    handle_and_close(o311, carrier)
    assert numbers(status="closed") == sorted([carrier.number, merged.number])
    assert numbers(status="open") == []
    now = timezone.now()
    hour = _params(now - timedelta(hours=1), now + timedelta(seconds=1))
    # its carrier was closed in the last hour: so was it (its updated_datetime is the carrier's)
    assert numbers(**hour) == sorted([carrier.number, merged.number])
    item = next(r for r in get(http, "requests.json", **hour).json() if r["service_request_id"] == merged.number)
    assert item["status"] == "closed"


def test_updates_are_filtered_by_service_request_id_as_get_requests_is(o311, http):
    carrier, merged, other = reported(o311, http), reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    handle_and_close(o311, carrier)
    act(actor=o311.dispatcher, case=other, action="accept")
    everything = feed(http)
    assert of(everything, carrier) and of(everything, merged) and of(everything, other)
    # one id: its own updates only, a merged request's repeats of its carrier's steps included
    assert feed(http, service_request_id=merged.number) == of(everything, merged)
    assert feed(http, service_request_id=other.number) == of(everything, other)
    # a comma list (spaces and repeats allowed), in the feed's order
    both = feed(http, service_request_id=f" {other.number}, {carrier.number},{other.number}")
    assert both == [u for u in everything if u["service_request_id"] in {carrier.number, other.number}]
    # XML answers the same
    root = xml(get(http, "servicerequestupdates.xml", service_request_id=other.number))
    assert {u.find("service_request_id").text for u in root.findall("request_update")} == {other.number}
    # an id that is unknown or cannot be a number finds nothing (not the whole feed)
    assert feed(http, service_request_id="99999999") == [] and feed(http, service_request_id="abc") == []
    # the date range still applies
    past = timezone.localtime() - timedelta(days=3)
    assert feed(http, service_request_id=other.number, start_date=past.isoformat(timespec="seconds"),
                end_date=(past + timedelta(days=1)).isoformat(timespec="seconds")) == []
    assert feed(http, service_request_id=other.number, start_date=past.isoformat(timespec="seconds")) == \
        of(everything, other)
    # too many ids: the 400 GET requests answers, in the spec's format
    many = ",".join([other.number] * (conf.max_results() + 1))
    refusal = spec_error(get(http, "servicerequestupdates.json", service_request_id=many), 400)
    assert refusal == spec_error(get(http, "requests.json", service_request_id=many), 400)
    assert "service_request_id" in refusal

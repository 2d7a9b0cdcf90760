"""Inspection campaigns (排查) and 回头看 rounds through the services: what they make, and every refusal leaving
nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import (
    Campaign,
    ChecklistItem,
    Hazard,
    HazardPhoto,
    HazardStep,
    Inspection,
    InspectionAnswer,
    InspectionStatus,
    Status,
)
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent

from .conftest import GRID, OTHER_STREET_POINT, POINT, flood_fields

pytestmark = pytest.mark.django_db

CHECKLIST = {"low_lying": ["排水口是否堵塞", "是否设置警示标志"], "underground": ["是否配备挡水板"]}


def _today() -> dt.date:
    return timezone.localdate()


def _open(world, **extra) -> Campaign:
    args = {"actor": world.street, "name": "2023 汛前隐患排查", "kind": "flood", "region": world.tree["140213050"],
            "starts_on": _today(), "deadline": _today() + dt.timedelta(days=20), "checklist": CHECKLIST}
    args.update(extra)
    return services.open_campaign(**args)


def _counts() -> tuple:
    return (Campaign.objects.count(), ChecklistItem.objects.count(), Inspection.objects.count(),
            InspectionAnswer.objects.count(), Hazard.objects.count(), HazardStep.objects.count(),
            AuditEntry.objects.filter(action__startswith="hazards.").count(),
            OutboxEvent.objects.filter(topic__startswith="hazards.").count())


def _mine(world, campaign) -> Inspection:
    return Inspection.objects.get(campaign=campaign, region_code=GRID)


def _answers(inspection, failing: dict | None = None) -> list[dict]:
    """Every item ok, except those named in `failing` (item text → hazard details or None)."""
    failing = failing or {}
    result = []
    for item in services.items_for(inspection):
        if item.text in failing:
            answer = {"item": item.pk, "ok": False, "note": "发现问题"}
            if failing[item.text] is not None:
                answer["hazard"] = failing[item.text]
            result.append(answer)
        else:
            result.append({"item": item.pk, "ok": True})
    return result


def _finding(**extra) -> dict:
    fields = {"name": "永泰南路下穿无警示牌", "grade": "general", "lat": POINT[1], "lng": POINT[0],
              "owner_unit": "区住建局", "threatened_people": 30}
    fields.update(extra)
    return fields


# ------------------------------------------------------------------------------------------------ opening


def test_open_campaign_makes_items_and_one_checklist_per_grid(world):
    c = _open(world)
    assert c.region_code == "140213050" and c.kind == "flood" and c.is_open and not c.is_revisit
    assert sorted(c.items.values_list("text", flat=True)) == sorted(sum(CHECKLIST.values(), []))
    grids = sorted(Inspection.objects.filter(campaign=c).values_list("region_code", flat=True))
    assert grids == ["140213050001001", "140213050001002", "140213050002001", "140213050002002"]
    assert set(Inspection.objects.filter(campaign=c).values_list("category", flat=True)) == {""}
    # the grid's one grid worker is the assignee
    assert _mine(world, c).assignee == world.worker
    assert AuditEntry.objects.filter(action="hazards.campaign_open", target_id=str(c.pk)).count() == 1
    assert OutboxEvent.objects.filter(topic="hazards.campaign_opened").count() == 1


def test_open_campaign_by_community(world):
    c = _open(world, level="community")
    assert sorted(c.inspections.values_list("region_code", flat=True)) == ["140213050001", "140213050002"]


@pytest.mark.parametrize("bad, field", [
    ({"deadline": "2000-01-01"}, "deadline"),
    ({"checklist": {}}, "checklist"),
    ({"checklist": {"gas": ["软管是否老化"]}}, "checklist"),  # a safety category in a flood campaign
    ({"checklist": {"low_lying": ["  "]}}, "checklist"),
    ({"kind": "fire"}, "kind"),
    ({"name": ""}, "name"),
    ({"level": "building"}, "level"),
    ({"found_by": "rumour"}, "found_by"),
    ({"starts_on": "tomorrow"}, "starts_on"),
])
def test_bad_campaign_changes_nothing(world, bad, field):
    before = _counts()
    with pytest.raises(ValidationFailed) as err:
        _open(world, **bad)
    assert err.value.field == field
    assert _counts() == before


@pytest.mark.parametrize("who", ["worker", "other_street", "patron_handler"])
def test_campaign_needs_capability_in_the_region(world, who):
    before = _counts()
    with pytest.raises(PermissionDenied):
        _open(world, actor=getattr(world, who))
    assert _counts() == before


def test_district_campaign_covers_both_streets(world):
    c = _open(world, actor=world.centre, region=world.tree["140213"])
    assert c.inspections.count() == 8
    assert set(c.inspections.values_list("street_code", flat=True)) == {"140213050", "140213051"}


# ------------------------------------------------------------------------------------------------ filling


def test_fill_with_a_failed_item_registers_a_hazard(world, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    from io import BytesIO

    from PIL import Image
    buf = BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG")
    buf.seek(0)
    buf.name = "site.jpg"
    c = _open(world)
    i = _mine(world, c)
    answers = _answers(i, {"是否设置警示标志": _finding(grade="major", threatened_households=12)})
    services.fill_inspection(actor=world.worker, inspection=i, answers=answers, lat=POINT[1], lng=POINT[0],
                             photos=[buf])
    i.refresh_from_db()
    assert i.status == InspectionStatus.DONE and i.submitted_by == world.worker and i.lat == POINT[1]
    h = Hazard.objects.get()
    assert h.campaign == c and h.found_by == "specialist" and h.category == "low_lying" and h.kind == "flood"
    assert h.grade == "major" and h.is_supervised and h.threatened_households == 12
    assert h.region_code == GRID and h.patron_department == world.patron
    assert h.inspector == world.worker.display_name
    assert "是否设置警示标志" in h.description
    assert HazardPhoto.objects.filter(hazard=h, stage="finding").count() == 1
    failed = InspectionAnswer.objects.get(inspection=i, ok=False)
    assert failed.hazard == h and failed.note == "发现问题"
    assert InspectionAnswer.objects.filter(inspection=i).count() == 3
    assert AuditEntry.objects.filter(action="hazards.inspection_fill", target_id=str(i.pk)).count() == 1
    assert OutboxEvent.objects.filter(topic="hazards.inspection_filled").count() == 1


def test_failed_item_without_details_is_a_finding_only(world):
    c = _open(world)
    i = _mine(world, c)
    services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i, {"排水口是否堵塞": None}))
    assert Hazard.objects.count() == 0
    assert InspectionAnswer.objects.filter(ok=False).count() == 1


def test_filled_twice_is_a_conflict(world):
    c = _open(world)
    i = _mine(world, c)
    services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i))
    before = _counts()
    with pytest.raises(Conflict):
        services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i))
    assert _counts() == before


def _bad_answers(i):
    items = services.items_for(i)
    ok = [{"item": it.pk, "ok": True} for it in items]
    return {
        "missing": ok[:-1],
        "twice": ok + [ok[0]],
        "foreign item": ok[:-1] + [{"item": 999999, "ok": True}],
        "no verdict": ok[:-1] + [{"item": items[-1].pk}],
        "hazard on ok": ok[:-1] + [{"item": items[-1].pk, "ok": True, "hazard": _finding()}],
    }


@pytest.mark.parametrize("case", ["missing", "twice", "foreign item", "no verdict", "hazard on ok"])
def test_bad_answers_change_nothing(world, case):
    c = _open(world)
    i = _mine(world, c)
    before = _counts()
    with pytest.raises(ValidationFailed):
        services.fill_inspection(actor=world.worker, inspection=i, answers=_bad_answers(i)[case])
    assert _counts() == before
    i.refresh_from_db()
    assert i.status == InspectionStatus.PENDING


def test_one_bad_finding_refuses_the_whole_checklist(world):
    """Two failed items: the first registers, the second has no name; nothing at all is kept."""
    c = _open(world)
    i = _mine(world, c)
    before = _counts()
    answers = _answers(i, {"排水口是否堵塞": _finding(), "是否设置警示标志": _finding(name="")})
    with pytest.raises(ValidationFailed):
        services.fill_inspection(actor=world.worker, inspection=i, answers=answers)
    assert _counts() == before
    assert not Hazard.objects.exists()


def test_finding_outside_the_checklists_region_is_refused(world):
    c = _open(world, actor=world.centre, region=world.tree["140213"])
    i = Inspection.objects.get(campaign=c, region_code="140213050001002")  # a sibling grid
    before = _counts()
    with pytest.raises(ValidationFailed):
        services.fill_inspection(actor=world.street, inspection=i,
                                 answers=_answers(i, {"排水口是否堵塞": _finding()}))  # POINT lies in GRID
    assert _counts() == before


def test_finding_needs_a_location(world):
    c = _open(world)
    i = _mine(world, c)
    before = _counts()
    finding = _finding()
    del finding["lat"], finding["lng"]
    with pytest.raises(ValidationFailed) as err:
        services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i, {"排水口是否堵塞": finding}))
    assert err.value.field == "lat"
    assert _counts() == before


def test_filling_scope(world):
    c = _open(world)
    i = _mine(world, c)
    before = _counts()
    with pytest.raises(NotFound):  # another street's staff does not see the checklist
        services.fill_inspection(actor=world.other_street, inspection=i, answers=_answers(i))
    with pytest.raises((NotFound, PermissionDenied)):  # the patron department may not fill it in
        services.fill_inspection(actor=world.patron_handler, inspection=i, answers=_answers(i))
    with pytest.raises(PermissionDenied):  # the leader sees it but does not inspect
        services.fill_inspection(actor=world.leader, inspection=i, answers=_answers(i))
    assert _counts() == before


def test_closed_campaign_takes_no_more_answers(world):
    c = _open(world)
    services.close_campaign(actor=world.street, campaign=c)
    i = _mine(world, c)
    with pytest.raises(Conflict):
        services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i))
    with pytest.raises(Conflict):
        services.close_campaign(actor=world.street, campaign=c)


# ------------------------------------------------------------------------------------------------ 回头看


def _closed_hazard(world) -> Hazard:
    h = services.register_hazard(actor=world.worker, **flood_fields())
    day = (_today() + dt.timedelta(days=5)).isoformat()
    h = services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=day)
    h = services.act(actor=world.street, hazard=h, action="report_done", note="完成")
    h = services.act(actor=world.street, hazard=h, action="pass_check", checker="李科长")
    return services.act(actor=world.street, hazard=h, action="close_out")


def test_revisit_targets_each_point_and_relapse_reopens(world):
    closed = _closed_hazard(world)
    still_open = services.register_hazard(actor=world.worker, **flood_fields(name="另一处积水点"))
    services.register_hazard(actor=world.centre, **flood_fields(lng=OTHER_STREET_POINT[0],
                                                                   lat=OTHER_STREET_POINT[1]))  # other street
    r = services.open_revisit(actor=world.street, name="汛期回头看", region=world.tree["140213050"],
                              deadline=_today() + dt.timedelta(days=10), kind="flood")
    assert r.is_revisit
    targets = {i.hazard_id: i for i in r.inspections.all()}
    assert set(targets) == {closed.pk, still_open.pk}
    i = targets[closed.pk]
    assert i.category == "low_lying" and i.region_code == GRID and i.assignee == world.worker
    # the grid worker finds it flooded again: the closed point is reopened for rectification
    services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i, {"隐患是否已消除、未复发": None}))
    closed.refresh_from_db()
    assert closed.status == Status.RECTIFYING and closed.closed_at is None
    step = closed.steps.get(action="reopen")
    assert "回头看" in step.note and world.worker.display_name in step.note
    # the open one is still fixed → a note on its timeline, status unchanged
    j = targets[still_open.pk]
    services.fill_inspection(actor=world.worker, inspection=j, answers=_answers(j))
    still_open.refresh_from_db()
    assert still_open.status == Status.REGISTERED and still_open.steps.filter(action="revisit").count() == 1


def test_revisit_of_an_open_point_that_relapsed_adds_a_note(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    r = services.open_revisit(actor=world.street, name="回头看", region="140213050",
                              deadline=_today() + dt.timedelta(days=3), kind="flood", include_closed=False)
    i = r.inspections.get()
    services.fill_inspection(actor=world.street, inspection=i, answers=_answers(i, {"隐患是否已消除、未复发": None}))
    h.refresh_from_db()
    assert h.status == Status.REGISTERED
    assert h.steps.filter(action="note").count() == 1


def test_revisit_without_points_or_scope_changes_nothing(world):
    before = _counts()
    with pytest.raises(ValidationFailed):
        services.open_revisit(actor=world.street, name="回头看", region="140213050",
                              deadline=_today() + dt.timedelta(days=3), kind="flood")
    _closed_hazard(world)
    before = _counts()
    with pytest.raises(PermissionDenied):
        services.open_revisit(actor=world.other_street, name="回头看", region="140213050",
                              deadline=_today() + dt.timedelta(days=3), kind="flood")
    assert _counts() == before


# ------------------------------------------------------------------------------------------------ progress


def test_progress_per_street_in_fixed_queries(world, django_assert_max_num_queries):
    c = _open(world, actor=world.centre, region=world.tree["140213"])
    i = _mine(world, c)
    services.fill_inspection(actor=world.worker, inspection=i,
                             answers=_answers(i, {"排水口是否堵塞": _finding(), "是否设置警示标志": None}))
    with django_assert_max_num_queries(8):
        progress = services.campaign_progress(world.centre, c)
    by = {s["street_code"]: s for s in progress["streets"]}
    assert by["140213050"]["total"] == 4 and by["140213050"]["done"] == 1 and by["140213050"]["findings"] == 2
    assert by["140213050"]["hazards"] == 1 and by["140213050"]["by_status"]["registered"] == 1
    assert by["140213050"]["name"] == "永泰街道" and by["140213050"]["percent"] == 25
    assert by["140213051"]["done"] == 0
    assert progress["totals"]["total"] == 8 and progress["totals"]["done"] == 1
    # a street's staff sees the campaign of the district but only their street's rows
    mine = services.campaign_progress(world.street, c)
    assert [s["street_code"] for s in mine["streets"]] == ["140213050"]
    with pytest.raises(NotFound):
        services.campaign_progress(world.other_street, _open(world))


# ------------------------------------------------------------------------------------------------ demo


def test_demo_campaigns_complete_the_demos_rows_and_are_idempotent(world):
    from civicgrid.apps.hazards import demo_campaigns

    # the hazards demo made the flood row (closed, no checklist); the safety row is missing
    flood = Campaign.objects.create(name=demo_campaigns.FLOOD_NAME, kind="flood", region=world.tree["140213"],
                                    region_code="140213", starts_on=dt.date(2023, 5, 10),
                                    deadline=dt.date(2023, 5, 31), is_open=False)
    outcome = demo_campaigns.load_demo_campaigns()
    safety = Campaign.objects.get(name=demo_campaigns.SAFETY_NAME)
    assert set(flood.items.values_list("category", flat=True)) == {
        "low_lying", "underpass", "underground", "dilapidated_house", "poor_drainage"}
    assert safety.items.filter(category="gas", text__contains="可燃气体报警器").exists()
    for c in (flood, safety):
        assert c.inspections.count() == 8
        assert c.inspections.filter(status=InspectionStatus.DONE).count() == 6  # most, not all
    flood.refresh_from_db()
    assert not flood.is_open  # left as the demo made it
    assert outcome[demo_campaigns.FLOOD_NAME]["filled_now"] == 6
    before = _counts()
    again = demo_campaigns.load_demo_campaigns()
    assert _counts() == before and all(v["filled_now"] == 0 for v in again.values())


def test_a_relapse_reopened_with_a_deadline_beyond_the_window_is_refused_whole(world):
    closed = _closed_hazard(world)
    r = services.open_revisit(actor=world.street, name="汛期回头看", region=world.tree["140213050"],
                              deadline=_today() + dt.timedelta(days=10), kind="flood")
    i = r.inspections.get(hazard=closed)
    with pytest.raises(ValidationFailed, match="整改时限须在"):
        services.fill_inspection(actor=world.worker, inspection=i, answers=_answers(i, {"隐患是否已消除、未复发": None}),
                                 deadline=_today() + dt.timedelta(days=4000))
    i.refresh_from_db()
    closed.refresh_from_db()
    assert i.status != InspectionStatus.DONE and i.answers.count() == 0
    assert closed.status == Status.CLOSED and not closed.steps.filter(action="reopen").exists()

"""Auto-dispatch held back: the intake form's panel promises 自动派遣 only when the new case would really be
dispatched (a category to accept it under, a department with handlers, no likely duplicate nearby), and a case
the router was confident about but that waits says why on its timeline, for the dispatcher who expected it
dispatched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseStep, Source, Status
from civicgrid.apps.cases.services import check_report, submit_cases
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, POINT, report
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.handlers import HELD_STEP, auto_dispatch

from .test_product import CITY

pytestmark = pytest.mark.django_db


@pytest.fixture
def confident(loop, example_model, settings):
    """The example model active and every suggestion above the threshold."""
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def panel(loop, **params) -> str:
    client = Client()
    client.force_login(loop.dispatcher)
    response = client.get("/router/suggest/", {"title": "路边暴露垃圾", "description": CITY, **params})
    assert response.status_code == 200
    return response.content.decode()


def test_the_panel_promises_auto_dispatch_only_when_it_will_happen(loop, confident):
    point = {"lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84"}
    # No category chosen, and the model (departments only) suggests none: 立案 would be refused.
    held = panel(loop, **point)
    assert 'data-outlook="held"' in held and "未确定事项分类" in held and "登记后将自动派遣" not in held
    # A category and a point with no open case nearby: it will be dispatched.
    sure = panel(loop, category=str(loop.cat.pk), **point)
    assert 'data-outlook="auto"' in sure and "登记后将自动派遣" in sure
    # Not located yet: the panel does not promise what the place decides.
    unknown = panel(loop, category=str(loop.cat.pk))
    assert 'data-outlook="unknown"' in unknown and "登记后将自动派遣" not in unknown
    # An open case of the same kind nearby: the new one would wait as a likely duplicate, and the panel says so.
    first = report(loop, title="路边暴露垃圾", description=CITY)
    duplicate = panel(loop, category=str(loop.cat.pk), **point)
    assert 'data-outlook="held"' in duplicate and first.number in duplicate and "登记后将自动派遣" not in duplicate
    far = panel(loop, category=str(loop.cat.pk), lng=str(NEIGHBOUR_POINT[0]), lat=str(NEIGHBOUR_POINT[1]))
    assert 'data-outlook="auto"' in far


def test_the_intake_form_sends_its_category_and_point_with_the_text(loop, confident):
    client = Client()
    client.force_login(loop.dispatcher)
    page = client.get("/cases/hotline/").content.decode()
    assert 'hx-params="title,description,address,category,lng,lat,crs"' in page
    assert "change from:select[name=category]" in page and "located from:closest form" in page


def test_an_uncategorised_ticket_stays_and_its_timeline_says_why(loop, confident, client):
    """The tester's ticket: confident, but without a category 立案 is refused; the case page says why."""
    case = report(loop, actor=loop.dispatcher, source="hotline", category=None, hotline_ticket="12345-20261201-0002")
    assert case.suggestion["confidence"] >= 0.0 and not case.suggestion.get("category_id")
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.status == Status.REPORTED and not case.auto_dispatched
    held = CaseStep.objects.get(case=case, action=HELD_STEP)
    assert held.note.startswith("未自动派遣：未确定事项分类") and held.actor_name == "system"
    assert held.data["note_en"].startswith("not dispatched automatically: no category")
    assert AuditEntry.objects.filter(action=f"cases.{HELD_STEP}", target_id=str(case.pk)).count() == 1
    # a redelivered event notes it once
    assert auto_dispatch(case.pk).startswith("triage: 未确定事项分类")
    assert CaseStep.objects.filter(case=case, action=HELD_STEP).count() == 1
    client.force_login(loop.dispatcher)
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert "未自动派遣：未确定事项分类" in html
    # the reporter's public page shows no such internal step
    token = case.reporters.get().follow_token
    assert "未自动派遣" not in Client().get(f"/follow/{token}/").content.decode()


def test_a_likely_duplicate_says_why_it_waits(loop, confident):
    first = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    again = report(loop, title="门口垃圾没人清", description=CITY)
    bus.dispatch_pending()
    again.refresh_from_db()
    assert again.status == Status.REPORTED
    note = CaseStep.objects.get(case=again, action=HELD_STEP).note
    assert note == f"未自动派遣：可能与 {first.number} 重复，留待人工合并"
    assert not CaseStep.objects.filter(case=first, action=HELD_STEP).exists()  # it was dispatched


def test_below_the_threshold_nothing_is_noted(loop, example_model, settings):
    """The case page's panel already shows a confidence under the threshold: no timeline entry for it."""
    versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.99
    case = report(loop, title="有点事", description="不知道找谁")
    bus.dispatch_pending()
    assert not CaseStep.objects.filter(case=case, action=HELD_STEP).exists()


def _aged(case, **fields):
    Case.objects.filter(pk=case.pk).update(**fields)
    return Case.objects.get(pk=case.pk)


def _by_batch(loop, **fields):
    """A report made as the Open311 queue's drain makes them (`submit_cases`, one batch)."""
    args = {"actor": None, "source": Source.OPEN311, "title": "路边暴露垃圾", "description": CITY,
            "lng": POINT[0], "lat": POINT[1], "category": loop.cat.pk, **fields}
    [case] = submit_cases([check_report(**args)])
    return case


@pytest.mark.parametrize("path", ["report", "batch"])
def test_a_report_next_to_an_old_open_case_waits_for_the_merge(loop, confident, path):
    """The tester's case: 2026112300006 (垃圾站满溢) still 处置中, overdue and supervised, reported days ago; a new
    report 17 m away was dispatched to the same department. It waits now, from the report page or the API
    (`submit_case`) and from the Open311 queue's batches (`submit_cases`) alike, and the panel says so too."""
    first = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    first = _aged(first, reported_at=timezone.now() - timedelta(days=9), status=Status.HANDLING, is_overdue=True,
                  is_supervised=True)
    lat = POINT[1] + 17 / 111_195
    again = (report(loop, title="门口垃圾没人清", description=CITY, lat=lat) if path == "report"
             else _by_batch(loop, title="门口垃圾没人清", lat=lat))
    bus.dispatch_pending()
    again.refresh_from_db()
    assert again.status == Status.REPORTED and not again.auto_dispatched
    note = CaseStep.objects.get(case=again, action=HELD_STEP).note
    assert note == f"未自动派遣：可能与 {first.number} 重复，留待人工合并"
    shown = panel(loop, category=str(loop.cat.pk), lng=str(POINT[0]), lat=str(lat), crs="wgs84")
    assert 'data-outlook="held"' in shown and first.number in shown


def test_a_report_next_to_a_case_closed_lately_waits_and_one_closed_long_ago_does_not(loop, confident):
    """A case closed within the window is offered (the problem may be back: reopen it and merge, or not), so
    auto-dispatch leaves the report to a dispatcher; one closed before the window is history."""
    first = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    first = _aged(first, status=Status.CLOSED, closed_at=timezone.now() - timedelta(hours=10))
    again = report(loop, title="门口垃圾没人清", description=CITY)
    bus.dispatch_pending()
    again.refresh_from_db()
    assert again.status == Status.REPORTED
    note = CaseStep.objects.get(case=again, action=HELD_STEP).note
    assert note == f"未自动派遣：可能与刚结案的 {first.number} 重复（问题可能复发），留待人工处理"

    _aged(first, closed_at=timezone.now() - timedelta(days=5))
    _aged(again, status=Status.VOIDED, ended_at=timezone.now())
    later = report(loop, title="门口垃圾没人清", description=CITY)
    bus.dispatch_pending()
    later.refresh_from_db()
    assert later.status == Status.DISPATCHED and later.auto_dispatched

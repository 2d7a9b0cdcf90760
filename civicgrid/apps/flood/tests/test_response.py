"""An orange reading raises the street signal and the district response to Ⅱ and issues the tasks of Ⅳ–Ⅱ to
exactly that street and its 包保 department; lower readings lower nothing; lifting needs a reason and is audited."""

from __future__ import annotations

import pytest

from civicgrid.apps.flood import selectors, services
from civicgrid.apps.flood.models import FloodResponse, ResponseTask, StreetSignal
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed

from .conftest import IN_A, ago

pytestmark = pytest.mark.django_db


def rain(actor, window=3, mm=60, station="RG-A1", minutes=10, where=IN_A):
    return services.record_rainfall(actor=actor, station=station, observed_at=ago(minutes), window_hours=window,
                                    rain_mm=mm, **where)[0]


def test_orange_reading_raises_signal_level_and_tasks_for_that_street_and_its_patron(flood):
    reading = rain(flood["staff_a"], window=3, mm=60)
    assert reading.signal == "orange"
    assert reading.street_code == "140213050"
    status = selectors.status(flood["dispatcher"])
    assert status == {"season_open": status["season_open"], "signal": "orange", "response_level": "II",
                      "open_tasks": 6}
    tasks = ResponseTask.objects.order_by("level", "target")
    assert {t.region_code for t in tasks} == {"140213050"}
    assert sorted((t.level, t.target) for t in tasks) == sorted(
        [(lv, tg) for lv in ("IV", "III", "II") for tg in ("street", "department")])
    assert {t.department_id for t in tasks} == {flood["water"].pk}
    assert not ResponseTask.objects.filter(department=flood["housing"]).exists()
    # Scope: street A's staff and the water bureau see them; street B's staff and the housing bureau do not.
    assert ResponseTask.objects.visible_to(flood["staff_a"]).count() == 6
    assert ResponseTask.objects.visible_to(flood["water_handler"]).count() == 6
    assert ResponseTask.objects.visible_to(flood["staff_b"]).count() == 0
    assert ResponseTask.objects.visible_to(flood["housing_handler"]).count() == 0
    # Each task has an acknowledgement clock of 30 natural minutes, and its people were told.
    from civicgrid.foundation.notify.models import Notification
    from civicgrid.foundation.sla.models import SlaClock

    assert SlaClock.objects.filter(target_type="flood.responsetask", kind="flood.task.ack").count() == 6
    task = tasks.first()
    assert round((task.ack_due_at - task.issued_at).total_seconds()) == 30 * 60
    assert Notification.objects.filter(user=flood["staff_a"]).count() == 3
    assert Notification.objects.filter(user=flood["water_handler"]).count() == 3
    assert not Notification.objects.filter(user__in=[flood["staff_b"], flood["housing_handler"]]).exists()
    assert AuditEntry.objects.filter(action="flood.response_started").count() == 1


def test_lower_readings_lower_nothing_and_issue_nothing_more(flood):
    rain(flood["staff_a"], window=3, mm=60)
    before = ResponseTask.objects.count()
    low = rain(flood["staff_a"], window=12, mm=55, station="RG-A2")  # blue
    none = rain(flood["staff_a"], window=3, mm=5, station="RG-A3", minutes=5)
    assert (low.signal, none.signal) == ("blue", "none")
    assert StreetSignal.objects.get(is_active=True).signal == "orange"
    assert FloodResponse.objects.get(is_active=True).level == "II"
    assert ResponseTask.objects.count() == before


def test_red_reading_raises_to_one_and_adds_only_level_one_tasks(flood):
    rain(flood["staff_a"], window=3, mm=60)
    rain(flood["staff_a"], window=1, mm=120, station="RG-A2")
    assert FloodResponse.objects.get(is_active=True).level == "I"
    assert ResponseTask.objects.filter(region_code="140213050").count() == 8
    assert list(FloodResponse.objects.get().changes.values_list("from_level", "to_level")) == [("", "II"), ("II", "I")]


def test_a_second_street_gets_tasks_of_its_own_signal(flood):
    from .conftest import IN_B

    rain(flood["staff_a"], window=3, mm=60)
    rain(flood["staff_b"], window=12, mm=60, station="RG-B1", where=IN_B)  # blue in street B
    assert FloodResponse.objects.get(is_active=True).level == "II"
    b = ResponseTask.objects.filter(region_code="140213051")
    assert sorted(b.values_list("level", "target")) == [("IV", "department"), ("IV", "street")]
    assert b.get(target="department").department == flood["housing"]


def test_lifting_needs_a_reason_the_right_role_and_is_audited(flood):
    rain(flood["staff_a"], window=3, mm=60)
    with pytest.raises(ValidationFailed) as exc:
        services.lift_response(actor=flood["dispatcher"], reason="  ")
    assert exc.value.status == 422
    with pytest.raises(PermissionDenied):
        services.lift_response(actor=flood["staff_a"], reason="雨停了")
    assert FloodResponse.objects.get().is_active
    assert StreetSignal.objects.filter(is_active=True).count() == 1
    services.lift_response(actor=flood["leader"], reason="降雨结束，积水已排除")
    response = FloodResponse.objects.get()
    assert not response.is_active and response.end_reason == "降雨结束，积水已排除"
    assert selectors.status(flood["dispatcher"])["signal"] == "none"
    assert selectors.status(flood["dispatcher"])["response_level"] is None
    entry = AuditEntry.objects.get(action="flood.response_lifted")
    assert entry.data["reason"] == "降雨结束，积水已排除"
    with pytest.raises(Conflict):
        services.lift_response(actor=flood["leader"], reason="again")


def test_lowering_by_hand_is_audited_and_a_new_reading_can_raise_again(flood):
    rain(flood["staff_a"], window=3, mm=60)
    services.change_level(actor=flood["dispatcher"], level="III", reason="雨势减弱")
    assert FloodResponse.objects.get().level == "III"
    assert AuditEntry.objects.filter(action="flood.response_lowered").count() == 1
    with pytest.raises(Conflict):
        services.change_level(actor=flood["dispatcher"], level="III", reason="again")
    with pytest.raises(ValidationFailed):
        services.change_level(actor=flood["dispatcher"], level="II", reason="")


def test_manual_start_without_signals_issues_no_tasks(flood):
    services.change_level(actor=flood["leader"], level="IV", reason="气象台预报强降雨")
    assert FloodResponse.objects.get().level == "IV"
    assert ResponseTask.objects.count() == 0


def test_ack_and_done_by_the_right_people(flood):
    rain(flood["staff_a"], window=3, mm=60)
    street_task = ResponseTask.objects.get(level="IV", target="street")
    dept_task = ResponseTask.objects.get(level="IV", target="department")
    from civicgrid.foundation.core.errors import NotFound

    with pytest.raises(NotFound):
        services.acknowledge(actor=flood["staff_b"], task_id=street_task.pk)
    with pytest.raises(PermissionDenied):
        services.acknowledge(actor=flood["staff_a"], task_id=dept_task.pk)
    with pytest.raises(PermissionDenied):
        services.acknowledge(actor=flood["water_handler"], task_id=street_task.pk)
    services.acknowledge(actor=flood["staff_a"], task_id=street_task.pk)
    with pytest.raises(Conflict):
        services.acknowledge(actor=flood["staff_a"], task_id=street_task.pk)
    with pytest.raises(ValidationFailed):
        services.complete(actor=flood["staff_a"], task_id=street_task.pk, note="")
    done = services.complete(actor=flood["staff_a"], task_id=street_task.pk, note="巡查 5 处易涝点，无积水")
    assert done.status == "done" and done.done_note.startswith("巡查")
    services.acknowledge(actor=flood["water_handler"], task_id=dept_task.pk)
    from civicgrid.foundation.sla.models import SlaClock

    ack = SlaClock.objects.get(target_type="flood.responsetask", target_id=str(street_task.pk), kind="flood.task.ack")
    assert ack.state == "stopped" and ack.on_time
    assert selectors.status(flood["staff_a"])["open_tasks"] == 5


def test_breached_ack_clock_marks_the_task_overdue(flood):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.foundation.notify.models import Notification
    from civicgrid.foundation.sla import sweep

    rain(flood["staff_a"], window=3, mm=60)
    sweep_at = timezone.now() + timedelta(minutes=31)
    sweep.sweep(now=sweep_at)
    from civicgrid.foundation.events.bus import dispatch_pending

    dispatch_pending()
    assert ResponseTask.objects.filter(is_overdue=True).count() == 6
    assert Notification.objects.filter(user=flood["dispatcher"], kind="supervise").exists()


def test_a_street_leader_follows_the_response_but_does_not_set_it(flood):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    street_leader = user_with(Role.LEADER, region=flood["tree"]["140213050"])
    rain(flood["staff_a"], window=3, mm=60)
    with pytest.raises(PermissionDenied):
        services.lift_response(actor=street_leader, reason="雨停")
    with pytest.raises(PermissionDenied):
        services.save_threshold(actor=street_leader, signal="red", window_hours=3, rain_mm=80)
    assert FloodResponse.objects.get().is_active
    assert selectors.status(street_leader)["open_tasks"] == 6


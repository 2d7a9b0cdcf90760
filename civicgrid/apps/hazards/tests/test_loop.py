"""The hazard loop 登记 → 整改 → 验收 → 销号 through the services, with its rules and refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Hazard, HazardPlan, HazardStep, Status
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla.models import SlaClock

from .conftest import GRID, OTHER_STREET_POINT, OUTSIDE, flood_fields

pytestmark = pytest.mark.django_db


def _tomorrow() -> str:
    return (timezone.localdate() + dt.timedelta(days=7)).isoformat()


def test_register_locates_names_patron_and_encrypts_phone(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    assert h.code.startswith(f"FX-{timezone.localdate().year}-")
    assert h.region_code == GRID and h.street_code == "140213050"
    assert h.patron_department == world.patron
    assert h.supervising_street.name.endswith("办事处")
    assert h.owner_phone_masked == "139****5678" and "13912345678" not in h.owner_phone_enc
    assert h.status == Status.REGISTERED and not h.is_supervised
    assert h.rectification.rounds == 0
    assert AuditEntry.objects.filter(action="hazards.register", target_id=str(h.pk)).count() == 1
    assert OutboxEvent.objects.filter(topic="hazards.registered").count() == 1


def test_major_hazard_is_supervised_at_once(world):
    h = services.register_hazard(actor=world.street, **flood_fields(grade="major"))
    assert h.is_supervised
    assert list(h.steps.values_list("action", flat=True)) == ["register", "supervise"]


@pytest.mark.parametrize("bad, field", [
    ({"kind": "fire"}, "kind"), ({"category": "gas"}, "category"), ({"grade": "huge"}, "grade"),
    ({"name": ""}, "name"), ({"lng": OUTSIDE[0], "lat": OUTSIDE[1]}, None), ({"lat": "north"}, "lat"),
    ({"owner_phone": "12345"}, "owner_phone"), ({"threatened_people": -1}, "threatened_people"),
    ({"found_on": "2999-01-01"}, "found_on"),
])
def test_bad_registration_changes_nothing(world, bad, field):
    with pytest.raises((ValidationFailed, NotFound)) as err:
        services.register_hazard(actor=world.worker, **flood_fields(**bad))
    if field:
        assert getattr(err.value, "field", None) == field
    assert Hazard.objects.count() == 0 and HazardStep.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="hazards.").exists()


def test_worker_cannot_register_outside_own_grid(world):
    with pytest.raises(PermissionDenied):
        services.register_hazard(actor=world.worker, **flood_fields(lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]))
    assert Hazard.objects.count() == 0


def test_full_loop_to_close_out(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    h = services.act(actor=world.street, hazard=h, action="start", measures="疏通雨水管网，加装挡水板",
                     deadline=_tomorrow(), budget="12000", interim_measures="设置警示牌")
    assert h.status == Status.RECTIFYING and h.rectification.rounds == 1
    assert SlaClock.objects.filter(target_type="hazards.hazard", target_id=str(h.pk), kind="hazard.rectify",
                                   state="running").count() == 1
    h = services.act(actor=world.patron_handler, hazard=h, action="report_done", note="管网已疏通")
    assert h.status == Status.CHECKING
    with pytest.raises(Conflict):  # close-out without the acceptance check
        services.act(actor=world.street, hazard=h, action="close_out")
    h = services.act(actor=world.street, hazard=h, action="pass_check", checker="李科长", note="现场复核无积水")
    assert h.status == Status.PASSED and h.rectification.check_passed
    h = services.act(actor=world.centre, hazard=h, action="close_out")
    assert h.status == Status.CLOSED and h.rectification.closed_on == timezone.localdate()
    actions = list(h.steps.values_list("action", flat=True))
    assert actions == ["register", "start", "report_done", "pass_check", "close_out"]
    assert AuditEntry.objects.filter(target_id=str(h.pk), action__startswith="hazards.").count() == 5


def test_failed_check_sends_back_with_a_new_round(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    h = services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_tomorrow())
    h = services.act(actor=world.street, hazard=h, action="report_done", note="完成")
    h = services.act(actor=world.street, hazard=h, action="fail_check", reason="仍有积水")
    assert h.status == Status.RECTIFYING and h.rectification.rounds == 2 and h.rectification.check_passed is False


def test_major_hazard_needs_five_assurances_before_rectification(world):
    h = services.register_hazard(actor=world.street, **flood_fields(grade="major"))
    with pytest.raises(Conflict):
        services.act(actor=world.street, hazard=h, action="start", measures="改造", deadline=_tomorrow())
    with pytest.raises(ValidationFailed):  # a plan without funds is not a plan with the five assurances
        services.save_plan(actor=world.street, hazard=h, kind="governance", responsibility="区水务局", measures="改造",
                           deadline=_tomorrow(), emergency_plan="强降雨时封闭道路")
    assert HazardPlan.objects.count() == 0
    h.refresh_from_db()
    assert h.status == Status.REGISTERED
    services.save_plan(actor=world.street, hazard=h, kind="governance", responsibility="区水务局", measures="改造",
                       funds="500000", deadline=_tomorrow(), emergency_plan="强降雨时封闭道路")
    h = services.act(actor=world.street, hazard=h, action="start", measures="改造", deadline=_tomorrow())
    assert h.status == Status.RECTIFYING


def test_not_short_term_fixable_needs_emergency_plan(world):
    h = services.register_hazard(actor=world.street, **flood_fields(short_term_fixable=False))
    with pytest.raises(Conflict):
        services.act(actor=world.street, hazard=h, action="start", measures="改造", deadline=_tomorrow())
    services.save_plan(actor=world.street, hazard=h, kind="emergency", responsible_person="张站长",
                       procedure="预警即封路、抽排", emergency_plan="见附件")
    assert services.act(actor=world.street, hazard=h, action="start", measures="改造",
                        deadline=_tomorrow()).status == Status.RECTIFYING


def test_scope_patron_department_and_streets(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    assert Hazard.objects.visible_to(world.patron_handler).filter(pk=h.pk).exists()
    assert not Hazard.objects.visible_to(world.other_handler).filter(pk=h.pk).exists()
    assert not Hazard.objects.visible_to(world.other_street).filter(pk=h.pk).exists()
    with pytest.raises(NotFound):
        services.act(actor=world.other_street, hazard=h, action="start", measures="x", deadline=_tomorrow())
    h.refresh_from_db()
    assert h.status == Status.REGISTERED and h.steps.count() == 1


def test_grid_worker_may_not_close_out(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    with pytest.raises((PermissionDenied, Conflict)):
        services.act(actor=world.worker, hazard=h, action="start", measures="x", deadline=_tomorrow())
    assert Hazard.objects.get(pk=h.pk).status == Status.REGISTERED


def test_overdue_marks_and_supervises_once(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_tomorrow())
    assert services.mark_overdue(h.pk) is True
    assert services.mark_overdue(h.pk) is False
    h.refresh_from_db()
    assert h.is_overdue and h.is_supervised
    assert h.steps.filter(action="overdue").count() == 1


# ------------------------------------------------------------------------------------ the deadline's window


def _in(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def _window_words() -> str:
    today = timezone.localdate()
    return f"整改时限须在 {today:%Y-%m-%d} 至 {today + dt.timedelta(days=366):%Y-%m-%d} 之间"


def _unchanged(h: Hazard, status: str, steps: int, audits: int, clocks: int) -> None:
    h.refresh_from_db()
    assert h.status == status and h.steps.count() == steps
    assert AuditEntry.objects.filter(target_id=str(h.pk), action__startswith="hazards.").count() == audits
    assert SlaClock.objects.filter(target_type="hazards.hazard", target_id=str(h.pk)).count() == clocks
    assert not OutboxEvent.objects.filter(topic="hazards.start").exists()


def test_a_rectification_deadline_more_than_a_year_ahead_is_refused_and_changes_nothing(world):
    """A typo such as 2206 for 2026 would leave the hazard "on time" for two centuries."""
    h = services.register_hazard(actor=world.worker, **flood_fields())
    typo = _in(366).replace(str(timezone.localdate().year + 1), str(timezone.localdate().year + 181), 1)
    for day in (typo, _in(367)):
        with pytest.raises(ValidationFailed) as refused:
            services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=day)
        assert refused.value.field == "deadline" and _window_words() in str(refused.value)
        _unchanged(h, Status.REGISTERED, steps=1, audits=1, clocks=0)
        assert h.rectification.deadline is None and h.rectification.rounds == 0 and h.deadline is None
    with pytest.raises(ValidationFailed) as early:  # before today: the same range is named
        services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_in(-1))
    assert _window_words() in str(early.value)
    h = services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_in(366))
    assert h.status == Status.RECTIFYING and h.rectification.deadline.isoformat() == _in(366)


def test_a_new_deadline_after_a_failed_check_or_a_reopening_has_the_same_bound(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    h = services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_in(5))
    h = services.act(actor=world.street, hazard=h, action="report_done", note="完成")
    with pytest.raises(ValidationFailed, match="新的整改时限须在"):
        services.act(actor=world.street, hazard=h, action="fail_check", reason="仍有积水", deadline=_in(400))
    h.refresh_from_db()
    assert h.status == Status.CHECKING and h.rectification.rounds == 1 and h.rectification.deadline.isoformat() == _in(5)
    h = services.act(actor=world.street, hazard=h, action="pass_check", checker="李科长")
    h = services.act(actor=world.street, hazard=h, action="close_out")
    steps = h.steps.count()
    with pytest.raises(ValidationFailed, match=_window_words()):
        services.act(actor=world.street, hazard=h, action="reopen", reason="复发", deadline=_in(800))
    h.refresh_from_db()
    assert h.status == Status.CLOSED and h.steps.count() == steps and h.rectification.closed_on is not None


def test_a_plans_deadline_has_the_same_bound(world):
    h = services.register_hazard(actor=world.street, **flood_fields(grade="major"))
    plan = {"kind": "governance", "responsibility": "区水务局", "measures": "改造", "funds": "500000",
            "emergency_plan": "强降雨时封闭道路"}
    last = timezone.localdate() + dt.timedelta(days=366)
    steps = h.steps.count()
    with pytest.raises(ValidationFailed, match=f"时限不能晚于 {last:%Y-%m-%d}"):
        services.save_plan(actor=world.street, hazard=h, deadline=_in(367), **plan)
    assert HazardPlan.objects.count() == 0 and h.steps.count() == steps
    assert services.save_plan(actor=world.street, hazard=h, deadline=_in(366), **plan).deadline.isoformat() == _in(366)


def test_the_bound_is_a_setting(world, settings):
    settings.CIVICGRID_HAZARD_DEADLINE_MAX_DAYS = 30
    h = services.register_hazard(actor=world.worker, **flood_fields())
    last = timezone.localdate() + dt.timedelta(days=30)
    with pytest.raises(ValidationFailed, match=f"至 {last:%Y-%m-%d} 之间"):
        services.act(actor=world.street, hazard=h, action="start", measures="清淤", deadline=_in(31))
    assert services.act(actor=world.street, hazard=h, action="start", measures="清淤",
                        deadline=_in(30)).status == Status.RECTIFYING

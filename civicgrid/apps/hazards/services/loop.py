"""`act(...)`: every transition of `HAZARD_WORKFLOW` through one path, and the plans it depends on.

    act(actor=street_officer, hazard=h, action="start", measures="疏通排水管网", deadline="2023-06-20")

Order of checks (each refusal changes nothing): the hazard within the actor's view scope (404) → the transition
starts from the hazard's state (409) and the actor's role may take it (403) → required inputs (422) → the grant
for that capability reaches the hazard (403) → the loop's own rules (a 重大 hazard's plan with the five
assurances, an emergency plan where it cannot be fixed in the short term, a passed check before 销号). Then, in
one transaction: the changes, the SLA clock on the rectification deadline, a timeline step with its photos, the
audit entry and the `hazards.<action>` event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

from ..models import Grade, Hazard, HazardPlan, PlanKind, Status
from ..workflow import HAZARD_WORKFLOW
from .common import (
    PLAN_CAPABILITY,
    REVEAL_CAPABILITY,
    add_step,
    ensure_capability_scope,
    ensure_visible,
    lock,
    publish,
    record,
    user_or_none,
)
from .photos import attach_photos, read_photos

RECTIFY_CLOCK = "hazard.rectify"
FIVE_ASSURANCES = {"responsibility": gettext_noop("责任"), "measures": gettext_noop("措施"),
                   "funds": gettext_noop("资金"), "deadline": gettext_noop("时限"),
                   "emergency_plan": gettext_noop("应急预案")}
# The timeline's note when a plan is drawn up (Chinese, and the English shown in the English interface).
PLAN_NOTES = {PlanKind.GOVERNANCE: ("制定治理方案", "governance plan drawn up"),
              PlanKind.EMERGENCY: ("制定应急预案", "emergency plan drawn up")}
EMERGENCY_FIELDS = {"responsible_person": "应急责任人", "procedure": "应急处置程序", "emergency_plan": "应急预案"}


# The furthest a deadline (整改时限, a plan's 时限) may lie ahead of today, so that a typo such as 2206 for 2026
# is refused rather than leaving a hazard open for two centuries (settings.CIVICGRID_HAZARD_DEADLINE_MAX_DAYS).
DEADLINE_MAX_DAYS = 366


def deadline_window() -> tuple[dt.date, dt.date]:
    """The first and last day a rectification deadline may be set to today."""
    today = timezone.localdate()
    days = int(getattr(settings, "CIVICGRID_HAZARD_DEADLINE_MAX_DAYS", DEADLINE_MAX_DAYS))
    return today, today + dt.timedelta(days=days)


def parse_deadline(value, field: str, label: str) -> dt.date | None:
    """A deadline from today to `deadline_window()`'s last day; outside it, the refusal names the range."""
    first, last = deadline_window()
    return parse_date(value, field, label, not_before=first, not_after=last)


def parse_date(value, field: str, label: str, *, not_before: dt.date | None = None,
               not_after: dt.date | None = None) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationFailed(f"{label}格式应为 YYYY-MM-DD / {field} must be a date", field=field) from None
    if not_before is not None and not_after is not None and not not_before <= value <= not_after:
        raise ValidationFailed(f"{label}须在 {not_before:%Y-%m-%d} 至 {not_after:%Y-%m-%d} 之间 / {field} must be "
                               f"from {not_before:%Y-%m-%d} to {not_after:%Y-%m-%d}", field=field)
    if not_before is not None and value < not_before:
        raise ValidationFailed(f"{label}不能早于 {not_before:%Y-%m-%d} / {field} is too early", field=field)
    if not_after is not None and value > not_after:
        raise ValidationFailed(f"{label}不能晚于 {not_after:%Y-%m-%d} / {field} must be {not_after:%Y-%m-%d} or "
                               "earlier", field=field)
    return value


def parse_money(value, field: str, label: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValidationFailed(f"{label}须为金额（元） / {field} must be an amount", field=field) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ValidationFailed(f"{label}超出范围 / {field} out of range", field=field)
    return amount.quantize(Decimal("0.01"))


def _text(inputs: dict, name: str, limit: int = 4000) -> str:
    value = str(inputs.get(name) or "").strip()
    if len(value) > limit:
        raise ValidationFailed(f"「{name}」最多 {limit} 个字 / {name} too long", field=name)
    return value


def current_plan(hazard: Hazard, kind: str) -> HazardPlan | None:
    return hazard.plans.filter(kind=kind).order_by("-created_at", "-id").first()


def missing_assurances(plan: HazardPlan | None) -> list[str]:
    """The five assurances a governance plan still lacks (all five when there is no plan)."""
    if plan is None:
        return list(FIVE_ASSURANCES.values())
    return [label for name, label in FIVE_ASSURANCES.items() if getattr(plan, name) in (None, "")]


@transaction.atomic
def save_plan(*, actor, hazard: Hazard, kind: str, **fields) -> HazardPlan:
    """Record a governance plan (治理方案, five assurances) or an emergency plan (应急预案); the newest is in force."""
    if kind not in PlanKind.values:
        raise ValidationFailed("方案类型须为 governance 或 emergency / unknown plan kind", field="kind")
    for name, value in fields.items():  # a NUL is refused, never stored (`core.text`)
        refuse_nul(value, name, str(FIVE_ASSURANCES.get(name, "")))
    ensure_visible(actor, hazard)
    ensure_capability_scope(actor, hazard, PLAN_CAPABILITY, "制定方案")
    hazard = lock(hazard)
    if not hazard.is_open:
        raise Conflict(f"隐患已{hazard.get_status_display()}，不能再修改方案 / the hazard is no longer open")
    values = {
        "responsibility": _text(fields, "responsibility", 200), "measures": _text(fields, "measures"),
        "funds": parse_money(fields.get("funds"), "funds", "资金"),
        "deadline": parse_date(fields.get("deadline"), "deadline", "时限", not_after=deadline_window()[1]),
        "emergency_plan": _text(fields, "emergency_plan"), "goal": _text(fields, "goal", 500),
        "materials": _text(fields, "materials", 500), "safety_measures": _text(fields, "safety_measures", 2000),
        "responsible_person": _text(fields, "responsible_person", 64), "procedure": _text(fields, "procedure"),
    }
    plan = HazardPlan(hazard=hazard, kind=kind, created_by=user_or_none(actor), **values)
    if kind == PlanKind.GOVERNANCE:
        missing = missing_assurances(plan)
        if missing:
            raise ValidationFailed(f"治理方案须落实五项：缺少{'、'.join(missing)} / the plan lacks: {', '.join(missing)}",
                                   field="responsibility")
    else:
        missing = [label for name, label in EMERGENCY_FIELDS.items() if not values[name]]
        if missing:
            raise ValidationFailed(f"应急预案须写明：{'、'.join(missing)} / the emergency plan lacks: "
                                   f"{', '.join(missing)}", field="responsible_person")
    plan.save()
    now = timezone.now()
    add_step(hazard, action=f"plan_{kind}", actor=actor, at=now, note=PLAN_NOTES[kind][0], note_en=PLAN_NOTES[kind][1],
             data={"plan_id": plan.pk})
    record(hazard, actor=actor, action=f"plan_{kind}", before=None, data={"plan_id": plan.pk, **values})
    publish(hazard, "plan_saved", plan_kind=kind)
    return plan


def _deadline_at(day: dt.date) -> dt.datetime:
    tz = timezone.get_current_timezone()
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz)


def _start_clock(hazard: Hazard, day: dt.date, now: dt.datetime) -> None:
    if SlaClock.objects.filter(target_type="hazards.hazard", target_id=str(hazard.pk), kind=RECTIFY_CLOCK,
                               state__in=OPEN_STATES).exists():
        sla.stop_clock(target=hazard, kind=RECTIFY_CLOCK, at=now)
    hours = max((_deadline_at(day) - now).total_seconds() / 3600, 1 / 60)
    sla.start_clock(target=hazard, kind=RECTIFY_CLOCK, limit=("natural_hours", round(hours, 4)), at=now)
    hazard.deadline = _deadline_at(day)


def _stop_clock(hazard: Hazard, now: dt.datetime) -> bool | None:
    if not SlaClock.objects.filter(target_type="hazards.hazard", target_id=str(hazard.pk), kind=RECTIFY_CLOCK,
                                   state__in=OPEN_STATES).exists():
        return None
    return sla.stop_clock(target=hazard, kind=RECTIFY_CLOCK, at=now).on_time


def _start(hazard, rect, inputs, now, data):
    if hazard.grade == Grade.MAJOR:
        missing = missing_assurances(current_plan(hazard, PlanKind.GOVERNANCE))
        if missing:
            raise Conflict(f"重大隐患须先制定治理方案并落实五项（缺少{'、'.join(missing)}）才能开始整改 / a major hazard "
                           "needs its governance plan with the five assurances first")
    if not hazard.short_term_fixable and current_plan(hazard, PlanKind.EMERGENCY) is None:
        raise Conflict("短期内无法整改的隐患须先制定应急预案（责任人、应急处置程序） / a hazard that cannot be fixed in "
                       "the short term needs an emergency plan first")
    day = parse_deadline(inputs.get("deadline"), "deadline", "整改时限")
    rect.measures = _text(inputs, "measures")
    rect.budget = parse_money(inputs.get("budget"), "budget", "整改资金")
    rect.responsible_unit = _text(inputs, "responsible_unit", 100) or hazard.owner_unit
    rect.responsible_person = _text(inputs, "responsible_person", 64) or hazard.owner_person
    rect.interim_measures = _text(inputs, "interim_measures", 2000)
    rect.deadline = day
    rect.started_at = now
    rect.rounds += 1
    _start_clock(hazard, day, now)
    data.update(measures=rect.measures, deadline=day.isoformat())


def _report_done(hazard, rect, inputs, now, data):
    rect.reported_done_at = now
    rect.check_passed = None
    on_time = _stop_clock(hazard, now)
    if on_time is not None:
        data["on_time"] = on_time


def _pass_check(hazard, rect, inputs, now, data):
    rect.checker = _text(inputs, "checker", 64)
    rect.checked_on = parse_date(inputs.get("checked_on"), "checked_on", "验收日期") or timezone.localdate()
    if rect.checked_on > timezone.localdate():
        raise ValidationFailed("验收日期不能晚于今天 / checked_on is in the future", field="checked_on")
    rect.check_passed = True
    rect.check_note = _text(inputs, "note", 2000)
    data.update(checker=rect.checker, checked_on=rect.checked_on.isoformat())


def _fail_check(hazard, rect, inputs, now, data):
    rect.checker = _text(inputs, "checker", 64) or rect.checker
    rect.checked_on = timezone.localdate()
    rect.check_passed = False
    rect.check_note = _text(inputs, "reason", 2000)
    rect.rounds += 1
    day = parse_deadline(inputs.get("deadline"), "deadline", "新的整改时限")
    if day is None:
        day = rect.deadline if rect.deadline and rect.deadline >= timezone.localdate() else None
    if day is None:
        raise ValidationFailed("原整改时限已过，请给出新的整改时限 / give a new deadline", field="deadline")
    rect.deadline = day
    rect.reported_done_at = None
    _start_clock(hazard, day, now)


def _close_out(hazard, rect, inputs, now, data):
    if rect.check_passed is not True or not rect.checked_on:
        raise Conflict("未经验收通过不能销号 / close-out needs a passed acceptance check")
    rect.closed_on = timezone.localdate()
    hazard.closed_at = now
    hazard.is_supervised = False
    hazard.is_overdue = False if hazard.is_overdue is None else hazard.is_overdue


def _reopen(hazard, rect, inputs, now, data):
    day = parse_deadline(inputs.get("deadline"), "deadline", "整改时限")
    if day is None:
        raise ValidationFailed("请给出整改时限 / give a deadline", field="deadline")
    hazard.closed_at = None
    rect.closed_on = None
    rect.check_passed = None
    rect.reported_done_at = None
    rect.rounds += 1
    rect.deadline = day
    _start_clock(hazard, day, now)


def _supervise(hazard, rect, inputs, now, data):
    hazard.is_supervised = True


def _unsupervise(hazard, rect, inputs, now, data):
    hazard.is_supervised = False


def _void(hazard, rect, inputs, now, data):
    _stop_clock(hazard, now)


ACTIONS = {"start": _start, "report_done": _report_done, "pass_check": _pass_check, "fail_check": _fail_check,
           "close_out": _close_out, "reopen": _reopen, "supervise": _supervise, "unsupervise": _unsupervise,
           "void": _void, "note": lambda *a: None}
PHOTO_STAGE = {"start": "before", "report_done": "after", "pass_check": "check", "fail_check": "check",
               "note": "before", "reopen": "finding"}


def allowed_actions(hazard: Hazard, user, *, reach: set[str] | None = None) -> list:
    """The transitions `act` accepts from this user on this hazard now, inputs aside (the page's buttons, the
    API's list): the table's state, role and guard, and whether the grant for each one's capability reaches the
    hazard (one query for them all; `reach`: already asked, see `offers`)."""
    return HAZARD_WORKFLOW.allowed_in_scope(hazard, user, reach=reach)


@dataclass(frozen=True)
class Offers:
    """What a hazard's page offers one user: the loop's actions, the plan forms, the owner's phone in clear."""

    actions: list
    may_plan: bool
    may_reveal: bool


def offers(hazard: Hazard, user) -> Offers:
    """Each of the page's offers only where its service would accept it: the actions as `act` checks them, the
    plan forms as `save_plan` (an open hazard, `hazards.plan` reaching it), the phone as `reveal_owner_phone`
    (`hazards.rectify` reaching it; shown only when there is a phone). The reach of all of them is one query."""
    wanted = {t.capability for t in HAZARD_WORKFLOW.allowed(hazard, user)}
    if hazard.is_open and has_capability(user, PLAN_CAPABILITY):
        wanted.add(PLAN_CAPABILITY)
    if hazard.owner_phone_enc and has_capability(user, REVEAL_CAPABILITY):
        wanted.add(REVEAL_CAPABILITY)
    reach = hazard.capabilities_in_scope(user, wanted)
    return Offers(actions=allowed_actions(hazard, user, reach=reach), may_plan=PLAN_CAPABILITY in reach,
                  may_reveal=REVEAL_CAPABILITY in reach)


def act(*, actor, hazard: Hazard, action: str, photos=(), at: dt.datetime | None = None, **inputs) -> Hazard:
    """Take one action of the hazard loop; returns the hazard as it is afterwards."""
    for name, value in inputs.items():  # a NUL is refused, never stored (`core.text`; PostgreSQL cannot)
        refuse_nul(value, name)
    stage = PHOTO_STAGE.get(action, "finding")
    checked_photos = read_photos(photos, stage)  # by content, before any transaction
    with transaction.atomic():
        ensure_visible(actor, hazard)
        hazard = lock(hazard)
        if actor is None:
            transition = HAZARD_WORKFLOW.transition(action)
            if hazard.status not in transition.sources:
                raise Conflict(f"当前状态「{hazard.get_status_display()}」不能执行「{transition.label}」 / not allowed")
        else:
            transition = HAZARD_WORKFLOW.check(hazard, actor, action, inputs)
            ensure_capability_scope(actor, hazard, transition.capability, transition.label)
        missing = [f for f in transition.requires if not str(inputs.get(f) or "").strip()]
        if missing:
            raise ValidationFailed(f"「{transition.label}」须填写：{'、'.join(missing)} / required: {', '.join(missing)}",
                                   field=missing[0])
        now = at or timezone.now()
        before = snapshot(hazard)
        rect = hazard.rectification
        data: dict = {}
        ACTIONS[action](hazard, rect, inputs, now, data)
        from_status = hazard.status
        if transition.target:
            hazard.status = transition.target
        rect.save()
        hazard.save()
        note = _text(inputs, "note") or _text(inputs, "reason")
        step = add_step(hazard, action=action, actor=actor, at=now, from_status=from_status,
                        to_status=hazard.status if transition.target else "", note=note, data=data)
        attach_photos(hazard, checked_photos, step=step, actor=actor)
        record(hazard, actor=actor, action=action, before=before, data={"note": note, **data} if note else data)
        publish(hazard, action, from_status=from_status)
    return hazard


def mark_overdue(hazard_id: int) -> bool:
    """超期: the rectification deadline passed; the hazard goes on the supervised list (once)."""
    with transaction.atomic():
        hazard = Hazard.objects.filter(pk=hazard_id).first()
        if hazard is None or hazard.status not in (Status.REGISTERED, Status.RECTIFYING) or hazard.is_overdue:
            return False
        hazard = lock(hazard)
        before = snapshot(hazard)
        hazard.is_overdue = True
        hazard.is_supervised = True
        hazard.save(update_fields=["is_overdue", "is_supervised", "updated_at"])
        add_step(hazard, action="overdue", actor=None, at=timezone.now(), note="整改超期，自动挂牌督办",
                 note_en="rectification overdue: put under supervision automatically")
        record(hazard, actor=None, action="overdue", before=before)
        publish(hazard, "overdue")
    return True

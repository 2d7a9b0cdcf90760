"""The command centre's configuration (season dates, thresholds, response rules, task templates, stations) and
the streets' duty rosters. Each change is one audited service call."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import Conflict, NotFound
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.regions.models import Level as RegionLevel
from civicgrid.foundation.regions.models import Region

from .. import rules
from ..models import (
    DutyRoster,
    FloodSeason,
    Level,
    ResponseRule,
    Signal,
    SignalThreshold,
    Station,
    StationKind,
    TaskTarget,
    TaskTemplate,
)
from .common import Invalid, publish, record, require_code, require_district, user_or_none

ROSTER_PHONE_CONTEXT = "flood.roster.phone"


def _aware(value, field: str) -> datetime:
    at = value if isinstance(value, datetime) else parse_datetime(str(value or "").strip())
    if at is None:
        raise Invalid("时间格式应为 YYYY-MM-DD HH:MM / invalid date-time", field=field)
    return timezone.make_aware(at, timezone.get_default_timezone()) if timezone.is_naive(at) else at


def set_season(*, actor, year, opens_at, closes_at, note: str = "") -> FloodSeason:
    """Set a year's season dates (入汛/出汛); the close is exclusive (30 September end of day = 1 October 00:00)."""
    require_district(actor, "设置汛期")
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise Invalid("年度须为数字 / year must be a number", field="year") from None
    if not 2000 <= year <= 2100:
        raise Invalid("年度超出范围 / year out of range", field="year")
    opens, closes = _aware(opens_at, "opens_at"), _aware(closes_at, "closes_at")
    if closes <= opens:
        raise Invalid("出汛时间须晚于入汛时间 / the season must close after it opens", field="closes_at")
    if timezone.localtime(opens).year != year:
        raise Invalid("入汛时间须在该年度内 / the season must open in its year", field="opens_at")
    with transaction.atomic():
        row = FloodSeason.objects.filter(year=year).first()
        before = snapshot(row) if row else None
        row = row or FloodSeason(year=year)
        row.opens_at, row.closes_at, row.note, row.updated_by = opens, closes, str(note or "")[:200], user_or_none(actor)
        row.save()
        record(actor, "season_set", row, before=before, after=snapshot(row))
        publish("season_set", payload={"year": year, "opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
                aggregate=row)
    return row


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("须为数字 / must be a number", field=field) from None
    if not amount.is_finite() or amount <= 0 or amount > rules.MAX_RAIN_MM:
        raise Invalid("雨量阈值须大于 0 且不超过 4000 毫米 / amount out of range", field=field)
    return amount.quantize(Decimal("0.1"))


def save_threshold(*, actor, signal: str, window_hours, rain_mm, is_active: bool = True, note: str = "",
                   threshold_id=None) -> SignalThreshold:
    """Add or change a signal threshold (W hours ≥ R mm → signal)."""
    require_district(actor, "设置预警阈值")
    if signal not in Signal.values or signal == Signal.NONE:
        raise Invalid("预警信号须为 blue、yellow、orange 或 red / invalid signal", field="signal")
    try:
        window = int(window_hours)
    except (TypeError, ValueError):
        raise Invalid("时段须为整数小时 / window_hours must be whole hours", field="window_hours") from None
    if not 1 <= window <= rules.MAX_WINDOW_HOURS:
        raise Invalid("时段须在 1–72 小时之间 / window_hours must be 1..72", field="window_hours")
    amount = _amount(rain_mm, "rain_mm")
    with transaction.atomic():
        row = SignalThreshold.objects.filter(pk=threshold_id).first() if threshold_id else SignalThreshold()
        if row is None:
            raise NotFound("未找到该阈值 / threshold not found")
        before = snapshot(row) if row.pk else None
        row.signal, row.window_hours, row.rain_mm = signal, window, amount
        row.is_active, row.note = bool(is_active), str(note or "")[:200]
        row.save()
        record(actor, "threshold_saved", row, before=before, after=snapshot(row))
        rules.forget_defaults()  # the next reading looks at the tables again
        publish("config_changed", payload={"what": "threshold", "id": row.pk}, aggregate=row)
    return row


def save_response_rule(*, actor, signal: str, level: str) -> ResponseRule:
    require_district(actor, "设置响应规则")
    if signal not in Signal.values or signal == Signal.NONE:
        raise Invalid("预警信号无效 / invalid signal", field="signal")
    if level not in Level.values:
        raise Invalid("响应等级须为 IV、III、II 或 I / invalid level", field="level")
    with transaction.atomic():
        row = ResponseRule.objects.filter(signal=signal).first() or ResponseRule(signal=signal)
        before = snapshot(row) if row.pk else None
        row.level = level
        row.save()
        record(actor, "response_rule_saved", row, before=before, after=snapshot(row))
        rules.forget_defaults()  # the next reading looks at the tables again
        publish("config_changed", payload={"what": "response_rule", "id": row.pk}, aggregate=row)
    return row


def save_template(*, actor, level: str, target: str, title: str, description: str = "", ack_minutes=30,
                  done_hours=None, lists_hazards: bool = False, is_active: bool = True, template_id=None) -> TaskTemplate:
    """Add or change a task template of a response level for streets or their 包保 departments."""
    require_district(actor, "设置响应任务")
    if level not in Level.values:
        raise Invalid("响应等级无效 / invalid level", field="level")
    if target not in TaskTarget.values:
        raise Invalid("任务对象须为街道或包保部门 / invalid target", field="target")
    title = str(title or "").strip()
    if not title or len(title) > 100:
        raise Invalid("请填写任务名称（最长 100 字） / title is required", field="title")
    try:
        ack = int(ack_minutes)
        done = int(done_hours) if done_hours not in (None, "") else None
    except (TypeError, ValueError):
        raise Invalid("时限须为整数 / limits must be whole numbers", field="ack_minutes") from None
    if not 1 <= ack <= 24 * 60 or (done is not None and not 1 <= done <= 24 * 30):
        raise Invalid("时限超出范围 / limit out of range", field="ack_minutes")
    with transaction.atomic():
        row = TaskTemplate.objects.filter(pk=template_id).first() if template_id else TaskTemplate()
        if row is None:
            raise NotFound("未找到该任务模板 / template not found")
        before = snapshot(row) if row.pk else None
        row.level, row.target, row.title, row.description = level, target, title, str(description or "")[:2000]
        row.ack_minutes, row.done_hours, row.lists_hazards, row.is_active = ack, done, bool(lists_hazards), bool(is_active)
        row.save()
        record(actor, "template_saved", row, before=before, after=snapshot(row))
        rules.forget_defaults()  # the next reading looks at the tables again
        publish("config_changed", payload={"what": "template", "id": row.pk}, aggregate=row)
    return row


def add_roster(*, actor, street_code: str, duty_date, person: str, post: str = "", phone: str = "",
               is_leader: bool = False) -> DutyRoster:
    """Add one person to a street's duty roster (值班表); the phone is encrypted and kept masked for display."""
    street = Region.objects.filter(code=str(street_code or "").strip(), level=RegionLevel.STREET).first()
    if street is None:
        raise Invalid("请选择街道 / choose a street", field="street")
    require_code(actor, "flood.roster", street.code, "编排值班")
    day = duty_date if isinstance(duty_date, date) else parse_date(str(duty_date or "").strip())
    if day is None:
        raise Invalid("值班日期格式应为 YYYY-MM-DD / duty_date must be a date", field="duty_date")
    person = str(person or "").strip()
    if not person or len(person) > 64:
        raise Invalid("请填写值班人员姓名 / person is required", field="person")
    phone = str(phone or "").strip()
    if phone:
        try:
            phone = validate_mobile(phone)
        except ValueError as exc:
            raise Invalid(str(exc), field="phone") from None
    with transaction.atomic():
        row = DutyRoster(street=street, region_code=street.code, duty_date=day, person=person,
                         post=str(post or "").strip()[:64], phone_enc=keys.encrypt(phone, ROSTER_PHONE_CONTEXT) if phone else "",
                         phone_masked=mask_phone(phone), is_leader=bool(is_leader), created_by=user_or_none(actor))
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            raise Conflict(f"{person} 已在 {day} 的值班表中 / already on the roster for that day") from None
        record(actor, "roster_added", row, after=snapshot(row))
        publish("roster_added", payload={"street_code": street.code, "duty_date": day.isoformat()}, aggregate=row)
    return row


def save_station(*, actor, code: str, name: str, kind: str, lat, lng, warning_level_m=None,
                 guaranteed_level_m=None, feed_username: str = "", is_active: bool = True) -> Station:
    """Register or change a gauge/station (located to its grid); `feed_username` names the account whose API
    tokens the gauge sends readings with (that account may report for this station only)."""
    from civicgrid.foundation.access.models import User

    from .readings import clean_coordinate, clean_level, clean_station, place_of

    require_district(actor, "管理监测站点")
    code = clean_station(code)
    name = str(name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("请填写站点名称（最长 100 字） / name is required", field="name")
    if kind not in StationKind.values:
        raise Invalid("站点类型无效 / invalid kind", field="kind")
    place = place_of(clean_coordinate(lng, "lng", -180, 180), clean_coordinate(lat, "lat", -90, 90))
    warn = clean_level(warning_level_m) if warning_level_m not in (None, "") else None
    guard = clean_level(guaranteed_level_m) if guaranteed_level_m not in (None, "") else None
    if warn is not None and guard is not None and guard < warn:
        raise Invalid("保证水位不能低于警戒水位 / guaranteed level below warning level", field="guaranteed_level_m")
    feed = None
    if str(feed_username or "").strip():
        feed = User.objects.filter(username=str(feed_username).strip(), is_active=True).first()
        if feed is None:
            raise Invalid("接入账号不存在或已停用 / no such active account", field="feed_username")
    with transaction.atomic():
        row = Station.objects.filter(code=code).first() or Station(code=code)
        before = snapshot(row) if row.pk else None
        row.name, row.kind, row.lat, row.lng = name, kind, place.lat, place.lng
        row.grid, row.region_code, row.street_code = place.region, place.region.code, place.street_code
        row.warning_level_m, row.guaranteed_level_m, row.feed_user = warn, guard, feed
        row.is_active = bool(is_active)
        row.save()
        record(actor, "station_saved", row, before=before, after=snapshot(row))
        publish("config_changed", payload={"what": "station", "code": code}, aggregate=row)
    return row

"""上报: `submit_case`, the one way a case comes into being (phone page, web, API, Open311, hotline, 自行处置).

A report is located to its grid, numbered, routed (the suggested department pre-fills dispatch), timed (the
intake clock), audited and published in one transaction. A client retrying on a flaky connection sends the same
idempotency key: the replay returns the case already created (`created=False`), never a second one; the same key
with different content is a conflict, so two different reports can never be folded into one by mistake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.regions.selectors import locate

from .. import clocks, numbering, recipients
from .. import photos as photo_mod
from ..models import Case, CaseReporter, Source, Status
from .common import add_step, attach_all, publish, read_photos, record, user_or_none

log = logging.getLogger(__name__)

CASE_PHONE_CONTEXT = "cases.case.reporter_phone"
CASE_EMAIL_CONTEXT = "cases.case.reporter_email"
MAX_KEY_LENGTH = 200


def _text(value, name: str, max_length: int, *, required: bool = False, label: str = "") -> str:
    text = str(value or "").replace("\x00", "").strip()
    if required and not text:
        raise ValidationFailed(f"请填写{label} / {name} is required", field=name)
    if len(text) > max_length:
        raise ValidationFailed(f"{label or name}不能超过 {max_length} 个字符 / {name} is too long", field=name)
    return text


def resolve_category(category) -> Category | None:
    """A Category, its id, or None; an unknown or disabled category is a clear error."""
    if category is None or category == "":
        return None
    if isinstance(category, Category):
        pk = category.pk
    else:
        try:
            pk = int(category)
        except (TypeError, ValueError):
            pk = None
    found = Category.objects.filter(pk=pk, is_active=True).first() if pk and 0 < pk < 2**63 else None
    if found is None:
        raise ValidationFailed(f"未知的事件分类：{str(category)[:32]} / unknown category", field="category")
    return found


def suggest_department(category: Category | None, region_code: str):
    """The routing rules' department for category × region (rules for any category apply without one);
    the category's default department where the routing service is not installed."""
    try:
        from civicgrid.apps.categories.services import resolve_department
    except ImportError:
        return category.default_department if category is not None else None
    return resolve_department(category, region_code) or (category.default_department if category else None)


def router_suggestion(text: str):
    """The text router's proposal (category/department with confidences), if a router is installed.

    The router is optional and must never block a report: any failure is logged and ignored.
    """
    try:
        from civicgrid.integrations.router import suggest
    except ImportError:
        return None
    try:
        result = suggest(text)
        json.dumps(result)
        return result
    except Exception:
        log.exception("text router failed; the report goes on without a suggestion")
        return None


def _idempotency(actor, key: str | None) -> str | None:
    if key is None or str(key).strip() == "":
        return None
    key = str(key).strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed("幂等键过长 / idempotency key too long", field="idempotency_key")
    owner = f"user:{actor.pk}" if user_or_none(actor) else "anonymous"
    return hashlib.sha256(f"{owner}\x00{key}".encode()).hexdigest()


def _digest(payload: dict, photo_hashes: list[str]) -> str:
    data = json.dumps({**payload, "photos": photo_hashes}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def _replay(key: str, digest: str) -> Case:
    existing = Case.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.idempotency_digest != digest:
        raise Conflict("幂等键已用于内容不同的上报 / idempotency key reused with different content",
                       field="idempotency_key")
    return existing


def _with_token(case: Case) -> Case:
    """Hand the reporter's follow token back on the case (the submit answer shows it, with its QR)."""
    row = CaseReporter.objects.filter(original_case=case).order_by("pk").first()
    case.follow_token = row.follow_token if row else ""
    return case


def _locate(lng, lat, crs: str, photos) -> tuple[Region, float, float, str]:
    if lng is None or lat is None:
        gps = next((p.gps for _, p in photos if p.gps), None)
        if gps is None:
            raise ValidationFailed("缺少位置：请在地图上选点、填写经纬度或上传带定位的照片 / a location is required",
                                   field="location")
        lng, lat, crs = gps[0], gps[1], "wgs84"
    try:
        found = locate(lng, lat, crs)
    except NotFound as exc:  # outside every grid: the report is wrong, not the URL
        raise ValidationFailed(exc.message, field="location") from None
    ref = found.grid or found.community
    region = Region.objects.filter(code=ref.code).first() if ref else None
    if region is None:
        raise ValidationFailed("该位置不在任何网格内 / the point is in no grid", field="location")
    return region, found.lng, found.lat, found.crs_in


def submit_case(*, actor, title, description="", lng=None, lat=None, crs="wgs84", category=None, source,
                address="", reporter_name="", reporter_phone="", reporter_email="", hotline_ticket="",
                caller_name="", callback_phone="", photos=(), idempotency_key=None, self_handled=False,
                is_major=False, external_id="") -> tuple[Case, bool]:
    """Report a case; returns `(case, created)`. `actor` None means a channel that authenticated the caller
    itself (Open311 with its API key). Hotline callers come as `caller_name`/`callback_phone`."""
    if actor is not None and not has_capability(actor, "cases.report"):
        raise PermissionDenied("您无权上报事件 / you may not report cases")
    if self_handled and not has_capability(actor, "cases.verify"):
        raise PermissionDenied("只有网格员等现场人员可以登记自行处置 / only field staff record self-handled cases")
    title = _text(title, "title", 200, required=True, label="标题")
    description = _text(description, "description", 4000, label="描述")
    address = _text(address, "address", 200, label="地址")
    if str(source) not in Source.values:
        raise ValidationFailed(f"未知的来源：{str(source)[:20]} / unknown source", field="source")
    name = _text(caller_name or reporter_name, "reporter_name", 64, label="报告人")
    phone = _text(callback_phone or reporter_phone, "reporter_phone", 40, label="电话")
    if phone:
        try:
            phone = validate_mobile(phone)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="reporter_phone") from None
    email = _text(reporter_email, "reporter_email", 254, label="邮箱")
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed("邮箱地址无效 / invalid email address", field="reporter_email") from None
    ticket = _text(hotline_ticket, "hotline_ticket", 40, label="热线工单号")
    category = resolve_category(category)
    key = _idempotency(actor, idempotency_key)

    raw = [(item if isinstance(item, tuple) else ("before" if self_handled else "photo", item)) for item in photos or ()]
    raw = [(kind, photo_mod.read_bytes(src) if not isinstance(src, photo_mod.Photo) else src) for kind, src in raw]
    payload = {"title": title, "description": description, "lng": lng, "lat": lat, "crs": crs,
               "category": category.pk if category else None, "source": str(source), "address": address,
               "name": name, "phone": phone, "email": email, "ticket": ticket, "self_handled": bool(self_handled),
               "is_major": bool(is_major), "external_id": external_id}
    digest = _digest(payload, [hashlib.sha256(s.data if isinstance(s, photo_mod.Photo) else s).hexdigest()
                               for _, s in raw])
    if key and (existing := _replay(key, digest)):
        return _with_token(existing), False

    checked = read_photos(raw, "photo")  # by content, before any transaction
    if self_handled and not any(kind == "after" for kind, _ in checked):
        raise ValidationFailed("自行处置须上传处置后照片 / a self-handled case needs an 'after' photo", field="photos")
    grid, wlng, wlat, crs_in = _locate(lng, lat, crs, checked)
    suggestion = router_suggestion(f"{title} {description}")

    try:
        with transaction.atomic():
            case = _create(actor=actor, payload=payload, category=category, grid=grid, lng=wlng, lat=wlat,
                           crs_in=crs_in, key=key, digest=digest, suggestion=suggestion, photos=checked)
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer as a replay (or a conflict).
        if key and (existing := _replay(key, digest)):
            return _with_token(existing), False
        raise
    return case, True


def _create(*, actor, payload, category, grid, lng, lat, crs_in, key, digest, suggestion, photos) -> Case:
    now = timezone.now()
    self_handled = payload["self_handled"]
    user = user_or_none(actor)
    case = Case(
        number=numbering.next_number(now), title=payload["title"], description=payload["description"],
        category=category, source=payload["source"], is_major=payload["is_major"], lng=lng, lat=lat,
        crs_in=crs_in, address=payload["address"], grid=grid, region_code=grid.code, reporter=user,
        reporter_name=payload["name"], reporter_phone_enc=keys.encrypt(payload["phone"], CASE_PHONE_CONTEXT),
        reporter_phone_masked=mask_phone(payload["phone"]), hotline_ticket=payload["ticket"],
        reporter_email_enc=keys.encrypt(payload["email"], CASE_EMAIL_CONTEXT),
        suggested_department=suggest_department(category, grid.code), suggestion=suggestion,
        idempotency_key=key, idempotency_digest=digest if key else "", external_id=payload["external_id"][:64],
        reported_at=now, is_self_handled=self_handled,
    )
    if self_handled:
        # 自行处置: found and fixed on the spot; it enters the record closed, on time, with its photos.
        case.status = Status.CLOSED
        case.handled_at = case.verified_at = case.closed_at = now
        case.handled_on_time = case.closed_on_time = True
    with transaction.atomic():  # savepoint: a duplicate idempotency key surfaces as IntegrityError to the caller
        case.save(force_insert=True)
    token = secrets.token_urlsafe(24)
    CaseReporter.objects.create(
        case=case, original_case=case,
        user=user if payload["source"] != Source.HOTLINE else None,  # the operator is not the caller
        name=payload["name"], contact_enc=keys.encrypt(payload["phone"], recipients.PHONE_CONTEXT),
        email_enc=keys.encrypt(payload["email"], recipients.EMAIL_CONTEXT), follow_token=token,
    )
    step = add_step(case, action="report", actor=actor, at=now, to_status=Status.REPORTED,
                    data={"source": payload["source"], "photos": len(photos)})
    attach_all(case, photos, step=step, actor=actor)
    if self_handled:
        add_step(case, action="self_handle", actor=actor, at=now, from_status=Status.REPORTED,
                 to_status=Status.CLOSED, note="自行处置")
    else:
        clocks.start(case, clocks.INTAKE, now)
    record(case, actor=actor, action="report", before=None,
           data={"source": payload["source"], "self_handled": self_handled, "photos": len(photos)})
    publish(case, "reported", source=payload["source"], self_handled=self_handled)
    if self_handled:
        publish(case, "closed", self_handled=True)
    recipients.tell_reporters(case, "已收到" if not self_handled else "已自行处置并结案", with_link=True,
                              except_user=user)
    case.follow_token = token
    return case

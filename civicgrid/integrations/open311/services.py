"""Open311 use cases: clients and their keys, reports (`POST requests`) and updates (`POST servicerequestupdates`).

Reports enter the loop only through `cases.services.submit_case(source="open311", actor=None)`: the key has
authenticated the caller, and the case is located, numbered, routed, timed, audited and published there. What
GeoReport carries beyond a case (attributes, media links, the caller's ids) is kept beside it, written in the
case's own transaction, personal values encrypted. Reopening goes through the reporter's own path (`reopen_by_token`, the
same `reopen` transition and window as `act`), since a key stands for its reporters, not for a staff account.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from civicgrid.apps.cases import services as cases
from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.audit.service import entry as audit_entry
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.foundation.core import keys, ratelimit
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.cache import Generation
from civicgrid.foundation.core.errors import CivicgridError, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pii import validate_mobile
from civicgrid.foundation.core.rows import insert, new

from . import catalogue, conf, inputs
from .formats import Open311Error
from .models import (
    ACCOUNT_CONTEXT,
    DEVICE_CONTEXT,
    FOLLOW_CONTEXT,
    UPDATE_EMAIL_CONTEXT,
    UPDATE_NAME_CONTEXT,
    UPDATE_PHONE_CONTEXT,
    Open311Client,
    Open311Request,
    Open311Update,
    QueuedRequest,
    QueueState,
    hash_key,
)
from .selectors import public_cases_q

log = logging.getLogger(__name__)
MANAGE = "open311.manage"
grant_capabilities(MANAGE, {Role.SYSTEM_ADMIN})
CLIENT_CACHE = "open311:client:"
# Changed at once in every process by a client's stop, start, new key or settings (see `client_cache_key`).
CLIENT_GENERATION = Generation("open311-clients")
AUDIT_CLIENT_CREATED = "open311.client_created"
AUDIT_CLIENT_DEACTIVATED = "open311.client_deactivated"
AUDIT_CLIENT_REACTIVATED = "open311.client_reactivated"
AUDIT_CLIENT_CHANGED = "open311.client_changed"
AUDIT_KEY_ROTATED = "open311.key_rotated"
AUDIT_REQUEST = "open311.request_created"
AUDIT_UPDATE = "open311.update_received"

# --------------------------------------------------------------------------------------------------- clients


def _require_manager(actor) -> None:
    if actor is not None and not has_capability(actor, MANAGE):
        raise PermissionDenied("只有系统管理员可以管理 Open311 客户端 / open311.manage required")


def _limits(rate_per_minute, burst) -> tuple[int, int]:
    try:
        rate, size = int(rate_per_minute), int(burst)
    except (TypeError, ValueError):
        rate = size = 0
    if not (0 < rate <= 1_000_000 and 0 < size <= 1_000_000):
        raise ValidationFailed("限流参数须为 1–1000000 的整数 / rate limits must be whole numbers from 1 to 1000000",
                               field="rate_per_minute")
    return rate, size


def _jurisdiction_text(value, *, keep: str = "") -> str:
    """A client's jurisdiction: empty (every one served) or one this server answers for (`conf.jurisdictions`);
    any other would match no request, so the client could never report. `keep`, the value stored now, stays
    allowed (a jurisdiction later dropped from the configuration does not block editing the rate limits)."""
    text = str(value or "").replace("\x00", "").strip()
    if len(text) > 64:
        raise ValidationFailed("管辖区编码不超过 64 个字符 / jurisdiction is at most 64 characters", field="jurisdiction")
    served = conf.jurisdictions()
    if text and text != keep and text not in served:
        names = ", ".join(sorted(served)) or "—"
        raise ValidationFailed(f"本服务不受理管辖区 {text}：可填 {names}，或留空表示全部 / this server does not serve"
                               f" jurisdiction {text}: use {names} or leave it empty",
                               field="jurisdiction")
    return text


def create_client(*, actor, name: str, jurisdiction: str = "", rate_per_minute: int = 60, burst: int = 20,
                  raw_key: str | None = None, is_demo: bool = False, queued: bool = False) -> tuple[Open311Client, str]:
    """A new client; returns it with its API key, which is shown once and stored only hashed."""
    _require_manager(actor)
    name = str(name or "").replace("\x00", "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("名称须为 1–100 个字符 / name must be 1-100 characters", field="name")
    if Open311Client.objects.filter(name=name).exists():
        # The name is quoted: one the demo uses, "演示客户端 / demo client", holds the languages' separator.
        raise ValidationFailed(f"客户端「{name}」已存在 / a client named \"{name}\" already exists", field="name")
    rate, size = _limits(rate_per_minute, burst)
    jurisdiction = _jurisdiction_text(jurisdiction)
    raw = raw_key or _new_key()
    with transaction.atomic():
        client = Open311Client.objects.create(
            name=name, key_hash=hash_key(raw), key_prefix=raw[:8], jurisdiction=jurisdiction,
            rate_per_minute=rate, burst=size, is_demo=is_demo, queued=bool(queued),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record(actor=actor, action=AUDIT_CLIENT_CREATED, target=client, after=snapshot(client))
    return client, raw


def _new_key() -> str:
    return "o311_" + secrets.token_urlsafe(32)


def _change(actor, client: Open311Client, action: str, apply) -> Open311Client:
    """Lock the client, `apply(current)` (which sets fields and returns their names), save, audit. Once that
    has committed, every process's cached clients are of the past generation (and with a shared cache the
    key's entry goes, the old key's too), so the next request in any process reads the changed row."""
    _require_manager(actor)
    with transaction.atomic():
        current = Open311Client.objects.select_for_update().get(pk=client.pk)
        old_hash, before = current.key_hash, snapshot(current)
        fields = apply(current)
        if fields:
            current.save(update_fields=fields)
            record(actor=actor, action=action, target=current, before=before, after=snapshot(current))
    CLIENT_GENERATION.bump()
    cache.delete_many([client_cache_key(old_hash), client_cache_key(current.key_hash)])
    return current


def update_client(*, actor, client: Open311Client, jurisdiction: str, rate_per_minute: int, burst: int,
                  queued: bool) -> Open311Client:
    """Change a client's jurisdiction, rate limits and whether its reports are queued. Reports already
    queued are made into cases by the next batch either way."""
    rate, size = _limits(rate_per_minute, burst)
    jurisdiction = _jurisdiction_text(jurisdiction, keep=client.jurisdiction)

    def apply(current: Open311Client) -> list[str]:
        wanted = {"jurisdiction": jurisdiction, "rate_per_minute": rate, "burst": size, "queued": bool(queued)}
        fields = [f for f, v in wanted.items() if getattr(current, f) != v]
        for f in fields:
            setattr(current, f, wanted[f])
        return fields

    return _change(actor, client, AUDIT_CLIENT_CHANGED, apply)


def set_client_active(*, actor, client: Open311Client, active: bool) -> Open311Client:
    """Stop a client's key working, or let it work again."""

    def apply(current: Open311Client) -> list[str]:
        if current.is_active == bool(active):
            return []
        current.is_active = bool(active)
        return ["is_active"]

    return _change(actor, client, AUDIT_CLIENT_DEACTIVATED if not active else AUDIT_CLIENT_REACTIVATED, apply)


def deactivate_client(*, actor, client: Open311Client) -> Open311Client:
    """Stop a client's key working, at once in every process."""
    return set_client_active(actor=actor, client=client, active=False)


def rotate_key(*, actor, client: Open311Client) -> tuple[Open311Client, str]:
    """Give the client a new API key (shown once); the old key stops working. The audit entry names the
    two key prefixes, never a key."""
    raw = _new_key()

    def apply(current: Open311Client) -> list[str]:
        current.key_hash, current.key_prefix = hash_key(raw), raw[:8]
        return ["key_hash", "key_prefix"]

    return _change(actor, client, AUDIT_KEY_ROTATED, apply), raw


def authenticate(raw_key: str, *, jurisdiction: str = "") -> Open311Client:
    """The active client holding `raw_key`, within its rate limit; 403 for a missing or wrong key, 429 over
    the limit. Nothing is written either way."""
    raw = str(raw_key or "").strip()
    if not raw:
        raise Open311Error(403, "缺少 api_key / api_key was not provided")
    if len(raw) > 200:
        raise Open311Error(403, "api_key 无效 / api_key is not valid")
    digest = hash_key(raw)
    seconds = conf.client_cache_seconds()
    # The key names the generation before the row is read: a row read just before a change is kept under the
    # generation that change ends.
    key = client_cache_key(digest) if seconds > 0 else ""
    client = _cached_client(key) if key else None
    if client is None:
        client = Open311Client.objects.filter(key_hash=digest).first()
        if client is not None and key:
            cache.set(key, (_CLIENT_COLUMNS, tuple(getattr(client, n) for n in _CLIENT_COLUMNS)), timeout=seconds)
    if client is None or not client.is_active:
        raise Open311Error(403, "api_key 无效 / api_key is not valid")
    if client.jurisdiction and jurisdiction and client.jurisdiction != jurisdiction:
        raise Open311Error(403, f"该 api_key 不适用于 jurisdiction_id {jurisdiction[:64]} / this api_key is not "
                                f"valid for that jurisdiction")
    wait = ratelimit.take(f"open311:client:{client.pk}", ratelimit.Limit(client.rate_per_minute, client.burst))
    if wait:
        raise too_many(wait)
    return client


# A looked-up client is cached as (its column names, their values): tuples the cache can keep without pickling
# (core.cache), made back into a client row by the ORM's own constructor for rows it reads. An entry naming other
# columns (left in a shared cache by another version) is not used.
_CLIENT_COLUMNS = tuple(f.attname for f in Open311Client._meta.concrete_fields)


def client_cache_key(digest: str) -> str:
    """The cache key of the client whose key hashes to `digest`, in the current generation of clients."""
    return f"{CLIENT_CACHE}{CLIENT_GENERATION.token()}:{digest}"


def _cached_client(key: str) -> Open311Client | None:
    entry = cache.get(key)
    if type(entry) is not tuple or len(entry) != 2 or entry[0] != _CLIENT_COLUMNS:
        return None
    return Open311Client.from_db(router.db_for_read(Open311Client), _CLIENT_COLUMNS, entry[1])


def too_many(wait: float) -> Open311Error:
    seconds = max(1, int(wait + 0.999))
    return Open311Error(429, f"请求过于频繁，请 {seconds} 秒后再试 / too many requests, retry in {seconds} s",
                        headers={"Retry-After": str(seconds)})


def actor_label(client: Open311Client) -> str:
    """How a client appears in case timelines and the audit trail."""
    return f"open311:{client.name}"[:150]


# -------------------------------------------------------------------------------------------------- reports


def _locate_address(where: inputs.Location) -> inputs.Location:
    """The building an `address_id` names (its standard-address code), and coordinates for a report that gave
    only an address: that building's, or the building whose standard address address_string is. There is no
    geocoder: anything else is a 400.

    An address_id is checked even when lat/long came with it: an unknown one is a 400 (it would be stored and
    published as the caller sent it), and the address kept is the building's standard address; an
    address_string naming another address is a 400 too, rather than one building's address at another's point."""
    from civicgrid.foundation.people.models import Building

    fields = ("lng", "lat", "address", "grid__centroid_lng", "grid__centroid_lat")
    row = None
    if where.address_id:
        row = Building.objects.filter(code=where.address_id).values_list(*fields).first()
        if row is None:
            raise Open311Error(400, "未找到 address_id 对应的标准地址 / address_id not found")
        if where.address and "".join(where.address.split()) != "".join(row[2].split()):
            raise Open311Error(400, f"address_string 与 address_id 的标准地址「{row[2]}」不一致，请只提供其一 / "
                                    f"address_string differs from the standard address of address_id: send one "
                                    f"of them")
        where.address = row[2]
        if where.lng is not None:
            _near_address_id(where, row)
            return where
    elif where.lng is not None:
        return where
    else:
        rows = list(Building.objects.filter(address=where.address).order_by("code")
                    .values_list(*fields, "code")[:MAX_SHOWN_BUILDINGS + 1])
        if not rows:
            raise Open311Error(400, "无法按 address_string 定位，请提供 lat/long / address_string could not be "
                                    "located: send lat and long")
        if len(rows) > 1:
            raise Open311Error(400, _ambiguous_address(where.address, [r[5] for r in rows]))
        row = rows[0][:5]
    lng, lat = (row[0], row[1]) if row[0] is not None else (row[3], row[4])
    if lng is None or lat is None:
        raise Open311Error(400, "该地址没有坐标，请提供 lat/long / the address has no position: send lat and long")
    where.lng, where.lat, where.crs = lng, lat, "wgs84"
    where.address = where.address or row[2]
    return where


MAX_SHOWN_BUILDINGS = 5  # building codes named in the answer to an address_string several buildings share
# How far (metres) lat/long may lie from the building an address_id names: a report is about something seen at or
# beside the building, and a phone's fix in town is good to some tens of metres; 500 m is beyond both, so a point
# that far off names another place than the address (a copied address_id, swapped coordinates) and is refused
# rather than stored with an address it is not at.
MAX_ADDRESS_DISTANCE_M = 500


def _ambiguous_address(address: str, codes: list[str]) -> str:
    """The 400 for an address_string that is the standard address of several buildings (`codes`, in order, one
    more than shown when there are more)."""
    shown = quotable(address, 60)
    more = len(codes) > MAX_SHOWN_BUILDINGS
    count_zh, count_en = (f"{MAX_SHOWN_BUILDINGS} 栋以上", f"more than {MAX_SHOWN_BUILDINGS}") if more else \
        (f"{len(codes)} 栋", str(len(codes)))
    listed = ", ".join(codes[:MAX_SHOWN_BUILDINGS])
    return (f"address_string「{shown}」对应 {count_zh}建筑（address_id：{listed}），无法确定是哪一栋：请改用 address_id "
            f"指明建筑，或提供 lat/long / address_string \"{shown}\" is the address of {count_en} buildings "
            f"(address_id {listed}): send address_id to name one, or lat and long")


def _near_address_id(where: inputs.Location, row) -> None:
    """lat/long sent with an address_id must lie within `MAX_ADDRESS_DISTANCE_M` of that building (its own point;
    a building without one is not checked: its grid's centre says nothing about where the report is)."""
    from civicgrid.apps.cases.duplicates import haversine_m
    from civicgrid.foundation.regions.crs import to_wgs84

    if row[0] is None or row[1] is None:
        return
    lng, lat = to_wgs84(where.lng, where.lat, where.crs)
    metres = haversine_m(lng, lat, row[0], row[1])
    if metres > MAX_ADDRESS_DISTANCE_M:
        limit, off = MAX_ADDRESS_DISTANCE_M, int(metres)
        raise Open311Error(400, f"lat/long 距 address_id {where.address_id[:40]} 的建筑约 {off} 米，超过 {limit} 米，"
                                f"二者不像同一地点：请核对后只提供其一或改正坐标 / lat and long lie about {off} m from the "
                                f"building of address_id {where.address_id[:40]}, more than {limit} m: they do not "
                                f"name the same place; check them and send correct coordinates or only one of them")


def _check_contacts(email: str, phone: str) -> None:
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise Open311Error(400, "email 无效 / email is not valid") from None
    if phone:
        try:
            validate_mobile(phone)
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            raise Open311Error(400, f"phone 无效：{zh} / phone is not valid: {en or zh}") from None


def _checked(client: Open311Client, params: inputs.Params, idempotency_key: str, jurisdiction: str) -> dict:
    """Everything a POST requests carries, checked (a clear 400 for anything wrong); nothing is written."""
    category, asked = catalogue.checked_service(params.get("service_code"))
    where = inputs.location(params)
    description = inputs.text(params, "description", conf.MAX_DESCRIPTION)
    answers = catalogue.clean_attributes(category, inputs.attributes(params), asked)
    media = inputs.media_urls(params)
    email, phone = inputs.text(params, "email", 254), inputs.text(params, "phone", 40)
    _check_contacts(email, phone)
    name = inputs.reporter_name(params)
    device, account = inputs.device_id(params), inputs.text(params, "account_id", inputs.MAX_IDS)
    where = _locate_address(where)
    return {"category": category, "where": where, "description": description, "answers": answers, "media": media,
            "email": email, "phone": phone, "name": name, "device": device, "account": account,
            "jurisdiction": jurisdiction[:64], "key": f"open311:{client.pk}:{idempotency_key}" if idempotency_key else None}


def _report_fields(r: dict) -> dict:
    """What `_checked` found, as the cases services take a report (direct or queued alike)."""
    where = r["where"]
    return {"actor": None, "source": "open311", "title": inputs.title_from(r["description"], r["category"].name),
            "description": r["description"], "lng": where.lng, "lat": where.lat, "crs": where.crs,
            "category": r["category"], "address": where.address, "reporter_name": r["name"],
            "reporter_phone": r["phone"], "reporter_email": r["email"], "idempotency_key": r["key"],
            # stored beside the case (the link, the queue row): a resend that differs here is a 409 too
            "channel_data": {"attributes": r["answers"], "media_urls": r["media"], "address_id": where.address_id,
                             "device_id": r["device"], "account_id": r["account"], "jurisdiction": r["jurisdiction"]}}


def _link_rows(case: Case, *, client: Open311Client, token: str, jurisdiction: str, attributes: dict, media: list,
               address_id: str, device_id_enc: str, account_id_enc: str, audit: dict | None = None) -> list:
    """The unsaved link of a case to what its caller sent, and the audit entry naming the client (written with
    the case, in its transaction; `audit` adds to the entry's data)."""
    link = new(
        Open311Request,
        case=case, client=client, token=token, jurisdiction=jurisdiction[:64], attributes=attributes,
        media_urls=media, address_id=address_id, device_id_enc=device_id_enc, account_id_enc=account_id_enc,
        follow_token_enc=keys.encrypt(getattr(case, "follow_token", "") or "", FOLLOW_CONTEXT),
    )
    service = case.category.key if case.category_id else ""
    return [link, audit_entry(actor=actor_label(client), action=AUDIT_REQUEST, target=case,
                              data={"client": client.pk, "service_code": service, "attributes": attributes,
                                    "media_urls": len(media), **(audit or {})})]


def submit_request(*, client: Open311Client, params: inputs.Params, jurisdiction: str,
                   idempotency_key: str = "") -> tuple[Case, Open311Request, bool]:
    """POST requests: check everything, then one transaction through `submit_case`. Returns (case, link,
    created); a retry with the same idempotency key answers with the case it made the first time."""
    r = _checked(client, params, idempotency_key, jurisdiction)

    def link_rows(case: Case) -> list:
        rows = _link_rows(case, client=client, token=secrets.token_hex(12), jurisdiction=jurisdiction,
                          attributes=r["answers"], media=r["media"], address_id=r["where"].address_id,
                          device_id_enc=keys.encrypt(r["device"], DEVICE_CONTEXT),
                          account_id_enc=keys.encrypt(r["account"], ACCOUNT_CONTEXT))
        made.append(rows[0])
        return rows

    # submit_case runs its own transaction (called outside any other, as it expects: its optional step, the text
    # router, runs before it) and writes the link with the case's rows through `also`, so a case never lacks its
    # link and the database's write lock (SQLite) is taken once per report.
    made: list[Open311Request] = []
    case, created = cases.submit_case(**_report_fields(r), also=link_rows)
    if created:
        return case, made[0], True
    link = Open311Request.objects.filter(case=case).first()
    if link is None:  # a replay of a case whose link an older version wrote separately and lost: complete it
        rows = link_rows(case)  # submit_case's replay answer carries the reporter's follow token
        with transaction.atomic():
            insert(*rows)
        link = rows[0]
    return case, link, False


# ------------------------------------------------------------------------------------------- queued reports
# A client set to `queued` is answered with the GeoReport token as soon as its report is checked and located
# (a bad report is refused then, as for any client) and stored in `QueuedRequest`; `drain` (run by the worker
# every pass, and for one token by GET tokens/{token}) makes batches of them into cases with
# `cases.submit_cases`: numbered, routed, timed, audited and published as `submit_case` does, in one
# transaction per batch. The token then leads to the case (`Open311Request.token`).

DRAIN_BATCH = 100
BATCH_PAUSE = 0.005  # seconds between two batches of one drain
AUDIT_QUEUED_FAILED = "open311.request_failed"
AUDIT_QUEUED_RETRIED = "open311.request_retried"
AUDIT_QUEUED_DISMISSED = "open311.request_dismissed"
audit_labels.register_domain("open311", gettext_lazy("Open311 开放接口"), order=200)
audit_labels.name_actions({
    AUDIT_CLIENT_CREATED: gettext_lazy("登记接入方"),
    AUDIT_CLIENT_CHANGED: gettext_lazy("修改接入方"),
    AUDIT_CLIENT_DEACTIVATED: gettext_lazy("停用接入方"),
    AUDIT_CLIENT_REACTIVATED: gettext_lazy("恢复接入方"),
    AUDIT_KEY_ROTATED: gettext_lazy("更换接入密钥"),
    AUDIT_REQUEST: gettext_lazy("接收 Open311 上报"),
    AUDIT_UPDATE: gettext_lazy("接收 Open311 更新"),
    AUDIT_QUEUED_FAILED: gettext_lazy("排队上报立卷失败"),
    AUDIT_QUEUED_RETRIED: gettext_lazy("重试排队上报"),
    AUDIT_QUEUED_DISMISSED: gettext_lazy("放弃排队上报"),
})


def enqueue_request(*, client: Open311Client, params: inputs.Params, jurisdiction: str,
                    idempotency_key: str = "") -> tuple[QueuedRequest, bool]:
    """POST requests from a queued client: check and locate, then one INSERT. Returns (queued row, created); a
    retry with the same idempotency key answers with the row (and token) of the first time, different content
    under the same key is a 409."""
    r = _checked(client, params, idempotency_key, jurisdiction)
    where = r["where"]
    spec = cases.check_report(**_report_fields(r))
    data, sealed = spec.dump()
    row = new(
        QueuedRequest,
        client=client, token=secrets.token_hex(12), key=spec.key, digest=spec.digest, received_at=spec.received_at,
        report=data,
        contacts_enc=sealed, jurisdiction=jurisdiction[:64], attributes=r["answers"], media_urls=r["media"],
        address_id=where.address_id, device_id_enc=keys.encrypt(r["device"], DEVICE_CONTEXT),
        account_id_enc=keys.encrypt(r["account"], ACCOUNT_CONTEXT),
    )
    # Insert first: a new report (the usual case) costs one statement; a resend meets the key's unique index
    # and is answered from the row it names.
    try:
        with cases.writer_turn(), transaction.atomic():
            insert(row)
    except IntegrityError:
        if spec.key and (found := _queued_replay(spec)) is not None:
            return found, False
        raise
    return row, True


def _queued_replay(spec) -> QueuedRequest | None:
    """The queued row a resend's key names; 409 when its content differs."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, digest FROM {connection.ops.quote_name(QueuedRequest._meta.db_table)} "
                       f"WHERE {connection.ops.quote_name('key')} = %s", [spec.key])
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != spec.digest:
        raise Open311Error(409, "幂等键已用于内容不同的上报 / the idempotency key was used for a different report")
    return QueuedRequest.objects.select_related("case__category").get(pk=row[0])


def drain(*, batch: int = DRAIN_BATCH, limit: int | None = None, tokens: list[str] | None = None) -> int:
    """Make pending queued reports into cases, oldest first, `batch` per transaction, until none is left (or
    `limit` were taken; with `tokens`, only those). Returns how many were taken.

    A batch is read and prepared (the text router, the rows) before its transaction, so the database's write
    lock (SQLite) is held only for the inserts; the transaction first claims the batch (pending → made), and
    a batch another drainer claimed meanwhile (several workers, or GET tokens/{token}) is dropped and read
    again."""
    taken = 0
    misses = 0
    while limit is None or taken < limit:
        size = batch if limit is None else min(batch, limit - taken)
        n = _drain_batch(size, tokens)
        if n is None:  # claimed by another drainer meanwhile: read again
            misses += 1
            if misses > 20:
                break
            continue
        taken += n
        if n < size or tokens:
            break
        time.sleep(BATCH_PAUSE)  # let the writers waiting for the lock (new reports) in before the next batch
    return taken


def _drain_batch(size: int, tokens: list[str] | None) -> int | None:
    qs = QueuedRequest.objects.filter(state=QueueState.PENDING).select_related("client").order_by("id")
    if tokens is not None:
        qs = qs.filter(token__in=list(tokens))
    items = list(qs[:size])
    if not items:
        return 0
    specs, unreadable = [], {}  # a row this version cannot read fails alone instead of blocking the queue
    for i, item in enumerate(items):
        try:
            specs.append((i, cases.ReportSpec.load(item.report, item.contacts_enc)))
        except Exception as exc:  # noqa: BLE001 - malformed data or a key no longer held
            log.exception("open311: queued report %s cannot be read", item.token)
            unreadable[i] = ValidationFailed(f"无法读取排队的上报 / the queued report cannot be read ({type(exc).__name__})")
    prepared = cases.prepare_cases([spec for _, spec in specs])
    position = {i: j for j, (i, _) in enumerate(specs)}  # queue row → its place in the prepared batch

    def link_rows(j: int, case: Case) -> list:
        item = items[specs[j][0]]
        return _link_rows(case, client=item.client, token=item.token, jurisdiction=item.jurisdiction,
                          attributes=item.attributes, media=item.media_urls, address_id=item.address_id,
                          device_id_enc=item.device_id_enc, account_id_enc=item.account_id_enc,
                          audit={"token": item.token, "received_at": item.received_at.isoformat()})

    ids = [item.pk for item in items]
    now = timezone.now()
    with cases.writer_turn(), transaction.atomic():
        # The claim: every row of the batch must still be pending (PostgreSQL: a concurrent claim of the same
        # rows waits for this one and then finds them taken).
        # The reporter's sealed contacts go with the claim: the case keeps its own encrypted copy.
        claimed = QueuedRequest.objects.filter(pk__in=ids, state=QueueState.PENDING).update(
            state=QueueState.MADE, done_at=now, contacts_enc="")
        if claimed != len(ids):
            transaction.set_rollback(True)
            return None
        results = dict(unreadable)
        results.update(zip((i for i, _ in specs), cases.write_cases(prepared, also=link_rows), strict=True))
        # Which rows got their link in this batch (a batch that fell back to one report at a time may have
        # built links that were rolled back): asked of the database, not of the rows built.
        linked = set(Open311Request.objects.filter(token__in=[item.token for item in items])
                     .values_list("token", flat=True))
        failed, made = [], []
        for i, item in enumerate(items):
            result = results[i]
            if isinstance(result, Case) and item.token in linked:
                made.append(item.pk)
            elif isinstance(result, Case):  # its key had made a case already: link it (once), name the case
                if not Open311Request.objects.filter(case=result).exists():
                    insert(*link_rows(position[i], result))
                QueuedRequest.objects.filter(pk=item.pk).update(case=result)
            else:
                error = str(getattr(result, "message", result))[:300]
                # A failed row keeps the reporter's sealed contacts, so a retry loses nothing.
                QueuedRequest.objects.filter(pk=item.pk).update(state=QueueState.FAILED, error=error,
                                                                contacts_enc=item.contacts_enc)
                item.state, item.error = QueueState.FAILED, error  # the entry names the row as it is now
                failed.append(audit_entry(actor=actor_label(item.client), action=AUDIT_QUEUED_FAILED, target=item,
                                          data={"client": item.client_id, "token": item.token, "error": error},
                                          result="failed"))
        if made:  # one statement for the batch: each row takes the case its link (same token) now names
            q = connection.ops.quote_name
            queue, link = q(QueuedRequest._meta.db_table), q(Open311Request._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {queue} SET {q('case_id')} = (SELECT l.{q('case_id')} FROM {link} l "
                    f"WHERE l.{q('token')} = {queue}.{q('token')}) WHERE {q('id')} IN ({', '.join(['%s'] * len(made))})",
                    made,
                )
        if failed:
            insert(*failed)
    return len(items)


def _failed_rows(actor, tokens: list[str], nothing: str) -> list[QueuedRequest]:
    """The failed queued reports the tokens name, locked (inside the caller's transaction); refused unless every
    token names one. `nothing` is the refusal when no token is given."""
    _require_manager(actor)
    wanted = sorted({str(t).strip() for t in tokens if str(t).strip()})
    if not wanted:
        raise ValidationFailed(nothing, field="tokens")
    rows = list(QueuedRequest.objects.select_for_update().filter(token__in=wanted, state=QueueState.FAILED)
                .order_by("id"))
    if len(rows) != len(wanted):
        missing = sorted(set(wanted) - {r.token for r in rows})
        raise ValidationFailed(f"以下上报不存在或不是「未能立卷」状态：{', '.join(missing[:5])} / these reports are "
                               f"not failed ones", field="tokens")
    return rows


def retry_queued(*, actor, tokens: list[str]) -> int:
    """Put failed queued reports back in the queue (once what their error names is put right: a key restored,
    a category recreated), for the next batch. Every token must name a failed report, or nothing changes.
    Returns how many went back."""
    with transaction.atomic():
        rows = _failed_rows(actor, tokens, "请选择要重新立卷的上报 / choose the reports to retry")
        QueuedRequest.objects.filter(pk__in=[r.pk for r in rows]).update(state=QueueState.PENDING, error="",
                                                                          done_at=None)
        insert(*[audit_entry(actor=actor, action=AUDIT_QUEUED_RETRIED, target=r,
                             data={"client": r.client_id, "token": r.token, "error": r.error}) for r in rows])
    return len(rows)


def dismiss_queued(*, actor, tokens: list[str]) -> int:
    """Give up on failed queued reports that can never be made (a resend's idempotency key already taken by a
    different report): they leave the failed list for good, audited. Every token must name a failed report, or
    nothing changes. Returns how many were dismissed.

    The row stays, for the trail and for a resend under the same key (answered with this token, which tells the
    report was dismissed): its token, client, times, reason and digest. The reporter's sealed contacts go at
    once, as when a report is made (nothing will read them again); the caller's ids go with every other handled
    row's when their retention period ends (`open311.queue`)."""
    with transaction.atomic():
        rows = _failed_rows(actor, tokens, "请选择要放弃的上报 / choose the reports to dismiss")
        now = timezone.now()
        QueuedRequest.objects.filter(pk__in=[r.pk for r in rows]).update(state=QueueState.DROPPED, done_at=now,
                                                                          contacts_enc="")
        for r in rows:
            r.state = QueueState.DROPPED  # the entries name the rows as they are now
        insert(*[audit_entry(actor=actor, action=AUDIT_QUEUED_DISMISSED, target=r,
                             data={"client": r.client_id, "token": r.token, "error": r.error}) for r in rows])
    return len(rows)


def run_drain() -> int:
    """The worker's job: drain the whole queue."""
    return drain()


def account_id(link: Open311Request) -> str:
    """The caller's account id for a report, to echo back as the spec's POST answer does."""
    return keys.decrypt(link.account_id_enc, ACCOUNT_CONTEXT)


# -------------------------------------------------------------------------------------------------- updates


def _case_for_update(client: Open311Client, number: str) -> Case:
    """The case an update is about: a public case (as GET requests/{id} shows it), or one this client reported
    (404 otherwise)."""
    if number.isdigit() and len(number) <= 20:
        case = Case.objects.filter(public_cases_q() | Q(open311__client=client), number=number).first()
        if case is not None:
            return case
    raise Open311Error(404, f"未找到服务请求「{quotable(number, 40)}」 / service_request_id not found: "
                            f"\"{quotable(number, 40)}\"")


def update_digest(update: inputs.UpdateIn) -> str:
    """Everything a posted update carries (and the Open311Update row and its step keep), as one digest."""
    fields = {name: getattr(update, name) for name in ("service_request_id", "status", "description",
                                                       "updated_datetime", "media_url", "name", "email", "phone")}
    data = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def _replayed(client: Open311Client, update: inputs.UpdateIn, case: Case) -> CaseStep | None:
    """The step a resend of the same `update_id` made before; 409 when the resend differs from it."""
    if not update.external_id:
        return None
    previous = Open311Update.objects.filter(client=client, external_id=update.external_id).first()
    if previous is None:
        return None
    if previous.case_id != case.pk:
        raise Open311Error(409, "update_id 已用于另一个服务请求 / update_id was already used for another "
                                "service request")
    if previous.digest and previous.digest != update_digest(update):
        raise Open311Error(409, "update_id 已用于内容不同的更新 / update_id was already used for a different update")
    return previous.step


# Cases whose loop ended without being handled: 不予受理 and 作废 are decisions about the report itself, which only a
# closed case's reopening (重新办理) could take back, and no transition does. OPEN on them is a 409 saying so, never a
# comment saved as if the case were going on (GeoReport shows them `closed`).
ENDED_UNHANDLED = frozenset({Status.REFUSED, Status.VOIDED})


def _not_reopenable(case: Case, merged: Case | None = None) -> str:
    """Why OPEN cannot reopen `case` (refused or voided), or `merged`, the report carried by it."""
    zh, en = (("不予受理", "was refused") if case.status == Status.REFUSED else ("作废", "was voided"))
    if merged is None:
        return (f"服务请求 {case.number} 已{zh}，不能重新办理；问题仍在的，请重新上报 / service request {case.number} "
                f"{en}: it cannot be reopened; report the problem again if it persists")
    return (f"服务请求 {merged.number} 已并入 {case.number}，该案卷已{zh}，不能重新办理；问题仍在的，请重新上报 / "
            f"service request {merged.number} was merged into {case.number}, which {en}: it cannot be reopened; "
            f"report the problem again if it persists")


def post_update(*, client: Open311Client, update: inputs.UpdateIn) -> CaseStep:
    """POST servicerequestupdates: a comment on the case's timeline, or, with status OPEN on a closed case this
    client reported, a reopening (重新办理) with the comment as its reason. OPEN on a report merged into another
    case reopens the case that carries it (as the reporter's follow link does), or is a 409 when that case cannot
    be reopened; OPEN on a case refused or voided is a 409 (`ENDED_UNHANDLED`), asked before anything else about
    the update, so the answer names the real reason. On a case still open, OPEN is FixMyStreet's status of an
    ordinary comment. Returns the step (its id is the `update_id` answered); a retried post with the same `update_id`
    returns the step it made before, also when the retry ran at the same time as the first (the loser of the
    race meets the unique `update_id` and answers with the winner's step)."""
    _check_contacts(update.email, update.phone)
    case = _case_for_update(client, update.service_request_id)
    if (step := _replayed(client, update, case)) is not None:
        return step
    wants_reopen = update.status in inputs.REOPEN_STATUSES
    if wants_reopen and case.status in ENDED_UNHANDLED:
        raise Open311Error(409, _not_reopenable(case))
    merged = wants_reopen and case.status == Status.MERGED
    reopen = merged or (wants_reopen and case.status == Status.CLOSED)
    if not reopen and not (update.description or update.media_url):
        raise Open311Error(400, "缺少 description / description was not provided")
    try:
        with transaction.atomic():
            if merged:
                step = _reopen_carrier(client, case, update)
            else:
                step = _reopen(client, case, update) if reopen else _comment(client, case, update)
            Open311Update.objects.create(
                client=client, case=case, step=step, external_id=update.external_id,
                updated_datetime=update.updated_datetime, status=update.status, media_url=update.media_url,
                name_enc=keys.encrypt(update.name, UPDATE_NAME_CONTEXT),
                email_enc=keys.encrypt(update.email, UPDATE_EMAIL_CONTEXT),
                phone_enc=keys.encrypt(update.phone, UPDATE_PHONE_CONTEXT), digest=update_digest(update),
            )
            data = {"client": client.pk, "step": step.pk, "status": update.status, "reopen": reopen}
            if step.case_id != case.pk:
                data["carrier"] = step.case_id
            record(actor=actor_label(client), action=AUDIT_UPDATE, target=case, data=data)
    except (IntegrityError, Open311Error):
        # The same update_id sent again while the first was being written: the first has committed its row now
        # (its unique index made this insert wait for it), or made this reopening a conflict (the case is no
        # longer closed). Everything here was rolled back; answer as the first did.
        if (step := _replayed(client, update, case)) is not None:
            return step
        raise
    return step


def _reopen(client: Open311Client, case: Case, update: inputs.UpdateIn) -> CaseStep:
    token = _follow_token(client, case)
    if not token:
        raise Open311Error(409, "只有通过本客户端上报的案卷可以重新办理 / only cases this client reported can be "
                                "reopened by it")
    return _reopen_by_token(token, case, update)


def _follow_token(client: Open311Client, case: Case) -> str:
    link = Open311Request.objects.filter(case=case, client=client).first()
    return keys.decrypt(link.follow_token_enc, FOLLOW_CONTEXT) if link and link.follow_token_enc else ""


def _reopen_by_token(token: str, case: Case, update: inputs.UpdateIn) -> CaseStep:
    """Reopen the case the reporter's follow link leads to (`case`, or the case it was merged into)."""
    reason = update.description or "通过 Open311 申请重新办理 / reopened through Open311"
    try:
        cases.reopen_by_token(follow_token=token, reason=reason)  # whole: at most the description's 4,000
    except CivicgridError as exc:  # the window has passed, or the case moved meanwhile
        raise Open311Error(409 if exc.status == 409 else 400, exc.message) from None
    return CaseStep.objects.filter(case=case, action="reopen").order_by("-id").first()


def _reopen_carrier(client: Open311Client, case: Case, update: inputs.UpdateIn) -> CaseStep:
    """OPEN on a report merged into another case: the merged report is over, the matter goes on in the case
    that carries it. Its reporter's follow link reopens that case (within the same window, through the same
    `reopen_by_token`), so the client that reported it does the same; anything else is a 409 naming the case."""
    from civicgrid.apps.cases.models import CaseReporter

    token = _follow_token(client, case)
    carrier = (CaseReporter.objects.select_related("case").filter(follow_token=token).first() if token else None)
    carrier = carrier.case if carrier is not None else None
    if carrier is None or carrier.pk == case.pk:
        raise Open311Error(409, f"服务请求 {case.number} 已合并到其他案卷，只有上报它的客户端可以申请重新办理 / "
                                f"service request {case.number} was merged into another case: only the client "
                                f"that reported it can ask to reopen it")
    if carrier.status in ENDED_UNHANDLED:
        raise Open311Error(409, _not_reopenable(carrier, merged=case))
    if carrier.status != Status.CLOSED:
        raise Open311Error(409, f"服务请求 {case.number} 已并入 {carrier.number} 合并办理，该案卷尚未办结，无需重新办理 / "
                                f"service request {case.number} was merged into {carrier.number}, which is still "
                                f"being handled: it cannot be reopened")
    return _reopen_by_token(token, carrier, update)


def _comment(client: Open311Client, case: Case, update: inputs.UpdateIn) -> CaseStep:
    """A note on the case's timeline by the client, through the cases app's public `comment` service (its
    author's name and contacts stay encrypted beside it, in the Open311Update row)."""
    link = Open311Request.objects.filter(case=case, client=client).only("follow_token_enc").first()
    token = keys.decrypt(link.follow_token_enc, FOLLOW_CONTEXT) if link and link.follow_token_enc else None
    return cases.comment(actor=actor_label(client), case=case, text=update.description, reporter_token=token,
                         channel="open311", media_url=update.media_url,
                         data={"source": "open311", "client": client.pk, "update_id": update.external_id,
                               "status": update.status})

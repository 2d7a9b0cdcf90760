"""上报: `submit_case`, the one way a case comes into being (phone page, web, API, Open311, hotline, 自行处置).

A report is located to its grid, numbered, routed (the suggested department pre-fills dispatch), timed (the
intake clock), audited and published in one transaction. A client retrying on a flaky connection sends the same
idempotency key: the replay returns the case already created (`created=False`), never a second one; the same key
with different content is a conflict, so two different reports can never be folded into one by mistake.

Under load the transaction is kept short: everything that only reads (the category, the grid, the route, the
text router, the SLA deadline, encryption, photo checks) is done before it, with the category, route and grid
looked up in per-process tables that are checked against a stamp of the data (`_lookups`); inside it the case
is numbered and inserted, and its reporter, step, clock, audit entry and outbox rows follow in a few batched
INSERTs. On PostgreSQL the day's number is taken in its own statement just before (the day's row lock is
then held for a moment, not for the whole report; a report that fails afterwards leaves a gap in the day's
numbers, which are unique but not promised gapless).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

try:
    import fcntl
except ImportError:  # not on POSIX: SQLite's own busy wait alone
    fcntl = None

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from civicgrid.apps.categories import matching
from civicgrid.apps.categories.models import Category, in_use_q
from civicgrid.apps.categories.routing import RoutingTable, resolve_department
from civicgrid.foundation.access.scope import has_capability, scope_for, user_roles
from civicgrid.foundation.core import context, keys, ratelimit
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import (
    CivicgridError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.core.rows import insert, new
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.regions.selectors import current_index, locate
from civicgrid.foundation.sla import services as sla

from .. import clocks, numbering, recipients, selectors, suggesters
from .. import photos as photo_mod
from ..models import (
    BAD_TICKET,
    PUBLIC_ROLES,
    Case,
    CaseReporter,
    CaseStep,
    Source,
    Status,
    masked_title,
    normalise_ticket,
    ticket_held,
    valid_ticket,
)
from .common import attach_all, audit_entry, file_name, naming, read_photos, user_or_none

log = logging.getLogger(__name__)

CASE_PHONE_CONTEXT = "cases.case.reporter_phone"
CASE_EMAIL_CONTEXT = "cases.case.reporter_email"
MAX_KEY_LENGTH = 200


def _text(value, name: str, max_length: int, *, required: bool = False, label: str = "") -> str:
    text = refuse_nul(str(value or ""), name, label).strip()  # refused, never dropped (`core.text`)
    if required and not text:
        raise ValidationFailed(f"请填写{label} / {name} is required", field=name)
    if len(text) > max_length:
        raise ValidationFailed(f"{label or name}不能超过 {max_length} 个字符 / {name} is too long", field=name)
    return text


# ---- per-process lookups ---------------------------------------------------------------------------------
# Every report reads its category, its grid's row and the routing decision for category × grid; they change
# rarely (through the categories app's services and imports). A process keeps the categories it has looked up,
# every region's id by code and the routing table (rules and category tree, see categories.routing) while a
# stamp of the data (counts and latest edits of categories, routing rules, active departments and regions) is
# unchanged, comparing it at most every `CIVICGRID_INTAKE_RECHECK_SECONDS` (2 s; 0 under tests, so every report
# compares); the categories app's change events clear the tables at once in the process that delivers them.


class _Lookups:
    def __init__(self, stamp: tuple) -> None:
        self.stamp = stamp
        self.categories: dict[int, Category] = {}
        self.children: dict[int, list[tuple[int, str, str]]] = {}
        self.table = None  # the routing table, built on first use
        self.grids: dict[str, int] | None = None

    def category(self, pk: int) -> Category | None:
        found = self.categories.get(pk)
        if found is None:
            found = Category.objects.filter(in_use_q(taxonomy=False), pk=pk).first()  # not under a class off
            if found is not None:
                self.categories[pk] = found
        return found

    def subclasses(self, category: Category) -> list[tuple[int, str, str]]:
        """The active subclasses of `category` as (id, code, name), in code order (none for a subclass)."""
        found = self.children.get(category.pk)
        if found is None:
            found = [] if category.parent_id else list(
                Category.objects.filter(parent_id=category.pk, is_active=True).order_by("sort", "code")
                .values_list("pk", "code", "name"))
            self.children[category.pk] = found
        return found

    def route(self, category: Category | None, region_code: str) -> int | None:
        """The suggested department's id for category × region, from the routing table in memory (rules,
        category tree, active departments: one build, then no query)."""
        if self.table is None:
            self.table = RoutingTable()
        return self.table.department_id(category.pk if category is not None else None, region_code)

    def grid(self, code: str) -> int | None:
        if self.grids is None:  # every region's id by code, in one query (a district has a few thousand)
            self.grids = dict(Region.objects.values_list("code", "pk"))
        return self.grids.get(code)


_lookups_lock = threading.Lock()
_cached: dict = {"lookups": None, "checked_at": 0.0}


def _recheck_seconds() -> float:
    default = 0.0 if getattr(settings, "TESTING", False) else 2.0
    return float(getattr(settings, "CIVICGRID_INTAKE_RECHECK_SECONDS", default))


def _stamp() -> tuple:
    cat, rule, org, reg = (m._meta.db_table for m in (Category, _rule_model(), Organisation, Region))
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT (SELECT COUNT(*) FROM {cat}), (SELECT MAX(updated_at) FROM {cat}), "
            f"(SELECT COUNT(*) FROM {rule}), (SELECT MAX(updated_at) FROM {rule}), "
            f"(SELECT COUNT(*) FROM {org} WHERE is_active), (SELECT MAX(id) FROM {org}), "
            f"(SELECT COUNT(*) FROM {reg}), (SELECT MAX(id) FROM {reg}), (SELECT MAX(updated_at) FROM {reg})"
        )
        return tuple(cur.fetchone())


def _rule_model():
    from civicgrid.apps.categories.models import RoutingRule

    return RoutingRule


def _lookups() -> _Lookups:
    with _lookups_lock:
        now = time.monotonic()
        current = _cached["lookups"]
        if current is not None and now - _cached["checked_at"] < _recheck_seconds():
            return current
        stamp = _stamp()
        if current is None or current.stamp != stamp:
            current = _Lookups(stamp)
        _cached.update(lookups=current, checked_at=now)
        return current


def forget_lookups() -> None:
    """Drop this process's tables (a category or routing rule changed; tests)."""
    with _lookups_lock:
        _cached.update(lookups=None, checked_at=0.0)


SUBCLASSES_NAMED = 8


def require_subclass(category: Category | None) -> Category | None:
    """`category`, unless it is a class with active subclasses: a case is filed under a subclass (its 立案条件,
    time limit and responsible body are the subclass's, and the pickers offer only subclasses), so a class is
    refused naming the subclasses to choose from. A class without subclasses is its own most specific
    category, and passes."""
    if category is None:
        return None
    below = _lookups().subclasses(category)
    if not below:
        return category
    listed = "、".join(f"{code} {name}（{pk}）" for pk, code, name in below[:SUBCLASSES_NAMED])
    more = f"等 {len(below)} 个" if len(below) > SUBCLASSES_NAMED else ""
    listed_en = ", ".join(f"{code} {name} ({pk})" for pk, code, name in below[:SUBCLASSES_NAMED])
    raise ValidationFailed(
        f"「{category.name}」是大类，事件须归入小类：请选择其下的小类：{listed}{more} / "
        f"\"{category.name}\" is a class: choose one of its subclasses: {listed_en}"
        f"{f' ({len(below)} in all)' if more else ''}", field="category")


def resolve_category(category, *, subclass: bool = True) -> Category | None:
    """A Category, its id, or None; an unknown or disabled category is a clear error, and so is a class with
    subclasses (`require_subclass`) unless `subclass` is False (Open311, whose catalogue decides what it
    offers, and the panel that only previews routing)."""
    if category is None or category == "":
        return None
    if isinstance(category, Category):
        pk = category.pk
    else:
        try:
            pk = int(category)
        except (TypeError, ValueError):
            pk = None
    found = _lookups().category(pk) if pk and 0 < pk < 2**63 else None
    if found is None:
        off = Category.objects.filter(pk=pk, is_active=True, parent__is_active=False).select_related("parent").first() \
            if pk and 0 < pk < 2**63 else None
        if off is not None:
            raise ValidationFailed(f"事件分类「{off.name}」所属的大类「{off.parent.name}」已停用，不能再选用 / the class "
                                   f"{off.parent.name} of category {off.name} is switched off", field="category")
        shown = quotable(category)
        raise ValidationFailed(f"未知的事件分类：「{shown}」 / unknown category \"{shown}\"", field="category")
    return require_subclass(found) if subclass else found


def suggest_department(category: Category | None, region_code: str):
    """The routing rules' department for category × region (rules for any category apply without one), else
    the category's default department."""
    return resolve_department(category, region_code) or (category.default_department if category else None)


def router_suggestion(text: str, *, categories: bool = True):
    """The text router's proposal (category/department with confidences), if a router registered itself
    (`cases.suggesters`); with `categories` False, without the subclasses the text matches (`needs_matches`).

    The router is optional and must never block a report: any failure is logged and ignored.
    """
    suggest = suggesters.registered()
    if suggest is None:
        return None
    return _guarded(lambda: suggest(text, categories=categories), None,
                    "text router failed; the report goes on without a suggestion")


def needs_matches(category: Category | None) -> bool:
    """Whether a report's suggestion must carry the subclasses its text matches: the 立案 form starts from them
    when the report has no subclass (none, or an Open311 class). Under a subclass nothing at intake reads them
    (the form keeps the report's own, auto-dispatch and the dispatcher's department take the model's answer),
    so the matcher is not run; the case page and the triage list, which still show them, match the case's text
    when they do (`router.service.with_categories`)."""
    return category is None or category.parent_id is None


def _guarded(call, fallback, message: str):
    """The router's answer, checked to be JSON; on any failure `fallback`, logged (inside the caller's
    transaction a savepoint keeps a failing query from aborting it on PostgreSQL)."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                result = call()
        else:
            result = call()
        json.dumps(result)
        return result
    except Exception:
        log.exception(message)
        return fallback


def warm() -> None:
    """Load what the first report would otherwise load while its caller waits (seconds for the text router's
    model): the grid locator's index, the live router model, the categories' text index, the working calendar,
    the encryption keys.
    Called once per web process at start (config/wsgi.py); any failure (e.g. a database not yet migrated) is
    logged and the process starts anyway."""
    from django.db import connections

    try:
        current_index().locator.warm()  # the raster too: most points are then answered without the tree
        router_suggestion("")
        matching.current_index()
        sla.get_calendar()
        keys.encrypt("warm", CASE_PHONE_CONTEXT)
    except Exception:  # noqa: BLE001 - warming is an optimisation only
        log.warning("intake warm-up failed; the first reports will load what they need", exc_info=True)
    finally:
        connections.close_all()  # this thread's connection; requests are served on other threads


def _idempotency(actor, key: str | None) -> str | None:
    if key is None or str(key).strip() == "":
        return None
    key = str(key).strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed("幂等键过长 / idempotency key too long", field="idempotency_key")
    owner = f"user:{actor.pk}" if user_or_none(actor) else "anonymous"
    return hashlib.sha256(f"{owner}\x00{key}".encode()).hexdigest()


def _digest(payload: dict, photo_hashes: list[str], channel_data: dict | None = None) -> str:
    """What a keyed report carried, as a digest: a resend under the same key must match it. `channel_data` is
    what the channel stores beside the case (Open311's attributes, media links, the caller's ids); only its
    non-empty values count, so a report without any keeps the digest it always had."""
    extra = {k: v for k, v in (channel_data or {}).items() if v not in (None, "", [], {})}
    body = {**payload, "photos": photo_hashes, **({"channel": extra} if extra else {})}
    data = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def _replay(key: str, digest: str) -> Case:
    # Asked on every keyed report, usually to find nothing: one plain indexed SELECT.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, idempotency_digest FROM {connection.ops.quote_name(Case._meta.db_table)} "
                       f"WHERE idempotency_key = %s", [key])
        row = cursor.fetchone()
    if row is None:
        return None
    existing = Case.objects.get(pk=row[0])
    if existing.idempotency_digest != digest:
        raise Conflict("幂等键已用于内容不同的上报 / idempotency key reused with different content",
                       field="idempotency_key")
    return existing


def _with_token(case: Case) -> Case:
    """Hand the reporter's follow token back on the case (the submit answer shows it, with its QR)."""
    row = CaseReporter.objects.filter(original_case=case).order_by("pk").first()
    case.follow_token = row.follow_token if row else ""
    return case


class ReportOutsideDistrict(ValidationFailed):
    """A report's point outside the district: a 400 like any wrong input, with the locator's own code
    (`regions.selectors.OutsideDistrict`), so that the report pages add how to give a place inside it (the phone
    page's `outside_hint`, as its preview does) and API clients can tell it from a malformed point."""

    code = "outside_district"


def _locate(lng, lat, crs: str, photos) -> tuple[int, str, float, float, str]:
    if lng is None or lat is None:
        gps = next((p.gps for _, p in photos if p.gps), None)
        if gps is None:
            raise ValidationFailed("缺少位置：请在地图上选点、填写经纬度或上传带定位的照片 / a location is required",
                                   field="location")
        lng, lat, crs = gps[0], gps[1], "wgs84"
    try:
        found = locate(lng, lat, crs)
    except NotFound as exc:  # outside every grid: the report is wrong, not the URL
        raise ReportOutsideDistrict(exc.message, field="location") from None
    ref = found.grid or found.community
    grid_id = _lookups().grid(ref.code) if ref else None
    if grid_id is None:
        raise ValidationFailed("该位置不在任何网格内 / the point is in no grid", field="location")
    return grid_id, ref.code, found.lng, found.lat, found.crs_in


# ---- SQLite: reports take turns for the write lock ------------------------------------------------------------
# SQLite has one writer at a time; a connection that finds the lock taken polls with growing sleeps (1, 2, 5,
# 10 … ms), so under concurrent reports a waiting worker sleeps well past the moment the lock is free (long
# tails, idle CPU). Reports therefore queue on an OS file lock beside the database first, which wakes the next
# one the instant the previous commits; other writers are unaffected and still meet SQLite's own busy wait.

_turn_lock = threading.Lock()
_turn_files: dict[str, object] = {}


@contextlib.contextmanager
def writer_turn():
    """SQLite: wait for this database's intake turn (a file lock) before a write transaction, so queued intake,
    its batches and direct reports take turns instead of polling for the write lock. A no-op elsewhere and
    inside a transaction."""
    name = str(connection.settings_dict.get("NAME") or "")
    if (fcntl is None or connection.vendor != "sqlite" or connection.in_atomic_block or not name
            or name.startswith("file:") or ":memory:" in name):
        yield
        return
    with _turn_lock:  # threads of one process share the file lock: queue them here
        handle = _turn_files.get(name)
        if handle is None:
            handle = _turn_files[name] = open(f"{name}.intake-lock", "a+b")  # noqa: SIM115 - kept per process
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# Residents and volunteers report as the public; staff also as field reports; intake staff (受理员) also bring
# in what the hotline, video patrols, drones and superiors hand over. Open311 is its own channel (no account).
STAFF_SOURCES = (Source.GRID_WORKER, Source.PUBLIC)
INTAKE_SOURCES = (*STAFF_SOURCES, Source.HOTLINE, Source.VIDEO, Source.SUPERIOR, Source.DRONE)


def is_public_only(actor) -> bool:
    """Whether the account reports only as a member of the public (residents, volunteers)."""
    roles = user_roles(actor)
    return not getattr(actor, "is_superuser", False) and (not roles or roles <= PUBLIC_ROLES)


def default_source(actor, *, self_handled: bool = False) -> str:
    """The channel a signed-in account's report comes through when it names none: 自行处置 for a case fixed on
    the spot, 群众上报 for residents and volunteers, 网格员上报 (a field report) for staff."""
    if self_handled:
        return Source.SELF_HANDLED
    return Source.PUBLIC if is_public_only(actor) else Source.GRID_WORKER


def allowed_sources(actor) -> tuple[str, ...]:
    """The sources a signed-in account may report through (besides 自行处置), in the order a form offers them."""
    if getattr(actor, "is_superuser", False) or has_capability(actor, "cases.intake"):
        return INTAKE_SOURCES
    return (Source.PUBLIC,) if is_public_only(actor) else STAFF_SOURCES


def _public_reporter(actor) -> bool:
    """Whether this report is one the public-reporting limits count: a resident's or volunteer's, over the web
    or the API. Staff reporting from the field are not held back; Open311 has its own limits; commands, the
    worker and the demo report as their work requires."""
    return context.current().channel in ("web", "api") and actor is not None and is_public_only(actor)


def limit_report_attempts(actor) -> None:
    """Public reporting is rate limited (SECURITY.md "Web and API"), in two buckets (`CIVICGRID_REPORT_*`
    settings); an empty one is a 429 (`ratelimit.RateLimited`) and nothing is written. This is the first: every
    report a resident or volunteer sends takes a token from their address's bucket before anything is read of it,
    refused or not, so a flood of bad reports (fake photos, huge images, points outside the district) is held
    back before its photos are decoded. The account's bucket is the second (`limit_public_reports`)."""
    ip = context.current().source_ip
    if not ip or not _public_reporter(actor):
        return
    ratelimit.check((f"report:addr:{ip}", ratelimit.configured(
        "CIVICGRID_REPORT_ADDRESS_RATE_PER_HOUR", "CIVICGRID_REPORT_ADDRESS_BURST", per="hour")))


def limit_public_reports(actor) -> None:
    """The account's bucket (`CIVICGRID_REPORT_RATE_PER_HOUR`/`_BURST`): a token taken only once the report has
    passed every check (its photos read, its place found in a grid), just before it is written. A report
    refused for what it is spends none: a resident whose photo was no photo, or whose point was outside the
    district, corrects it and sends again without losing one of the reports the limit leaves them (a tester's
    four refusals in a row cost the fifth, valid, report a 429). Refused reports are still counted by the
    address's bucket (`limit_report_attempts`), which is larger (it is shared by residents behind one carrier
    NAT): a flood of them stops there."""
    if not _public_reporter(actor):
        return
    ratelimit.check((f"report:user:{actor.pk}", ratelimit.configured(
        "CIVICGRID_REPORT_RATE_PER_HOUR", "CIVICGRID_REPORT_BURST", per="hour")))


def check_channel(actor, *, source, self_handled: bool, is_major: bool) -> None:
    """Whether `actor` may report through `source` (and flag the report major): the source decides what the
    evaluation counts (a resident cannot file a hotline ticket or a grid worker's report). `actor` None is a
    channel that authenticated the caller itself and names its own source."""
    source = str(source)
    if source == Source.SELF_HANDLED and not self_handled:
        raise ValidationFailed("来源为「自行处置」的上报须登记为自行处置（self_handled） / the self-handled source needs "
                               "self_handled", field="source")
    if actor is None or source == Source.SELF_HANDLED or source not in Source.values:
        return  # an unknown source is refused with the other fields; self-handling is checked by its caller
    if source not in allowed_sources(actor):
        raise PermissionDenied(f"您的角色不能以该来源（{source}）上报 / your role may not report through the "
                               f"{source} channel")
    if is_major and is_public_only(actor):
        raise PermissionDenied("只有工作人员可以标记重大事件 / only staff mark a report as major")


def self_handled_source(source) -> str:
    """The channel a self-handled report (自行处置) is stored under: 自行处置, as the phone page sends it. Found and fixed
    on the spot by the field staff who record it, such a case is their own find: a field report (网格员上报) said
    so is the same channel named less precisely and is stored as 自行处置; any other source (群众上报, 12345 …)
    would say somebody else brought the problem in, and the evaluation would count the case as the public's
    report (公众举报立案数, the grid's 漏报率), so it is a 400 on `source` and nothing is written. An unknown
    source is left for `_payload` to refuse as unknown."""
    source = str(source)
    if source == Source.GRID_WORKER:
        return Source.SELF_HANDLED
    if source == Source.SELF_HANDLED or source not in Source.values:
        return source
    raise ValidationFailed(f"自行处置的上报来源须为「自行处置」（self_handled）或「网格员上报」（grid_worker），不能是 {source}："
                           f"自行处置是您现场发现并处置的事件 / a self-handled report comes through self_handled (or "
                           f"grid_worker), not {source}: it is a problem you found and fixed on the spot",
                           field="source")


HOTLINE_NEEDS_TICKET = "12345 热线转办须填写热线工单号 / a 12345 hotline report needs the hotline ticket number"
# The channels only intake desks bring reports in through (`cases.intake`: 12345, video patrols, superiors,
# drones): a desk registers those of its own area, as far as its `cases.intake` grants reach.
DESK_SOURCES = tuple(s for s in INTAKE_SOURCES if s not in STAFF_SOURCES)


def check_intake_area(actor, source, grid_code: str) -> None:
    """A desk channel's report (`DESK_SOURCES`) lies where `actor` takes reports in (`scope_for(actor,
    "cases.intake")`): a street dispatcher registers the 12345 hand-overs of their own street, and one located
    in another street is refused (403) naming that street, whose desk or the district command centre registers
    it. Field reports (网格员上报, 群众上报) may be made anywhere; `actor` None is a channel with its own key."""
    if actor is None or str(source) not in DESK_SOURCES:
        return
    if scope_for(actor, "cases.intake").covers_code(grid_code):
        return
    street = current_index().ref(grid_code[:9]) if len(grid_code) >= 9 else None
    name = street.name if street is not None else grid_code
    raise PermissionDenied(
        f"该位置属于{name}，不在您受理登记的辖区内，不能由您登记；请转交{name}或区指挥中心登记 / the location lies in "
        f"{name}, outside the area you register reports for: hand it over to {name} or the district command centre",
        field="location")


NOT_A_HOTLINE_REPORT = ("只有 12345 热线转办（来源 hotline）可以填写热线工单号；其他来源的上报请不要填写工单号 / only a "
                        "12345 hotline report (source hotline) carries a hotline ticket: leave it out of other reports")


def _payload(*, title, description, address, source, name, phone, email, ticket, lng, lat, crs, category,
             self_handled, is_major, external_id) -> dict:
    """A report's fields, checked and cleaned (what its idempotency digest is computed from)."""
    refuse_nul(external_id, "external_id")  # the text fields below are refused by `_text` alike (`core.text`)
    refuse_nul(crs, "crs", "坐标系")
    title = _text(title, "title", 200, required=True, label="标题")
    description = _text(description, "description", 4000, label="描述")
    address = _text(address, "address", 200, label="地址")
    if str(source) not in Source.values:
        shown = quotable(source, 20)
        raise ValidationFailed(f"未知的来源：「{shown}」 / unknown source \"{shown}\"", field="source")
    name = _text(name, "reporter_name", 64, label="报告人")
    phone = _text(phone, "reporter_phone", 40, label="电话")
    if phone:
        try:
            phone = validate_mobile(phone)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="reporter_phone") from None
    email = _text(email, "reporter_email", 254, label="邮箱")
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed("邮箱地址无效 / invalid email address", field="reporter_email") from None
    ticket = _text(normalise_ticket(ticket), "hotline_ticket", 40, label="热线工单号")
    if ticket and str(source) != Source.HOTLINE:
        # A ticket is the 12345 hotline's hand-over (转办): only that channel, which only intake staff may use
        # (`check_channel`), records one. Any other report carrying one could claim a real caller's ticket.
        raise ValidationFailed(NOT_A_HOTLINE_REPORT, field="hotline_ticket")
    if str(source) == Source.HOTLINE and not ticket:
        # A hand-over is known by its ticket: without one the repeat check has nothing to hold, and the hotline
        # cannot find its case again (README, "12345 tickets").
        raise ValidationFailed(HOTLINE_NEEDS_TICKET, field="hotline_ticket")
    if ticket and not valid_ticket(ticket):
        raise ValidationFailed(BAD_TICKET, field="hotline_ticket")
    return {"title": title, "description": description, "lng": lng, "lat": lat, "crs": crs,
            "category": category.pk if category else None, "source": str(source), "address": address,
            "name": name, "phone": phone, "email": email, "ticket": ticket, "self_handled": bool(self_handled),
            "is_major": bool(is_major), "external_id": external_id}


SELF_HANDLED_NEEDS_CATEGORY = "自行处置须选择事件分类 / a self-handled report needs a category"


def submit_case(*, actor, title, description="", lng=None, lat=None, crs="wgs84", category=None, source,
                address="", reporter_name="", reporter_phone="", reporter_email="", hotline_ticket="",
                caller_name="", callback_phone="", photos=(), idempotency_key=None, self_handled=False,
                is_major=False, external_id="", also=None, channel_data=None) -> tuple[Case, bool]:
    """Report a case; returns `(case, created)`. `actor` None means a channel that authenticated the caller
    itself (Open311 with its API key). Hotline callers come as `caller_name`/`callback_phone`. `also(case)`,
    when given, is called inside the report's transaction once the case has its id and number, and returns
    a channel's own unsaved rows to write beside the case (e.g. the Open311 link and its audit entry): they
    are inserted with the report's rows, so all commit or none does. `channel_data`: what those rows store
    from the caller, so that a keyed resend differing there is refused too (409)."""
    if actor is not None and not has_capability(actor, "cases.report"):
        raise PermissionDenied("您无权上报事件 / you may not report cases")
    if self_handled and not has_capability(actor, "cases.verify"):
        raise PermissionDenied("只有网格员等现场人员可以登记自行处置 / only field staff record self-handled cases")
    if self_handled:
        source = self_handled_source(source)
    check_channel(actor, source=source, self_handled=self_handled, is_major=is_major)
    category = resolve_category(category, subclass=source != Source.OPEN311)
    payload = _payload(title=title, description=description, address=address, source=source,
                       name=caller_name or reporter_name, phone=callback_phone or reporter_phone,
                       email=reporter_email, ticket=hotline_ticket, lng=lng, lat=lat, crs=crs, category=category,
                       self_handled=self_handled, is_major=is_major, external_id=external_id)
    if self_handled and category is None:
        # Closed at once, it never passes 立案, where a case without one is given its category: the ledger, the
        # evaluation and the router's retraining would count it under none.
        raise ValidationFailed(SELF_HANDLED_NEEDS_CATEGORY, field="category")
    key = _idempotency(actor, idempotency_key)

    raw = [(item if isinstance(item, tuple) else ("before" if self_handled else "photo", item)) for item in photos or ()]
    names = [file_name(src) for _, src in raw]
    read = []
    for kind, src in raw:
        with naming(src):
            read.append((kind, photo_mod.read_bytes(src) if not isinstance(src, photo_mod.Photo) else src))
    raw = read
    # Each photo by its bytes, in order; a self-handled report's before/after photos also by their kind (a
    # plain photo's entry is its hash alone, as it always was).
    hashes = [hashlib.sha256(s.data if isinstance(s, photo_mod.Photo) else s).hexdigest() for _, s in raw]
    digest = _digest(payload, [h if kind == "photo" else f"{kind}:{h}" for (kind, _), h in zip(raw, hashes, strict=True)],
                     channel_data)
    if key and (existing := _replay(key, digest)):
        return _with_token(existing), False  # a retry of a report already made: not a new report to count
    limit_report_attempts(actor)  # every attempt, before its photos are decoded
    if payload["ticket"]:
        _ticket_unused(payload["ticket"], actor)

    checked = read_photos(raw, "photo", names)  # by content, before any transaction
    if self_handled and not any(kind == "after" for kind, _ in checked):
        raise ValidationFailed("自行处置须上传处置后照片 / a self-handled case needs an 'after' photo", field="photos")
    grid_id, grid_code, wlng, wlat, crs_in = _locate(lng, lat, crs, checked)
    check_intake_area(actor, source, grid_code)
    if self_handled and not scope_for(actor, "cases.verify").covers_code(grid_code):
        # Recorded closed on the spot, the case skips 核查: only where the reporter is the one who would check it.
        raise PermissionDenied("该位置不在您负责核查的网格内，不能登记为自行处置；请取消“自行处置”，作为普通事件上报 / "
                               "a self-handled report must lie in the grids you check: send it as an ordinary report",
                               field="self_handled")
    limit_public_reports(actor)  # found good: now it counts against the account
    suggestion = router_suggestion(f"{payload['title']} {payload['description']}",
                                   categories=needs_matches(category))
    # Everything else that only reads or computes, before the transaction: the case and its rows, unsaved.
    now = timezone.now()
    rows = _prepare(actor=actor, payload=payload, category=category, grid_id=grid_id, grid_code=grid_code,
                    lng=wlng, lat=wlat, crs_in=crs_in, key=key, digest=digest, suggestion=suggestion,
                    photos=checked, now=now)
    # PostgreSQL: the day's number in its own short statement (the row lock is not held for the report).
    early = connection.vendor == "postgresql" and not connection.in_atomic_block
    try:
        if early:
            rows.case.number = numbering.next_number(now)
        with writer_turn(), transaction.atomic():
            if not early:
                rows.case.number = numbering.next_number(now)
            case = _create(rows, actor=actor, photos=checked, also=also)
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer as a replay (or a conflict). Or another
        # desk registered the same 12345 ticket between the check above and this INSERT (the unique index
        # `cases_hotline_ticket_once` refused it; the transaction wrote nothing): the check's own 409.
        if key and (existing := _replay(key, digest)):
            return _with_token(existing), False
        if payload["ticket"]:
            _ticket_unused(payload["ticket"], actor)
        raise
    return case, True


# ---- queued reports: checked now, made into cases later in batches ------------------------------------------
# A channel that answers its caller before the case exists (Open311 clients set to queue, see the open311 app)
# checks and locates a report with `check_report`, keeps the `ReportSpec` (its contacts sealed) and later hands
# batches of them to `submit_cases`, which numbers, routes, times, audits and publishes the whole batch in one
# transaction with one INSERT per table: the same rows, built by the same code, as `submit_case` writes.

QUEUED_CONTEXT = "cases.queued_report.contacts"
_SEALED = ("name", "phone", "email")


@dataclass(slots=True)
class ReportSpec:
    """A checked, located report that is not a case yet."""

    payload: dict  # `_payload`'s fields
    key: str | None  # the hashed idempotency key
    digest: str
    grid_id: int
    grid_code: str
    lng: float
    lat: float
    crs_in: str
    received_at: datetime

    def dump(self) -> tuple[dict, str]:
        """(plain data, sealed contacts) for a queue row: the reporter's name, phone and email only encrypted."""
        contacts = {k: self.payload[k] for k in _SEALED if self.payload.get(k)}
        data = {"payload": {k: v for k, v in self.payload.items() if k not in _SEALED}, "key": self.key,
                "digest": self.digest, "grid_id": self.grid_id, "grid_code": self.grid_code, "lng": self.lng,
                "lat": self.lat, "crs_in": self.crs_in, "received_at": self.received_at.isoformat()}
        return data, (keys.encrypt(json.dumps(contacts, ensure_ascii=False), QUEUED_CONTEXT) if contacts else "")

    @classmethod
    def load(cls, data: dict, sealed: str) -> ReportSpec:
        contacts = json.loads(keys.decrypt(sealed, QUEUED_CONTEXT)) if sealed else {}
        payload = {**data["payload"], **{k: contacts.get(k, "") for k in _SEALED}}
        return cls(payload=payload, key=data["key"], digest=data["digest"], grid_id=data["grid_id"],
                   grid_code=data["grid_code"], lng=data["lng"], lat=data["lat"], crs_in=data["crs_in"],
                   received_at=datetime.fromisoformat(data["received_at"]))


class TicketUsed(Conflict):
    """A 12345 ticket already registered. The message names the case only for a user who may open it, and then
    `case_number` carries it (the form links it); otherwise it says the ticket is registered outside the user's
    area and whom to ask, without the number (a case outside one's scope is not even confirmed to exist)."""

    def __init__(self, ticket: str, number: str = ""):
        ticket = quotable(ticket, 40)  # as typed: it may hold anything, " / " too
        if number:
            message = f"热线工单号 {ticket} 已登记为案卷 {number} / hotline ticket {ticket} is already case {number}"
        else:
            message = (f"热线工单号 {ticket} 已在区内其他辖区登记为案卷，不能重复登记；如需了解办理情况，请联系区指挥中心"
                       f" / hotline ticket {ticket} is already registered as a case elsewhere in the district: ask "
                       f"the district command centre")
        super().__init__(message, field="hotline_ticket")
        self.case_number = number


def _ticket_unused(ticket: str, actor) -> None:
    """A 12345 ticket is handed over once: a second registration (another desk, a double entry) is refused,
    naming the case it already became when `actor` may open that case (`selectors.may_open`). One that was
    refused or voided may come back and be registered again. Only hotline cases count: a ticket stored on a case
    of another source (before intake refused that) blocks no real hand-over. `ticket` is normalised
    (`normalise_ticket`), as every stored one is since intake normalises them. The cases asked about are
    `models.ticket_held()`, which a unique index holds too: a registration racing this check past it is refused
    by the database and answered here again (`submit_case`)."""
    same = Case.objects.filter(ticket_held(), hotline_ticket=ticket).order_by("pk").values_list("number", flat=True).first()
    if same:
        raise TicketUsed(ticket, same if user_or_none(actor) and selectors.may_open(actor, same) else "")


def check_report(*, actor, title, description="", lng=None, lat=None, crs="wgs84", category=None, source,
                 address="", reporter_name="", reporter_phone="", reporter_email="", idempotency_key=None,
                 is_major=False, external_id="", channel_data=None) -> ReportSpec:
    """Everything `submit_case` checks before it writes (permission, fields, category, location), for a report
    without photos that a channel queues: a clear error now, or a `ReportSpec` that `submit_cases` will make
    into a case. Nothing is written. `channel_data` counts in the idempotency digest (see `submit_case`)."""
    if actor is not None and not has_capability(actor, "cases.report"):
        raise PermissionDenied("您无权上报事件 / you may not report cases")
    if actor is not None:
        check_channel(actor, source=source, self_handled=False, is_major=is_major)
    category = resolve_category(category, subclass=source != Source.OPEN311)
    payload = _payload(title=title, description=description, address=address, source=source, name=reporter_name,
                       phone=reporter_phone, email=reporter_email, ticket="", lng=lng, lat=lat, crs=crs,
                       category=category, self_handled=False, is_major=is_major, external_id=external_id)
    key = _idempotency(actor, idempotency_key)
    grid_id, grid_code, wlng, wlat, crs_in = _locate(lng, lat, crs, ())
    check_intake_area(actor, source, grid_code)
    return ReportSpec(payload=payload, key=key, digest=_digest(payload, [], channel_data), grid_id=grid_id, grid_code=grid_code,
                      lng=wlng, lat=wlat, crs_in=crs_in, received_at=timezone.now())


def router_suggestions(texts: list[str], categories: list[bool] | None = None) -> list:
    """`router_suggestion` for many texts (`categories`: for each, whether it needs the subclasses it matches):
    one call of the router's batch form when it registered one."""
    wanted = list(categories) if categories is not None else [True] * len(texts)
    many = suggesters.registered_many()
    if many is None or not texts:
        return [router_suggestion(t, categories=w) for t, w in zip(texts, wanted, strict=True)]

    def call() -> list:
        result = list(many(texts, categories=wanted))
        if len(result) != len(texts):
            raise ValueError("the router answered a different number of suggestions")
        return result

    return _guarded(call, [None] * len(texts), "text router failed on a batch; the reports go on without suggestions")


@dataclass(slots=True)
class PreparedBatch:
    """What `prepare_cases` read and built for `write_cases`: per spec its outcome so far (a replayed case, an
    error, or None for a case to make), the indexes to make and their unsaved rows."""

    specs: list
    out: list
    todo: list
    rows: list
    actor: object


def submit_cases(specs: list[ReportSpec], *, actor=None, also=None) -> list:
    """Make a batch of queued reports into cases: per spec, in order, the `Case` (a new one, or the one its
    idempotency key already made) or the `CivicgridError` that stopped it (its category was deleted, its key
    was used for other content). The new cases are written in one transaction; `also(index, case)` returns a
    channel's own unsaved rows for the spec at `index`, written in it too. If that transaction fails (a
    concurrent report took a key), each spec is tried alone, so one cannot hold up the others.

    `prepare_cases` (reads only) and `write_cases` (the transaction) are its two halves, for a caller that
    must keep the write lock short (SQLite: the queue's drain prepares outside its transaction)."""
    return write_cases(prepare_cases(specs, actor=actor), also=also)


def prepare_cases(specs: list[ReportSpec], *, actor=None) -> PreparedBatch:
    """The reading half of `submit_cases`: categories, keys already used, the text router, the rows."""
    out: list = [None] * len(specs)
    categories = Category.objects.in_bulk({s.payload["category"] for s in specs if s.payload["category"]})
    keys_used = [s.key for s in specs if s.key]
    existing = {}
    if keys_used:
        existing = {k: (pk, d) for k, pk, d in Case.objects.filter(idempotency_key__in=keys_used)
                    .values_list("idempotency_key", "pk", "idempotency_digest")}
    todo: list[int] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.payload["category"] and spec.payload["category"] not in categories:
            out[i] = NotFound("上报的事件分类已被删除 / the report's category no longer exists")
        elif spec.key and spec.key in existing:
            pk, digest = existing[spec.key]
            out[i] = (Case.objects.get(pk=pk) if digest == spec.digest else
                      Conflict("幂等键已用于内容不同的上报 / idempotency key reused with different content"))
        elif spec.key and spec.key in seen:  # the same key twice in one batch: the first makes the case
            out[i] = ("same", seen[spec.key])
        else:
            if spec.key:
                seen[spec.key] = i
            todo.append(i)
    rows = _prepare_many([specs[i] for i in todo], categories, actor=actor) if todo else []
    return PreparedBatch(specs=specs, out=out, todo=todo, rows=rows, actor=actor)


def write_cases(batch: PreparedBatch, *, also=None) -> list:
    """The writing half of `submit_cases` (in the caller's transaction if there is one, as a savepoint)."""
    specs, out, todo, actor = batch.specs, list(batch.out), batch.todo, batch.actor
    if todo:
        try:
            made = _write_many(batch.rows, actor=actor,
                               also=(lambda j, case: also(todo[j], case)) if also else None)
            for i, case in zip(todo, made, strict=True):
                out[i] = case
        except (IntegrityError, CivicgridError):
            for i in todo:
                out[i] = _alone(specs[i], actor=actor, also=also, index=i)
    for i, value in enumerate(out):
        if isinstance(value, tuple):
            first = out[value[1]]
            out[i] = first if isinstance(first, Exception) or first.idempotency_digest == specs[i].digest else \
                Conflict("幂等键已用于内容不同的上报 / idempotency key reused with different content")
    return out


def _alone(spec: ReportSpec, *, actor, also, index):
    """A single spec whose batch failed: its case, the case its key made meanwhile, or the error."""
    try:
        if spec.key and (found := _replay(spec.key, spec.digest)):
            return found
        categories = Category.objects.in_bulk([spec.payload["category"]] if spec.payload["category"] else [])
        if spec.payload["category"] and not categories:
            return NotFound("上报的事件分类已被删除 / the report's category no longer exists")
        return _write_many(_prepare_many([spec], categories, actor=actor), actor=actor,
                           also=(lambda _j, case: also(index, case)) if also else None)[0]
    except CivicgridError as exc:
        return exc
    except IntegrityError:
        try:
            found = _replay(spec.key, spec.digest) if spec.key else None
        except CivicgridError as exc:
            return exc
        if found is None:
            raise
        return found


def _prepare_many(specs: list[ReportSpec], categories: dict, *, actor) -> list:
    suggestions = router_suggestions([f"{s.payload['title']} {s.payload['description']}" for s in specs],
                                     [needs_matches(categories.get(s.payload["category"])) for s in specs])
    return [_prepare(actor=actor, payload=s.payload, category=categories.get(s.payload["category"]),
                     grid_id=s.grid_id, grid_code=s.grid_code, lng=s.lng, lat=s.lat, crs_in=s.crs_in, key=s.key,
                     digest=s.digest, suggestion=suggestion, photos=(), now=s.received_at)
            for s, suggestion in zip(specs, suggestions, strict=True)]


def _write_many(batch: list, *, actor, also) -> list[Case]:
    early = connection.vendor == "postgresql" and not connection.in_atomic_block
    if early:
        _number(batch)
    with writer_turn(), transaction.atomic():
        if not early:
            _number(batch)
        return _insert_reports(batch, actor=actor, also=also, queued=True)


def _number(batch: list) -> None:
    """Each case its number of its report's day: one statement per day in the batch."""
    by_day: dict = {}
    for rows in batch:
        by_day.setdefault(timezone.localdate(rows.case.reported_at), []).append(rows)
    for group in by_day.values():
        for rows, number in zip(group, numbering.next_numbers(len(group), group[0].case.reported_at), strict=True):
            rows.case.number = number


class _Rows:
    """A report's rows, built before its transaction."""

    __slots__ = ("case", "reporter", "steps", "clock", "limit", "photos_count")


def _prepare(*, actor, payload, category, grid_id, grid_code, lng, lat, crs_in, key, digest, suggestion, photos,
             now) -> _Rows:
    self_handled = payload["self_handled"]
    user = user_or_none(actor)
    case = new(
        Case,
        number="", title=payload["title"], title_masked=masked_title(payload["title"]),
        description=payload["description"],
        category=category, source=payload["source"], is_major=payload["is_major"], lng=lng, lat=lat,
        crs_in=crs_in, address=payload["address"], grid_id=grid_id, region_code=grid_code, reporter=user,
        reporter_name=payload["name"], reporter_phone_enc=keys.encrypt(payload["phone"], CASE_PHONE_CONTEXT),
        reporter_phone_masked=mask_phone(payload["phone"]), hotline_ticket=payload["ticket"],
        reporter_email_enc=keys.encrypt(payload["email"], CASE_EMAIL_CONTEXT),
        suggested_department_id=_lookups().route(category, grid_code), suggestion=suggestion,
        idempotency_key=key, idempotency_digest=digest if key else "", external_id=payload["external_id"][:64],
        reported_at=now, is_self_handled=self_handled,
    )
    if self_handled:
        # 自行处置: found and fixed on the spot; it enters the record closed, on time, with its photos.
        case.status = Status.CLOSED
        case.handled_at = case.verified_at = case.closed_at = now
        case.handled_on_time = case.closed_on_time = True
    rows = _Rows()
    rows.case = case
    rows.reporter = new(
        CaseReporter,
        user=user if payload["source"] != Source.HOTLINE else None,  # the operator is not the caller
        name=payload["name"], contact_enc=keys.encrypt(payload["phone"], recipients.PHONE_CONTEXT),
        email_enc=keys.encrypt(payload["email"], recipients.EMAIL_CONTEXT), follow_token=secrets.token_urlsafe(24),
    )
    rows.steps = [CaseStep.entry(action="report", to_status=Status.REPORTED, actor=actor, at=now,
                                 data={"source": payload["source"], "photos": len(photos)})]
    if self_handled:
        rows.steps.append(CaseStep.entry(action="self_handle", from_status=Status.REPORTED, to_status=Status.CLOSED,
                                         actor=actor, at=now, note="自行处置", note_en="found and fixed on the spot"))
        rows.clock, rows.limit = None, None
    else:
        rows.clock, rows.limit = clocks.prepare(case, clocks.INTAKE, now)
    rows.photos_count = len(photos)
    return rows


def _event(case: Case, topic: str, **payload) -> OutboxEvent:
    """The unsaved `case.<topic>` outbox row (the same columns and payload as `common.publish`)."""
    return new(
        OutboxEvent,
        topic=f"case.{topic}", aggregate_type=case._meta.label_lower, aggregate_id=str(case.pk),
        region_code=case.region_code or "", request_id=context.current().request_id,
        payload={"number": case.number, "status": case.status, "category_id": case.category_id,
                 "department_id": case.department_id, "region_code": case.region_code, **payload},
    )


def _create(rows: _Rows, *, actor, photos, also) -> Case:
    """Inside the transaction: one report's rows (`_insert_reports`)."""
    return _insert_reports([rows], actor=actor, photos=photos,
                           also=(lambda _j, case: also(case)) if also is not None else None)[0]


def _insert_reports(batch: list, *, actor, also, photos=(), queued: bool = False) -> list[Case]:
    """Inside the transaction: the cases, then their rows in one plain INSERT per table (`core.rows.insert`;
    the clocks before their `sla.started` events, which name the clocks' ids). `photos` go with a single
    report; `also(j, case)` adds a channel's rows for the j-th report."""
    if photos and len(batch) != 1:
        raise ValueError("photos belong to a single report")
    insert(*(rows.case for rows in batch))
    reporters, steps, clocks = [], [], []
    for rows in batch:
        case = rows.case
        rows.reporter.case = rows.reporter.original_case = case
        reporters.append(rows.reporter)
        for step in rows.steps:
            step.case = case
            steps.append(step)
        if rows.clock is not None:
            rows.clock.target_id = str(case.pk)
            clocks.append(rows.clock)
    # nothing to record unless a report is older than the sweep's watermark
    settled = iter(sla.settle_new_many(clocks, [r.case.reported_at for r in batch if r.clock is not None]))
    insert(*reporters, *steps, *clocks)
    if photos:
        attach_all(batch[0].case, photos, step=batch[0].steps[0], actor=actor)
    later = []
    for j, rows in enumerate(batch):
        case = rows.case
        case.follow_token = rows.reporter.follow_token
        self_handled = case.is_self_handled
        data = {"source": case.source, "self_handled": self_handled, "photos": rows.photos_count}
        later.append(audit_entry(case, actor=actor, action="report", before=None,
                                 data={**data, "queued": True} if queued else data))
        if rows.clock is not None:
            later.append(sla.started_event(rows.clock, rows.limit, case.reported_at))
            later.extend(sla.emitted_events(rows.clock, next(settled), case.reported_at))
        later.append(_event(case, "reported", source=case.source, self_handled=self_handled))
        if case.is_major:  # 重大事件: the leaders who supervise are told (`handlers.on_marked_major`)
            later.append(_event(case, "marked_major", at_report=True))
        if self_handled:
            later.append(_event(case, "closed", self_handled=True))
        if also is not None:
            later.extend(also(j, case) or ())
    insert(*later)
    # A resident's (volunteer's) own account is the reporter: the confirmation with the follow link goes to its
    # inbox too, so the link is not lost with the success card. Staff reporting are not told of their own act.
    as_public = any(rows.reporter.user_id for rows in batch) and is_public_only(actor)
    for rows in batch:
        own = as_public and rows.reporter.user_id is not None
        if rows.reporter.contact_enc or rows.reporter.email_enc or own:
            # The confirmation with the follow link to the reporter's phone/email (and a resident's inbox).
            recipients.tell_reporters(rows.case, "已收到" if not rows.case.is_self_handled else "已自行处置并结案",
                                      with_link=True, except_user=None if own else user_or_none(actor))
    return [rows.case for rows in batch]

"""Reads for the public GeoReport endpoints: service requests, tokens and FixMyStreet-style updates.

These answer without sign-in by design (GeoReport v2 GETs are public), so they read only what is public: cases
in categories open to public reports and published to the feed (`public_cases_q`), and of those only the fields
the spec lists. Reporter names and contacts are never selected (the querysets name their columns with `only`),
and a timeline step contributes its label, plus its note only for the steps a reporter is told about anyway.

What a reporter wrote and sent (the description, the media links) and where it is (the address, the building's
address_id, lat and long) are published only once the case is accepted (立案) and a person on the staff has taken
it in hand (`Case.reviewed_at`: a system account's 立案, the router's auto-dispatch, is no one having read it), and
never for a case refused or voided (often for what it said: 含他人个人信息; a private person's report may stand
outside their home); one merged straight from 待受理 was read by whoever merged it, and is published with the case
that carries it, once that is. Until then the request is listed by its id, status and service, so that clients can follow
it, with the description, media and location left blank (`published`). What the public sends later, with a comment or a reopening, is
read by nobody before it would be shown: the updates feed names the step and never shows its words or media.
Whatever words are published (a description or title, a step's note) pass through `pii.scrub` first: ID, phone,
bank-card numbers and emails written into them are shown masked. Where a case is, once published, is told to the
building, never the household: its address scrubbed and cut after the building (`pii.public_address`: no unit,
room, nor what was written after them), its point rounded to about 100 m (`public_coordinate`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import BooleanField, ExpressionWrapper, Q, When
from django.db.models import Case as DbCase
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext

from civicgrid.apps.cases.models import FINAL_STATUSES, OPEN_STATUSES, Case, CaseStep, Source, Status
from civicgrid.apps.cases.services.follow import PUBLIC_LABELS, public_note
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.bilingual import halves, quotable
from civicgrid.foundation.core.pii import public_address, scrub

from . import conf
from .formats import Open311Error, parse_w3c
from .inputs import Params
from .models import ACCOUNT_CONTEXT, Open311Request, QueuedRequest, QueueState

log = logging.getLogger(__name__)
CASE_FIELDS = (
    "id", "number", "title", "description", "status", "reported_at", "updated_at", "deadline", "address", "lng",
    "lat", "category__id", "category__code", "category__name", "category__kind", "category__taxonomy__id",
    "category__taxonomy__code", "department__id", "department__name", "suggested_department__id",
    "suggested_department__name", "open311__id", "open311__address_id",
    "open311__media_urls", "accepted_at", "reviewed_at", "is_self_handled", "category__is_public",
    "category__in_public_feed", "category__back_in_feed_at",
    # a merged request answers with the state of the case that carries it now (`_carrier`), and one merged
    # before its own 立案 is published with it (`published`)
    "parent__id", "parent__number", "parent__status", "parent__updated_at", "parent__deadline",
    "parent__department__id", "parent__department__name", "parent__suggested_department__id",
    "parent__suggested_department__name", "parent__accepted_at", "parent__reviewed_at", "parent__is_self_handled",
    "parent__source", "parent__category__id", "parent__category__is_public", "parent__category__in_public_feed",
    "parent__category__back_in_feed_at",
)
CLOSED = {str(s) for s in FINAL_STATUSES}
OPEN = {str(s) for s in OPEN_STATUSES} | {str(Status.SUSPENDED)}
# Steps an Open311 update shows, and those whose note goes with it (what reporters are told; dispatch notes
# and internal hand-overs stay inside). Ratings are the reporter's own words: never shown.
# What the public wrote or sent with an update (a comment, a reopening's reason, their media) may carry personal
# details and no one checks it before it would be shown: like the follow page, the public feed names the step,
# not the words nor the media (a case's own description and media wait for a person's 立案 instead: `published`). 12345
# hotline cases are the hotline's to publish, not ours.
# A 返工 (on-site verification failed) is named as the follow page names it (`follow.PUBLIC_LABELS`:
# 核查未通过，重新处置), never with the reason the verifier wrote for staff: without it a client saw two 处置反馈
# back to back. The follow page's 上报 is the request itself here, and its 评价 stays out (see above).
# 挂账 and 恢复办理 are told to the reporters and shown on their follow page, so they are updates too (still
# open; the reason, written for staff, is not shown).
UPDATE_STEPS = ("accept", "refuse", "void", "merge", "dispatch", "report_back", "verify", "rework", "close",
                "self_handle", "reopen", "comment", "suspend", "unsuspend")
PRIVATE_SOURCES = (Source.HOTLINE,)
# A case ended for what it is (or what it says) keeps its words and media unpublished, even if it was accepted.
WITHDRAWN = {str(Status.REFUSED), str(Status.VOIDED)}


def open311_status(status: str) -> str:
    """The loop's state as GeoReport's two: `open` (still being dealt with, suspended included) or `closed`."""
    return "closed" if status in CLOSED else "open"


def public_cases_q(prefix: str = "") -> Q:
    """The cases GeoReport makes public (`prefix`, such as "case__", reaches them through a relation): of a
    category open to public reports and published to the feed (`is_public` and `in_public_feed`: 养老服务 or
    可疑人员 are reported by residents but never published), and not from a private channel. The feed, a
    request's page and the updates a client may post all ask here."""
    return (Q(**{f"{prefix}category__is_public": True, f"{prefix}category__in_public_feed": True})
            & ~Q(**{f"{prefix}source__in": PRIVATE_SOURCES}))


def published(case: Case) -> bool:
    """Whether the case's own words, media and place are public: once it is accepted (立案) and a person on the
    staff has taken it in hand (`Case.reviewed_at`: a human 立案, or after the router's automatic 立案 and 派遣 the
    first step a person takes, such as the department starting it), or when staff recorded it themselves as
    found and fixed on the spot (自行处置, never up for 立案); never once refused or voided. A system account's
    立案 alone publishes nothing: no one has read it.

    A report merged (合并) straight from 待受理, never accepted itself, was read by the person who merged it
    (`reviewed_at`, the merge being one of `REVIEW_ACTIONS`), who judged it the same matter as its carrier: it is
    published with its carrier, once that is published itself and in the feed (`in_feed`), and not before: its
    words and place say what the carrier's would, and the carrier may be in a category kept out of the feed, or
    refused or voided since."""
    if case.status in WITHDRAWN:
        return False
    if (case.accepted_at is not None and case.reviewed_at is not None) or case.is_self_handled:
        return True
    carrier = _carrier(case)
    return (carrier is not case and carrier.status != Status.MERGED and case.reviewed_at is not None
            and in_feed(carrier) and published(carrier))


def in_feed(case: Case) -> bool:
    """`public_cases_q` for one case in hand: its category published to the feed, not from a private channel."""
    category = case.category
    return (category is not None and category.is_public and category.in_public_feed
            and case.source not in PRIVATE_SOURCES)


def feed_return(case: Case):
    """When the case's category last came back into the feed (None if it never left): it became public again
    then, and with it what was done to it meanwhile (`Category.back_in_feed_at`)."""
    return case.category.back_in_feed_at if case.category_id else None


def _public_cases():
    return (Case.objects.filter(public_cases_q())
            .select_related("category__taxonomy", "department", "suggested_department", "open311",
                            "parent__department", "parent__suggested_department", "parent__category")
            .only(*CASE_FIELDS))


# a request merged into another, which answers with the state of that one (`_carrier`)
_MERGED_Q = Q(status=Status.MERGED, parent__isnull=False)


def _carrier(case: Case) -> Case:
    """The case that deals with the request's matter now: the case itself, or for one merged (合并) the case it
    joined. A merge moves the cases merged earlier on to the new parent too, so A merged into B and B into C
    has C as A's parent: A answers with C's state, as A's follow link shows C's progress."""
    if case.status == Status.MERGED and case.parent_id:
        return case.parent
    return case


def _shape(case: Case) -> dict:
    link = getattr(case, "open311", None)  # a reverse one-to-one without a row raises AttributeError
    shown = published(case)
    media = (link.media_urls or []) if link and shown else []
    now = _carrier(case)
    notes = str(Status(now.status).label) if now.status in Status.values else now.status
    if now is not case:
        notes = gettext("已并入 %(number)s 合并办理：%(status)s") % {"number": now.number, "status": notes}
    return {
        "service_request_id": case.number,
        "status": open311_status(now.status),
        "status_notes": notes,
        "service_name": case.category.name,
        "service_code": case.category.key,
        "description": scrub(case.description or case.title) if shown else "",
        "agency_responsible": _agency(now),
        "service_notice": "",
        "requested_datetime": case.reported_at,
        "updated_datetime": _updated(case, now),
        "expected_datetime": _expected(now),
        # Where it is follows the same rule as what it says (`published`): blank until a person's 立案, and for a case
        # refused or voided (a client such as FixMyStreet skips a request without lat/long, and takes it, put
        # where it is, once published). Then to the building and the block, never the household: the address
        # scrubbed and cut after the building (`pii.public_address`), the point coarsened (`public_coordinate`).
        "address": public_address(case.address) if shown else "",
        "address_id": (link.address_id if link else "") if shown else "",
        "zipcode": "",
        "lat": public_coordinate(case.lat) if shown else None,
        "long": public_coordinate(case.lng) if shown else None,
        "media_url": media[0] if media else "",
        # extension: the loop's own state (of the case that carries it), for clients that show more than open/closed
        "detailed_status": now.status,
    }


# Published points are rounded to 3 decimals (a grid of 0.001°: about 111 m north–south and 85 m east–west in
# Datong, so at most some 55 m from the true point), for every public case alike. Whether a report concerns a
# household is in what it says (供水供电供暖 "家中有老人", 噪声扰民, a pile of rubbish "张伟家门口"), not in its
# category: a rule by category would publish to the doorstep the homes its list forgot, and a public map needs
# the block a problem is in, not its door (staff pages, the API and exports keep the point exact; FixMyStreet
# puts the pin in the right block). The spec's lat/long stay numbers (WGS-84).
PUBLIC_DECIMALS = 3


def public_coordinate(value: float | None) -> float | None:
    """A coordinate as the public feed shows it: rounded to `PUBLIC_DECIMALS` (about 100 m)."""
    return None if value is None else round(float(value), PUBLIC_DECIMALS)


def _updated(case: Case, now: Case):
    """The request's updated_datetime: the later of its own and its carrier's last change, and of its category's
    and its carrier's return to the feed (`feed_return`): it became public again, or published, then."""
    times = [case.updated_at, now.updated_at, feed_return(case), feed_return(now)]
    return max(t for t in times if t is not None)


# Waiting for 派遣: no department has the case in hand and no handling deadline runs (it starts with the dispatch).
# A 重新办理 leaves the department that handled it attached until dispatch decides again; by then it is only
# what dispatch is proposed (`suggested_department`), as for a new case or one sent back (退回).
AWAITING_DISPATCH = frozenset({str(Status.REPORTED), str(Status.CHECKING), str(Status.ACCEPTED)})


def _agency(case: Case) -> str:
    """The department dealing with it; before dispatch (`AWAITING_DISPATCH`, after a reopening too), the one
    proposed to dispatch (routing's, or the one that handled it before), which dispatch may still change."""
    if case.department_id and case.status not in AWAITING_DISPATCH:
        return case.department.name
    return case.suggested_department.name if case.suggested_department_id else ""


def _expected(case: Case):
    """expected_datetime: the handling deadline (处置期限) of the round under way or last ended; none while the case
    waits for dispatch (the dispatch step's own time limit is not a time the request is expected to be
    fulfilled by), after a reopening too, whose round has not begun."""
    return None if case.status in AWAITING_DISPATCH else case.deadline


def request_detail(number: str) -> dict:
    """GET requests/{id}: one public service request (404 in the spec's format otherwise)."""
    number = str(number or "").strip()
    case = _public_cases().filter(number=number).first() if number.isdigit() and len(number) <= 20 else None
    if case is None:
        raise Open311Error(404, f"未找到服务请求「{quotable(number, 40)}」 / service_request_id not found: "
                                f"\"{quotable(number, 40)}\"")
    return _shape(case)


def _range(params: Params) -> tuple:
    """start_date/end_date (GeoReport v2): default the most recent `max_days`; at most that wide; end after start.

    A start_date alone asks for what came since then, so it runs to now, under the same widest range: a start
    further back is a 400 asking for an end_date, not a window ending before now that silently leaves out
    the newest requests (or is empty). An end_date alone takes the `max_days` before it.

    An end_date given as a date alone (`2026-05-14`) names that whole day: the search runs to its last moment, so
    `start_date=2026-05-14&end_date=2026-05-14` finds the day's requests instead of none (a date reads as the start
    of its day, which as the last datetime to include would leave the day out). The widest range is measured to
    the day's start, so a range of `max_days` named by dates keeps its last day."""
    start_raw, end_raw = params.get("start_date"), params.get("end_date")
    span = timedelta(days=conf.max_days())
    start = parse_w3c(start_raw, "start_date") if start_raw else None
    end = parse_w3c(end_raw, "end_date") if end_raw else None
    if start and end:
        if end < start:
            raise Open311Error(400, "end_date 早于 start_date / end_date is before start_date")
        if end - start > span:
            raise Open311Error(400, f"日期范围不能超过 {conf.max_days()} 天 / the date range may not span more than "
                                    f"{conf.max_days()} days")
    elif start:
        if timezone.now() - start > span:
            raise Open311Error(400, f"只给 start_date 时查询到当前为止，范围不能超过 {conf.max_days()} 天：请同时给出 "
                                    f"end_date / start_date alone searches up to now, which may not span more than "
                                    f"{conf.max_days()} days: add an end_date")
        end = start + span  # now or later
    elif end:
        start = end - span
    else:
        end = timezone.now()
        start = end - span
    if end_raw and _is_date_only(end_raw):
        end = timezone.localtime(end) + timedelta(days=1) - timedelta(microseconds=1)
    return start, end


def _is_date_only(raw: str) -> bool:
    """Whether a datetime parameter named a day without its time (`parse_w3c` read it as the day's start)."""
    return len(raw.strip()) == 10


def _service_code_q(raw: str) -> Q:
    q = Q(pk__in=[])
    for code in [c.strip() for c in raw.split(",") if c.strip()][:50]:
        parts = code.split(":", 2)
        if len(parts) == 3:
            q |= Q(category__taxonomy__code=parts[0], category__kind=parts[1], category__code=parts[2])
    return q


def requested_numbers(params: Params) -> list[str] | None:
    """The `service_request_id` filter (a comma list) of GET requests and GET servicerequestupdates: None when
    none is given; more than `max_results` ids is a 400; an id that cannot be a request's number (digits, at most
    20) finds nothing, as an unknown one does."""
    ids = params.get("service_request_id")
    if not ids:
        return None
    numbers = [n.strip() for n in ids.split(",") if n.strip()]
    if len(numbers) > conf.max_results():
        raise Open311Error(400, f"service_request_id 最多 {conf.max_results()} 个 / too many ids")
    return list(dict.fromkeys(n for n in numbers if n.isdigit() and len(n) <= 20))


def request_list(params: Params) -> list[dict]:
    """GET requests: by `service_request_id` (a comma list, which overrides every other filter), else by
    service_code (comma list), status (open/closed) and requested date range; newest first, at most
    `max_results`."""
    wanted = requested_numbers(params)
    if wanted is not None:
        found = {c.number: c for c in _public_cases().filter(number__in=wanted)}
        return [_shape(found[n]) for n in dict.fromkeys(wanted) if n in found]
    qs = _public_cases()
    if codes := params.get("service_code"):
        qs = qs.filter(_service_code_q(codes))
    if status := params.get("status"):
        wanted = {s.strip().lower() for s in status.split(",") if s.strip()}
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status 须为 open 或 closed / status must be open or closed")
        statuses = sorted(set().union(*(OPEN if s == "open" else CLOSED for s in wanted)))
        # a merged request answers with its carrier's status (`_carrier`): it is found by that status
        qs = qs.filter((Q(status__in=statuses) & ~_MERGED_Q) | (_MERGED_Q & Q(parent__status__in=statuses)))
    start, end = _range(params)
    # The range is the spec's requested_datetime, and also the request's updated_datetime: a client that asks
    # for the last hour (FixMyStreet's GetServiceRequests) takes a request only with its place (lat/long,
    # published at 立案) and only if its updated_datetime lies in the range it asked for, so a request
    # accepted later than its hour must be found again in the range in which it was accepted (and became
    # worth taking). Its updated_datetime, like `_shape`'s, is its carrier's when that is later. Those updated
    # are looked for among the requests made in the `max_days` before the range (updated_at has no index, by
    # design: the reported_at index bounds the scan; 立案 comes within hours of a report, not months).
    # A category put back into the feed makes its requests public again then (`_updated`): counted as an update.
    qs = qs.annotate(touched=Greatest(
        "updated_at",
        Coalesce(DbCase(When(_MERGED_Q, then="parent__updated_at")), "updated_at"),
        Coalesce("category__back_in_feed_at", "updated_at"),
        Coalesce(DbCase(When(_MERGED_Q, then="parent__category__back_in_feed_at")), "updated_at"),
    ))
    qs = qs.filter(Q(reported_at__gte=start) | Q(touched__gte=start, touched__lte=end),
                   reported_at__gte=start - timedelta(days=conf.max_days()), reported_at__lte=end)
    return [_shape(c) for c in qs.order_by("-reported_at", "-id")[: conf.max_results()]]


def token_detail(token: str) -> dict:
    """GET tokens/{token}: the service request a token stands for. A queued report not made yet is made now
    (`services.drain` for this token), so a client reading its token right after posting finds its id."""
    token = str(token or "").strip()
    if not (token.isalnum() and len(token) <= 32):
        raise Open311Error(404, "未找到该 token / token not found")
    link = Open311Request.objects.filter(token=token).select_related("case").only("token", "case__number").first()
    if link is not None:
        return {"service_request_id": link.case.number, "token": link.token}
    queued = QueuedRequest.objects.filter(token=token).only("state").first()
    if queued is None:
        raise Open311Error(404, "未找到该 token / token not found")
    if queued.state == QueueState.PENDING:
        from . import services

        try:
            services.drain(tokens=[token])
        except DatabaseError:  # the database busy for now: the token stays pending and the worker makes it
            log.warning("open311: could not make queued report %s on read", token, exc_info=True)
    queued = QueuedRequest.objects.filter(token=token).select_related("case").only(
        "token", "state", "error", "case__number").first()
    if queued.state in (QueueState.FAILED, QueueState.DROPPED):
        # The reason is itself "中文 / English": each half goes into its language's sentence.
        zh, en = halves(queued.error) or (queued.error, queued.error)
        if queued.state == QueueState.DROPPED:
            raise Open311Error(404, f"该上报未能立卷，已被放弃：{zh} / the report could not be made a service request "
                                    f"and was dismissed: {en}")
        raise Open311Error(404, f"该上报未能立卷：{zh} / the report could not be made a service request: {en}")
    return {"service_request_id": queued.case.number if queued.case_id else "", "token": queued.token}


def queued_answer(queued: QueuedRequest) -> dict:
    """The answer to a queued client's POST requests: the token, told the request is being made; a replay once
    it is made answers as a direct client's replay does (the id, and the notice of a received request); one of a
    report that could not be made (failed, or dismissed since) says so and why."""
    account = keys.decrypt(queued.account_id_enc, ACCOUNT_CONTEXT)
    if queued.state == QueueState.MADE and queued.case_id:
        return {"service_request_id": queued.case.number, "service_notice": received_notice(queued.case.category),
                "account_id": account, "token": queued.token}
    if queued.state in (QueueState.FAILED, QueueState.DROPPED):  # a resend is not told it is still being made
        zh, en = halves(queued.error) or (queued.error, queued.error)
        notice = (f"未能立卷，已被放弃：{zh} / the report could not be made a service request and was dismissed: {en}"
                  if queued.state == QueueState.DROPPED else
                  f"暂未能立卷：{zh}；管理员处理后凭 token 查询编号 / not made a service request yet: {en}; ask by "
                  f"token once an administrator has dealt with it")
        return {"token": queued.token, "service_notice": notice, "account_id": account}
    return {"token": queued.token,
            "service_notice": "已受理，正在立卷；凭 token 查询编号 / accepted: the service request is being made",
            "account_id": account}


def received_notice(category) -> str:
    """What a new request is told (`service_notice`), the same in both halves: the service it was filed under and
    its time limit, the English with the service's English name where it has one and the limit in English."""
    with translation.override("zh-hans"):
        zh = f"已收到，按「{quotable(category.name, 100)}」处置时限 {category.time_limit_text} 办理"
    with translation.override("en"):
        name = quotable(category.display_name, 100)
        en = f"received: to be handled within {category.time_limit_text} (\"{name}\")"
    return f"{zh} / {en}"


def _update_description(step: CaseStep) -> str:
    label = PUBLIC_LABELS.get(step.action, step.action)  # the follow page's names (a 返工 as the public reads it)
    if step.action == "dispatch" and step.department_id:
        return f"{label}：{step.department.name}"
    note = public_note(step)  # 不予受理, 作废: the reporters' note only, never the internal reason
    if note:
        return f"{label}：{note}"
    return label


def _update_status(step: CaseStep) -> str:
    """The step's status as GeoReport's two. A 合并 leaves the matter open in the case that carries it now (only
    a case still open or on hold takes a merge), as the merged request's `GET requests/{id}` says: not closed."""
    if step.action == "merge":
        return "open"
    return open311_status(step.to_status or step.from_status or step.case.status)


def update_list(params: Params) -> list[dict]:
    """GET servicerequestupdates: the public steps of public cases in the date range (oldest first, at most
    `max_results`), as FixMyStreet reads them: update_id, service_request_id, status, updated_datetime,
    description (the step's name, and the notes of `NOTE_STEPS`), media_url (blank: only the public send media
    with an update).

    A request merged (合并) into another hears what the case carrying it does from then on: each step of that
    case taken after the request reached it is repeated under the request's own id (`_merged_repeats`), as its
    reporter's follow page shows them, with an update_id of its own (`{step}-{request}`), so that a client that
    only knows the merged request (FixMyStreet, for the report it sent) sees it dispatched, handled and closed.

    An update is listed at the time it became public (`_public_at`): its step's time, as a step of a published
    request is public from the moment it is taken (and a carrier's step reaches a merged request only if taken
    after the merge); but a step taken while the request's category was out of the feed became public when the
    category came back (`Category.back_in_feed_at`), and is dated then, so that a client fetching consecutive
    windows finds it in the window in which it appeared, not in one it read before (the same for a repeat, by
    the merged request's own category).

    With `service_request_id` (one or a comma list, as GET requests takes it: `requested_numbers`), only the
    updates of those requests (a merged one's repeats included), in the same date range."""
    start, end = _range(params)
    wanted = requested_numbers(params)
    fields = ("id", "action", "from_status", "to_status", "note", "at", "case__id", "case__number", "case__status",
              "case__category__id", "case__category__left_feed_at", "case__category__back_in_feed_at",
              "department__name")
    public = (CaseStep.objects.filter(public_cases_q("case__"), action__in=UPDATE_STEPS)
              .select_related("case__category", "department").only(*fields))
    if wanted is not None:
        public = public.filter(case_id__in=_heard_cases(wanted))
    steps = {s.pk: s for s in public.filter(at__gte=start, at__lte=end).order_by("at", "id")[: conf.max_results()]}
    steps.update((s.pk, s) for s in _returned_steps(public, start, end))
    repeats, categories = _merged_repeats(list(steps.values()))
    items = []
    for step in steps.values():
        for number in [step.case.number, *repeats.get(step.pk, ())]:
            if wanted is not None and number not in wanted:
                continue
            own = number == step.case.number
            at = _public_at(step.at, step.case.category, None if own else categories.get(number))
            if not start <= at <= end:
                continue  # public later (in the window of its category's return) or earlier
            items.append(((at, step.pk, not own), {
                "update_id": str(step.pk) if own else f"{step.pk}-{number}",
                "service_request_id": number,
                "status": _update_status(step),
                "updated_datetime": at,
                "description": _update_description(step),
                "media_url": "",  # what the public sent with an update is not shown (see UPDATE_STEPS)
            }))
    # a repeat follows the step it repeats: the first `max_results` of the whole list come from these steps
    return [item for _key, item in sorted(items, key=lambda pair: pair[0])][: conf.max_results()]


def _heard_cases(numbers: list[str]) -> set[int]:
    """The cases whose steps the public requests `numbers` may hear (`update_list` filtered by them): each request
    itself, and for one merged the case carrying it and the cases merged into that one (its chain may pass through
    them, `_merged_repeats`); which of their steps it hears is decided there."""
    rows = list(Case.objects.filter(public_cases_q(), number__in=numbers).values_list("pk", "status", "parent_id"))
    heard = {pk for pk, _status, _parent in rows}
    carriers = {parent for _pk, status, parent in rows if status == Status.MERGED and parent}
    if carriers:
        heard |= carriers | set(Case.objects.filter(parent_id__in=carriers).values_list("pk", flat=True))
    return heard


def _public_at(at, *categories):
    """When a step taken at `at` became public: then, unless a category it is published under (the request's,
    and for a repeat the merged request's) was out of the feed at that moment; then when it came back."""
    for category in categories:
        if category is None or category.back_in_feed_at is None:
            continue
        left, back = category.left_feed_at, category.back_in_feed_at
        if at < back and (left is None or at >= left):
            at = back
    return at


def _returned_steps(public, start, end) -> list[CaseStep]:
    """The public steps dated in the range by their category's return (`_public_at`): taken while the category
    of their request, or of a request merged into their case, was out of the feed that came back in the range.
    None in nearly every range: the categories are looked up first (a small table)."""
    returned = list(Category.objects.filter(back_in_feed_at__gte=start, back_in_feed_at__lte=end, is_public=True,
                                            in_public_feed=True).only("id", "left_feed_at", "back_in_feed_at"))
    found: list[CaseStep] = []
    for category in returned:
        during = Q(at__lt=category.back_in_feed_at)
        if category.left_feed_at is not None:
            during &= Q(at__gte=category.left_feed_at)
        # the case that carries a merged request of the category, and the cases merged into it on the way
        carriers = set(Case.objects.filter(public_cases_q(), category=category, status=Status.MERGED,
                                           parent__isnull=False).values_list("parent_id", flat=True))
        via = set(Case.objects.filter(parent_id__in=carriers).values_list("pk", flat=True)) if carriers else set()
        found += public.filter(during, Q(case__category=category) | Q(case_id__in=carriers | via)).order_by(
            "at", "id")[: conf.max_results()]
    return found


def _merged_repeats(steps: list[CaseStep]) -> tuple[dict[int, list[str]], dict[str, Category]]:
    """For each step (by id), the public requests merged into its case that hear it: those that had reached
    the case when the step was taken and had not moved on (merged with it into another) by then.

    A merge moves the requests merged earlier straight on to the new carrier, so every request whose chain of
    merges passes through a case now has that chain's last case as its `parent`; the chains are read from the
    合并 steps, which name the case joined (as `follow.merge_chain` does, here for all of them in two queries).
    With them, the category of each merged request that hears a step (by number), for `_public_at`."""
    if not steps:
        return {}, {}
    carriers = {s.case.pk: s.case for s in steps}
    # the case that carries each stepping case now: itself, or (merged since) its parent
    finals = dict(Case.objects.filter(pk__in=carriers, status=Status.MERGED, parent__isnull=False)
                  .values_list("pk", "parent_id"))
    final_of = {pk: finals.get(pk, pk) for pk in carriers}
    # every case merged into those, public or not (a chain may pass through a case that is not published)
    merged = list(Case.objects.filter(parent_id__in=set(final_of.values()), status=Status.MERGED)
                  .annotate(public=ExpressionWrapper(public_cases_q(), output_field=BooleanField()))
                  .values("id", "number", "parent_id", "ended_at", "public", "category_id").order_by("id"))
    if not any(m["public"] for m in merged):
        return {}, {}
    ids_by_number = {m["number"]: m["id"] for m in merged}
    for pk, number in Case.objects.filter(pk__in=set(final_of.values())).values_list("pk", "number"):
        ids_by_number[number] = pk
    # each merged case's 合并: (when, the case it joined); without one naming a known case, its parent
    joined: dict[int, tuple] = {m["id"]: (m["ended_at"], m["parent_id"]) for m in merged if m["ended_at"]}
    for case_id, at, data in (CaseStep.objects.filter(case_id__in=[m["id"] for m in merged], action="merge")
                              .order_by("at", "id").values_list("case_id", "at", "data")):
        number = (data or {}).get("parent") if isinstance(data, dict) else None
        if number in ids_by_number:
            joined[case_id] = (at, ids_by_number[number])
    # for each case a request passed through after itself: (case, reached at, left at or None)
    spans: dict[int, list[tuple]] = {}
    for request in (m for m in merged if m["public"]):
        here, seen, hops = request["id"], {request["id"]}, []
        while here in joined and len(hops) < 20:
            at, nxt = joined[here]
            if hops:
                hops[-1] = (hops[-1][0], hops[-1][1], at)  # left the previous carrier for the next one
            if nxt in seen:
                break
            hops.append((nxt, at, None))
            seen.add(nxt)
            here = nxt
        for case_id, reached, left in hops:
            spans.setdefault(case_id, []).append((request["number"], reached, left))
    out: dict[int, list[str]] = {}
    for step in steps:
        numbers = [number for number, reached, left in spans.get(step.case.pk, ())
                   if step.at > reached and (left is None or step.at <= left)]
        if numbers:
            out[step.pk] = numbers
    heard = {n for numbers in out.values() for n in numbers}
    category_of = {m["number"]: m["category_id"] for m in merged if m["number"] in heard}
    categories = Category.objects.only("id", "left_feed_at", "back_in_feed_at").in_bulk(set(category_of.values()))
    return out, {number: categories.get(pk) for number, pk in category_of.items()}

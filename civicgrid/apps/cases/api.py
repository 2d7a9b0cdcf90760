"""Cases API: report, list, detail with timeline and buttons, actions, photos, duplicates, and the public
follow link (status, rating, reopen). Handlers parse, call a service or selector, and shape the answer."""

from __future__ import annotations

from ninja import File, Form, Header, Query, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import get_visible_or_404
from civicgrid.foundation.core.api_errors import errors, refuse_unknown_query
from civicgrid.foundation.core.api_throttle import SharedThrottle
from civicgrid.foundation.core.downloads import JPEG_TYPE, inline_response
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.core.pagination import MAX_LIMIT, MAX_OFFSET, page

from . import conf, duplicates, selectors, services
from . import photos as photo_mod
from .models import Attachment, Case
from .models import Status as CaseStatus
from .schemas import (
    ActionIn,
    ActionName,
    ActionPhotoIn,
    CaseDetailOut,
    CaseFilterIn,
    CaseIn,
    CaseListOut,
    CaseTextOut,
    ContactOut,
    DuplicateListOut,
    FollowOut,
    PhotoIn,
    RatingIn,
    ReopenIn,
    ReportAnswer,
    ReportReceiptOut,
    WorkOut,
)
from .services.common import MissingInput
from .services.intake import default_source

router = Router(tags=["cases"])
PREFIX = "/"
# Public links are bearer secrets in a URL; throttling keeps guessing pointless (per address).
# The follow link's API takes from the follow page's bucket per address (one door, the site's one limiter: every
# process alike).
FOLLOW_THROTTLE = SharedThrottle("follow", "CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE", "CIVICGRID_FOLLOW_ADDRESS_BURST")
PUBLIC_THROTTLE = [FOLLOW_THROTTLE]


def _number(number: str) -> str:
    if not (number.isdigit() and len(number) == 13):
        raise NotFound(services.common.NOT_FOUND)
    return number


def _file_number(request, number: str) -> str:
    """The number of a case file asked for: 403 first for a user who reads no case files (whatever the number,
    so no answer tells numbers apart), then 404 for a malformed one."""
    selectors.require_case_files(request.user)
    return _number(number)


def _photos(items: list[PhotoIn] | list[ActionPhotoIn]) -> list:
    """The photos of a body, decoded: with their kind, or bare (an action's photo without one takes the action's)."""
    if len(items) > conf.max_photos_per_request():
        raise ValidationFailed(f"一次最多上传 {conf.max_photos_per_request()} 张照片 / too many photos", field="photos")
    decoded = [(p.kind, photo_mod.decode_base64(p.content_base64)) for p in items]
    return [(kind, data) if kind else data for kind, data in decoded]


# 核查 requires a photo sent with the action, as the case page's form sends its files with it. A client that
# uploaded one first through `POST /photos` (a 补充照片 step of its own, which counts for no action) is told where
# the photo goes.
PHOTOS_WITH_ACTION = ("请在本请求体的 photos 中随操作提交照片（base64），经 POST /cases/{number}/photos 补充的照片不计入",
                      "send the photos with the action, in this request body's `photos` (base64); photos added "
                      "through POST /cases/{number}/photos do not count")


def _detail(case: Case, user, *, after_action: bool = False, **extra) -> Case:
    """The detail answer: the case with its timeline, the user's buttons and clocks (and, for the account that
    reported it, the follow token for the link/QR)."""
    fresh = selectors.case_after_action(user, case) if after_action else case
    fresh.allowed_actions = selectors.allowed_actions(fresh, user)
    fresh.clocks = selectors.clocks(fresh)
    token = getattr(case, "follow_token", None)
    if token is None and fresh.reporter_id and fresh.reporter_id == user.pk:
        row = fresh.reporters.filter(original_case=fresh).order_by("pk").first()
        token = row.follow_token if row else None
    fresh.follow_token = token
    for name, value in extra.items():
        setattr(fresh, name, value)
    return fresh


@router.post("/cases", response={200: ReportAnswer, 201: ReportAnswer, **errors(400, 401, 403, 409, 422, 429)},
             url_name="case_create")
def create_case(request, payload: CaseIn, idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """上报 a case (JSON; photos as base64). A retry with the same `Idempotency-Key` returns the same case (200).
    Staff get the case file; a reporter who does not read case files (a resident) gets a receipt with the
    follow token (`GET /follow/{token}` shows the public steps). Residents' and volunteers' reports are rate
    limited per account and per address: 429 with `Retry-After`."""
    data = payload.dict()
    source = data.pop("source") or default_source(request.user, self_handled=bool(data.get("self_handled")))
    case, created = services.submit_case(
        actor=request.user, source=source, photos=_photos(payload.photos),
        idempotency_key=idempotency_key or data.pop("idempotency_key"),
        **{k: v for k, v in data.items() if k not in ("photos", "idempotency_key")},
    )
    status = 201 if created else 200
    if not selectors.may_read_case_files(request.user):
        return Status(status, _receipt(case, created))
    return Status(status, _detail(case, request.user, after_action=True, created=created))


def _receipt(case: Case, created: bool) -> ReportReceiptOut:
    token = getattr(case, "follow_token", None)
    if token is None:
        row = case.reporters.filter(original_case=case).order_by("pk").first()
        token = row.follow_token if row else None
    return ReportReceiptOut(
        created=created, number=case.number, title=case.title, status=case.status,
        status_label=str(CaseStatus(case.status).label), source=case.source,
        category={"id": case.category_id, "name": case.category.name} if case.category_id else None,
        grid_name=case.grid.name if case.grid_id else "", reported_at=case.reported_at, follow_token=token or None)


@router.get("/cases", response={200: CaseListOut, **errors(400, 401, 403, 422)}, url_name="case_list")
def list_cases(request, filters: Query[CaseFilterIn]):
    """Cases in your scope; filters: status (repeated or a comma list: any of them; `open`: every case not yet
    ended, 挂账 included; `active`: those without 挂账, the board's 在办), category, region,
    department, overdue, due_soon (即将超期: a step past its warning time, not yet overdue), supervised (督办中: under
    supervision now, the 督办中的案件 lane's cases; a case whose loop ended is not), is_major (重大事件), date_from/date_to (reported), q (number, 12345 ticket number or title: where you may not read a
    title's phone and ID numbers and names in clear, the title as you read it, masked), work (a step waiting for
    you: intake, check, dispatch, handle, verify, close, extension, major). Pages: `limit` and `offset`, or `cursor` — the `next_cursor`
    of the page before (null on the last page) — which reads a deep page as fast as the first and neither
    repeats nor skips a case when new ones arrive meanwhile (`offset` is then ignored); send it with the same
    filters (a cursor from other filters is a 400). An unknown parameter or an out-of-range limit/offset is a
    422 naming it."""
    refuse_unknown_query(request, CaseFilterIn)
    f = selectors.CaseFilter(**filters.dict(exclude={"limit", "offset", "cursor"}))
    # A row shows the grid's name only: its boundary (a large JSON column) stays in the database.
    rows = selectors.CaseListing(request.user, f, shape=lambda qs: qs.defer("grid__geometry"))
    if filters.cursor:
        found = rows.cursor_page(max(1, min(filters.limit, MAX_LIMIT)), after=selectors.api_position(filters.cursor, f))
        items, total, next_cursor = found.rows, rows.count(), found.next_cursor
    else:
        items, total = page(rows, limit=filters.limit, offset=filters.offset)
        more = bool(items) and min(max(0, filters.offset), MAX_OFFSET) + len(items) < total
        next_cursor = selectors.cursor_of(items[-1]) if more else None
    return {"items": items, "count": len(items), "total": total, "next_cursor": selectors.api_cursor(next_cursor, f)}


@router.get("/cases/work", response={200: WorkOut, **errors(401, 422)}, url_name="case_work")
def my_work(request):
    """我的待办: for each step of the loop you take (受理 intake, 核实 check, 派遣 dispatch, 处置 handle, 核查
    verify, 结案 close, 延期审批 extension; for leaders, 督办中的案件 supervised and 办理中的重大事件 major), how many cases in your scope wait for it (counted up to 999; `more`
    beyond). List them with `GET /cases?work=<key>`."""
    return {"lanes": [{k: lane[k] for k in ("key", "label", "count", "more")} for lane in selectors.my_work(request.user)]}


@router.get("/cases/{number}", response={200: CaseDetailOut, **errors(401, 403, 404, 422)}, url_name="case_detail")
def get_case(request, number: str):
    """One case with its timeline, photos, clocks and the actions you may take now (404 outside your scope)."""
    case = selectors.case_detail(request.user, _file_number(request, number))
    return _detail(case, request.user)


@router.post("/cases/{number}/actions/{action}", response={200: CaseDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="case_action")
def take_action(request, number: str, action: ActionName, payload: ActionIn | None = None,
                idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """Take one action of the loop (inputs as JSON; photos with it, base64 in `photos`, recorded on its step as
    the case page's form records its files: 核查 `verify` requires one): 404 outside scope; 403 for a role that never takes the
    action (whatever the state); 409 for a role that may, but not in the case's state; 403 where the case is
    not the user's to act on (another department's); 422 `missing` for an input the action's `requires` names
    (in the case's `allowed_actions`; 立案 of a case without a category requires `category`). A retry with the same `Idempotency-Key` answers with the case as it is
    now, without taking the action again (the key used for another case or action: 409), also when the first
    sending moved the case out of your scope (退回); the same key with another body (other inputs, or other photos:
    sent again without its photos it is the same request) is refused (409) and its content not taken. With
    `expected_step` (the case's `last_step` as you read it), an action on a case that has had a step since is
    refused (409, naming that step) and nothing changes. Text holding a NUL character is refused (400)."""
    body = request.body.strip()
    if body and body != b"null" and not body.startswith(b"{"):
        raise ValidationFailed("请求体须为 JSON 对象，如 {\"note\": \"…\"} / the body must be a JSON object", field="body")
    inputs = (payload or ActionIn()).dict()
    expected_step = inputs.pop("expected_step", None)
    photos = _photos(payload.photos if payload else [])
    # Unset inputs are dropped (an empty string, an unticked flag); a zero is a value (hours=0 is refused as
    # out of range, not reported missing).
    inputs = {k: v for k, v in inputs.items() if k != "photos" and v is not None and v != "" and v is not False}
    try:
        case = selectors.case_in_scope(request.user, _file_number(request, number))
    except NotFound:
        done = services.replayed_case(actor=request.user, number=number, action=action,
                                      idempotency_key=idempotency_key, inputs=inputs, photos=photos)
        if done is None:
            raise
        return _detail(done, request.user, after_action=True)
    try:
        case = services.act(actor=request.user, case=case, action=action[:32], photos=photos,
                            idempotency_key=idempotency_key, expected_step=expected_step, **inputs)
    except MissingInput as exc:
        if exc.field != "photos":
            raise
        zh, _, en = exc.message.partition(" / ")
        raise MissingInput(f"{zh}；{PHOTOS_WITH_ACTION[0]} / {en or zh}; {PHOTOS_WITH_ACTION[1]}",
                           field="photos") from None
    return _detail(case, request.user, after_action=True)


@router.post("/cases/{number}/photos", response={201: CaseDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="case_photos")
def upload_photos(request, number: str, photos: File[list[UploadedFile]], kind: Form[str] = "photo",
                  note: Form[str] = ""):
    """补充照片: add photos (multipart field `photos`, JPEG/PNG/WebP by content, each within the size limit), a
    timeline step of their own. They count for no action: an action's photos (核查's) are sent with the action."""
    case = selectors.case_in_scope(request.user, _file_number(request, number))
    services.add_photos(actor=request.user, case=case, photos=[(kind, f) for f in photos], kind=kind, note=note)
    return Status(201, _detail(case, request.user, after_action=True))


@router.post("/cases/{number}/contact", response={200: ContactOut, **errors(401, 403, 404, 422)},
             url_name="case_contact")
def reveal_contact(request, number: str):
    """回访: the reporter's name, phone and email in clear, for intake staff over the case's region (403
    otherwise); every request is recorded in the audit trail, refused or not."""
    case = get_visible_or_404(Case, request.user, number=_number(number))
    return services.reveal_contact(actor=request.user, case=case)


@router.post("/cases/{number}/text", response={200: CaseTextOut, **errors(401, 403, 404, 422)}, url_name="case_text")
def reveal_text(request, number: str):
    """The title, description and address as the reporter typed them, and the notes of the timeline that the
    detail masks as they were written (`notes`, each with its step's `id`): phone and ID numbers and names in
    clear (lists and the case detail mask them), for those who may read the reporter's contact (403 otherwise);
    every request is recorded in the audit trail, refused or not."""
    case = get_visible_or_404(Case, request.user, number=_number(number))
    return services.reveal_text(actor=request.user, case=case)


@router.get("/cases/{number}/attachments/{attachment_id}", response={200: None, **errors(401, 403, 404, 422)},
            url_name="case_attachment")
def get_attachment(request, number: str, attachment_id: int):
    """A photo of a case in your scope, served with safe headers (never from the web root)."""
    case = selectors.case_in_scope(request.user, _file_number(request, number))
    attachment = Attachment.objects.filter(case=case, pk=attachment_id).first() if 0 < attachment_id < 2**63 else None
    if attachment is None:
        raise NotFound("未找到该附件 / attachment not found")
    try:
        handle = photo_mod.open_attachment(attachment)
    except FileNotFoundError:
        raise NotFound("附件文件缺失 / attachment file missing") from None
    return inline_response(handle, f"{case.number}-{attachment.pk}.jpg", JPEG_TYPE)


@router.get("/cases/{number}/duplicates", response={200: DuplicateListOut, **errors(401, 403, 404, 422)},
            url_name="case_duplicates")
def get_duplicates(request, number: str):
    """Cases near this one that it could be merged into (open or 挂账, however old), then those closed within
    `hours` of its report (`joinable` false: reopen one to merge into it): of the same category (a component and
    its matter count as one), or of a related one whose text is alike; best first."""
    case = selectors.case_in_scope(request.user, _file_number(request, number), Case.objects.select_related("category"))
    found = duplicates.candidates(case, queryset=Case.objects.visible_to(request.user))
    items = [{"id": c.case.pk, "number": c.case.number, "title": c.case.title_for_staff, "status": c.case.status,
              "status_label": c.case.get_status_display(), "category": c.case.category.name if c.case.category_id else "",
              "reported_at": c.case.reported_at, "distance_m": c.distance_m, "text_score": c.text_score,
              "joinable": c.joinable, "closed_at": c.case.closed_at if not c.joinable else None}
             for c in found]
    return {"items": items, "count": len(items), "total": len(items), "radius_m": conf.duplicate_radius_m(),
            "hours": conf.duplicate_hours()}


@router.get("/follow/{token}", response={200: FollowOut, **errors(404, 422, 429)}, auth=None, throttle=PUBLIC_THROTTLE,
            url_name="follow_status")
def follow(request, token: str):
    """The public status of a reported case by its link/QR token (no personal data)."""
    return services.follow_status(token, viewer=request.user)


@router.post("/follow/{token}/rating", response={200: FollowOut, **errors(400, 404, 409, 422, 429)}, auth=None,
             throttle=PUBLIC_THROTTLE,
             url_name="follow_rating")
def follow_rating(request, token: str, payload: RatingIn,
                  idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """满意度 1–5, once, after the case is closed (a retry with the same `Idempotency-Key` answers as the first)."""
    services.rate(follow_token=token, score=payload.score, comment=payload.comment, actor=request.user,
                  idempotency_key=idempotency_key)
    return services.follow_status(token, viewer=request.user)


@router.post("/follow/{token}/reopen", response={200: FollowOut, **errors(400, 404, 409, 422, 429)}, auth=None,
             throttle=PUBLIC_THROTTLE,
             url_name="follow_reopen")
def follow_reopen(request, token: str, payload: ReopenIn,
                  idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """重新办理 within the configured days after closing (`reopen_until`); staff signed in are refused (409). A
    retry with the same `Idempotency-Key` answers as the first."""
    services.reopen_by_token(follow_token=token, reason=payload.reason, actor=request.user,
                             idempotency_key=idempotency_key)
    return services.follow_status(token, viewer=request.user)


data_endpoint("api:case_list", "cases.Case", "list")
data_endpoint("api:case_detail", "cases.Case", "detail", lookup="number", lookup_field="number")
data_endpoint("api:case_duplicates", "cases.Case", "list", lookup="number", lookup_field="number")
data_endpoint("api:case_contact", "cases.Case", "reveal", lookup="number", lookup_field="number")
data_endpoint("api:case_text", "cases.Case", "reveal", lookup="number", lookup_field="number")
# Writes: scope is enforced by the services (404 outside scope), tested in the app's API tests.
non_data_endpoint("api:case_create", "api:case_action", "api:case_photos")
# Counts per step within the caller's own scope (the lanes' scoped reads are tested in test_work_lanes).
non_data_endpoint("api:case_work")
# Two URL kwargs (case and attachment): the contract's generic walker addresses objects by one lookup, so this
# binary endpoint is covered by the app's own scope tests (404 outside scope, headers).
non_data_endpoint("api:case_attachment")
# Token links for reporters without accounts: they carry no personal data and need no sign-in by design.
non_data_endpoint("api:follow_status", "api:follow_rating", "api:follow_reopen")

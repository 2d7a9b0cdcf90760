"""Input and output shapes of the cases API (explicit fields: nothing leaves by accident)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from ninja import Schema
from pydantic import Field, WithJsonSchema, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from civicgrid.foundation.core.api_json import Id, StrictIn, documented_enum
from civicgrid.foundation.core.localtimes import district_times
from civicgrid.foundation.core.pagination import Limit, Offset
from civicgrid.foundation.core.pii import mask_name
from civicgrid.foundation.regions.crs import SUPPORTED_CRS
from civicgrid.foundation.sla import clock as sla_clock

from .clocks import KINDS as CLOCK_KINDS
from .media import ExternalMedia, external_media, linkable
from .models import Case, CaseStep, Source, Status
from .services.follow import RATING_MISSING
from .workflow import CASE_WORKFLOW

_enum = documented_enum
StatusName = _enum(Status.values, "a case status")
SourceName = _enum(Source.values, "where the report came from")
ClockKind = _enum(CLOCK_KINDS, "the step the clock times")
ClockState = _enum(sla_clock.STATES, "running, paused or stopped")
CheckResult = _enum(("confirmed", "unconfirmed"), "check_result: 属实 confirmed / 不属实 unconfirmed")
Decision = _enum(("approve", "reject"), "decide_extension: approve or reject")


class PhotoIn(StrictIn):
    kind: _enum(("photo", "before", "after", "progress", "verify"), "what the photo shows") = "photo"
    content_base64: str  # the image, base64 (a data: URL is accepted too)


class ActionPhotoIn(StrictIn):
    """A photo sent with an action, as the case page's form sends its files with the action: recorded on the
    action's step, of the action's kind."""

    kind: _enum(("photo", "before", "after", "progress", "verify"), "the action's own kind, the default (empty): "
                "verify and check_result take verify, report_back after, progress progress, any other photo; "
                "another kind is a 400", blank=True) = ""
    content_base64: str  # the image, base64 (a data: URL is accepted too)


class CaseIn(StrictIn):
    title: str
    description: str = ""
    lng: float | None = None
    lat: float | None = None
    crs: _enum(SUPPORTED_CRS, "the coordinates' system") = "wgs84"
    category: Id | None = Field(None, description="the category (a subclass); required for a self-handled report")
    source: SourceName | None = Field(None, description="default: self_handled for a self-handled report, public "
                                      "for residents and volunteers, grid_worker for staff. A self-handled report "
                                      "is stored as self_handled (grid_worker is taken for it); another source with "
                                      "`self_handled` is a 400 on `source`")
    address: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""
    hotline_ticket: str = Field("", description="the 12345 ticket number: required with source `hotline`, refused "
                                "with any other; stored canonical (capitals, runs of spaces and separators one `-`, "
                                "full width as ASCII) and then letters and digits in `-`-joined parts, 4 to 40 "
                                "characters with a digit, e.g. `12345-20261130-0001`")
    caller_name: str = ""
    callback_phone: str = ""
    idempotency_key: str | None = None  # or the Idempotency-Key header
    self_handled: bool = False
    is_major: bool = False
    photos: list[PhotoIn] = Field([], description="the report's photos, in this request; a self-handled report "
                                  "(自行处置, `self_handled`) needs one of kind `after` (the work done; `before`: the "
                                  "problem found)")


# The loop's actions, read from the workflow's table: documented as an enum; any other name is a 400 from
# the service, as before.
ActionName = Annotated[str, WithJsonSchema({"type": "string", "enum": [t.name for t in CASE_WORKFLOW.transitions],
                                            "description": "an action of the case workflow"})]


class ActionIn(StrictIn):
    note: str = Field("", description="the step's note. Of 处置反馈 (report_back) and 结案 (close) it is shown to the "
                      "reporters (follow page, Open311 updates) with phone and ID numbers masked; names are not")
    reason: str = Field("", description="the reason (refuse, void, send_back, rework, suspend, request_extension, "
                        "reopen). Of 不予受理 (refuse) and 作废 (void) it is the internal reason: staff only, never "
                        "told to the reporters (see public_note). Of 合并 (merge): required when the parent is not "
                        "among the case's possible duplicates (`GET /cases/{number}/duplicates`: another category, "
                        "or beyond the duplicate radius; 422 `missing` names why), kept on the timeline and in the "
                        "audit trail; a parent beyond the merge distance limit is refused (400) whatever the reason")
    public_note: str = Field("", description="refuse and void only: what the reporters are told "
                             "(text message, follow page, Open311 updates), at most 200 characters, phone and ID "
                             "numbers masked; names are not, so write none. Empty: a neutral default (经核实，不予受理。"
                             " / 经核实，该反映已作废。)")
    result: CheckResult = ""  # check_result: confirmed | unconfirmed
    decision: Decision = ""  # decide_extension: approve | reject
    department: Id | None = None  # dispatch, redirect (改派: another department than the case's)
    category: Id | None = None  # accept: set or correct the category
    parent: str | None = None  # merge: the parent case's number (see `reason`)
    # request_extension: the hours asked for; decide_extension: the hours approved (≤ those asked for; all of
    # them when not given; ignored on a rejection). decide_extension's `note` is the approver's opinion (审批意见),
    # required to reject.
    hours: float | None = None
    correct_rule: bool = False  # send_back: propose a routing correction; dispatch, redirect: correct the rule now
    rule_region: str | None = None  # dispatch/redirect with correct_rule: the region the rule covers (default: street)
    proposed_department: Id | None = None  # send_back with correct_rule
    photos: list[ActionPhotoIn] = Field([], description="photos taken with this action, in this request (核查 verify "
                                        "requires one). Photos added before through `POST /cases/{number}/photos` "
                                        "are a 补充照片 step of their own and count for no action")
    expected_step: int | None = Field(None, description="optimistic concurrency (optional): the case's `last_step` "
                                      "as you read it. When the case has had a step since (someone else moved it "
                                      "on), the action is refused with 409 naming that step, and nothing changes; "
                                      "read the case again and decide anew. Not sent: not checked")


RATING_RANGE = "评分须为 1–5 / score must be 1 to 5"  # the follow page's and the service's words (`follow.rate`)


class RatingIn(StrictIn):
    # A whole number 1–5, in the document (minimum/maximum) as the service checks it; strict: "5", 5.0 or true
    # are refused (422) rather than read as a score.
    score: int = Field(strict=True, ge=1, le=5, description="满意度 1–5 (1 最不满意, 5 最满意)")
    comment: str = ""

    @model_validator(mode="before")
    @classmethod
    def _absent_score_is_none(cls, data):
        # An absent score reaches the score's own validator as null (pydantic's "field required" would skip it),
        # and the document still lists it as required.
        if isinstance(data, dict) and "score" not in data:
            return {**data, "score": None}
        return data

    @field_validator("score", mode="wrap")
    @classmethod
    def _score_in_range(cls, value, handler):
        # No score (absent or null) and out of range keep the words the follow page and the service say (a 422
        # naming `score`).
        if value is None:
            raise ValueError(RATING_MISSING)
        try:
            return handler(value)
        except PydanticValidationError as exc:
            if any(e["type"] in ("greater_than_equal", "less_than_equal") for e in exc.errors()):
                raise ValueError(RATING_RANGE) from None
            raise


class ReopenIn(StrictIn):
    reason: str


# A status, or a group of them (`selectors.STATUS_GROUPS`).
STATUS_VALUES = [*Status.values, "open", "active"]


class CaseFilterIn(Schema):
    """The list's query: an unknown parameter (`sort`, `ordering`, a misspelt filter) is a 422 naming it
    (`api_errors.refuse_unknown_query`)."""

    # Repeated (`status=closed&status=open`) or comma-separated: cases in any of them; `open` = every case not yet
    # ended, 挂账 included; `active` = the open ones without 挂账 (the board's 在办).
    status: tuple[Annotated[str, WithJsonSchema({"type": "string", "enum": STATUS_VALUES})], ...] | None = None
    category: int | None = None
    region: str | None = None
    department: int | None = None
    overdue: bool | None = None
    due_soon: bool | None = None  # 即将超期: past a clock's warning time, not yet overdue
    supervised: bool | None = None
    is_major: bool | None = None  # 重大事件
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    work: str | None = None
    limit: Limit = 50
    offset: Offset = 0
    # The `next_cursor` of the page before, used with the same filters (another filter set is a 400).
    cursor: str | None = Field(None, max_length=64)


class Ref(Schema):
    id: int
    name: str


class CaseItemOut(Schema):
    id: int
    number: str
    title: str
    status: StatusName
    status_label: str
    source: SourceName
    category: Ref | None
    region_code: str
    grid_name: str
    department: Ref | None
    reported_at: datetime
    deadline: datetime | None
    closed_at: datetime | None
    is_overdue: bool
    is_supervised: bool
    is_major: bool
    is_self_handled: bool

    @staticmethod
    def resolve_title(obj: Case) -> str:
        return obj.title_for_staff  # phone and ID numbers masked; in clear through POST /cases/{number}/text

    @staticmethod
    def resolve_status_label(obj: Case) -> str:
        return str(Status(obj.status).label)

    @staticmethod
    def resolve_category(obj: Case):
        return {"id": obj.category_id, "name": obj.category.name} if obj.category_id else None

    @staticmethod
    def resolve_department(obj: Case):
        return {"id": obj.department_id, "name": obj.department.name} if obj.department_id else None

    @staticmethod
    def resolve_grid_name(obj: Case) -> str:
        return obj.grid.name


class WorkLaneOut(Schema):
    key: str
    label: str
    count: int
    more: bool


class WorkOut(Schema):
    lanes: list[WorkLaneOut]


class CaseListOut(Schema):
    items: list[CaseItemOut]
    count: int
    total: int
    next_cursor: str | None = None  # the next page: `?cursor=…` (null on the last page)


def attachment_url(number: str, attachment_id: int) -> str:
    return f"/api/v1/cases/{number}/attachments/{attachment_id}"


class AttachmentOut(Schema):
    id: int
    kind: str
    url: str
    width: int | None
    height: int | None
    created_at: datetime

    @staticmethod
    def resolve_url(obj) -> str:
        return attachment_url(obj.case.number, obj.pk)


class StepOut(Schema):
    id: int
    action: str
    label: str
    from_status: str
    to_status: str
    actor_name: str
    department: str
    note: str
    data: dict | None
    at: datetime
    attachments: list[int]
    media_urls: list[str] = Field(default_factory=list, description="links to photos sent with this step from "
                                  "elsewhere (an Open311 update's media_url, a comment's): external, never fetched")

    @staticmethod
    def resolve_data(obj: CaseStep) -> dict | None:
        """The step's data with its instants in the district's zone, as every datetime of the API (rows written
        before steps were, `TimelineStep.entry`, held some in UTC), and the words it repeats masked as the note
        (`CaseStep.data_for_staff`)."""
        data = obj.data_for_staff()
        return district_times(data) if data is not None else None

    @staticmethod
    def resolve_actor_name(obj: CaseStep) -> str:
        """The account's name, masked for the public reporter's own account (`CaseStep.by_public_reporter`)."""
        return mask_name(obj.actor_name) if obj.by_public_reporter else obj.actor_name

    @staticmethod
    def resolve_note(obj: CaseStep) -> str:
        """The note with its phone and ID numbers and the names it introduces masked, whoever wrote it, as the case
        page shows it; in clear only through POST /cases/{number}/text (audited)."""
        return obj.note_for_staff(shown=False)

    @staticmethod
    def resolve_label(obj: CaseStep) -> str:
        from .services.follow import STEP_LABELS

        return STEP_LABELS.get(obj.action, obj.action)

    @staticmethod
    def resolve_department(obj: CaseStep) -> str:
        return obj.department.name if obj.department_id else ""

    @staticmethod
    def resolve_media_urls(obj: CaseStep) -> list[str]:
        # the case detail reads them for all its steps at once (`CaseDetailOut.resolve_timeline`)
        found = getattr(obj, "external_media", None)
        if found is None:
            url = obj.data.get("media_url") if isinstance(obj.data, dict) else None
            found = [url] if linkable(url) else []
        return found

    @staticmethod
    def resolve_attachments(obj: CaseStep) -> list[int]:
        return [a.pk for a in obj.attachments.all()]


class ActionOut(Schema):
    name: str
    label: str
    style: str
    requires: list[str] = Field(description="the inputs this action needs on this case: empty, it is a 422 "
                                            "`missing` (accept of a case without a category requires `category`)")


class ClockOut(Schema):
    kind: ClockKind
    state: ClockState
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    on_time: bool | None
    ended_by: str | None = None  # the step that stopped it unjudged (send_back, merge, void, refuse): on_time null
    warned: bool
    breached: bool
    ratio: float | None
    provisional: bool = False  # the deadline lies in a year whose holidays are not yet announced (provisional)


def _external_media(case: Case, steps=None) -> ExternalMedia:
    """The case's external links, read once for its detail (the timeline's and the report's)."""
    found = getattr(case, "_external_media_cache", None)
    if found is None:
        found = external_media(case, steps if steps is not None else list(case.steps.all()))
        case._external_media_cache = found
    return found


class CaseDetailOut(CaseItemOut):
    description: str
    lng: float
    lat: float
    crs_in: str
    address: str
    reporter_name: str
    reporter_phone_masked: str
    hotline_ticket: str
    suggested_department: Ref | None
    parent_number: str | None
    accepted_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    verified_at: datetime | None
    accepted_on_time: bool | None
    dispatched_on_time: bool | None
    handled_on_time: bool | None
    closed_on_time: bool | None
    checked_on_time: bool | None
    verified_on_time: bool | None
    rework_count: int
    send_back_count: int
    redirect_count: int  # 改派 by the dispatchers
    reopen_count: int
    extension_pending: bool
    satisfaction: int | None
    timeline: list[StepOut]
    last_step: int = Field(description="the case's version: the id of its latest timeline step. Send it as an "
                           "action's `expected_step` to have the action refused (409) if the case has moved on since")
    attachments: list[AttachmentOut]
    allowed_actions: list[ActionOut]
    clocks: list[ClockOut]
    follow_token: str | None = None  # only to the account that reported the case
    media_urls: list[str] = Field(default_factory=list, description="links to photos the reporter sent with the "
                                  "report instead of uploading them (Open311 media_url): external, never fetched")

    @staticmethod
    def resolve_reporter_name(obj: Case) -> str:
        return mask_name(obj.reporter_name)  # in clear only through POST /cases/{number}/contact (audited)

    @staticmethod
    def resolve_description(obj: Case) -> str:
        return obj.description_for_staff  # in clear only through POST /cases/{number}/text (audited)

    @staticmethod
    def resolve_address(obj: Case) -> str:
        return obj.address_for_staff  # a caller's number and name typed into it masked, as in the description

    @staticmethod
    def resolve_suggested_department(obj: Case):
        if not obj.suggested_department_id:
            return None
        return {"id": obj.suggested_department_id, "name": obj.suggested_department.name}

    @staticmethod
    def resolve_parent_number(obj: Case) -> str | None:
        return obj.parent.number if obj.parent_id else None

    @staticmethod
    def resolve_timeline(obj: Case):
        steps = list(obj.steps.all())
        media = _external_media(obj, steps)
        for step in steps:
            step.external_media = media.steps.get(step.pk, [])
        return steps

    @staticmethod
    def resolve_last_step(obj: Case) -> int:
        return max((s.pk for s in obj.steps.all()), default=0)  # `services.common.last_step_id`, from the fetched steps

    @staticmethod
    def resolve_media_urls(obj: Case) -> list[str]:
        return _external_media(obj).report

    @staticmethod
    def resolve_attachments(obj: Case):
        return list(obj.attachments.all())


class CaseCreatedOut(CaseDetailOut):
    created: bool


class ReportReceiptOut(Schema):
    """The answer to a report from someone who does not read case files (a resident): what they sent, where it
    stands and the follow token, whose link shows the public steps (`GET /follow/{token}`)."""

    created: bool
    number: str
    title: str
    status: StatusName
    status_label: str
    source: SourceName
    category: Ref | None
    grid_name: str
    reported_at: datetime
    follow_token: str | None


# A report's answer: the case file for staff, the receipt for everyone else (tried in this order).
ReportAnswer = Annotated[CaseCreatedOut | ReportReceiptOut, Field(union_mode="left_to_right")]


class DuplicateOut(Schema):
    id: int
    number: str
    title: str
    status: StatusName
    status_label: str
    category: str
    reported_at: datetime
    distance_m: float
    text_score: float
    # Whether this case may be merged into now (open or 挂账); false for one closed within `hours` of the report,
    # offered because the problem may have come back: reopen it first (重新办理) to merge into it.
    joinable: bool
    closed_at: datetime | None = None


class DuplicateListOut(Schema):
    items: list[DuplicateOut]
    count: int
    total: int
    radius_m: float
    hours: float  # the window of the closed cases offered (open ones are offered however old)


class FollowStepOut(Schema):
    action: str
    label: str
    at: datetime
    merged_into: str | None = None  # a 合并 step: the number of the case the report joined
    # 不予受理, 作废: the note written for the reporters (never the internal reason); 处置反馈, 结案: the step's note;
    # personal data masked (as Open311's updates show them)
    note: str = ""
    score: int | None = None  # a 评价 step: the score it gave (1–5), the rating of its closing


class FollowOut(Schema):
    number: str
    status: StatusName
    status_label: str
    category: str
    category_en: str = ""  # the category's English name (`Category.name_en`), empty where none was given
    reported_at: datetime  # when this link's reporter reported (their own report's time after a merge)
    closed_at: datetime | None
    merged: bool
    steps: list[FollowStepOut]
    rating: int | None  # this link's rating of the present closing; null until it is rated (also after a 重新办理)
    can_rate: bool
    can_reopen: bool
    reopen_until: datetime | None = None  # a closed case: the last moment 重新办理 may be asked for
    rate_until: datetime | None = None  # a closed case: the last moment its closing may be rated


class NoteTextOut(Schema):
    """A step's note in clear, as it was written (`StepOut.id` names the step)."""

    id: int
    action: str
    note: str
    note_en: str = ""  # the English of a note the system wrote (as `StepOut.data.note_en`, here in clear)


class CaseTextOut(Schema):
    """A case's title, description and address in clear, as the reporter typed them, and the notes of its
    timeline that the detail shows masked, as they were written."""

    title: str
    description: str
    address: str
    notes: list[NoteTextOut]


class ContactOut(Schema):
    """A reporter's contact in clear (回访)."""

    name: str
    phone: str
    email: str

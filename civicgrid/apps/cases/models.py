"""Cases (事件/案卷), their timeline of steps, attachments and reporters.

A case stores the code of its grid (`region_code`) and its current responsible department, which is how the
scoped read path finds it: grid workers and street/community staff by region, department handlers by
department. Per-case facts used by the evaluation formulas (on-time flags, counts of rework) are kept on the
case so that a month's evaluation is one aggregate query.
"""

import re
import unicodedata

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import ScopedModel
from civicgrid.foundation.audit.personal import ADDRESS, NAME, TEXT
from civicgrid.foundation.core.pii import has_personal_data, mask_name, scrub
from civicgrid.foundation.workflow.steps import TimelineStep


class Status(models.TextChoices):
    REPORTED = "reported", _("待受理")
    CHECKING = "checking", _("核实中")
    ACCEPTED = "accepted", _("待派遣")
    DISPATCHED = "dispatched", _("待处置")
    HANDLING = "handling", _("处置中")
    HANDLED = "handled", _("待核查")
    VERIFIED = "verified", _("待结案")
    CLOSED = "closed", _("已结案")
    SUSPENDED = "suspended", _("挂账")
    REFUSED = "refused", _("不予受理")
    VOIDED = "voided", _("已作废")
    MERGED = "merged", _("已合并")


OPEN_STATUSES = {
    Status.REPORTED, Status.CHECKING, Status.ACCEPTED, Status.DISPATCHED, Status.HANDLING, Status.HANDLED,
    Status.VERIFIED,
}
FINAL_STATUSES = {Status.CLOSED, Status.REFUSED, Status.VOIDED, Status.MERGED}
# What a duplicate may be merged into: a case still being handled, or on hold (挂账: still open, waiting for a
# budget or a plan; a new report of the problem joins it). A case whose loop ended takes no more reports.
MERGE_PARENT_STATUSES = frozenset(OPEN_STATUSES | {Status.SUSPENDED})
# Actions for which a reporter reaches their own cases wherever they are: following them, and reopening them
# (the `reopen` transition's guard admits the reporter). Board, evaluation, export and staff work stay regional.
REPORTER_ACTIONS = frozenset({"view", "reopen"})
# The roles that report as the public (residents, volunteers): they follow their reports by link, not case files.
PUBLIC_ROLES = frozenset({Role.RESIDENT, Role.VOLUNTEER})


def closed_timely_q(prefix: str = "") -> models.Q:
    """按期结案 (DOMAIN §4's 按期结案数) as a filter on cases (or rows reached through `prefix`, such as
    "case__"): closed, with both the handling (`handled_on_time`: every handling of the assignment round, as for
    按期处置) and the closing step (`closed_on_time`) in time. A case closed in time after a late handling is
    closed late: the case page (`Case.closed_timely`), the board and the evaluation all count it so."""
    return models.Q(**{f"{prefix}status": Status.CLOSED, f"{prefix}closed_on_time": True,
                       f"{prefix}handled_on_time": True})


def closed_timely(status, handled_on_time: bool | None, closed_on_time: bool | None) -> bool | None:
    """按期结案 of one case from its fields (`closed_timely_q`'s condition): None while it is not closed or a fact
    is not known, False when the handling or the closing step was late."""
    if status != Status.CLOSED:
        return None
    facts = (handled_on_time, closed_on_time)
    return False if False in facts else (None if None in facts else True)


# Blank in every one of them once the reporter's data is gone (core.retention, set "cases.reporter").
REPORTER_DATA_CLEARED = {"reporter_name": "", "reporter_phone_enc": "", "reporter_phone_masked": "",
                         "reporter_email_enc": ""}


def _ended_unclosed() -> models.Q:
    """Refused, voided or merged: the loop ended without closing, at `ended_at`. Written as equalities, not IN:
    SQLite matches a query's `status = ?` to a partial index's `status = 'voided'`, but not its
    `status IN (?, ?, ?)` to `status IN ('merged', …)` (`cases_retention_ended_at_idx`)."""
    return models.Q(*(("status", s) for s in sorted(FINAL_STATUSES - {Status.CLOSED})),
                    _connector=models.Q.OR)


def finished_before(cutoff, prefix: str = "") -> models.Q:
    """Cases (or rows reached through `prefix`, such as "case__") whose loop ended before `cutoff`: closed
    (`closed_at`), or refused, voided or merged (`ended_at`) then. The clock of the reporters' data retention."""
    # The case's own rows in the form its retention indexes repeat; rows reached through a join keep the IN,
    # with which SQLite reads the joined table and looks each case up by id (given the equalities, it walked
    # every ended case through the status index instead: 3× slower at 1,000,000 cases).
    unclosed = (_ended_unclosed() if not prefix
                else models.Q(**{f"{prefix}status__in": sorted(FINAL_STATUSES - {Status.CLOSED})}))
    return (models.Q(**{f"{prefix}status": Status.CLOSED, f"{prefix}closed_at__lt": cutoff})
            | (unclosed & models.Q(**{f"{prefix}ended_at__lt": cutoff})))


def _ended_holding_reporter_data(when: models.Q) -> models.Q:
    """The condition of a retention index: the loop ended (`when`) and the reporter's data is still there,
    written as `core.retention.DataSet.due` writes each branch of `finished_before` (SQLite uses a partial
    index only for a query that repeats its condition)."""
    return when & ~models.Q(**REPORTER_DATA_CLEARED)


class Source(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员上报")
    HOTLINE = "hotline", _("12345热线转办")
    PUBLIC = "public", _("群众上报")
    OPEN311 = "open311", _("开放接口")
    VIDEO = "video", _("视频发现")
    SUPERIOR = "superior", _("上级交办")
    DRONE = "drone", _("无人机巡查")
    SELF_HANDLED = "self_handled", _("自行处置")


def ticket_held() -> models.Q:
    """The cases whose 12345 ticket is taken: hotline cases with a ticket, not refused or voided (a ticket whose
    case was refused or voided may be registered again). The repeat check (`intake._ticket_unused`) asks exactly
    this, and the unique index `cases_hotline_ticket_once` holds it when two registrations race (README, "12345
    tickets")."""
    return (models.Q(source=Source.HOTLINE) & ~models.Q(hotline_ticket="") & ~models.Q(status=Status.REFUSED)
            & ~models.Q(status=Status.VOIDED))


class Case(ScopedModel):
    """One reported problem in a grid, followed through the loop."""

    number = models.CharField(_("案卷号"), max_length=20, unique=True)
    title = models.CharField(_("标题"), max_length=200)
    # The title as staff read it (`title_for_staff`, `pii.scrub`), kept for the search of those who may not read
    # it in clear (`selectors.search_q`): a number or name they see masked must not find the case either. Written
    # with the title at intake (`masked_title`); migration 0026 wrote it for the cases before it.
    title_masked = models.CharField(max_length=200, blank=True, editable=False)
    description = models.TextField(_("描述"), max_length=4000, blank=True)
    category = models.ForeignKey(
        "categories.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
        verbose_name=_("分类"),
    )
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.REPORTED)
    is_major = models.BooleanField(_("重大事件"), default=False)

    # where
    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    crs_in = models.CharField(_("原始坐标系"), max_length=8, default="wgs84")
    address = models.CharField(_("地址"), max_length=200, blank=True)
    grid = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("网格"))
    region_code = models.CharField(max_length=15)

    # who
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_cases"
    )
    reporter_name = models.CharField(_("报告人"), max_length=64, blank=True)
    reporter_phone_enc = models.TextField(blank=True)
    reporter_phone_masked = models.CharField(_("报告人电话"), max_length=20, blank=True)
    reporter_email_enc = models.TextField(blank=True)
    hotline_ticket = models.CharField(_("热线工单号"), max_length=40, blank=True)
    department = models.ForeignKey(
        "orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
        verbose_name=_("处置部门"), db_index=False,
    )
    suggested_department = models.ForeignKey(
        "orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    suggestion = models.JSONField(null=True, blank=True)  # what the router proposed, with confidences
    auto_dispatched = models.BooleanField(_("自动派遣"), default=False)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_cases", verbose_name=_("主案卷"),
        db_index=False,
    )
    # sha256 of (reporting account, client key): a retried report finds its case; `idempotency_digest` is the
    # sha256 of the payload, so a key reused for different content is told apart from a replay.
    idempotency_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    idempotency_digest = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=64, blank=True)  # e.g. 综治 platform id

    # when (milestones) and evaluation facts
    reported_at = models.DateTimeField(_("上报时间"), db_index=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # When a person on the staff first took the case in hand (`workflow.REVIEW_ACTIONS` by an account of their
    # own, not a system account such as the router's auto-dispatch): from then on someone has read what the
    # reporter wrote, and what the public feed shows of it may be shown (Open311 `published`). A human 立案 sets
    # it; after the router's automatic 立案 and 派遣 it is the first step a person takes (the department starting
    # or sending it back, a dispatcher's 督办 …). Never cleared.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the case was refused, voided or merged (final states; closing is `closed_at`): the start of its
    # reporter's data retention. Not `updated_at`, which every save changes: in an index it makes every save of
    # every case a non-HOT update on PostgreSQL, one that writes an entry in each index of the table.
    ended_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(_("处置期限"), null=True, blank=True)
    accepted_on_time = models.BooleanField(null=True)
    dispatched_on_time = models.BooleanField(null=True)
    handled_on_time = models.BooleanField(null=True)
    closed_on_time = models.BooleanField(null=True)
    checked_on_time = models.BooleanField(null=True)  # 核实
    verified_on_time = models.BooleanField(null=True)  # 核查
    is_overdue = models.BooleanField(_("超期"), default=False)
    is_supervised = models.BooleanField(_("督办"), default=False)
    rework_count = models.PositiveSmallIntegerField(default=0)
    send_back_count = models.PositiveSmallIntegerField(default=0)
    # 改派 by the dispatchers (a dispatch to the wrong department taken back and sent elsewhere): like 退回, a
    # dispatch that had to be redone (the evaluation's 准确派遣率 reads both).
    redirect_count = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    extension_pending = models.BooleanField(default=False)
    extension_hours = models.FloatField(null=True, blank=True)  # the pending request's extra hours
    is_self_handled = models.BooleanField(_("自行处置"), default=False)
    suspended_from = models.CharField(max_length=16, blank=True)  # 挂账 returns the case to this state
    satisfaction = models.PositiveSmallIntegerField(_("满意度"), null=True, blank=True)  # 1–5
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", db_index=False)
    dispatched_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    scope_department_field = "department_id"
    audit_sensitive_fields = ("reporter_phone_enc", "reporter_email_enc")
    audit_personal_fields = {"reporter_name": NAME, "address": ADDRESS, "description": TEXT}

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["-reported_at", "-id"]
        # Every index is maintained by every report and every transition: each one here serves a named read
        # (see the app's README, "Indexes"). The flags and the merge parent are indexed on their few true /
        # set rows only.
        indexes = [
            models.Index(fields=["status", "region_code"]),
            models.Index(fields=["department", "status"]),
            models.Index(fields=["region_code", "reported_at"]),
            models.Index(fields=["region_code", "reported_at"], condition=models.Q(is_overdue=True),
                         name="cases_overdue_region_idx"),
            models.Index(fields=["region_code", "reported_at"], condition=models.Q(is_supervised=True),
                         name="cases_supervised_region_idx"),
            models.Index(fields=["parent"], condition=models.Q(parent__isnull=False), name="cases_merged_parent_idx"),
            models.Index(fields=["region_code"], condition=models.Q(extension_pending=True),
                         name="cases_extension_region_idx"),
            models.Index(fields=["hotline_ticket"], condition=~models.Q(hotline_ticket=""),
                         name="cases_hotline_ticket_idx"),
            # The board's 应结案数: the cases whose handling deadline fell in a day, a range of one day's
            # deadlines whatever the day. Set deadlines only: a new report writes no entry.
            models.Index(fields=["deadline"], condition=models.Q(deadline__isnull=False), name="cases_deadline_idx"),
            # Deleting an account sets these to NULL (`UPDATE … WHERE accepted_by_id IN (…)`) and checks its
            # foreign keys: without an index each reads every case. Over the set rows only, so a new report (not
            # yet accepted) writes neither.
            models.Index(fields=["accepted_by"], condition=models.Q(accepted_by__isnull=False),
                         name="cases_accepted_by_idx"),
            models.Index(fields=["dispatched_by"], condition=models.Q(dispatched_by__isnull=False),
                         name="cases_dispatched_by_idx"),
            # Possible duplicates of every report (`duplicates.candidates`, auto-dispatch asks it for each new
            # case): the open cases in a box around the point however old, and those closed around the
            # report's time. Per status a range of latitudes, longitude and closing time checked in the index:
            # only the cases in the box are read. Its columns change only with the status (indexed anyway)
            # or the point, so an ordinary save stays a HOT update on PostgreSQL.
            models.Index(fields=["status", "lat", "lng", "closed_at"], name="cases_duplicates_idx"),
            # The hourly retention pass: the ended cases still holding their reporter's data, by the moment
            # the period started. A case leaves them when its data is blanked, so with nothing due the pass
            # is a probe of each, and with some due it reads only those. `status` leads so that SQLite
            # without statistics prefers them to `(status, region_code)` (an equality and a range to one).
            # Every column in them changes only when the loop ends or the data is blanked, never on an
            # ordinary save (no `updated_at`), so such a save stays a HOT update on PostgreSQL.
            models.Index(fields=["status", "closed_at"], name="cases_retention_closed_idx",
                         condition=_ended_holding_reporter_data(models.Q(status=Status.CLOSED))),
            models.Index(fields=["status", "ended_at"], name="cases_retention_ended_at_idx",
                         condition=_ended_holding_reporter_data(_ended_unclosed())),
        ]
        constraints = [
            # One case per 12345 ticket: two desks registering it at once cannot both pass the repeat check
            # (`intake._ticket_unused`, which asks the same `ticket_held()`); the second INSERT is refused and
            # answered as the check would (409). Migration 0017 builds it; see there for duplicates kept from
            # before it.
            models.UniqueConstraint(fields=["hotline_ticket"], condition=ticket_held(),
                                    name="cases_hotline_ticket_once"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title_for_staff}"  # how the audit trail names it: no numbers in clear

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def closed_timely(self) -> bool | None:
        """按期结案 (`closed_timely_q`): the handling and the closing step both in time; None before closing."""
        return closed_timely(self.status, self.handled_on_time, self.closed_on_time)

    # What the reporter typed (a resident's own phone and ID numbers, often) as staff read it in lists, messages,
    # the ledger and the case file: its phone and ID numbers, and the names it introduces (我是王小明), masked
    # (`pii.scrub`), as Open311 publishes it and as the reporter field is masked. The address is words typed as
    # well (a 12345 operator's 「永安小区3号楼 联系人王五 136…」) and is masked alike: the building stays, the
    # caller's number and name do not. The clear text is read through the audited `services.reveal_text`; the
    # search matches the stored words only for those who may read them (`selectors.search_q`).
    @property
    def title_for_staff(self) -> str:
        return scrub(self.title)

    @property
    def description_for_staff(self) -> str:
        return scrub(self.description)

    @property
    def address_for_staff(self) -> str:
        return scrub(self.address)

    @property
    def text_masked(self) -> bool:
        """Whether `title_for_staff`, `description_for_staff` or `address_for_staff` hides anything (the clear
        text may be revealed)."""
        return any(has_personal_data(text) for text in (self.title, self.description, self.address))

    def masked_notes(self) -> list:
        """The steps whose note staff read masked (`CaseStep.note_for_staff`), in timeline order: what
        `services.reveal_text` shows in clear beside the title and description (reads `steps.all()`, which the
        case page prefetches)."""
        return [step for step in self.steps.all() if step.note and step.note_masked]

    @classmethod
    def scope_branches(cls, scope, user, *, action: str = "view"):
        """Region and department scope; for viewing (and the reporter's own reopening) also the cases the user
        reported: a resident or a grid worker who reported outside their grid follows their own report. Those
        are not theirs to count, evaluate or export: every other action reads the region/department scope only."""
        branches = super().scope_branches(scope, user, action=action)
        if action in REPORTER_ACTIONS and getattr(user, "is_authenticated", False) and user.pk is not None:
            branches.append(models.Q(reporter_id=user.pk))
        return branches


def masked_title(title: str) -> str:
    """`Case.title_masked` for a title: what staff read of it (`pii.scrub` never lengthens a text)."""
    return scrub(title)[:200]


# Who took a step without an account of their own (the timeline keeps the name it was given).
# What separates the parts of a 12345 ticket as people type it: spaces, dashes of every width and kind (NFKC has
# made the full-width ones ASCII already), underscores, slashes, dots and the middle dots of Chinese text.
TICKET_SEPARATORS = re.compile(r"[\s\-_/\\.·・‐‑‒–—―−]+")
# A stored ticket (README, "12345 tickets"): parts of capital letters and digits joined by single "-", 4 to 40
# characters with at least one digit, e.g. the district's `12345-20261130-0001` (hotline, day, the day's call).
TICKET_PATTERN = re.compile(r"(?=[0-9A-Z-]{4,40}\Z)(?=.*[0-9])[0-9A-Z]+(?:-[0-9A-Z]+)*")
BAD_TICKET = ("热线工单号格式不正确：应由字母和数字组成，各段以“-”分隔，4–40 个字符，如 12345-20261130-0001 / the hotline "
              "ticket number is malformed: letters and digits in parts joined by \"-\", 4 to 40 characters, e.g. "
              "12345-20261130-0001")


def normalise_ticket(text) -> str:
    """A 12345 ticket number as intake stores it and the search and the repeat check find it (its canonical form):
    NFKC (the full-width digits and dashes of a Chinese input method are the same number as the ASCII ones),
    capital letters, each run of spaces and separators one "-", none at either end. Whether the result is a
    ticket at all is `valid_ticket`'s question."""
    text = unicodedata.normalize("NFKC", str(text or "")).upper()
    return TICKET_SEPARATORS.sub("-", text).strip("-")


def valid_ticket(ticket: str) -> bool:
    """Whether a canonical ticket (`normalise_ticket`) has the form of one (`TICKET_PATTERN`)."""
    return TICKET_PATTERN.fullmatch(ticket) is not None


STEP_ACTOR_LABELS = {"reporter": _("报告人（通过查询链接）"), "system": _("系统")}
# Accounts a part of the system acts under (the router's auto-dispatch), by the name their steps record: shown
# in the reader's language. The part registers its own.
SYSTEM_ACCOUNT_LABELS: dict = {}
# Their usernames: rankings of staff compare people and list these apart, unranked (evaluation).
SYSTEM_USERNAMES: set[str] = set()


# The keys of a step's data, at any depth, whose values are words somebody wrote (`CaseStep.data_for_staff`).
FREE_TEXT_DATA = frozenset({"note", "note_en", "opinion", "reason", "public_note"})


def _masked_words(value, key: str = ""):
    if isinstance(value, dict):
        return {k: _masked_words(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_words(v, key) for v in value]
    return scrub(value) if key in FREE_TEXT_DATA and isinstance(value, str) else value


class CaseStep(TimelineStep):
    """One entry of a case's timeline: a transition or a note, by whom, when."""

    @property
    def actor_label(self) -> str:
        """Who took the step, as the timeline and the case file name them: the account's name, or what a step
        without an account stands for (the reporter through the follow link, the system)."""
        if self.actor_id:
            return str(SYSTEM_ACCOUNT_LABELS.get(self.actor_name, self.actor_name))
        return str(STEP_ACTOR_LABELS.get(self.actor_name, self.actor_name))

    @property
    def by_public_reporter(self) -> bool:
        """Whether the reporter's own account took the step on a case reported through the public channel
        (群众上报: a resident's account, whose name staff read masked, as the reporter field shows it)."""
        case = self.case
        return bool(self.actor_id) and self.actor_id == case.reporter_id and case.source == Source.PUBLIC

    @property
    def actor_for_staff(self) -> str:
        """`actor_label` as staff read it (the case page, the case file, the API): the public reporter's account
        (`by_public_reporter`) named masked (`mask_name`), as the reporter field names the reporter."""
        return mask_name(self.actor_label) if self.by_public_reporter else self.actor_label

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # sha256 of (who sent the form or request, its one-time key): a form or API call sent again after a lost
    # answer finds the step it made instead of taking the action twice (`services.common.step_key`).
    # Looked up under the case's row lock, so two sendings of one key never both take the step; indexed over the
    # keyed steps only (migration 0016): most steps have none.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (NULL: not indexed)
    # What that form or request carried (`services.common.step_digest`: its inputs, then its photos): the same
    # key sent again with other content is refused (409) rather than answered with the first sending's result,
    # its content dropped. NULL on the steps without a key and on those keyed before it was kept (migration 0026).
    idempotency_digest = models.CharField(max_length=129, null=True, blank=True)  # noqa: DJ001 (NULL: a cheap column add)

    # The steps a department takes or receives: the timeline names the department beside them. Others (a
    # leader's approval, the grid worker's check and its 返工, the dispatcher's closing) record the case's
    # department too, for the evaluation, but it is not who acted.
    DEPARTMENT_ACTIONS = frozenset({"dispatch", "redirect", "send_back", "start", "progress", "request_extension",
                                    "report_back"})

    @property
    def acting_department(self):
        """The department to show beside the step (see `DEPARTMENT_ACTIONS`), or None."""
        return self.department if self.department_id and self.action in self.DEPARTMENT_ACTIONS else None

    @property
    def written_by_public(self) -> bool:
        """Whether a resident or a public channel wrote the note: a 评价's comment, a 留言 by the reporter or
        through a public channel (Open311), what the reporter sent through the follow link (重新办理), a 补充照片's
        note by a resident or volunteer (`by_public`: not by staff, even when the reporter is staff)."""
        if self.action == "rate" or (self.actor_id is None and self.actor_name == "reporter"):
            return True
        data = self.data if isinstance(self.data, dict) else {}
        if self.action == "comment":
            return self.actor_id is None or bool(data.get("by_reporter"))
        if self.action == "add_photos":
            return self.actor_id is None or bool(data.get("by_public"))
        return False

    def note_for_staff(self, *, shown: bool = True) -> str:
        """The note as staff read it (the case page, the API, the case file; `shown`: in the reader's language,
        `shown_note`): the phone and ID numbers and the names it introduces masked (`pii.scrub`), whoever wrote
        it: a resident's words as a 留言 or 评价, and staff's as a 处置进展, a 核查 or a reason (邻居电话…,
        联系人…). Read in clear only through the audited `services.reveal_text`, with the case's own text."""
        return scrub(self.shown_note if shown else self.note)

    @property
    def note_masked(self) -> bool:
        """Whether `note_for_staff` hides anything of the note (the clear note may be revealed)."""
        return has_personal_data(self.note) or has_personal_data(self.shown_note)

    def data_for_staff(self) -> dict | None:
        """The step's data as the API gives it to staff: the words people wrote that it repeats beside the note
        (`FREE_TEXT_DATA`: a 审批意见, a 退回's reason for a rule correction, the leaders' words a merge carried,
        the note's English) masked as the note is."""
        return _masked_words(self.data) if self.data is not None else None

    audit_personal_fields = {"note": TEXT}
    audit_plain_fields = ("actor_name",)

    class Meta(TimelineStep.Meta):
        verbose_name = _("处理过程")
        indexes = [models.Index(fields=["idempotency_key"], condition=models.Q(idempotency_key__isnull=False),
                                name="cases_step_key_idx")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.action}"


class Attachment(models.Model):
    """A photo attached to a case or one of its steps; stored outside the web root, EXIF stripped."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    step = models.ForeignKey(CaseStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments")
    kind = models.CharField(max_length=16, default="photo")  # photo | before | after | verify
    path = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    exif_lng = models.FloatField(null=True)
    exif_lat = models.FloatField(null=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("附件")

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.sha256[:12]}"


class CaseReporter(models.Model):
    """Everyone who reported a case, including reporters of duplicates merged into it (all are informed)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reporters")
    original_case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    name = models.CharField(max_length=64, blank=True)
    contact_enc = models.TextField(blank=True)  # phone, encrypted (context "cases.reporter.phone")
    email_enc = models.TextField(blank=True)  # encrypted (context "cases.reporter.email")
    # The link/QR token for status, satisfaction and reopen. Kept readable so the QR can be printed again (case
    # sheet, a retried report); it opens no personal data, only the case's status and the two resident actions.
    follow_token = models.CharField(max_length=64, unique=True)
    rating = models.PositiveSmallIntegerField(_("满意度"), null=True, blank=True)
    rating_comment = models.TextField(blank=True, max_length=1000)
    rated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The milestones this reporter was told (`recipients.MILESTONES`): milestone → the round it was told in, so a
    # step repeated inside the loop (派遣 after 退回, 处置反馈 after 返工) is not news twice. Moves with the row on 合并.
    told = models.JSONField(default=dict, blank=True)

    audit_sensitive_fields = ("contact_enc", "email_enc")
    audit_personal_fields = {"name": NAME, "rating_comment": TEXT}

    class Meta:
        verbose_name = _("报告人")

    def __str__(self) -> str:
        return f"{self.case_id} reporter {self.pk}"


class CaseDaySequence(models.Model):
    """The last case number handed out on one (district-local) day: one row per day, incremented in place."""

    day = models.DateField(unique=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("案卷编号序列")

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d} {self.last}"


class ProposalStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    ACCEPTED = "accepted", _("已采纳")
    DISMISSED = "dismissed", _("已驳回")


class RoutingProposal(models.Model):
    """A department's 建议更正分拨规则, made when it sent a case back (退回 with `correct_rule`), kept open for
    those who manage routing rules until one of them acts on it: 采纳 (the rule is corrected, from the rules page
    or by dispatching the case with 同时更正分拨规则) or 驳回 with a reason. The step keeps the proposal too, but
    a street dispatcher (who cannot edit rules) re-dispatching the case would otherwise leave the wrong rule
    routing new cases with nobody told (`services.routing_proposals`)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="routing_proposals")
    step = models.OneToOneField(CaseStep, on_delete=models.CASCADE, related_name="routing_proposal")
    category = models.ForeignKey("categories.Category", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("分类"))
    region_code = models.CharField(_("区域代码"), max_length=15)
    # The rule that sent the case to the returning department, when one did: kept by id so that the list still
    # names it (and links its history) once it is deleted.
    rule_id_at_proposal = models.PositiveBigIntegerField(_("原分拨规则"), null=True, blank=True)
    from_department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", verbose_name=_("退回部门"))
    proposed_department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL,
                                            related_name="+", verbose_name=_("建议部门"))
    status = models.CharField(_("状态"), max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decision_note = models.CharField(_("处理说明"), max_length=200, blank=True)
    corrected_rule_id = models.PositiveBigIntegerField(_("更正后的规则"), null=True, blank=True)

    # A rule manager's reason for dismissing a routing proposal (which department does what), not about a person:
    # the proposal's history shows it as written.
    audit_plain_fields = ("decision_note",)

    class Meta:
        verbose_name = _("规则更正建议")
        verbose_name_plural = _("规则更正建议")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.case_id} @ {self.region_code}"

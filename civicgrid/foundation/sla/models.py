"""Stored SLA state: the district's calendar configuration and one row per SLA clock.

The clock arithmetic lives in the pure modules ``calendar.py`` and ``clock.py``; these models only store
their values (``SlaClock`` holds ``clock.ClockState`` column by column) so that every deadline survives a
restart and the worker can find due clocks with one indexed range scan.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..access.roles import Role, grant_capabilities
from ..access.scope import ScopedModel
from . import clock
from .calendar import DEFAULT_HOURS

OPEN_STATES = (clock.RUNNING, clock.PAUSED)

# Overdue lists are read through the scoped path, by the region staff who follow up cases.
grant_capabilities(
    "sla.view",
    {
        Role.GRID_WORKER,
        Role.COMMUNITY_STAFF,
        Role.STREET_STAFF,
        Role.STREET_DISPATCHER,
        Role.COMMAND_DISPATCHER,
        Role.LEADER,
    },
)


class CalendarSettings(models.Model):
    """The single row (pk=1) holding the district's working hours.

    ``version`` changes (a fresh random token, not a counter, so a rolled-back change can never be
    mistaken for a later one) whenever the hours or any ``CalendarDay`` change: each process compares it
    with the calendar it has built and rebuilds when they differ. ``confirmed_years`` lists years beyond
    chinese_calendar's coverage whose holidays an administrator has entered and declared complete.
    """

    hours = models.JSONField(_("工作时段"), default=list)
    confirmed_years = models.JSONField(_("已确认年份"), default=list)
    version = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("工作日历设置")
        verbose_name_plural = _("工作日历设置")

    def __str__(self) -> str:
        return "、".join(f"{s}–{e}" for s, e in self.periods)

    @property
    def periods(self) -> list[tuple[str, str]]:
        return [tuple(p) for p in (self.hours or DEFAULT_HOURS)]


class CalendarDay(models.Model):
    """An administrator's override for one date: a day off (e.g. a holiday of a year not yet announced in
    chinese_calendar, or a local closure) or a working day (a make-up day). Wins over everything else."""

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("是否工作日"))
    name = models.CharField(_("名称"), max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    audit_plain_fields = ("name",)

    class Meta:
        ordering = ["date"]
        verbose_name = _("日历调整")
        verbose_name_plural = _("日历调整")

    def __str__(self) -> str:
        kind = "工作日" if self.is_workday else "休息日"
        return f"{self.date:%Y-%m-%d} {kind}{' ' + self.name if self.name else ''}"


class SlaClock(ScopedModel):
    """One time limit on one object (a case step, a hazard's rectification, ...).

    The target is generic (``target_type`` is the model's ``label_lower``, ``target_id`` its key as a
    string) so any app can run clocks without the foundation importing it. ``kind`` names the limit
    (``"case.handle"``); at most one clock per (target, kind) is open (running or paused) at a time.
    Whether a clock's warning (breach) has been emitted is ``warned_at`` (``breached_at``) being set, or,
    while the clock is open, its ``warn_at`` (``due_at``) lying at or before the sweep's watermark
    (``SweepState``): the sweep writes no clock row, and the services record the mark on the row whenever
    they change a clock in a way the watermark alone would no longer describe (``sweep`` explains).
    Whether a clock *is* warned or overdue is a matter of time and is read with ``warned``/``overdue``.
    """

    MODE_CHOICES = [
        (clock.WORKING_HOURS, _("工作小时")),
        (clock.WORKING_DAYS, _("工作日")),
        (clock.NATURAL_HOURS, _("自然小时")),
    ]
    STATE_CHOICES = [(clock.RUNNING, _("计时中")), (clock.PAUSED, _("已暂停")), (clock.STOPPED, _("已停止"))]

    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    kind = models.CharField(_("时限类型"), max_length=64)
    region_code = models.CharField(max_length=15, blank=True)
    limit_amount = models.FloatField(_("时限"))

    # --- clock.ClockState, one column per field --------------------------------------------------------
    # ``budget`` and ``consumed`` are in the clock's unit (``clock.unit_of(mode)``): working days for a
    # working-days clock, so that a change of the working hours keeps N working days N working days;
    # minutes otherwise. An extension of a working-days clock granted in hours stays hours the same way:
    # ``extra_minutes`` of working time beside the days, of which ``extra_consumed`` are used (the days are
    # used first); both stay 0 on a minutes clock, whose extensions are minutes of its ``budget``.
    mode = models.CharField(_("计时方式"), max_length=16, choices=MODE_CHOICES)
    budget = models.FloatField()
    warn_ratio = models.FloatField(default=clock.DEFAULT_WARN_RATIO)
    state = models.CharField(_("状态"), max_length=8, choices=STATE_CHOICES, default=clock.RUNNING)
    started_at = models.DateTimeField(_("开始时间"))
    running_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    consumed = models.FloatField(default=0)
    extra_minutes = models.FloatField(default=0, db_default=0)
    extra_consumed = models.FloatField(default=0, db_default=0)
    due_at = models.DateTimeField(_("截止时间"), null=True, blank=True)
    warn_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    on_time = models.BooleanField(_("按期"), null=True, blank=True)

    # --- events already emitted outside the sweep's watermark (see ``sweep``) ---------------------------
    warned_at = models.DateTimeField(_("已预警"), null=True, blank=True)
    breached_at = models.DateTimeField(_("已超期"), null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    scope_app = "sla"

    class Meta:
        verbose_name = _("时限计时")
        verbose_name_plural = _("时限计时")
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id", "kind"],
                condition=Q(state__in=OPEN_STATES),
                name="sla_one_open_clock",
            ),
            models.CheckConstraint(condition=Q(state__in=clock.STATES), name="sla_state_valid"),
        ]
        indexes = [
            # The sweep's two scans: a range of instants (its watermark, now] over open clocks without a
            # mark (marks are written by the services only, see ``sweep``), so finding the due ones is a
            # range scan whatever the number of open clocks. They also serve "what falls due next" lists.
            models.Index(
                fields=["due_at"],
                name="sla_due_pending",
                condition=Q(state__in=OPEN_STATES, breached_at__isnull=True),
            ),
            models.Index(
                fields=["warn_at"],
                name="sla_warn_pending",
                condition=Q(state__in=OPEN_STATES, warned_at__isnull=True),
            ),
            # Scoped overdue lists (open clocks whose deadline has passed), by region subtree.
            models.Index(
                fields=["region_code", "due_at"],
                name="sla_open_region_due",
                condition=Q(state__in=OPEN_STATES),
            ),
            models.Index(fields=["target_type", "target_id"], name="sla_target"),
            # 即将超期 (`cases.selectors.warned_case_ids`: the board's count, the case list's filter): running
            # clocks past their warning time, a range over the running clocks only (a full scan of every clock
            # took 0.2 s at 1,000,000 clocks on SQLite).
            models.Index(fields=["warn_at"], name="sla_running_warn", condition=Q(state=clock.RUNNING)),
            # The clocks of one kind falling due in a range of instants, running or stopped since (the board's
            # 应结案数 of a day: the cases whose dispatch clock ran out that day unanswered).
            models.Index(fields=["kind", "due_at"], name="sla_kind_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target_type}#{self.target_id} ({self.state})"

    # --- conversion to and from the pure state ------------------------------------------------------------

    def as_state(self) -> clock.ClockState:
        """The stored columns as a ``clock.ClockState``."""
        return clock.from_fields({name: getattr(self, name) for name in clock.FIELDS})

    def apply(self, state: clock.ClockState) -> list[str]:
        """Copy a ``ClockState`` onto the columns; returns the names to pass to ``save(update_fields=...)``."""
        fields = clock.to_fields(state)
        for name, value in fields.items():
            setattr(self, name, value)
        self.updated_at = timezone.now()
        return [*fields, "updated_at"]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_overdue(self) -> bool:
        """Overdue now: a stopped clock by its ``on_time``, an open one by its deadline."""
        return clock.is_overdue(self.as_state(), timezone.now())

    def warned(self, at) -> bool:
        """Whether the warning instant has been reached: by ``at`` while open, before stopping otherwise."""
        if self.warned_at is not None:
            return True
        end = at if self.is_open else min(at, self.stopped_at or at)
        return self.warn_at is not None and self.warn_at <= end

    def breached(self, at) -> bool:
        """Whether the deadline has passed: by ``at`` while open; a stopped clock by its ``on_time``."""
        if self.is_open:
            return self.breached_at is not None or (self.due_at is not None and self.due_at <= at)
        return self.on_time is False


class SweepState(models.Model):
    """How far the SLA sweep has emitted one kind of event (``warn`` or ``breach``): every open clock whose
    instant lies at or before ``swept_to`` has had its event. One row per kind, written by the sweep only;
    ``swept_to`` is empty before the first sweep."""

    kind = models.CharField(max_length=8, primary_key=True)
    swept_to = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("时限扫描进度")
        verbose_name_plural = _("时限扫描进度")

    def __str__(self) -> str:
        return f"{self.kind} ≤ {self.swept_to:%Y-%m-%d %H:%M:%S}" if self.swept_to else f"{self.kind}: —"

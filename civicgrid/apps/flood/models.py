"""Flood season (防汛): season dates, duty rosters, gauges and their readings, warning signals, the district's
emergency response and the tasks each response level sets for streets and their 包保 departments.

Configuration rows (season dates, signal thresholds, signal → response rules, task templates) are district-wide
and edited by the command centre. Business rows are scoped: rosters, signals and tasks by their street's code,
stations and readings by the grid they lie in, tasks also by the department answerable for them.
"""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.access.scope import ScopedModel
from civicgrid.foundation.audit.personal import NAME, TEXT


class Signal(models.TextChoices):
    """Rainstorm warning signals (暴雨预警信号), lowest first; `none` means no signal."""

    NONE = "none", _("无预警")
    BLUE = "blue", _("蓝色预警")
    YELLOW = "yellow", _("黄色预警")
    ORANGE = "orange", _("橙色预警")
    RED = "red", _("红色预警")


SIGNAL_RANK = {Signal.NONE: 0, Signal.BLUE: 1, Signal.YELLOW: 2, Signal.ORANGE: 3, Signal.RED: 4}
SIGNAL_COLOURS = {"none": "#6b7280", "blue": "#1d4ed8", "yellow": "#ca8a04", "orange": "#ea580c", "red": "#dc2626"}


class Level(models.TextChoices):
    """Emergency response levels: Ⅳ is the lowest, Ⅰ the highest."""

    IV = "IV", _("Ⅳ级响应")
    III = "III", _("Ⅲ级响应")
    II = "II", _("Ⅱ级响应")
    I = "I", _("Ⅰ级响应")  # noqa: E741


LEVEL_RANK = {Level.IV: 1, Level.III: 2, Level.II: 3, Level.I: 4}
LEVEL_NUMERAL = {"IV": "Ⅳ", "III": "Ⅲ", "II": "Ⅱ", "I": "Ⅰ"}


def signal_rank(value: str | None) -> int:
    return SIGNAL_RANK.get(value or "none", 0)


def level_rank(value: str | None) -> int:
    return LEVEL_RANK.get(value, 0) if value else 0


def default_season_bounds(year: int) -> tuple[datetime, datetime]:
    """1 June 08:00 to the end of 30 September (stored as 1 October 00:00, exclusive), district time."""
    tz = timezone.get_default_timezone()
    opens = timezone.make_aware(datetime(year, 6, 1, 8, 0), tz)
    closes = timezone.make_aware(datetime.combine(datetime(year, 10, 1).date(), time(0, 0)), tz)
    return opens, closes


class FloodSeason(models.Model):
    """A year's flood season (汛期): opens (上汛) and closes; a year without a row uses the default dates."""

    year = models.PositiveSmallIntegerField(_("年度"), unique=True)
    opens_at = models.DateTimeField(_("入汛时间"))
    closes_at = models.DateTimeField(_("出汛时间"))  # exclusive: the season ends just before this instant
    note = models.CharField(_("说明"), max_length=200, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("汛期")
        verbose_name_plural = _("汛期")
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"{self.year} 汛期"

    def is_open_at(self, at: datetime) -> bool:
        return self.opens_at <= at < self.closes_at


class DutyRoster(ScopedModel):
    """One person on flood duty (值班) for a street on a date; the phone is stored encrypted, shown masked."""

    street = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("街道"))
    region_code = models.CharField(max_length=15, db_index=True)  # the street's code
    duty_date = models.DateField(_("值班日期"), db_index=True)
    person = models.CharField(_("值班人员"), max_length=64)
    post = models.CharField(_("岗位"), max_length=64, blank=True)
    phone_enc = models.TextField(blank=True)
    phone_masked = models.CharField(_("联系电话"), max_length=20, blank=True)
    is_leader = models.BooleanField(_("带班领导"), default=False)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    audit_sensitive_fields = ("phone_enc",)
    audit_personal_fields = {"person": NAME}

    class Meta:
        verbose_name = _("防汛值班表")
        verbose_name_plural = _("防汛值班表")
        ordering = ["region_code", "duty_date", "-is_leader", "id"]
        constraints = [models.UniqueConstraint(fields=["region_code", "duty_date", "person"],
                                               name="flood_one_roster_line_per_person_day")]

    def __str__(self) -> str:
        return f"{self.region_code} {self.duty_date} {self.person}"


class StationKind(models.TextChoices):
    RAIN = "rain", _("雨量站")
    WATER = "water", _("水位站")
    BOTH = "both", _("雨量水位站")


class Station(ScopedModel):
    """A rain gauge or water-level station, located to its grid and street."""

    code = models.CharField(_("站点编号"), max_length=64, unique=True)
    name = models.CharField(_("站点名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=8, choices=StationKind.choices, default=StationKind.RAIN)
    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    grid = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("网格"))
    region_code = models.CharField(max_length=15, db_index=True)  # the grid's code
    street_code = models.CharField(max_length=15, db_index=True)
    warning_level_m = models.DecimalField(_("警戒水位（米）"), max_digits=8, decimal_places=2, null=True, blank=True)
    guaranteed_level_m = models.DecimalField(_("保证水位（米）"), max_digits=8, decimal_places=2, null=True,
                                             blank=True)
    # The account a gauge's API token belongs to: it may send readings for this station only.
    feed_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="flood_stations", verbose_name=_("接入账号"))
    is_active = models.BooleanField(_("在用"), default=True)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # A station is seen from inside its grid and from above; street staff see their street's stations.
    scope_include_ancestors = True

    audit_plain_fields = ("name",)

    class Meta:
        verbose_name = _("监测站点")
        verbose_name_plural = _("监测站点")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Source(models.TextChoices):
    MANUAL = "manual", _("人工录入")
    CSV = "csv", _("文件导入")
    API = "api", _("接口上报")


class RainfallReading(ScopedModel):
    """Rain measured at a station over the `window_hours` ending at `observed_at`, and the signal it met."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="rainfall")
    observed_at = models.DateTimeField(_("观测时间"), db_index=True)
    window_hours = models.PositiveSmallIntegerField(_("时段（小时）"))
    rain_mm = models.DecimalField(_("雨量（毫米）"), max_digits=8, decimal_places=2)
    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    region_code = models.CharField(max_length=15, db_index=True)  # the grid's code
    street_code = models.CharField(max_length=15, db_index=True)
    signal = models.CharField(_("预警信号"), max_length=8, choices=Signal.choices, default=Signal.NONE)
    source = models.CharField(_("来源"), max_length=8, choices=Source.choices, default=Source.MANUAL)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("雨量观测")
        verbose_name_plural = _("雨量观测")
        ordering = ["-observed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["station", "observed_at", "window_hours"],
                                               name="flood_one_rainfall_per_station_time_window")]
        indexes = [models.Index(fields=["street_code", "observed_at"])]

    def __str__(self) -> str:
        return f"{self.station_id} {self.observed_at:%Y-%m-%d %H:%M} {self.window_hours}h {self.rain_mm}mm"


class WaterStatus(models.TextChoices):
    NORMAL = "normal", _("正常")
    OVER_WARNING = "over_warning", _("超警戒")
    OVER_GUARANTEED = "over_guaranteed", _("超保证")


class WaterLevelReading(ScopedModel):
    """A water level at a station, marked against the station's warning (警戒) and guaranteed (保证) levels."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="water_levels")
    observed_at = models.DateTimeField(_("观测时间"), db_index=True)
    level_m = models.DecimalField(_("水位（米）"), max_digits=8, decimal_places=2)
    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    region_code = models.CharField(max_length=15, db_index=True)
    street_code = models.CharField(max_length=15, db_index=True)
    status = models.CharField(_("状态"), max_length=16, choices=WaterStatus.choices, default=WaterStatus.NORMAL)
    source = models.CharField(_("来源"), max_length=8, choices=Source.choices, default=Source.MANUAL)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("水位观测")
        verbose_name_plural = _("水位观测")
        ordering = ["-observed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["station", "observed_at"],
                                               name="flood_one_level_per_station_time")]

    def __str__(self) -> str:
        return f"{self.station_id} {self.observed_at:%Y-%m-%d %H:%M} {self.level_m}m"


class SignalThreshold(models.Model):
    """A configurable rule: `rain_mm` or more within `window_hours` sets `signal` (CMA order No.16 by default).

    A reading of window W and amount R meets the rule when W ≤ window_hours and R ≥ rain_mm: that much rain
    in a shorter time means at least that much within the rule's window. The highest signal met wins.
    """

    signal = models.CharField(_("预警信号"), max_length=8, choices=[c for c in Signal.choices if c[0] != "none"])
    window_hours = models.PositiveSmallIntegerField(_("时段（小时）"))
    rain_mm = models.DecimalField(_("雨量阈值（毫米）"), max_digits=7, decimal_places=1)
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("预警阈值")
        verbose_name_plural = _("预警阈值")
        ordering = ["window_hours", "rain_mm", "id"]

    def __str__(self) -> str:
        return f"{self.window_hours}h ≥ {self.rain_mm}mm → {self.signal}"


class ResponseRule(models.Model):
    """Which response level a warning signal starts (configurable; default blue→Ⅳ … red→Ⅰ)."""

    signal = models.CharField(_("预警信号"), max_length=8, unique=True,
                              choices=[c for c in Signal.choices if c[0] != "none"])
    level = models.CharField(_("响应等级"), max_length=4, choices=Level.choices)

    class Meta:
        verbose_name = _("预警响应规则")
        verbose_name_plural = _("预警响应规则")
        ordering = ["signal"]

    def __str__(self) -> str:
        return f"{self.signal} → {self.level}"


class TaskTarget(models.TextChoices):
    STREET = "street", _("街道")
    DEPARTMENT = "department", _("包保部门")


class TaskTemplate(models.Model):
    """A task a response level sets for each affected street or for each street's 包保 department."""

    level = models.CharField(_("响应等级"), max_length=4, choices=Level.choices)
    target = models.CharField(_("对象"), max_length=16, choices=TaskTarget.choices)
    title = models.CharField(_("任务"), max_length=100)
    description = models.TextField(_("要求"), blank=True, max_length=2000)
    ack_minutes = models.PositiveIntegerField(_("签收时限（分钟）"), default=30)
    done_hours = models.PositiveIntegerField(_("完成时限（小时）"), null=True, blank=True)
    lists_hazards = models.BooleanField(_("附隐患点清单"), default=False)  # patrols list the street's flood hazards
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    audit_plain_fields = ("description",)

    class Meta:
        verbose_name = _("响应任务模板")
        verbose_name_plural = _("响应任务模板")
        ordering = ["level", "target", "order", "id"]

    def __str__(self) -> str:
        return f"{self.level} {self.target} {self.title}"


class FloodResponse(models.Model):
    """One district emergency response, from the first raise to its lifting (one active at a time)."""

    level = models.CharField(_("响应等级"), max_length=4, choices=Level.choices)
    is_active = models.BooleanField(_("进行中"), default=True, db_index=True)
    started_at = models.DateTimeField(_("启动时间"))
    started_by_reading = models.ForeignKey(RainfallReading, null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+")
    ended_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    end_reason = models.CharField(_("解除理由"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("应急响应")
        verbose_name_plural = _("应急响应")
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True),
                                               name="flood_one_active_response")]

    def __str__(self) -> str:
        return f"{LEVEL_NUMERAL.get(self.level, self.level)}级响应 {self.started_at:%Y-%m-%d %H:%M}"


class ResponseChange(models.Model):
    """The response's history: each raise (by a reading or a person), lowering and lifting, with its reason."""

    response = models.ForeignKey(FloodResponse, on_delete=models.CASCADE, related_name="changes")
    from_level = models.CharField(max_length=4, blank=True)
    to_level = models.CharField(max_length=4, blank=True)  # blank: lifted
    reason = models.CharField(_("理由"), max_length=500, blank=True)
    reading = models.ForeignKey(RainfallReading, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("响应变更")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_level or '—'} → {self.to_level or '解除'}"


class StreetSignal(ScopedModel):
    """A street's warning signal now in force (one active row per street), raised by readings in it."""

    street = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("街道"))
    region_code = models.CharField(max_length=15, db_index=True)  # the street's code
    signal = models.CharField(_("预警信号"), max_length=8, choices=Signal.choices)
    reading = models.ForeignKey(RainfallReading, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    since = models.DateTimeField(_("发布时间"))
    is_active = models.BooleanField(default=True, db_index=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    scope_include_ancestors = True  # the signal over a street is seen from its grids too

    class Meta:
        verbose_name = _("街道预警")
        verbose_name_plural = _("街道预警")
        ordering = ["region_code"]
        constraints = [models.UniqueConstraint(fields=["region_code"], condition=models.Q(is_active=True),
                                               name="flood_one_active_signal_per_street")]

    def __str__(self) -> str:
        return f"{self.region_code} {self.signal}"


class TaskStatus(models.TextChoices):
    ISSUED = "issued", _("待签收")
    ACKNOWLEDGED = "acknowledged", _("已签收")
    DONE = "done", _("已完成")


OPEN_TASK_STATUSES = (TaskStatus.ISSUED, TaskStatus.ACKNOWLEDGED)


class ResponseTask(ScopedModel):
    """A task a response set for a street or for the street's 包保 department: 签收, then done with a note."""

    response = models.ForeignKey(FloodResponse, on_delete=models.PROTECT, related_name="tasks")
    template = models.ForeignKey(TaskTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    level = models.CharField(_("响应等级"), max_length=4, choices=Level.choices)
    target = models.CharField(_("对象"), max_length=16, choices=TaskTarget.choices)
    title = models.CharField(_("任务"), max_length=100)
    description = models.TextField(_("要求"), blank=True)
    street = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("街道"))
    region_code = models.CharField(max_length=15, db_index=True)  # the street's code
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("包保部门"))
    status = models.CharField(_("状态"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.ISSUED,
                              db_index=True)
    lists_hazards = models.BooleanField(default=False)
    issued_at = models.DateTimeField(_("下达时间"))
    ack_due_at = models.DateTimeField(_("签收期限"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    done_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    done_note = models.TextField(_("完成情况"), blank=True, max_length=2000)
    is_overdue = models.BooleanField(_("超时"), default=False, db_index=True)

    scope_department_field = "department_id"

    audit_personal_fields = {"done_note": TEXT}
    audit_plain_fields = ("description",)

    class Meta:
        verbose_name = _("响应任务")
        verbose_name_plural = _("响应任务")
        ordering = ["status", "-issued_at", "region_code", "id"]
        constraints = [models.UniqueConstraint(fields=["response", "template", "region_code", "target"],
                                               name="flood_one_task_per_template_street")]
        indexes = [models.Index(fields=["status", "region_code"])]

    def __str__(self) -> str:
        return f"{self.region_code} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

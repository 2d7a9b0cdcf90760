"""Rescue teams (抢险队伍) and incidents (险情): call-outs, acknowledgements, materials issued and the timeline.

Scope:
* A team stores the code of the region it serves: the district (`140213`) for the fire brigade (主力) and the
  social forces (社会力量), a street for a street's part-time team. Teams are visible from inside their region
  as well (`scope_include_ancestors`): a street's staff see the district's teams they may call out, and the
  team's own organisation (a department grant on `organisation`) sees its team.
* An incident stores its grid's code (or the street's when it was raised without a grid). Besides region
  grants, the organisations of the teams called out to it see it (their handlers acknowledge from it).
* Members and call-outs are read through their team and incident, never on their own.
* 包保: an incident names its street's 包保 (patron) department — the flood assignment for a flood incident
  (内涝/洪水 kinds, raised from a reading or from a flood hazard point), the safety one for the others, else
  whichever the street has (as `hazards.services.patron_for`) — and that department's handlers see it (view
  only). Read from the 包保 table at read time, not stored: the table is changed by `categories.services.assign_patron`
  without an event, and reading it costs no extra query (`Incident.objects.with_patron()` annotates each row; `scope_q`
  adds uncorrelated subqueries).
"""

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Case, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.scope import ScopedModel, ScopedQuerySet, subtree_q
from civicgrid.foundation.audit.personal import ADDRESS, NAME, TEXT
from civicgrid.foundation.workflow.steps import TimelineStep


class TeamKind(models.TextChoices):
    MAIN = "main", _("主力队伍")
    STREET = "street", _("街道兼职队伍")
    SOCIAL = "social", _("社会力量")


class Availability(models.TextChoices):
    STANDBY = "standby", _("待命")
    DEPLOYED = "deployed", _("出勤")
    RESTING = "resting", _("休整")


# Skills of members (and so of teams). Stored as ",code,code," so one `contains` filters on any database.
SKILLS = [
    ("water_rescue", gettext_noop("水上救援")),
    ("drainage", gettext_noop("排涝")),
    ("first_aid", gettext_noop("医疗急救")),
    ("electrician", gettext_noop("电工")),
    ("machinery", gettext_noop("机械操作")),
    ("search_rescue", gettext_noop("搜索救援")),
    ("firefighting", gettext_noop("灭火")),
    ("evacuation", gettext_noop("人员转移")),
    ("communication", gettext_noop("通信保障")),
]
SKILL_LABELS = dict(SKILLS)


def skills_text(codes) -> str:
    """The stored form of a set of skill codes: sorted, comma-framed (",drainage,water_rescue,")."""
    codes = sorted({c for c in codes if c})
    return f",{','.join(codes)}," if codes else ""


def skills_list(text: str) -> list[str]:
    return [c for c in (text or "").split(",") if c]


class RescueTeam(ScopedModel):
    """A rescue team with its leader, members, equipment and availability."""

    code = models.CharField(_("队伍编号"), max_length=32, unique=True)
    name = models.CharField(_("队伍名称"), max_length=100)
    kind = models.CharField(_("队伍类型"), max_length=16, choices=TeamKind.choices, db_index=True)
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("所属区域"))
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    organisation = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="rescue_teams", verbose_name=_("所属单位"))
    leader_name = models.CharField(_("负责人"), max_length=64)
    leader_phone_enc = models.TextField(blank=True)
    leader_phone_masked = models.CharField(_("联系电话"), max_length=20, blank=True)
    availability = models.CharField(_("状态"), max_length=16, choices=Availability.choices,
                                    default=Availability.STANDBY, db_index=True)
    headcount = models.PositiveIntegerField(_("人数"), default=0)
    skills = models.CharField(_("技能"), max_length=300, blank=True)  # ",code,…," from the members
    # Structured list [{"name": "冲锋舟", "quantity": 2, "unit": "艘"}] plus free text for what does not fit.
    equipment = models.JSONField(_("装备"), default=list, blank=True)
    equipment_note = models.TextField(_("装备说明"), blank=True, max_length=2000)
    base_address = models.CharField(_("驻地"), max_length=200, blank=True)
    lng = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    note = models.TextField(_("备注"), blank=True, max_length=2000)
    is_active = models.BooleanField(_("有效"), default=True)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_include_ancestors = True
    scope_department_field = "organisation_id"
    audit_sensitive_fields = ("leader_phone_enc",)
    audit_personal_fields = {"leader_name": NAME, "note": TEXT}
    audit_plain_fields = ("name", "equipment_note", "base_address")

    class Meta:
        verbose_name = _("抢险队伍")
        verbose_name_plural = _("抢险队伍")
        ordering = ["kind", "region_code", "code"]
        indexes = [models.Index(fields=["availability", "kind"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.region_id and self.region_code != self.region.code:
            self.region_code = self.region.code
        super().save(*args, **kwargs)

    @property
    def skill_list(self) -> list[str]:
        return skills_list(self.skills)

    @property
    def skill_labels(self) -> list[str]:
        return [SKILL_LABELS.get(c, c) for c in self.skill_list]


class RescueMember(models.Model):
    """A member of a team: name, phone (encrypted, shown masked), skills and certificates."""

    team = models.ForeignKey(RescueTeam, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(_("姓名"), max_length=64)
    role = models.CharField(_("职务"), max_length=32, blank=True)  # 队长 / 副队长 / 队员
    phone_enc = models.TextField(blank=True)
    phone_masked = models.CharField(_("电话"), max_length=20, blank=True)
    skills = models.CharField(_("技能"), max_length=300, blank=True)
    certificates = models.CharField(_("证书"), max_length=300, blank=True)
    is_active = models.BooleanField(_("在队"), default=True)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    audit_sensitive_fields = ("phone_enc",)
    audit_personal_fields = {"name": NAME}

    class Meta:
        verbose_name = _("队员")
        verbose_name_plural = _("队员")
        ordering = ["team", "id"]

    def __str__(self) -> str:
        return f"{self.team_id} {self.name}"

    @property
    def region_code(self) -> str:  # audit entries and events carry the team's region
        return self.team.region_code

    @property
    def skill_labels(self) -> list[str]:
        return [SKILL_LABELS.get(c, c) for c in skills_list(self.skills)]


class IncidentKind(models.TextChoices):
    WATERLOGGING = "waterlogging", _("城市内涝/积水")
    FLOOD = "flood", _("洪水/河道险情")
    HOUSE = "house", _("房屋险情")
    GEOLOGICAL = "geological", _("地质灾害")
    FIRE = "fire", _("火灾")
    HAZCHEM = "hazchem", _("危化品泄漏")
    GAS = "gas", _("燃气泄漏")
    POWER = "power", _("供电/设施故障")
    OTHER = "other", _("其他")


class Severity(models.TextChoices):
    GENERAL = "general", _("一般")
    LARGE = "large", _("较大")
    MAJOR = "major", _("重大")
    EXTREME = "extreme", _("特别重大")


class IncidentSource(models.TextChoices):
    HAZARD = "hazard", _("隐患点")
    READING = "reading", _("雨情水情")
    CASE = "case", _("网格事件")
    DIRECT = "direct", _("直接登记")


class IncidentStatus(models.TextChoices):
    REPORTED = "reported", _("已报告")
    RESPONDING = "responding", _("处置中")
    CONTROLLED = "controlled", _("已控制")
    CLOSED = "closed", _("已结束")


OPEN_INCIDENT_STATUSES = (IncidentStatus.REPORTED, IncidentStatus.RESPONDING, IncidentStatus.CONTROLLED)


FLOOD_INCIDENT_KINDS = (IncidentKind.WATERLOGGING, IncidentKind.FLOOD)
PATRON_FLOOD, PATRON_SAFETY = "flood", "safety"  # hazards.PatronKind values


def flood_incident_q() -> models.Q:
    """Flood incidents: 内涝/洪水 kinds, raised from a rainfall/water reading, or from a flood hazard point."""
    return (models.Q(kind__in=FLOOD_INCIDENT_KINDS) | models.Q(source=IncidentSource.READING)
            | models.Q(hazard__kind=PATRON_FLOOD))


def _patrons():
    return apps.get_model("hazards", "PatronAssignment").objects


def patron_streets(department_ids, wanted: str):
    """Street codes (two subqueries) whose 包保 department for `wanted` incidents is one of these: the assignment
    of that kind, or the other kind's where the street has none of that kind."""
    other = PATRON_SAFETY if wanted == PATRON_FLOOD else PATRON_FLOOD
    ids = sorted(department_ids)
    own = _patrons().filter(kind=wanted, department_id__in=ids).values("street_code")
    fallback = (_patrons().filter(kind=other, department_id__in=ids)
                .exclude(street_code__in=_patrons().filter(kind=wanted).values("street_code")).values("street_code"))
    return models.Q(street_code__in=own) | models.Q(street_code__in=fallback)


class IncidentQuerySet(ScopedQuerySet):
    def with_patron(self):
        """Each row with `patron_department_id` and `patron_department_name`: the street's 包保 department of the
        incident's kind (flood or safety), else the street's other one; in the same query."""
        qs = self.annotate(patron_kind=Case(When(flood_incident_q(), then=Value(PATRON_FLOOD)),
                                            default=Value(PATRON_SAFETY)))
        # The street's assignment of that kind, else its first (SQLite cannot order a subquery by an outer column).
        street = _patrons().filter(street_code=OuterRef("street_code")).order_by("kind")
        wanted = street.filter(kind=OuterRef("patron_kind"))
        return qs.annotate(
            patron_department_id=Coalesce(Subquery(wanted.values("department_id")[:1]),
                                          Subquery(street.values("department_id")[:1])),
            patron_department_name=Coalesce(Subquery(wanted.values("department__name")[:1]),
                                            Subquery(street.values("department__name")[:1])))


class Incident(ScopedModel):
    """One incident (险情) from being raised to its closing report."""

    code = models.CharField(_("险情编号"), max_length=24, unique=True)
    title = models.CharField(_("标题"), max_length=100)
    description = models.TextField(_("情况描述"), max_length=4000, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=IncidentKind.choices, default=IncidentKind.OTHER)
    severity = models.CharField(_("等级"), max_length=16, choices=Severity.choices, default=Severity.GENERAL)
    status = models.CharField(_("状态"), max_length=16, choices=IncidentStatus.choices,
                              default=IncidentStatus.REPORTED, db_index=True)
    source = models.CharField(_("来源"), max_length=16, choices=IncidentSource.choices,
                              default=IncidentSource.DIRECT)
    hazard = models.ForeignKey("hazards.Hazard", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="incidents", verbose_name=_("隐患点"))
    reading_ref = models.CharField(_("雨情水情记录"), max_length=64, blank=True)  # the flood reading's id
    station = models.CharField(_("测站"), max_length=64, blank=True)
    case_id = models.BigIntegerField(_("网格事件"), null=True, blank=True)  # cases.Case id (never written)
    case_number = models.CharField(_("案卷号"), max_length=20, blank=True)

    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    address = models.CharField(_("地址"), max_length=200, blank=True)
    grid = models.ForeignKey("regions.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("网格"))
    region_code = models.CharField(max_length=15, db_index=True)  # the grid's code
    street_code = models.CharField(_("街道代码"), max_length=15, db_index=True)

    opened_at = models.DateTimeField(_("报告时间"), db_index=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("报告人"))
    controlled_at = models.DateTimeField(_("控制时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("结束确认人"))
    # closing report (required to close)
    report_summary = models.TextField(_("险情经过"), max_length=4000, blank=True)
    report_actions = models.TextField(_("处置措施"), max_length=4000, blank=True)
    report_losses = models.TextField(_("损失情况"), max_length=2000, blank=True)
    report_lessons = models.TextField(_("经验教训"), max_length=2000, blank=True)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    audit_personal_fields = {"address": ADDRESS, "description": TEXT, "report_summary": TEXT, "report_actions": TEXT, "report_losses": TEXT, "report_lessons": TEXT}

    class Meta:
        verbose_name = _("险情")
        verbose_name_plural = _("险情")
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "opened_at"])]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_INCIDENT_STATUSES

    @property
    def is_flood(self) -> bool:
        return (self.kind in FLOOD_INCIDENT_KINDS or self.source == IncidentSource.READING
                or bool(self.hazard_id and self.hazard.kind == PATRON_FLOOD))

    def load_patron(self) -> "Incident":
        """Fill `patron_department_id`/`_name` when the row was not read `with_patron()` (one or two queries)."""
        if not hasattr(self, "patron_department_name"):
            rows = {kind: (dept, name) for kind, dept, name in _patrons().filter(street_code=self.street_code)
                    .order_by("kind").values_list("kind", "department_id", "department__name")}
            wanted = PATRON_FLOOD if self.is_flood else PATRON_SAFETY
            self.patron_department_id, self.patron_department_name = (
                rows.get(wanted) or next(iter(rows.values()), (None, None)))
        return self

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """Region grants by subtree; department grants: incidents their organisation's teams were called to and
        (view) the incidents of the streets they are the 包保 department of."""
        q = models.Q()
        matched = False
        for code in scope.region_codes:
            q |= subtree_q("region_code", code)
            matched = True
        if scope.department_ids:
            called = CallOut.objects.filter(team__organisation_id__in=sorted(scope.department_ids))
            q |= models.Q(pk__in=called.values("incident_id"))
            matched = True
            if action == "view":
                flood = flood_incident_q()
                q |= (flood & patron_streets(scope.department_ids, PATRON_FLOOD)) | (
                    ~flood & patron_streets(scope.department_ids, PATRON_SAFETY))
        return q if matched else None


class CallOutStatus(models.TextChoices):
    CALLED = "called", _("已调派")
    ACKNOWLEDGED = "acknowledged", _("已响应")
    ARRIVED = "arrived", _("已到达")
    RELEASED = "released", _("已归队")


ACTIVE_CALLOUT_STATUSES = (CallOutStatus.CALLED, CallOutStatus.ACKNOWLEDGED, CallOutStatus.ARRIVED)


class CallOut(models.Model):
    """A team dispatched (调派) to an incident: called → acknowledged (响应) → arrived (到达) → released (归队)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="callouts")
    team = models.ForeignKey(RescueTeam, on_delete=models.PROTECT, related_name="callouts")
    status = models.CharField(_("状态"), max_length=16, choices=CallOutStatus.choices,
                              default=CallOutStatus.CALLED, db_index=True)
    task = models.TextField(_("任务"), max_length=2000, blank=True)
    called_at = models.DateTimeField(_("调派时间"))
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    acknowledged_at = models.DateTimeField(_("响应时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")
    people = models.PositiveIntegerField(_("出动人数"), null=True, blank=True)
    arrived_at = models.DateTimeField(_("到达时间"), null=True, blank=True)
    released_at = models.DateTimeField(_("归队时间"), null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    note = models.CharField(_("说明"), max_length=500, blank=True)

    audit_personal_fields = {"note": TEXT}

    class Meta:
        verbose_name = _("调派")
        verbose_name_plural = _("调派")
        ordering = ["incident", "called_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "team"], condition=models.Q(status__in=[
                "called", "acknowledged", "arrived"]), name="rescue_one_active_callout_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} ← {self.team_id} ({self.status})"

    @property
    def region_code(self) -> str:
        return self.incident.region_code

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_CALLOUT_STATUSES


class IncidentMaterial(models.Model):
    """Materials issued to the incident through the materials app's service (a copy for the incident page)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="materials")
    warehouse_id = models.BigIntegerField(_("仓库"))
    warehouse_name = models.CharField(_("仓库"), max_length=100, blank=True)
    item_id = models.BigIntegerField(_("物资"))
    item_name = models.CharField(_("物资"), max_length=100, blank=True)
    unit = models.CharField(_("单位"), max_length=16, blank=True)
    quantity = models.DecimalField(_("数量"), max_digits=14, decimal_places=2)
    movement_ref = models.CharField(max_length=64, blank=True)  # the materials app's movement id
    note = models.CharField(_("说明"), max_length=500, blank=True)
    issued_at = models.DateTimeField(_("出库时间"))
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    audit_plain_fields = ("warehouse_name", "item_name", "note")

    class Meta:
        verbose_name = _("调拨物资")
        verbose_name_plural = _("调拨物资")
        ordering = ["incident", "issued_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.item_name} {self.quantity}"


class IncidentStep(TimelineStep):
    """One entry of an incident's timeline: raised, call-out, acknowledgement, arrival, release, material,
    note, status change, closing."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    team = models.ForeignKey(RescueTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    audit_personal_fields = {"note": TEXT}
    audit_plain_fields = ("actor_name",)

    class Meta(TimelineStep.Meta):
        verbose_name = _("险情处置过程")

    def __str__(self) -> str:
        return f"{self.incident_id} {self.action}"


class IncidentSequence(models.Model):
    """The last number handed out per year for incident codes such as XQ-2026-0001."""

    year = models.PositiveSmallIntegerField(unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year} {self.last}"

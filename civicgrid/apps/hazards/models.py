"""Hazard points (隐患) of two kinds, safety and flood, and what their ledgers need.

A hazard stores its grid code (`region_code`), its street code and its 包保 (patron) department, which is how
the scoped read path finds it: grid workers and street/community staff by region, the patron department and the
department responsible for the rectification by department. The issue list, responsibility list and
rectification ledger (三个清单) are views over `Hazard` + `Rectification`; the timeline is `HazardStep`.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.scope import ScopedModel, subtree_q
from civicgrid.foundation.audit.personal import ADDRESS, NAME, TEXT
from civicgrid.foundation.workflow.steps import TimelineStep


class Kind(models.TextChoices):
    SAFETY = "safety", _("安全隐患")
    FLOOD = "flood", _("防汛隐患")


# Categories per kind (DOMAIN.md §5). Local lists can add more (HazardCategory rows); these are the defaults.
SAFETY_CATEGORIES = [
    ("hazchem", gettext_noop("危化品")),
    ("construction", gettext_noop("建筑施工")),
    ("self_built", gettext_noop("自建房")),
    ("gas", gettext_noop("燃气")),
    ("elderly_care", gettext_noop("养老机构")),
    ("fire", gettext_noop("消防")),
    ("special_equipment", gettext_noop("特种设备")),
    ("road_traffic", gettext_noop("道路交通")),
    ("other_safety", gettext_noop("其他")),
]
FLOOD_CATEGORIES = [
    ("low_lying", gettext_noop("低洼易涝点")),
    ("underpass", gettext_noop("下凹式立交桥")),
    ("culvert", gettext_noop("涵洞/地下通道")),
    ("underground", gettext_noop("地下空间")),
    ("dilapidated_house", gettext_noop("危旧房屋")),
    ("flash_flood", gettext_noop("山洪及地质灾害隐患点")),
    ("river_dike", gettext_noop("河道堤防")),
    ("deep_pit", gettext_noop("在建工地/深基坑")),
    ("pump_station", gettext_noop("排水泵站")),
    ("poor_drainage", gettext_noop("排水不畅/下水道年久失修")),
    ("roof_leak", gettext_noop("屋顶漏雨")),
]
CATEGORY_LABELS = dict(SAFETY_CATEGORIES + FLOOD_CATEGORIES)
CATEGORIES_BY_KIND = {Kind.SAFETY: dict(SAFETY_CATEGORIES), Kind.FLOOD: dict(FLOOD_CATEGORIES)}


class Grade(models.TextChoices):
    GENERAL = "general", _("一般隐患")
    MAJOR = "major", _("重大隐患")


class Status(models.TextChoices):
    """排查 → 登记 → 整改 → 验收 → 销号 (a failed check sends the hazard back to 整改)."""

    REGISTERED = "registered", _("已登记")
    RECTIFYING = "rectifying", _("整改中")
    CHECKING = "checking", _("待验收")
    PASSED = "passed", _("待销号")
    CLOSED = "closed", _("已销号")
    VOIDED = "voided", _("已撤销")


OPEN_STATUSES = {Status.REGISTERED, Status.RECTIFYING, Status.CHECKING, Status.PASSED}


class FoundBy(models.TextChoices):
    """How a hazard was found (DOMAIN.md §5, sources of inspection)."""

    ROUTINE = "routine", _("日常检查")
    COMPREHENSIVE = "comprehensive", _("综合检查")
    SPECIALIST = "specialist", _("专项检查")
    SEASONAL = "seasonal", _("季节性检查")
    HOLIDAY = "holiday", _("节假日前检查")
    AFTER_ACCIDENT = "after_accident", _("事故类比检查")
    RESUME_WORK = "resume_work", _("复产复工前检查")
    EXPERT = "expert", _("专家诊断")
    REPORT = "report", _("群众举报/事件转入")


class PatronKind(models.TextChoices):
    FLOOD = "flood", _("汛期包保")
    SAFETY = "safety", _("安全生产包保")


class PatronAssignment(models.Model):
    """包保: a district department answerable for a street (per kind of work), the one record of it. Loaded from
    `baobao_flood.csv`; changed only through `categories.services.assign_patron`, which moves the 包保 routing
    rules of the street with it."""

    department = models.ForeignKey("orgs.Organisation", on_delete=models.PROTECT, related_name="patron_streets",
                                   verbose_name=_("包保部门"))
    street = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("街道"))
    street_code = models.CharField(max_length=15, db_index=True, editable=False)
    kind = models.CharField(_("类型"), max_length=16, choices=PatronKind.choices, default=PatronKind.FLOOD)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("包保关系")
        verbose_name_plural = _("包保关系")
        constraints = [models.UniqueConstraint(fields=["street", "kind"], name="hazards_one_patron_per_street")]
        ordering = ["street_code", "kind"]

    def __str__(self) -> str:
        return f"{self.street_code} ← {self.department_id} ({self.kind})"

    def save(self, *args, **kwargs):
        self.street_code = self.street.code
        super().save(*args, **kwargs)


class Campaign(ScopedModel):
    """An inspection campaign (排查): checklists by category for a region, with a deadline."""

    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("隐患类型"), max_length=16, choices=Kind.choices)
    found_by = models.CharField(_("排查方式"), max_length=16, choices=FoundBy.choices, default=FoundBy.SPECIALIST)
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("范围"))
    region_code = models.CharField(max_length=15, db_index=True)
    starts_on = models.DateField(_("开始日期"))
    deadline = models.DateField(_("完成期限"))
    is_revisit = models.BooleanField(_("回头看"), default=False)
    is_open = models.BooleanField(_("进行中"), default=True)
    description = models.TextField(_("说明"), blank=True, max_length=2000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    # A campaign over a street is seen from inside it (grid workers fill its checklists) and from above.
    scope_include_ancestors = True

    audit_plain_fields = ("name", "description")

    class Meta:
        verbose_name = _("排查行动")
        verbose_name_plural = _("排查行动")
        ordering = ["-starts_on", "-id"]

    def __str__(self) -> str:
        return self.name


class ChecklistItem(models.Model):
    """One question of a campaign's checklist for a category ("排水口是否堵塞")."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    category = models.CharField(_("隐患类别"), max_length=32)
    text = models.CharField(_("检查内容"), max_length=200)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("检查项")
        ordering = ["campaign", "category", "order", "id"]

    def __str__(self) -> str:
        return self.text


class InspectionStatus(models.TextChoices):
    PENDING = "pending", _("待检查")
    DONE = "done", _("已完成")


class Inspection(ScopedModel):
    """One checklist to fill in a region (a grid, community or street) for a campaign, usually on a phone.

    For a 回头看 (revisit) round, `hazard` names the point revisited."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="inspections")
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(max_length=15, db_index=True)
    street_code = models.CharField(max_length=15, db_index=True)
    category = models.CharField(_("隐患类别"), max_length=32)
    hazard = models.ForeignKey("Hazard", null=True, blank=True, on_delete=models.CASCADE, related_name="revisits")
    place = models.CharField(_("检查对象"), max_length=200, blank=True)  # the unit or place checked
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("检查人"))
    status = models.CharField(_("状态"), max_length=16, choices=InspectionStatus.choices,
                              default=InspectionStatus.PENDING, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    note = models.TextField(_("说明"), blank=True, max_length=2000)

    audit_personal_fields = {"note": TEXT}

    class Meta:
        verbose_name = _("检查表")
        verbose_name_plural = _("检查表")
        ordering = ["campaign", "region_code", "id"]
        indexes = [models.Index(fields=["campaign", "street_code", "status"])]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.region_code} {self.category}"


class InspectionAnswer(models.Model):
    """The answer to one checklist item; a failed item can become a hazard (`hazard`)."""

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    ok = models.BooleanField(_("合格"))
    note = models.CharField(_("说明"), max_length=500, blank=True)
    hazard = models.ForeignKey("Hazard", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    audit_personal_fields = {"note": TEXT}

    class Meta:
        verbose_name = _("检查结果")
        constraints = [models.UniqueConstraint(fields=["inspection", "item"], name="hazards_one_answer_per_item")]

    def __str__(self) -> str:
        return f"{self.inspection_id} {self.item_id} {'ok' if self.ok else 'fail'}"


class Hazard(ScopedModel):
    """One hazard point, from registration (登记) to close-out (销号)."""

    code = models.CharField(_("编号"), max_length=24, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, db_index=True)
    category = models.CharField(_("类别"), max_length=32, db_index=True)
    grade = models.CharField(_("等级"), max_length=16, choices=Grade.choices, default=Grade.GENERAL, db_index=True)
    sub_grade = models.CharField(_("细分等级"), max_length=32, blank=True)  # local sub-grades, configurable
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.REGISTERED,
                              db_index=True)
    description = models.TextField(_("问题描述"), max_length=4000)
    found_by = models.CharField(_("发现方式"), max_length=16, choices=FoundBy.choices, default=FoundBy.ROUTINE)
    found_on = models.DateField(_("发现日期"))
    inspector = models.CharField(_("排查人"), max_length=64, blank=True)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="hazards",
                                 verbose_name=_("排查行动"))
    source_case_id = models.BigIntegerField(null=True, blank=True)  # a grid case this hazard came from

    # where
    lng = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    address = models.CharField(_("地址"), max_length=200, blank=True)
    grid = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("网格"))
    region_code = models.CharField(max_length=15, db_index=True)  # the grid's code
    street_code = models.CharField(max_length=15, db_index=True)

    # who (责任清单)
    owner_unit = models.CharField(_("责任单位"), max_length=100, blank=True)
    owner_person = models.CharField(_("责任人"), max_length=64, blank=True)
    owner_phone_enc = models.TextField(blank=True)
    owner_phone_masked = models.CharField(_("责任人电话"), max_length=20, blank=True)
    patron_department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="patron_hazards", verbose_name=_("包保部门"))
    responsible_department = models.ForeignKey("orgs.Organisation", null=True, blank=True,
                                               on_delete=models.PROTECT, related_name="responsible_hazards",
                                               verbose_name=_("行业主管部门"))
    supervising_street = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="+", verbose_name=_("属地街道"))

    # threatened
    threatened_people = models.PositiveIntegerField(_("威胁人数"), default=0)
    threatened_households = models.PositiveIntegerField(_("威胁户数"), default=0)

    # control
    is_supervised = models.BooleanField(_("挂牌督办"), default=False, db_index=True)
    short_term_fixable = models.BooleanField(_("短期可整改"), default=True)
    deadline = models.DateTimeField(_("整改期限"), null=True, blank=True)
    is_overdue = models.BooleanField(_("超期"), default=False, db_index=True)
    registered_at = models.DateTimeField(_("登记时间"))
    closed_at = models.DateTimeField(_("销号时间"), null=True, blank=True)
    is_synthetic = models.BooleanField(_("演示数据"), default=False)  # demo details are synthetic and marked so
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    scope_department_field = "patron_department_id"
    audit_sensitive_fields = ("owner_phone_enc",)
    audit_personal_fields = {"owner_person": NAME, "address": ADDRESS, "description": TEXT}
    audit_plain_fields = ("name",)

    class Meta:
        verbose_name = _("隐患")
        verbose_name_plural = _("隐患")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["kind", "street_code"]),
            models.Index(fields=["kind", "status"]),
            models.Index(fields=["patron_department", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """Region scope; the patron (包保) department and the responsible department by department."""
        q = models.Q()
        matched = False
        for code in scope.region_codes:
            q |= subtree_q("region_code", code)
            matched = True
        if scope.department_ids:
            ids = sorted(scope.department_ids)
            q |= models.Q(patron_department_id__in=ids) | models.Q(responsible_department_id__in=ids)
            matched = True
        return q if matched else None


class PlanKind(models.TextChoices):
    GOVERNANCE = "governance", _("治理方案")  # a 重大 hazard's plan with the five assurances
    EMERGENCY = "emergency", _("应急预案")  # a hazard that cannot be fixed in the short term


class HazardPlan(models.Model):
    """A hazard's governance plan (五落实) or emergency plan. The latest of a kind is the one in force."""

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="plans")
    kind = models.CharField(_("类型"), max_length=16, choices=PlanKind.choices)
    # 五落实: responsibility, measures, funds, deadline, emergency plan
    responsibility = models.CharField(_("责任落实"), max_length=200, blank=True)
    measures = models.TextField(_("措施落实"), max_length=4000, blank=True)
    funds = models.DecimalField(_("资金落实（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    deadline = models.DateField(_("时限落实"), null=True, blank=True)
    emergency_plan = models.TextField(_("应急预案落实"), max_length=4000, blank=True)
    # governance plan (治理方案) details
    goal = models.CharField(_("治理目标"), max_length=500, blank=True)
    materials = models.CharField(_("物资保障"), max_length=500, blank=True)
    safety_measures = models.TextField(_("安全措施"), max_length=2000, blank=True)
    # emergency plan details (cannot be fixed in the short term)
    responsible_person = models.CharField(_("应急责任人"), max_length=64, blank=True)
    procedure = models.TextField(_("应急处置程序"), max_length=4000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    audit_personal_fields = {"responsible_person": NAME}

    class Meta:
        verbose_name = _("隐患方案")
        ordering = ["hazard", "kind", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.hazard_id} {self.kind}"


class Rectification(models.Model):
    """The hazard's line of the rectification ledger (整改台账): measures, funds, deadline, check, close-out."""

    hazard = models.OneToOneField(Hazard, on_delete=models.CASCADE, related_name="rectification")
    measures = models.TextField(_("整改措施"), max_length=4000, blank=True)
    budget = models.DecimalField(_("整改资金（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    responsible_unit = models.CharField(_("整改责任单位"), max_length=100, blank=True)
    responsible_person = models.CharField(_("整改责任人"), max_length=64, blank=True)
    deadline = models.DateField(_("整改时限"), null=True, blank=True)
    interim_measures = models.TextField(_("临时管控措施"), max_length=2000, blank=True)
    started_at = models.DateTimeField(_("开始整改"), null=True, blank=True)
    reported_done_at = models.DateTimeField(_("整改完成"), null=True, blank=True)
    checker = models.CharField(_("验收人"), max_length=64, blank=True)
    checked_on = models.DateField(_("验收日期"), null=True, blank=True)
    check_passed = models.BooleanField(_("验收通过"), null=True)
    check_note = models.TextField(_("验收意见"), max_length=2000, blank=True)
    closed_on = models.DateField(_("销号日期"), null=True, blank=True)
    rounds = models.PositiveSmallIntegerField(_("整改轮次"), default=0)

    audit_personal_fields = {"responsible_person": NAME, "check_note": TEXT}

    class Meta:
        verbose_name = _("整改台账")

    def __str__(self) -> str:
        return f"rectification of {self.hazard_id}"


class HazardStep(TimelineStep):
    """One entry of a hazard's timeline: a transition or a note, by whom, when."""

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="steps")

    audit_personal_fields = {"note": TEXT}
    audit_plain_fields = ("actor_name",)

    class Meta(TimelineStep.Meta):
        verbose_name = _("隐患处理过程")

    def __str__(self) -> str:
        return f"{self.hazard_id} {self.action}"


class HazardPhoto(models.Model):
    """A photo of a hazard: at finding, before and after rectification, at the acceptance check."""

    class Stage(models.TextChoices):
        FINDING = "finding", _("发现")
        BEFORE = "before", _("整改前")
        AFTER = "after", _("整改后")
        CHECK = "check", _("验收")

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="photos")
    step = models.ForeignKey(HazardStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    path = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("隐患照片")

    def __str__(self) -> str:
        return f"{self.hazard_id} {self.stage} {self.sha256[:12]}"


class HazardSequence(models.Model):
    """The last number handed out per (kind, year) for hazard codes such as FX-2023-0001."""

    kind = models.CharField(max_length=16)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="hazards_one_sequence")]

    def __str__(self) -> str:
        return f"{self.kind}-{self.year} {self.last}"

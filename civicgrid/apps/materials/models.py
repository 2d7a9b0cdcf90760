"""Emergency materials (应急物资): the catalogue, warehouses, stock lots, movements, stock counts and targets.

Stock is kept per warehouse × item × batch × condition (`StockLot`); a lot's quantity never goes below zero (a
database check, and every service decrements with a conditional update). Every change of a quantity is a
`Movement` row written in the same transaction, with the actor, the reason and the balance after it, so the
ledger (物资台账) can always be rebuilt and checked against the lots.

Scope: a warehouse stores the code of its region (district 6, street 9, community 12 digits) and, optionally,
the department answerable for it (the street's 包保 department, or the district department that runs it). It is
seen from inside its subtree, from above, and — read-only — from below (`scope_include_ancestors`): a street's
staff see their own and their communities' warehouses and also the district warehouse, so the nearest-stock
finder can point them at it; changing stock needs `materials.change` over the warehouse's own region (or its
department), see `services.can_change`. Lots, movements and counts carry the warehouse's code and department.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.access.scope import ScopedModel, ScopedQuerySet

PATRON_KIND = "flood"  # materials are a flood-season duty: the street's flood 包保 department


class Group(models.TextChoices):
    """One local scheme's groups (DOMAIN.md §5)."""

    LIFESAVING = "lifesaving", _("救生")
    RESCUE = "rescue", _("抢险")
    DRAINAGE = "drainage", _("排涝")
    LIGHTING = "lighting", _("照明")
    ENERGY = "energy", _("能源")
    LIVING = "living", _("生活")
    MEDICAL = "medical", _("医疗")
    COMMUNICATION = "communication", _("通信")
    TOOLS = "tools", _("工器具")
    SPECIAL = "special", _("专用材料")


class Grade(models.TextChoices):
    A = "A", _("A 核心")
    B = "B", _("B 重要")
    C = "C", _("C 一般")


class Level(models.TextChoices):
    DISTRICT = "district", _("区级")
    STREET = "street", _("街道级")
    COMMUNITY = "community", _("社区级")


LEVEL_BY_LENGTH = {6: Level.DISTRICT, 9: Level.STREET, 12: Level.COMMUNITY}


class Condition(models.TextChoices):
    GOOD = "good", _("完好")
    REPAIR = "repair", _("待修")
    SCRAPPED = "scrapped", _("报废")


class MovementKind(models.TextChoices):
    IN = "in", _("入库")
    OUT = "out", _("出库")
    TRANSFER_OUT = "transfer_out", _("调拨调出")
    TRANSFER_IN = "transfer_in", _("调拨调入")
    ISSUE = "issue", _("出库至险情")
    ADJUST = "adjust", _("盘点调整")
    CONDITION = "condition", _("状态变更")


def _patron_rows():
    return apps.get_model("hazards", "PatronAssignment").objects.filter(kind=PATRON_KIND)


def patron_streets(department_ids):
    """The street codes (a subquery) whose flood 包保 department is one of these departments."""
    return _patron_rows().filter(department_id__in=sorted(department_ids)).values("street_code")


def patron_of_street(street_code: str) -> tuple[int | None, str | None]:
    """(id, name) of a street's flood 包保 department, or (None, None): one query (none without a street)."""
    if not street_code:
        return None, None
    row = _patron_rows().filter(street_code=street_code[:9]).values_list("department_id", "department__name").first()
    return row or (None, None)


def with_patron_path(q, scope, action: str, patron_q):
    """Add the 包保 path (view only) to a scope filter: `patron_q(department_ids)` is the rows of their streets."""
    if action != "view" or not scope.department_ids:
        return q
    extra = patron_q(scope.department_ids)
    return extra if q is None else q | extra


class PatronQuerySet(ScopedQuerySet):
    """`with_patron()`: each row gets `patron_department_id` and `patron_department_name` of its street (read
    from the 包保 table in the same query)."""

    patron_street_field = "street_code"

    def with_patron(self):
        rows = _patron_rows().filter(street_code=OuterRef(self.patron_street_field))
        return self.annotate(patron_department_id=Subquery(rows.values("department_id")[:1]),
                             patron_department_name=Subquery(rows.values("department__name")[:1]))


class LotQuerySet(PatronQuerySet):
    patron_street_field = "warehouse__street_code"


class MovementQuerySet(PatronQuerySet):
    patron_street_field = "warehouse__street_code"


class TargetQuerySet(PatronQuerySet):
    patron_street_field = "region_code"


def _through_warehouse(department_ids) -> models.Q:
    return models.Q(warehouse_id__in=Warehouse.objects.filter(street_code__in=patron_streets(department_ids))
                    .values("pk"))


class MaterialItem(models.Model):
    """One kind of material in the catalogue (冲锋舟, 编织袋 …): unit, group and A/B/C grade."""

    code = models.CharField(_("物资编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    unit = models.CharField(_("单位"), max_length=16)
    group = models.CharField(_("类别"), max_length=16, choices=Group.choices)
    grade = models.CharField(_("分级"), max_length=1, choices=Grade.choices, default=Grade.B)
    spec = models.CharField(_("规格型号"), max_length=100, blank=True)
    tracks_expiry = models.BooleanField(_("有保质期"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    audit_plain_fields = ("name", "note")

    class Meta:
        verbose_name = _("物资品种")
        verbose_name_plural = _("物资目录")
        ordering = ["group", "grade", "code"]

    def __str__(self) -> str:
        return self.name


class Warehouse(ScopedModel):
    """A store of emergency materials at district, street or community level, with its location and keeper."""

    code = models.CharField(_("仓库编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices, editable=False)
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("所属区域"))
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    street_code = models.CharField(max_length=15, blank=True, db_index=True, editable=False)
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("主管/包保部门"))
    address = models.CharField(_("地址"), max_length=200, blank=True)
    lat = models.FloatField(_("纬度"))
    lng = models.FloatField(_("经度"))
    keeper = models.CharField(_("保管员"), max_length=64, blank=True)
    keeper_phone_enc = models.TextField(blank=True)
    keeper_phone_masked = models.CharField(_("保管员电话"), max_length=20, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    is_demo = models.BooleanField(_("演示数据"), default=False)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_include_ancestors = True
    scope_department_field = "department"
    audit_sensitive_fields = ("keeper_phone_enc",)
    audit_plain_fields = ("name", "address", "note")

    objects = PatronQuerySet.as_manager()

    class Meta:
        verbose_name = _("物资仓库")
        verbose_name_plural = _("物资仓库")
        ordering = ["region_code", "code"]

    def save(self, *args, **kwargs):
        self.region_code = self.region.code
        self.street_code = self.region.code[:9] if len(self.region.code) >= 9 else ""
        self.level = LEVEL_BY_LENGTH.get(len(self.region.code), Level.COMMUNITY)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """Region (and ancestors) and own department; view also for the street's 包保 department."""
        return with_patron_path(super().scope_q(scope, user, action=action), scope, action,
                                lambda ids: models.Q(street_code__in=patron_streets(ids)))

    def load_patron(self) -> Warehouse:
        """Fill `patron_department_id`/`_name` when the row was not read `with_patron()` (one query)."""
        if not hasattr(self, "patron_department_name"):
            self.patron_department_id, self.patron_department_name = patron_of_street(self.street_code)
        return self


class StockLot(ScopedModel):
    """What one warehouse holds of one item, per batch and condition (batch "" where batches do not matter)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="lots")
    item = models.ForeignKey(MaterialItem, on_delete=models.PROTECT, related_name="lots", verbose_name=_("物资"))
    batch = models.CharField(_("批次"), max_length=32, blank=True, default="")
    condition = models.CharField(_("状态"), max_length=16, choices=Condition.choices, default=Condition.GOOD)
    expiry_date = models.DateField(_("有效期至"), null=True, blank=True)
    quantity = models.BigIntegerField(_("数量"), default=0)
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    scope_include_ancestors = True
    scope_department_field = "department"

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """As the warehouse: view also for the 包保 department of the warehouse's street."""
        return with_patron_path(super().scope_q(scope, user, action=action), scope, action, _through_warehouse)

    objects = LotQuerySet.as_manager()

    class Meta:
        verbose_name = _("库存")
        verbose_name_plural = _("库存")
        ordering = ["warehouse", "item", "expiry_date", "batch", "condition"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "item", "batch", "condition"], name="materials_one_lot"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="materials_lot_not_negative"),
        ]
        indexes = [models.Index(fields=["item", "condition", "warehouse"], name="materials_lot_item_idx")]

    def save(self, *args, **kwargs):
        self.region_code = self.warehouse.region_code
        self.department_id = self.warehouse.department_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.warehouse_id}/{self.item_id}/{self.batch or '-'}/{self.condition}: {self.quantity}"


class StockCount(ScopedModel):
    """A stock count (盘点) of one warehouse: opened, counted line by line, confirmed all at once."""

    class Status(models.TextChoices):
        OPEN = "open", _("盘点中")
        CONFIRMED = "confirmed", _("已确认")
        CANCELLED = "cancelled", _("已作废")

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="counts")
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)

    scope_include_ancestors = True
    scope_department_field = "department"

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """As the warehouse: view also for the 包保 department of the warehouse's street."""
        return with_patron_path(super().scope_q(scope, user, action=action), scope, action, _through_warehouse)

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("盘点")
        verbose_name_plural = _("盘点")
        ordering = ["-started_at", "-id"]

    def save(self, *args, **kwargs):
        self.region_code = self.warehouse.region_code
        self.department_id = self.warehouse.department_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"盘点 {self.pk} {self.warehouse_id}"


class StockCountLine(models.Model):
    """One lot as the system had it when the count opened (`expected`) and as counted (`counted`)."""

    count = models.ForeignKey(StockCount, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(MaterialItem, on_delete=models.PROTECT, related_name="+")
    batch = models.CharField(max_length=32, blank=True, default="")
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.GOOD)
    expiry_date = models.DateField(null=True, blank=True)
    expected = models.BigIntegerField(default=0)
    counted = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["item__group", "item__code", "batch", "condition"]
        constraints = [
            models.UniqueConstraint(fields=["count", "item", "batch", "condition"], name="materials_one_count_line"),
            models.CheckConstraint(condition=models.Q(counted__gte=0) | models.Q(counted__isnull=True),
                                   name="materials_counted_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.count_id}/{self.item_id}/{self.batch or '-'}: {self.expected} → {self.counted}"

    @property
    def difference(self) -> int | None:
        return None if self.counted is None else self.counted - self.expected


class Movement(ScopedModel):
    """One change of a lot's quantity: in, out, transfer (two rows sharing `transfer_ref`), issue to an incident,
    count adjustment or condition change. `quantity` is signed (+ in, − out); `balance_after` is the
    warehouse's total of the item (all lots) right after it."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    item = models.ForeignKey(MaterialItem, on_delete=models.PROTECT, related_name="+", verbose_name=_("物资"))
    lot = models.ForeignKey(StockLot, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("类型"), max_length=16, choices=MovementKind.choices, db_index=True)
    quantity = models.BigIntegerField(_("数量"))
    balance_after = models.BigIntegerField(_("结存"))
    counterpart = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("对方仓库"))
    transfer_ref = models.CharField(max_length=32, blank=True, db_index=True)
    incident_ref = models.CharField(_("险情"), max_length=64, blank=True, db_index=True)
    count = models.ForeignKey(StockCount, null=True, blank=True, on_delete=models.PROTECT, related_name="movements")
    reason = models.CharField(_("事由"), max_length=200)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(_("经办人"), max_length=150)
    at = models.DateTimeField(_("时间"), db_index=True)
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)

    scope_include_ancestors = True
    scope_department_field = "department"

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """As the warehouse: view also for the 包保 department of the warehouse's street."""
        return with_patron_path(super().scope_q(scope, user, action=action), scope, action, _through_warehouse)

    objects = MovementQuerySet.as_manager()

    audit_plain_fields = ("actor_name",)

    class Meta:
        verbose_name = _("出入库记录")
        verbose_name_plural = _("出入库记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["warehouse", "-at"], name="materials_mv_wh_at_idx")]

    def save(self, *args, **kwargs):
        self.region_code = self.warehouse.region_code
        self.department_id = self.warehouse.department_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.item_id} {self.quantity:+d}"


class StockTarget(ScopedModel):
    """储备定额: the least a street must hold of an item (its own and its communities' warehouses together)."""

    street = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("街道"))
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    item = models.ForeignKey(MaterialItem, on_delete=models.PROTECT, related_name="targets", verbose_name=_("物资"))
    min_quantity = models.BigIntegerField(_("定额"))
    department = models.ForeignKey("orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("包保部门"))
    note = models.CharField(_("说明"), max_length=200, blank=True)

    scope_include_ancestors = True
    scope_department_field = "department"

    @classmethod
    def scope_q(cls, scope, user, *, action: str = "view"):
        """Region and department; view also for the street's current 包保 department."""
        return with_patron_path(super().scope_q(scope, user, action=action), scope, action,
                                lambda ids: models.Q(region_code__in=patron_streets(ids)))

    objects = TargetQuerySet.as_manager()

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("储备定额")
        verbose_name_plural = _("储备定额")
        ordering = ["region_code", "item__code"]
        constraints = [
            models.UniqueConstraint(fields=["region_code", "item"], name="materials_one_target"),
            models.CheckConstraint(condition=models.Q(min_quantity__gte=0), name="materials_target_not_negative"),
        ]

    def save(self, *args, **kwargs):
        self.region_code = self.street.code
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.region_code} {self.item_id} ≥ {self.min_quantity}"

"""Base data (一标三实): standard addresses with actual population, housing and units.

Every object carries `region_code` (the code of its grid) for the scoped read path. Personal numbers are
stored encrypted (`*_enc`, keys outside the database), with a keyed blind index for exact lookups and a
masked copy for lists; the clear value is only produced by `people.services.reveal`, which audits it.
"""

from datetime import date

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..access.scope import ScopedModel
from ..audit.personal import ADDRESS, NAME, TEXT


class GridAnchored(ScopedModel):
    """Base for base-data objects that sit in one grid."""

    grid = models.ForeignKey(
        "regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("网格"), null=True, blank=True
    )
    # Indexed per model as (region_code, id): the scope range and the list order share one index, and
    # PostgreSQL gets no unused `LIKE` index beside it (fewer indexes keep bulk imports fast).
    region_code = models.CharField(_("区域代码"), max_length=15)
    lng = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    is_demo = models.BooleanField(_("演示数据"), default=False, help_text="synthetic demo data; removed with it")
    # The import that created the row, if one did: its history shows the job's audit entry (who, when, from
    # where) without an audit entry per imported row. No constraint or index: only read from the row.
    import_job = models.ForeignKey(
        "imports.ImportJob", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False, db_index=False, verbose_name=_("导入任务"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_app = "people"

    class Meta:
        abstract = True


class BuildingUse(models.TextChoices):
    RESIDENTIAL = "residential", _("住宅")
    COMMERCIAL = "commercial", _("商业")
    MIXED = "mixed", _("商住")
    PUBLIC = "public", _("公共")
    INDUSTRIAL = "industrial", _("工业")
    SELF_BUILT = "self_built", _("自建房")
    OTHER = "other", _("其他")


class Building(GridAnchored):
    """A building at a standard address (标准地址)."""

    code = models.CharField(_("楼栋编码"), max_length=32, unique=True)
    address = models.CharField(_("标准地址"), max_length=200)
    name = models.CharField(_("楼栋名称"), max_length=100, blank=True)
    estate = models.CharField(_("小区"), max_length=100, blank=True)
    use = models.CharField(_("用途"), max_length=16, choices=BuildingUse.choices, default=BuildingUse.RESIDENTIAL)
    floors = models.PositiveSmallIntegerField(_("层数"), null=True, blank=True)
    built_year = models.PositiveSmallIntegerField(_("建成年份"), null=True, blank=True)
    property_company = models.ForeignKey(
        "orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="buildings",
        verbose_name=_("物业服务企业"),
    )

    audit_plain_fields = ("address", "name")

    class Meta:
        verbose_name = _("楼栋")
        verbose_name_plural = _("楼栋")
        ordering = ["code"]
        indexes = [models.Index(fields=["region_code", "id"], name="building_region")]

    def __str__(self) -> str:
        return self.address


class HouseUse(models.TextChoices):
    OWNER_OCCUPIED = "owner", _("自住")
    RENTED = "rented", _("出租")
    VACANT = "vacant", _("空置")
    BUSINESS = "business", _("经营")
    OTHER = "other", _("其他")


class House(GridAnchored):
    """A dwelling or room in a building (实有房屋)."""

    code = models.CharField(_("房屋编码"), max_length=40, unique=True)
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="houses", verbose_name=_("楼栋"))
    unit_no = models.CharField(_("单元"), max_length=16, blank=True)
    room_no = models.CharField(_("房号"), max_length=16)
    area_m2 = models.DecimalField(_("面积（平方米）"), max_digits=8, decimal_places=2, null=True, blank=True)
    use = models.CharField(_("使用情况"), max_length=16, choices=HouseUse.choices, default=HouseUse.OWNER_OCCUPIED)

    class Meta:
        verbose_name = _("房屋")
        verbose_name_plural = _("房屋")
        ordering = ["code"]
        indexes = [models.Index(fields=["region_code", "id"], name="house_region")]

    def __str__(self) -> str:
        unit = f"{self.unit_no}单元" if self.unit_no else ""
        return f"{self.building.address if self.building_id else ''}{unit}{self.room_no}"


class Household(GridAnchored):
    """A household (户) living in a house."""

    code = models.CharField(_("户编号"), max_length=40, unique=True)
    house = models.ForeignKey(
        House, null=True, blank=True, on_delete=models.SET_NULL, related_name="households", verbose_name=_("房屋")
    )
    address = models.CharField(_("住址"), max_length=200)
    head_name = models.CharField(_("户主姓名"), max_length=64, blank=True)
    registered = models.BooleanField(_("户籍户"), default=True)
    size = models.PositiveSmallIntegerField(_("人数"), default=0)

    audit_personal_fields = {"address": ADDRESS, "head_name": NAME}

    class Meta:
        verbose_name = _("户")
        verbose_name_plural = _("户")
        ordering = ["code"]
        indexes = [models.Index(fields=["region_code", "id"], name="household_region")]

    def __str__(self) -> str:
        return f"{self.code} {self.head_name}".strip()


class Residency(models.TextChoices):
    REGISTERED = "registered", _("户籍人口")
    PERMANENT = "permanent", _("常住人口")
    FLOATING = "floating", _("流动人口")
    FOREIGN = "foreign", _("境外人员")


class Sex(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class Resident(GridAnchored):
    """A person living in the district (实有人口)."""

    # The district's largest table (over a million rows, bulk-imported). `grid` repeats `region_code` (the
    # grid's code: indexed, and what scope filters on), so it has no database constraint or index of its own:
    # each would cost a trigger or an index insert per row and serve no query. Every write path checks the grid.
    grid = models.ForeignKey(
        "regions.Region",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("网格"),
        null=True,
        blank=True,
        db_constraint=False,
        db_index=False,
    )
    name = models.CharField(_("姓名"), max_length=64)
    sex = models.CharField(_("性别"), max_length=8, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    id_number_enc = models.TextField(_("身份证号（密文）"), blank=True)
    # NULL when there is no ID number, so the uniqueness constraint ignores those rows.
    id_number_index = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    id_number_masked = models.CharField(_("身份证号"), max_length=18, blank=True)
    phone_enc = models.TextField(_("电话（密文）"), blank=True)
    phone_index = models.CharField(max_length=32, blank=True)
    phone_masked = models.CharField(_("电话"), max_length=20, blank=True)
    household = models.ForeignKey(
        Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="members", verbose_name=_("户")
    )
    relation = models.CharField(_("与户主关系"), max_length=16, blank=True)
    residency = models.CharField(_("人口类型"), max_length=16, choices=Residency.choices, default=Residency.REGISTERED)
    ethnicity = models.CharField(_("民族"), max_length=16, blank=True)
    work_place = models.CharField(_("工作单位"), max_length=100, blank=True)
    user = models.OneToOneField(
        "access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="resident_record",
        verbose_name=_("关联账号"),
    )

    audit_sensitive_fields = ("id_number_enc", "phone_enc")
    audit_personal_fields = {"name": NAME}
    # The birth date is digits 7–14 of the ID number: beside the masked number (1402**********2972) it gives
    # all but two digits away. Whoever may not reveal the number sees the age (`age`), and the trail keeps no
    # birth date (`audit_withheld_fields`).
    audit_withheld_fields = ("birth_date",)

    class Meta:
        verbose_name = _("实有人口")
        verbose_name_plural = _("实有人口")
        ordering = ["region_code", "id"]
        indexes = [
            models.Index(fields=["region_code", "id"], name="people_resi_region__8d27d6_idx"),
            models.Index(fields=["phone_index"], name="resident_phone_index"),
        ]
        constraints = [models.UniqueConstraint(fields=["id_number_index"], name="resident_id_number_once")]

    def __str__(self) -> str:
        return self.name

    def age(self, today: date | None = None) -> int | None:
        """Whole years since the birth date (what is shown to those who may not reveal the ID number)."""
        born = self.birth_date
        if not born:
            return None
        today = today or timezone.localdate()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class KeyGroup(models.TextChoices):
    """重点人群 (GB/T 31000 data sets): visible only to roles that work with them."""

    RELEASED_PRISONER = "released_prisoner", _("刑满释放人员")
    COMMUNITY_CORRECTION = "community_correction", _("社区矫正人员")
    SEVERE_MENTAL_ILLNESS = "severe_mental_illness", _("严重精神障碍患者")
    DRUG_USER = "drug_user", _("吸毒人员")
    HIV_RISK = "hiv_risk", _("艾滋病危险人员")
    KEY_YOUTH = "key_youth", _("重点青少年")
    ELDERLY_ALONE = "elderly_alone", _("独居老人")
    DISABLED = "disabled", _("残疾人")
    LOW_INCOME = "low_income", _("低保对象")


class KeyGroupLabel(ScopedModel):
    """A resident's membership of a key group; a separate row so seeing it takes its own capability."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="key_groups")
    group = models.CharField(_("重点人群类别"), max_length=32, choices=KeyGroup.choices)
    region_code = models.CharField(max_length=15, db_index=True)
    note_enc = models.TextField(_("备注（密文）"), blank=True)
    since = models.DateField(_("起始日期"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    audit_sensitive_fields = ("note_enc",)

    class Meta:
        verbose_name = _("重点人群标签")
        verbose_name_plural = _("重点人群标签")
        constraints = [models.UniqueConstraint(fields=["resident", "group"], name="key_group_once")]

    def __str__(self) -> str:
        return self.get_group_display()

    @classmethod
    def scope_capability(cls, action: str) -> str:
        return "people.key_group"


class UnitKind(models.TextChoices):
    SHOP = "shop", _("商铺")
    COMPANY = "company", _("企业")
    SCHOOL = "school", _("学校")
    CLINIC = "clinic", _("医疗机构")
    RESTAURANT = "restaurant", _("餐饮")
    HOTEL = "hotel", _("宾馆")
    ELDERLY_CARE = "elderly_care", _("养老机构")
    HAZARDOUS_CHEMICALS = "hazardous_chemicals", _("危化品单位")
    CONSTRUCTION_SITE = "construction_site", _("建筑工地")
    GOVERNMENT = "government", _("机关事业单位")
    SOCIAL_ORG = "social_org", _("社会组织")
    OTHER = "other", _("其他")


class Unit(GridAnchored):
    """A unit (实有单位): shop, company, school, clinic …"""

    name = models.CharField(_("单位名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=24, choices=UnitKind.choices)
    credit_code = models.CharField(_("统一社会信用代码"), max_length=18, blank=True, db_index=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    building = models.ForeignKey(
        Building, null=True, blank=True, on_delete=models.SET_NULL, related_name="units", verbose_name=_("楼栋")
    )
    contact_name = models.CharField(_("负责人"), max_length=64, blank=True)
    contact_phone_enc = models.TextField(_("联系电话（密文）"), blank=True)
    contact_phone_masked = models.CharField(_("联系电话"), max_length=20, blank=True)
    employees = models.PositiveIntegerField(_("从业人数"), null=True, blank=True)

    audit_sensitive_fields = ("contact_phone_enc",)
    audit_personal_fields = {"contact_name": NAME}
    audit_plain_fields = ("name", "address")

    class Meta:
        verbose_name = _("实有单位")
        verbose_name_plural = _("实有单位")
        ordering = ["region_code", "id"]
        indexes = [models.Index(fields=["region_code", "id"], name="unit_region")]

    def __str__(self) -> str:
        return self.name


class PlaceKind(models.TextChoices):
    PARK = "park", _("公园广场")
    SCHOOL = "school", _("学校")
    HOSPITAL = "hospital", _("医院")
    MARKET = "market", _("市场")
    PUBLIC_TOILET = "public_toilet", _("公厕")
    PARKING = "parking", _("停车场")
    FIRE_HYDRANT = "fire_hydrant", _("消防栓")
    GAS_STATION = "gas_station", _("加油加气站")
    UNDERPASS = "underpass", _("下穿通道")
    PUMP_STATION = "pump_station", _("排水泵站")
    CARE_STATION = "care_station", _("爱心驿站")
    CULTURE = "culture", _("文化场所")
    OTHER = "other", _("其他")


class Place(GridAnchored):
    """A place or facility (typed point of interest)."""

    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=24, choices=PlaceKind.choices)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    description = models.TextField(_("说明"), blank=True)

    audit_personal_fields = {"description": TEXT}
    audit_plain_fields = ("name", "address")

    class Meta:
        verbose_name = _("场所设施")
        verbose_name_plural = _("场所设施")
        ordering = ["region_code", "id"]
        indexes = [models.Index(fields=["region_code", "id"], name="place_region")]

    def __str__(self) -> str:
        return self.name


def _register_encrypted_columns() -> None:
    from .personal import register_columns

    register_columns()


_register_encrypted_columns()

"""Organisations and the people who hold posts in them."""

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from ..access.scope import ScopedModel


class OrgKind(models.TextChoices):
    DEPARTMENT = "department", _("区直部门")
    STREET_OFFICE = "street_office", _("街道办事处")
    COMMITTEE = "committee", _("社区/村委会")
    COMMAND_CENTRE = "command_centre", _("指挥中心")
    PROPERTY_COMPANY = "property_company", _("物业服务企业")
    RESCUE_TEAM = "rescue_team", _("抢险救援队伍")
    VOLUNTEER_ORG = "volunteer_org", _("志愿服务组织")
    OTHER = "other", _("其他")


# The kinds of organisation a case can be sent to and that work it, each through the department handlers
# (部门处置人员) granted for it: district departments, street offices, the command centre, rescue teams.
# Committees, property companies, volunteer organisations and others are reached through their street office.
# Dispatch, category defaults and routing rules all name one of these.
CASE_HANDLING_KINDS = (OrgKind.DEPARTMENT, OrgKind.STREET_OFFICE, OrgKind.COMMAND_CENTRE, OrgKind.RESCUE_TEAM)


def handling_kinds_text() -> str:
    """`CASE_HANDLING_KINDS` as the Chinese half of a message names them (区直部门、街道办事处、…)."""
    with translation.override("zh-hans"):
        return "、".join(str(OrgKind(kind).label) for kind in CASE_HANDLING_KINDS)


def handles_cases(org) -> bool:
    """Whether a case may be sent to this organisation now: one of `CASE_HANDLING_KINDS`, and active."""
    return org is not None and org.kind in CASE_HANDLING_KINDS and org.is_active


def brief_name(name: str, short_name: str = "") -> str:
    """`Organisation.brief_name` of the values read from a query (`values_list("name", "short_name")`)."""
    return short_name or name


class Organisation(ScopedModel):
    """An organisation that acts in the district, anchored to the region it serves."""

    code = models.CharField(_("机构代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    short_name = models.CharField(_("简称"), max_length=32, blank=True)
    kind = models.CharField(_("类型"), max_length=24, choices=OrgKind.choices, db_index=True)
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="organisations",
                               verbose_name=_("所在区域"))
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
                               verbose_name=_("上级机构"))
    duties = models.TextField(_("职责"), blank=True)
    phone = models.CharField(_("办公电话"), max_length=32, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    is_active = models.BooleanField(_("有效"), default=True)

    scope_include_ancestors = True
    scope_department_field = "id"

    audit_plain_fields = ("name", "short_name", "phone", "address")

    class Meta:
        verbose_name = _("组织机构")
        verbose_name_plural = _("组织机构")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.name

    @property
    def brief_name(self) -> str:
        """The name in a dense table's column or a map popup: the short name (区城管局), else the full one.
        Everywhere else (a case's page, forms, messages, the API, exports) an organisation is named in full
        (`name`, also `str()`); the `org_cell` template filter shows this one with the full name on hover."""
        return brief_name(self.name, self.short_name)

    @classmethod
    def case_handlers(cls) -> models.QuerySet:
        """The active organisations a case may be sent to (see `CASE_HANDLING_KINDS`), in the order lists use."""
        return cls.objects.filter(kind__in=CASE_HANDLING_KINDS, is_active=True).order_by("kind", "code")

    def save(self, *args, **kwargs):
        if self.region_id and (not self.region_code or self.region.code != self.region_code):
            self.region_code = self.region.code
        super().save(*args, **kwargs)


class Post(models.Model):
    """A post (岗位) in an organisation, held by an account."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(_("岗位"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    is_lead = models.BooleanField(_("负责人"), default=False)
    phone = models.CharField(_("联系电话（加密）"), max_length=255, blank=True)

    audit_sensitive_fields = ("phone",)

    class Meta:
        verbose_name = _("岗位")
        verbose_name_plural = _("岗位")

    def __str__(self) -> str:
        return f"{self.organisation} · {self.title}"

"""The region tree. A region's code is a prefix of its descendants' codes (6/9/12/15 digits), which is what
makes scope a range query."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..access.scope import Scope, ScopedModel


class Level(models.TextChoices):
    DISTRICT = "district", _("区")
    STREET = "street", _("街道")
    COMMUNITY = "community", _("社区")
    VILLAGE = "village", _("村")
    GRID = "grid", _("网格")


CODE_LENGTH = {Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.VILLAGE: 12, Level.GRID: 15}


class GridKind(models.TextChoices):
    COMPREHENSIVE = "comprehensive", _("综合网格")
    DEDICATED = "dedicated", _("专属网格")


class Region(ScopedModel):
    """One governed area at any level, with its official code and WGS-84 geometry."""

    code = models.CharField(_("代码"), max_length=15, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
                               verbose_name=_("上级区域"))
    grid_kind = models.CharField(_("网格类型"), max_length=16, choices=GridKind.choices, blank=True)
    nbs_code = models.CharField(_("统计用区划代码"), max_length=12, blank=True)
    geometry = models.JSONField(_("边界"), null=True, blank=True)
    min_lng = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lng = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    centroid_lng = models.FloatField(null=True, blank=True)
    centroid_lat = models.FloatField(null=True, blank=True)
    area_m2 = models.FloatField(_("面积（平方米）"), null=True, blank=True)
    is_demo_geometry = models.BooleanField(_("演示边界"), default=False)
    geometry_source = models.CharField(_("边界来源"), max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_region_field = "code"
    scope_include_ancestors = True
    audit_exclude_fields = ("geometry",)
    audit_plain_fields = ("name",)

    class Meta:
        verbose_name = _("区域")
        verbose_name_plural = _("区域")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def region_code(self) -> str:
        return self.code

    @classmethod
    def scope_q(cls, scope: Scope, user, *, action: str = "view"):
        # Departments work across the whole district: their handlers see the whole region tree.
        if scope.department_ids and not scope.region_codes:
            return models.Q()
        q = super().scope_q(scope, user, action=action)
        if scope.department_ids and q is not None:
            return models.Q()
        return q

    def ancestors(self) -> list["Region"]:
        """Parents up to the district, district first (one query)."""
        codes = [self.code[:n] for n in (6, 9, 12) if n < len(self.code)]
        by_code = {r.code: r for r in Region.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]

    @property
    def bbox(self):
        if self.min_lng is None:
            return None
        return [self.min_lng, self.min_lat, self.max_lng, self.max_lat]

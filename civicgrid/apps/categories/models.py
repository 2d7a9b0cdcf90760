"""Taxonomies of case categories (GB/T 47678.5-2026 parts and matters, social-governance types, local ones)
and the routing rules that pre-fill dispatch."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Taxonomy(models.Model):
    """A classification scheme, e.g. GB/T 47678.5-2026 or the district's social-governance types."""

    code = models.CharField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    source = models.CharField(_("来源"), max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("分类体系")
        verbose_name_plural = _("分类体系")

    def __str__(self) -> str:
        return self.name


class LimitMode(models.TextChoices):
    WORKING_HOURS = "working_hours", _("工作时")
    WORKING_DAYS = "working_days", _("工作日")
    NATURAL_HOURS = "natural_hours", _("自然时")


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("部件")
    MATTER = "matter", _("事项")
    EVENT = "event", _("事件")


class Category(models.Model):
    """A class or subclass; subclasses carry the acceptance condition, time limit, closure condition and
    responsible body (local rules, edited by administrators with history)."""

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="categories")
    code = models.CharField(_("编码"), max_length=16)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=CategoryKind.choices, default=CategoryKind.EVENT)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    acceptance_condition = models.TextField(_("立案条件"), blank=True)
    closure_condition = models.TextField(_("结案条件"), blank=True)
    time_limit_mode = models.CharField(
        _("时限单位"), max_length=16, choices=LimitMode.choices, default=LimitMode.WORKING_DAYS
    )
    time_limit_amount = models.DecimalField(_("处置时限"), max_digits=6, decimal_places=2, default=3)
    responsible_body = models.CharField(_("责任主体"), max_length=100, blank=True)
    default_department = models.ForeignKey(
        "orgs.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("默认处置部门"),
    )
    keywords = models.CharField(_("关键词"), max_length=300, blank=True)
    is_public = models.BooleanField(_("开放公众上报"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)
    sort = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")
        ordering = ["taxonomy", "sort", "code"]
        constraints = [models.UniqueConstraint(fields=["taxonomy", "code"], name="category_code_per_taxonomy")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_leaf(self) -> bool:
        return self.parent_id is not None


class RoutingRule(models.Model):
    """Category × region subtree → responsible department. The most specific rule wins: exact category over
    its parent class, deeper region over shallower, then priority. 包保 assignments are rules of kind 'patron'."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, related_name="routing_rules",
        help_text="empty: any category",
    )
    region_code = models.CharField(_("区域代码"), max_length=15, help_text="subtree; 140213 = whole district")
    department = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="routing_rules")
    kind = models.CharField(max_length=16, default="routing", choices=[("routing", _("分拨")), ("patron", _("包保"))])
    priority = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("分拨规则")
        verbose_name_plural = _("分拨规则")
        indexes = [models.Index(fields=["category", "region_code"])]

    def __str__(self) -> str:
        return f"{self.category or '*'} @ {self.region_code} → {self.department}"

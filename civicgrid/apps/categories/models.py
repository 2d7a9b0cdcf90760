"""Taxonomies of case categories (GB/T 47678.5-2026 parts and matters, social-governance types, local ones)
and the routing rules that pre-fill dispatch.

A category is identified by taxonomy + kind + code: in GB/T 47678.5 the component 01001 (供水井盖) and the
matter 01001 (供水井盖异常) share their code, and so do the classes 01–05 of both kinds. Writes go through
`services` (audited, `categories.manage`); loaders fill only what is missing and never touch a category an
administrator has edited (`edited_at`).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import get_language, npgettext
from django.utils.translation import gettext_lazy as _


class Taxonomy(models.Model):
    """A classification scheme, e.g. GB/T 47678.5-2026 or the district's social-governance types."""

    code = models.CharField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    source = models.CharField(_("来源"), max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    audit_plain_fields = ("name",)

    class Meta:
        verbose_name = _("分类体系")
        verbose_name_plural = _("分类体系")

    def __str__(self) -> str:
        return self.name


class LimitMode(models.TextChoices):
    WORKING_HOURS = "working_hours", _("工作小时")
    WORKING_DAYS = "working_days", _("工作日")
    NATURAL_HOURS = "natural_hours", _("自然时")


def limit_phrase(mode: str, shown: str, count: int) -> str | None:
    """A time limit as a phrase in the reader's language, with its plural (the same words in Chinese); None for
    an unknown mode."""
    if mode == LimitMode.WORKING_HOURS:
        return npgettext("limit", "%(n)s 工作小时", "%(n)s 工作小时", count) % {"n": shown}
    if mode == LimitMode.WORKING_DAYS:
        return npgettext("limit", "%(n)s 工作日", "%(n)s 工作日", count) % {"n": shown}
    if mode == LimitMode.NATURAL_HOURS:
        return npgettext("limit", "%(n)s 自然时", "%(n)s 自然时", count) % {"n": shown}
    return None


def display_name(name: str, name_en: str = "") -> str:
    """A category's name as people read it: the English name in the English interface when there is one, else
    the Chinese name (which exports, audit records and the Open311 feed keep using)."""
    if name_en and (get_language() or "").startswith("en"):
        return name_en
    return name or ""


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("部件")
    MATTER = "matter", _("事项")
    EVENT = "event", _("事件")


class Category(models.Model):
    """A class or subclass; subclasses carry the acceptance condition, time limit, closure condition and
    responsible body (local rules, edited by administrators with history)."""

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="categories",
                                 verbose_name=_("分类体系"))
    code = models.CharField(_("编码"), max_length=16)
    name = models.CharField(_("名称"), max_length=100)
    # Shown instead of `name` in the English interface (`display_name`); empty: the Chinese name there too.
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=CategoryKind.choices, default=CategoryKind.EVENT)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
                               verbose_name=_("上级分类"))
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
    # Residents and volunteers may report in it (web, phone, API). Whether its cases are published is the next flag.
    is_public = models.BooleanField(_("开放公众上报"), default=False)
    # Listed as an Open311 (GeoReport) service, and its cases published by Open311 without sign-in: only when
    # it is also open to public reports. Off for types whose reports are about a person (categories README).
    in_public_feed = models.BooleanField(_("公开到开放接口"), default=True)
    # The last time its cases were out of the public feed (`published`: is_public and in_public_feed turned off)
    # and put back (`services.note_feed_change`): what was done to them in between becomes public when they come
    # back, and Open311 dates it then (an hourly client would otherwise never see it). `left_feed_at` empty with
    # `back_in_feed_at` set: out of the feed from the start until then. Only the last time out is kept.
    left_feed_at = models.DateTimeField(_("移出开放接口时间"), null=True, blank=True)
    back_in_feed_at = models.DateTimeField(_("重新公开到开放接口时间"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    sort = models.PositiveIntegerField(_("排序"), default=0)
    # Set when an administrator changes the category (edit page, API, xlsx import): loaders then leave it alone.
    edited_at = models.DateTimeField(_("人工修改时间"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_plain_fields = ("name", "name_en")
    # Bookkeeping: every administrator's change moves it, so the history would repeat it on each entry.
    history_hidden_fields = ("edited_at",)

    class Meta:
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")
        ordering = ["taxonomy", "sort", "code"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "kind", "code"], name="category_code_per_taxonomy_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def display_name(self) -> str:
        """The English name in the English interface when it is set, else the Chinese name: what pages show."""
        return display_name(self.name, self.name_en)

    @property
    def display_label(self) -> str:
        """Code and name in the reader's language, as `str()` gives them in Chinese: "0101 Neighbour disputes"."""
        return f"{self.code} {self.display_name}"

    @property
    def published(self) -> bool:
        """Open to public reports and published to the feed: Open311 lists it and publishes its cases."""
        return self.is_public and self.in_public_feed

    @property
    def is_leaf(self) -> bool:
        """A subclass (the taxonomies are two levels deep: classes hold subclasses, cases use subclasses)."""
        return self.parent_id is not None

    @property
    def time_limit_text(self) -> str:
        """The time limit as people write it: "4 工作小时", "1 工作日", "6 自然时"."""
        amount = self.time_limit_amount
        shown = f"{amount.normalize():f}" if hasattr(amount, "normalize") else str(amount)
        # English: "1 working day", "1.5 working days"
        phrase = limit_phrase(self.time_limit_mode, shown, 1 if amount == 1 else 2)
        return phrase or f"{shown} {self.get_time_limit_mode_display()}"

    @property
    def parent_inactive(self) -> bool:
        """A subclass whose class is switched off: not offered for new reports whatever its own flag."""
        return self.parent_id is not None and not self.parent.is_active

    @property
    def in_use(self) -> bool:
        """Offered for new reports (`in_use_q`): enabled, its taxonomy and, for a subclass, its class too."""
        return self.is_active and self.taxonomy.is_active and not self.parent_inactive

    @property
    def key(self) -> str:
        """A stable text identifier across taxonomies, e.g. `gbt47678_5_2026:matter:06010` (Open311 codes)."""
        return f"{self.taxonomy.code}:{self.kind}:{self.code}"


def in_use_q(*, taxonomy: bool = True) -> Q:
    """The categories offered for new reports (report pages, API, Open311, the text router, intake): enabled, of
    an enabled taxonomy, and, for a subclass, under an enabled class. Switching a class off takes its subclasses
    out with it while each keeps its own 启用 flag (shown as 上级已停用), so switching the class on again brings
    back exactly those that were on. `taxonomy=False` leaves the taxonomy's own flag to the caller (intake,
    whose cached lookups change with the categories, not with taxonomies)."""
    own = Q(is_active=True, taxonomy__is_active=True) if taxonomy else Q(is_active=True)
    return own & (Q(parent__isnull=True) | Q(parent__is_active=True))


class RuleKind(models.TextChoices):
    ROUTING = "routing", _("分拨")
    PATRON = "patron", _("包保")


class RoutingRule(models.Model):
    """Category × region subtree → responsible department. The most specific rule wins: exact category over
    its parent class, deeper region over shallower, then priority. 包保 assignments are rules of kind 'patron'."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, related_name="routing_rules",
        help_text="empty: any category", verbose_name=_("分类"),
    )
    region_code = models.CharField(_("区域代码"), max_length=15, help_text="subtree; 140213 = whole district")
    department = models.ForeignKey(
        "orgs.Organisation", on_delete=models.CASCADE, related_name="routing_rules", verbose_name=_("处置部门")
    )
    kind = models.CharField(_("规则类型"), max_length=16, default=RuleKind.ROUTING, choices=RuleKind.choices)
    priority = models.IntegerField(_("优先级"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Where the rule applies is what defines it: its history shows the region (`ui.pages.audit` hides other
    # models' region_code, which only repeats their grid or address).
    history_shown_fields = ("region_code",)

    audit_plain_fields = ("note",)

    class Meta:
        verbose_name = _("分拨规则")
        verbose_name_plural = _("分拨规则")
        indexes = [models.Index(fields=["category", "region_code"])]
        ordering = ["region_code", "id"]

    def __str__(self) -> str:
        return f"{self.category or '*'} @ {self.region_code} → {self.department}"

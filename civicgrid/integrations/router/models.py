"""Versions of the text router model (路由模型版本): which model files exist, how good they were, which one is live.

A version's files live in ``<CIVICGRID_DATA_DIR>/models/router/<version>/`` (weights.npz, vocab.json,
meta.json, written by :func:`civicgrid.integrations.router.model.save`). Exactly one version is active at a
time; activating an older one is the rollback. The rows are configuration, not region-scoped business data.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.apps.cases.models import Case


class LabelKind(models.TextChoices):
    DEPARTMENT = "department", _("处置部门")
    CATEGORY = "category", _("事件分类")
    AUTO = "auto", _("自动识别")


class RouterModelVersion(models.Model):
    version = models.CharField(_("版本"), max_length=40, unique=True)
    path = models.CharField(_("模型目录"), max_length=500)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labels = models.JSONField(_("标签"), default=list)
    label_kind = models.CharField(_("标签类型"), max_length=16, choices=LabelKind.choices, default=LabelKind.AUTO)
    metrics = models.JSONField(_("指标"), default=dict, blank=True)  # from meta.json: cv, counts, timings
    source = models.CharField(_("训练数据来源"), max_length=200, blank=True)
    n_samples = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(_("启用"), default=False, db_index=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("路由模型版本")
        verbose_name_plural = _("路由模型版本")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"router {self.version}{' (active)' if self.is_active else ''}"


class TriageCase(Case):
    """Cases as the triage queue lists them (reported or accepted, not yet dispatched): the same rows and scope
    as `cases.Case`; a proxy so the scope contract can build queue-state cases for `api:router_triage`."""

    scope_app = "cases"

    class Meta:
        proxy = True
        verbose_name = _("待分拨事件")
        verbose_name_plural = _("待分拨事件")

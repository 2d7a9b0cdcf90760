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

    audit_plain_fields = ("note",)

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


class RouterCorrection(models.Model):
    """A dispatcher sent a case elsewhere than the router suggested (部门 or 分类): one row per such dispatch.

    Written by the `case.dispatched` and `case.redirected` (改派) handlers
    (civicgrid/integrations/router/corrections.py); retraining learns from where cases were really sent, and the
    router page counts the corrections since the live model was trained. A department correction is withdrawn
    (`withdrawn_at`, audited) once a later dispatch or 改派 sends the case to the department the router had
    suggested after all (退回 by the department chosen instead, then sent back to the suggested one): the row
    stays, as what happened, but no longer counts as the model being wrong."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    step_id = models.BigIntegerField(unique=True)  # the dispatch step (a redelivered event finds it recorded)
    model_version = models.CharField(_("模型版本"), max_length=40, blank=True)
    suggested_label = models.CharField(_("建议标签"), max_length=100, blank=True)
    confidence = models.FloatField(_("置信度"), null=True, blank=True)
    suggested_department_id = models.BigIntegerField(null=True, blank=True)
    suggested_category_id = models.BigIntegerField(null=True, blank=True)
    department_id_chosen = models.BigIntegerField(_("实际派遣部门"), null=True, blank=True)
    category_id_chosen = models.BigIntegerField(_("实际分类"), null=True, blank=True)
    department_changed = models.BooleanField(default=False)
    category_changed = models.BooleanField(default=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    at = models.DateTimeField(_("时间"), db_index=True)
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    # the dispatch or 改派 step that sent the case to the suggested department
    withdrawn_step_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("分拨更正")
        verbose_name_plural = _("分拨更正")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"correction of {self.suggested_label} on case {self.case_id}"


class RetrainRun(models.Model):
    """One press of 重新训练 (or `POST /router/retrain`): its state as the background task moves it on."""

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("训练中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("未完成")

    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(_("提交时间"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activate = models.BooleanField(default=True)
    version = models.ForeignKey(RouterModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    detail = models.CharField(_("说明"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("重新训练")
        verbose_name_plural = _("重新训练")
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"retrain run {self.pk} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

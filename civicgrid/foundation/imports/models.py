"""Import jobs: one uploaded table on its way through validation to an all-or-nothing apply."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..access.scope import Scope, ScopedModel, subtree_q


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    VALIDATING = "validating", _("校验中")
    APPLYING = "applying", _("写入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("未通过")


class ImportJob(ScopedModel):
    """One import of one table type; its counters move while it runs so pages and the CLI show progress."""

    table = models.CharField(_("数据类型"), max_length=32)
    file_name = models.CharField(_("文件名"), max_length=200)
    stored_file = models.CharField(max_length=255, blank=True, help_text="path under MEDIA_ROOT; removed when done")
    file_size = models.PositiveBigIntegerField(default=0)
    dry_run = models.BooleanField(_("仅校验"), default=False)
    status = models.CharField(_("状态"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total_rows = models.PositiveIntegerField(_("总行数"), null=True, blank=True)  # an estimate until validated
    processed_rows = models.PositiveIntegerField(_("已处理行数"), default=0)
    applied_rows = models.PositiveIntegerField(_("已写入行数"), default=0)
    error_count = models.PositiveIntegerField(_("错误数"), default=0)
    errors = models.JSONField(default=list, blank=True)  # [[row, column, message], …], the first MAX_STORED
    message = models.TextField(_("说明"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region_code = models.CharField(max_length=15, blank=True)  # the importer's scope root ("" = district-wide)
    request_id = models.CharField(max_length=64, blank=True)
    # Where the upload came from, kept for the audit entries the import writes later (in the worker).
    source_ip = models.CharField(_("来源地址"), max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    channel = models.CharField(_("渠道"), max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_plain_fields = ("file_name",)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["region_code", "created_at"], name="importjob_region")]

    def __str__(self) -> str:
        return f"{self.file_name}（{self.get_status_display()}）"

    @classmethod
    def scope_capability(cls, action: str) -> str:
        return "people.import"

    @classmethod
    def scope_q(cls, scope: Scope, user, *, action: str = "view"):
        # Importers see their own jobs and the jobs made inside their import scope.
        q = models.Q(created_by_id=user.pk) if getattr(user, "pk", None) else models.Q(pk__in=[])
        for code in scope.region_codes:
            q |= subtree_q("region_code", code)
        return q

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        """Progress for the bar: validation is most of the work, applying the rest."""
        if self.status == JobStatus.DONE:
            return 100
        total = self.total_rows or 0
        if not total:
            return 0
        share = min(self.processed_rows / total, 1.0)
        if self.status == JobStatus.APPLYING:
            return int(80 + 20 * min(self.applied_rows / total, 1.0))
        return int(80 * share)


class ImportedChange(models.Model):
    """A count an import changed on a row it did not create (a household's 人数 after its members were imported).

    The rows an import creates carry the job's id (`import_job`), so their history finds the job's audit entry
    without an entry per row; a row it changes gets one of these narrow rows instead, found by the row's
    history through (`target_type`, `target_id`). Written in the apply transaction, never changed.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    target_type = models.CharField(max_length=64)  # "people.household"
    target_id = models.BigIntegerField()
    field = models.CharField(max_length=64)
    before = models.BigIntegerField(null=True)
    after = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id"], name="importedchange_target")]

    def __str__(self) -> str:
        return f"#{self.job_id} {self.target_type}:{self.target_id} {self.field} {self.before} → {self.after}"

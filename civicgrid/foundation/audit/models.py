"""The audit trail. Rows are only ever inserted: the model refuses updates and deletes, and database
triggers refuse them too (only the database owner, lifting the triggers inside one transaction, can purge
expired rows or mask old snapshots: `retention.triggers_lifted`)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record through the application."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("审计记录只能追加 / the audit trail is append-only")

    def delete(self):
        raise AppendOnlyError("审计记录只能追加 / the audit trail is append-only")

    def for_object(self, obj):
        return self.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))


class AuditEntry(models.Model):
    """One recorded action: who, when, from where, what, on which object, before/after, result."""

    at = models.DateTimeField(_("时间"), db_index=True)
    # DO_NOTHING: deleting an account must never rewrite the append-only trail (actor_name keeps who it was).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    source_ip = models.CharField(_("来源地址"), max_length=64, blank=True)
    channel = models.CharField(_("渠道"), max_length=16, blank=True)
    request_id = models.CharField(_("请求号"), max_length=64, blank=True, db_index=True)
    action = models.CharField(_("动作"), max_length=64, db_index=True)
    target_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    target_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    target_repr = models.CharField(_("对象"), max_length=200, blank=True)
    region_code = models.CharField(max_length=15, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    result = models.CharField(_("结果"), max_length=16, default="ok")

    objects = AuditQuerySet.as_manager()

    audit_plain_fields = ("actor_name",)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("审计记录只能追加 / the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("审计记录只能追加 / the audit trail is append-only")

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """Field-by-field differences between before and after, as they may be read (withheld fields masked,
        `service.shown_snapshot`)."""
        from .service import shown_snapshot

        before = shown_snapshot(self.target_type, self.before or {})
        after = shown_snapshot(self.target_type, self.after or {})
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]

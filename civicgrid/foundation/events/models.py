"""Outbox rows written in the business transaction, and a record of each handler that has processed one."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """A domain event waiting for (or done with) delivery to its handlers."""

    topic = models.CharField(_("事件"), max_length=64)  # never a filter on its own: no index to maintain per event
    aggregate_type = models.CharField(max_length=64, blank=True)
    aggregate_id = models.CharField(max_length=64, blank=True)
    region_code = models.CharField(max_length=15, blank=True)
    payload = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("领域事件")
        verbose_name_plural = _("领域事件")
        indexes = [
            models.Index(fields=["dispatched_at", "available_at"], name="outbox_pending"),
            # The worker's poll, every second: the undelivered events in id order. Partial, so it holds only
            # those; the poll reads as many rows as are pending, however many delivered ones the table keeps,
            # whatever the planner's statistics say (SQLite otherwise may walk the table in id order).
            models.Index(fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"


class HandlerRun(models.Model):
    """Marks that one handler has processed one event: a handler's effect and this row commit together,
    so redelivery after a crash skips handlers that already ran (idempotent by construction)."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="runs")
    handler = models.CharField(max_length=128)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="handler_run_once")]

    def __str__(self) -> str:
        return f"{self.handler} ran event {self.event_id}"

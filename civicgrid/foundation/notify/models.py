"""The in-app inbox and the record of outgoing messages."""

from django.conf import settings
from django.db import models
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from ..audit.personal import TEXT


class Notification(models.Model):
    """One message in a user's inbox."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("类型"), max_length=32)  # new_task | warning | overdue | sent_back | reopened | …
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    body_en = models.TextField(blank=True)  # the English of a body the system wrote (`shown_body`)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    url = models.CharField(max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # A message asking for work that somebody (perhaps another recipient) has since done: when, and what
    # became of it (words in the district's language, marked for translation: 已同意), so nobody takes it for work.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=32, blank=True)

    audit_personal_fields = {"body": TEXT, "body_en": TEXT}

    class Meta:
        verbose_name = _("站内消息")
        ordering = ["-created_at", "-id"]
        # (target_type, target_id): the messages about one object, which `services.resolve` closes together.
        indexes = [models.Index(fields=["user", "read_at"]),
                   models.Index(fields=["target_type", "target_id"], name="notify_target")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.title}"

    @property
    def shown_title(self) -> str:
        """The title in the reader's language: a title is "<what>：<which>" (新任务：2026…), stored in the district's
        language; the part before the colon is looked up in the catalogue (each app marks its titles), the rest is
        data and stays as it is."""
        what, sep, rest = self.title.partition("：")
        if not sep:
            return self.title
        shown = gettext(what)
        return self.title if shown == what else f"{shown}{gettext('：')}{rest}"

    @property
    def shown_body(self) -> str:
        """The body in the reader's language: the English a system-written body carries, in the English
        interface; otherwise the body as written (people's own words, and rows older than `body_en`)."""
        if self.body_en and (get_language() or "").startswith("en"):
            return self.body_en
        return self.body

    @property
    def shown_resolution(self) -> str:
        """What became of the work the message asked for, in the reader's language ("" while it waits)."""
        return gettext(self.resolution) if self.resolution else ""


class OutgoingMessage(models.Model):
    """An email or SMS handed to a sender (console by default), kept for audit and retry."""

    channel = models.CharField(max_length=8)  # email | sms
    to_masked = models.CharField(max_length=64)
    to_enc = models.TextField()
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    sender = models.CharField(max_length=64)
    status = models.CharField(max_length=16, default="queued")  # queued | sent | failed (retried until it gives up)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # hand-overs to the sender so far
    next_try_at = models.DateTimeField(null=True, blank=True)  # not before: the backoff after an attempt

    audit_sensitive_fields = ("to_enc",)
    audit_personal_fields = {"body": TEXT}

    class Meta:
        # The worker's poll, every second: the unsent messages in id order (partial: only those), however
        # many sent ones the table keeps.
        # (`sent_at IS NULL`, not the status: SQLite uses a partial index only for a condition the query
        # states in the same words, and the ORM passes a status list as parameters.)
        indexes = [models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="outgoing_unsent")]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to_masked} ({self.status})"

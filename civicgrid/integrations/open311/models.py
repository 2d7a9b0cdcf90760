"""Open311's own records: the clients holding API keys, the attributes a service asks for, and the links between
the cases the loop keeps and what an Open311 caller sent with them (attributes, media links, its own ids).

Cases themselves live in the cases app and are written only through its services; these tables hold what GeoReport
v2 carries that a case has no field for. Anything personal a caller sends (device and account ids, a commenter's
name and contacts, the reporter's follow token) is stored encrypted, with the contexts listed in
`ENCRYPTED_COLUMNS` so key rotation reaches them.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.audit.personal import ADDRESS

DEVICE_CONTEXT = "open311.request.device_id"
ACCOUNT_CONTEXT = "open311.request.account_id"
FOLLOW_CONTEXT = "open311.request.follow_token"
UPDATE_NAME_CONTEXT = "open311.update.name"
UPDATE_EMAIL_CONTEXT = "open311.update.email"
UPDATE_PHONE_CONTEXT = "open311.update.phone"
QUEUED_CONTACTS_CONTEXT = "cases.queued_report.contacts"  # sealed by cases.services.ReportSpec.dump

ENCRYPTED_COLUMNS = (
    ("open311.Open311Request", "device_id_enc", DEVICE_CONTEXT),
    ("open311.Open311Request", "account_id_enc", ACCOUNT_CONTEXT),
    ("open311.Open311Request", "follow_token_enc", FOLLOW_CONTEXT),
    ("open311.Open311Update", "name_enc", UPDATE_NAME_CONTEXT),
    ("open311.Open311Update", "email_enc", UPDATE_EMAIL_CONTEXT),
    ("open311.Open311Update", "phone_enc", UPDATE_PHONE_CONTEXT),
    ("open311.QueuedRequest", "contacts_enc", QUEUED_CONTACTS_CONTEXT),
    ("open311.QueuedRequest", "device_id_enc", DEVICE_CONTEXT),
    ("open311.QueuedRequest", "account_id_enc", ACCOUNT_CONTEXT),
)


def hash_key(raw: str) -> str:
    """The stored form of an API key (keys are long random strings, so a plain SHA-256 is enough to look
    them up without keeping them)."""
    return hashlib.sha256(str(raw).encode("utf-8")).hexdigest()


class Open311Client(models.Model):
    """An application allowed to post reports and comments (FixMyStreet, a city app), known by its API key."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(_("密钥前缀"), max_length=8, blank=True)  # tells keys apart in lists and logs
    jurisdiction = models.CharField(
        _("管辖区"), max_length=64, blank=True, help_text="empty: every jurisdiction this server serves"
    )
    is_active = models.BooleanField(_("启用"), default=True)
    rate_per_minute = models.PositiveIntegerField(_("每分钟请求数"), default=60)
    burst = models.PositiveIntegerField(_("突发请求数"), default=20)
    is_demo = models.BooleanField(default=False, help_text="created by the demo loader; removed with demo data")
    queued = models.BooleanField(
        _("先回执后立卷"), default=False,
        help_text="answer a report with its GeoReport token at once and make the case in the next batch "
                  "(for clients that send in bulk); otherwise the case is made before the answer",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    audit_plain_fields = ("name",)

    class Meta:
        verbose_name = _("Open311 客户端")
        verbose_name_plural = _("Open311 客户端")

    def __str__(self) -> str:
        return self.name


class Datatype(models.TextChoices):
    STRING = "string", "string"
    NUMBER = "number", "number"
    DATETIME = "datetime", "datetime"
    TEXT = "text", "text"
    SINGLE = "singlevaluelist", "singlevaluelist"
    MULTI = "multivaluelist", "multivaluelist"


class ServiceAttribute(models.Model):
    """A question a service definition asks (GeoReport v2 `attribute`), for one category and its subclasses,
    or, without a category, for every public service."""

    category = models.ForeignKey(
        "categories.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="open311_attributes"
    )
    code = models.CharField(_("代码"), max_length=32)
    datatype = models.CharField(_("类型"), max_length=16, choices=Datatype.choices, default=Datatype.STRING)
    variable = models.BooleanField(default=True, help_text="false: shown to the user, not asked")
    required = models.BooleanField(_("必填"), default=False)
    description = models.CharField(_("问题"), max_length=300)
    datatype_description = models.CharField(max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(default=1)
    values = models.JSONField(default=list, blank=True)  # [{"key": "yes", "name": "是"}] for the list types
    is_active = models.BooleanField(default=True)

    audit_plain_fields = ("description", "datatype_description")

    class Meta:
        verbose_name = _("服务属性")
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["category", "code"], name="open311_attribute_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"

    @property
    def keys(self) -> list[str]:
        return [str(v.get("key")) for v in self.values or [] if isinstance(v, dict)]


class Open311Request(models.Model):
    """What an Open311 caller sent with a report beyond what the case keeps."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="open311")
    client = models.ForeignKey(Open311Client, on_delete=models.PROTECT, related_name="requests")
    token = models.CharField(max_length=32, unique=True)  # GeoReport's token resource
    jurisdiction = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    media_urls = models.JSONField(default=list, blank=True)  # links as sent; never fetched
    address_id = models.CharField(max_length=64, blank=True)
    device_id_enc = models.TextField(blank=True)
    account_id_enc = models.TextField(blank=True)
    follow_token_enc = models.TextField(blank=True)  # lets the client reopen on its reporter's behalf
    created_at = models.DateTimeField(auto_now_add=True)

    audit_personal_fields = {"address_id": ADDRESS}
    audit_sensitive_fields = ("device_id_enc", "account_id_enc", "follow_token_enc")

    class Meta:
        verbose_name = _("Open311 上报")

    def __str__(self) -> str:
        return f"open311 {self.case_id} via {self.client_id}"


class Open311Update(models.Model):
    """A comment (or reopening) posted through `servicerequestupdates`, with the caller's own id for it, so a
    retried post finds the step it already made."""

    client = models.ForeignKey(Open311Client, on_delete=models.PROTECT, related_name="updates")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    step = models.OneToOneField(
        "cases.CaseStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="open311_update"
    )
    external_id = models.CharField(max_length=64, blank=True)  # the caller's update_id
    updated_datetime = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=32, blank=True)
    media_url = models.CharField(max_length=500, blank=True)
    name_enc = models.TextField(blank=True)
    email_enc = models.TextField(blank=True)
    phone_enc = models.TextField(blank=True)
    # sha256 of everything the caller sent (`services.update_digest`): a resend under the same update_id must
    # match it (empty for updates received before it was kept)
    digest = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    audit_sensitive_fields = ("name_enc", "email_enc", "phone_enc")

    class Meta:
        verbose_name = _("Open311 更新")
        constraints = [
            models.UniqueConstraint(fields=["client", "external_id"], condition=~models.Q(external_id=""),
                                    name="open311_update_external_id"),
        ]

    def __str__(self) -> str:
        return f"open311 update {self.external_id or self.pk} on {self.case_id}"


class QueueState(models.TextChoices):
    PENDING = "pending", _("待立卷")
    MADE = "made", _("已立卷")
    FAILED = "failed", _("未能立卷")
    DROPPED = "dropped", _("已放弃")  # a failed report the administrator gave up on: never made, kept for the trail


class QueuedRequest(models.Model):
    """A report from a queued client: checked and located when it came (so a bad one was refused then), kept
    here until a batch (`services.drain`) makes it a case with its `Open311Request` link, which takes this
    row's token. The reporter's contacts and the caller's ids are stored encrypted."""

    # No index on the two keys: a report writes this row under load, and clients and cases are never deleted
    # by the application (a deletion checks this table by scanning it).
    client = models.ForeignKey(Open311Client, on_delete=models.PROTECT, related_name="queued_requests",
                               db_index=False)
    token = models.CharField(max_length=32, unique=True)
    key = models.CharField(max_length=80, null=True, blank=True, unique=True)  # the report's hashed idempotency key
    digest = models.CharField(max_length=64, blank=True)  # of the report's content: a resend must match it
    received_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=QueueState.choices, default=QueueState.PENDING)
    report = models.JSONField()  # cases.services.ReportSpec.dump(), contacts left out
    contacts_enc = models.TextField(blank=True)
    jurisdiction = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    address_id = models.CharField(max_length=64, blank=True)
    device_id_enc = models.TextField(blank=True)
    account_id_enc = models.TextField(blank=True)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             db_index=False)
    error = models.CharField(max_length=300, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    audit_personal_fields = {"address_id": ADDRESS}
    audit_sensitive_fields = ("contacts_enc", "device_id_enc", "account_id_enc")

    class Meta:
        verbose_name = _("Open311 待立卷上报")
        # Partial: a report inserted as pending touches neither; the few failed rows are listed for retry.
        indexes = [models.Index(fields=["id"], condition=models.Q(state="pending"), name="open311_queue_pending"),
                   models.Index(fields=["id"], condition=models.Q(state="failed"), name="open311_queue_failed")]

    def __str__(self) -> str:
        return f"open311 queued {self.token} ({self.state})"

"""Accounts, grants, API tokens and login records."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from ..audit.personal import EMAIL
from .roles import DEPARTMENT_ROLES, REGION_ROLES, Role


class User(AbstractUser):
    """A person's account. What it may see and do comes from its grants, never from flags on the account."""

    display_name = models.CharField(_("姓名"), max_length=64, blank=True)
    must_change_password = models.BooleanField(_("须修改密码"), default=False)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    totp_secret = models.CharField(max_length=64, blank=True)
    totp_confirmed = models.BooleanField(default=False)
    locked_until = models.DateTimeField(null=True, blank=True)
    is_demo = models.BooleanField(default=False, help_text="created by the demo loader; removed with demo data")
    # Part of what a web session is bound to (`get_session_auth_hash`): raising it ends every session of the
    # account for good, as a password change does (deactivation; a reactivated account signs in afresh).
    session_generation = models.PositiveIntegerField(default=0)

    # An account's names are how the audit administrator tells who acted and who was granted what: kept.
    audit_plain_fields = ("first_name", "last_name", "display_name")
    audit_personal_fields = {"email": EMAIL}

    class Meta:
        verbose_name = _("账号")
        verbose_name_plural = _("账号")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def get_session_auth_hash(self) -> str:
        """The password's HMAC that Django keeps in each session, over the session generation too (generation 0
        gives Django's own hash, so sessions made before the generation existed stay valid)."""
        return self._session_hash()

    def get_session_auth_fallback_hash(self):
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret)

    def _session_hash(self, secret=None) -> str:
        if not self.session_generation:
            return self._get_session_auth_hash(secret=secret)
        return salted_hmac("civicgrid.access.User.session", f"{self.password}\x00{self.session_generation}",
                           secret=secret, algorithm="sha256").hexdigest()


class GrantQuerySet(models.QuerySet):
    def active(self, at=None):
        at = at or timezone.now()
        return self.filter(models.Q(valid_until__isnull=True) | models.Q(valid_until__gt=at), valid_from__lte=at)


class Grant(models.Model):
    """One role held over a region subtree (by code) or over a department's work."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grants")
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices)
    region = models.ForeignKey(
        "regions.Region", on_delete=models.PROTECT, null=True, blank=True, related_name="grants", verbose_name=_("区域")
    )
    department = models.ForeignKey(
        "orgs.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="grants",
        verbose_name=_("部门"),
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        verbose_name = _("授权")
        verbose_name_plural = _("授权")
        indexes = [models.Index(fields=["user", "role"])]
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "region", "department"], name="grant_unique"),
        ]

    def __str__(self) -> str:
        where = self.region or self.department or "—"
        return f"{self.get_role_display()} @ {where}"

    @property
    def is_expired(self) -> bool:
        """Whether the grant has ended (it gives nothing any more, but stays listed until revoked or renewed)."""
        return self.valid_until is not None and self.valid_until <= timezone.now()

    @property
    def last_day(self):
        """The last local day the grant is valid (`valid_until` is the exclusive end), or None when open-ended."""
        if self.valid_until is None:
            return None
        return timezone.localtime(self.valid_until - timedelta(microseconds=1)).date()

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.role in DEPARTMENT_ROLES and not self.department_id:
            raise ValidationError(_("部门角色必须指定部门"))
        if self.role in REGION_ROLES and not self.region_id:
            raise ValidationError(_("区域角色必须指定区域"))


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token: stored hashed, expires, can be revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("接口令牌")

    def __str__(self) -> str:
        return f"token {self.prefix}… of user {self.user_id}"

    @classmethod
    def issue(cls, user, *, label: str = "", ttl_hours: int | None = None) -> tuple[ApiToken, str]:
        """Create a token and return it with the raw secret, which is shown once and never stored."""
        raw = "cg_" + secrets.token_urlsafe(32)
        hours = ttl_hours if ttl_hours is not None else settings.CIVICGRID_TOKEN_TTL_HOURS
        token = cls.objects.create(
            user=user,
            key_hash=hash_token(raw),
            prefix=raw[3:11],
            label=label,
            expires_at=timezone.now() + timedelta(hours=hours),
        )
        return token, raw

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class LoginAttempt(models.Model):
    """Each login try, for throttling by account and by address and for the security audit."""

    username = models.CharField(max_length=150, db_index=True)
    source_ip = models.CharField(max_length=64, db_index=True, blank=True)
    succeeded = models.BooleanField()
    at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.CharField(max_length=64, blank=True)
    # Set on the failure that locked the username tried, whether or not an account has it: a name nobody holds
    # is locked like a real one, so the answers cannot tell which names exist (a real account's lock is its
    # `User.locked_until`, which an unlock clears).
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.username} {'ok' if self.succeeded else 'failed'} {self.at:%Y-%m-%d %H:%M}"


class PasswordHistory(models.Model):
    """Earlier password hashes, so a password is not reused within the configured history."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"password of user {self.user_id} set {self.created_at or '—'}"

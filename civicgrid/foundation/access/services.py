"""Account use cases: sign-in with failure handling, tokens, grants. Each one audits itself."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from ..audit import verbs
from ..audit.service import record, snapshot
from ..core.errors import PermissionDenied, ValidationFailed
from .models import ApiToken, Grant, LoginAttempt, PasswordHistory, User
from .roles import DEPARTMENT_ROLES, REGION_ROLES, Role
from .scope import forget_grants, has_capability


class LoginRefused(Exception):
    """Sign-in refused; the message says why in a way that does not reveal whether the account exists."""

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


GENERIC_FAILURE = "用户名或密码错误 / wrong username or password"


def _recent_failures(**filters) -> int:
    window = timezone.now() - timedelta(minutes=settings.CIVICGRID_LOGIN_LOCK_MINUTES)
    return LoginAttempt.objects.filter(succeeded=False, at__gte=window, **filters).count()


def sign_in(*, username: str, password: str, source_ip: str = "", request=None) -> User:
    """Check credentials under the lockout rules (per account and per address) and record the attempt."""
    username = (username or "").strip()[:150]
    max_failures = settings.CIVICGRID_LOGIN_MAX_FAILURES
    if source_ip and _recent_failures(source_ip=source_ip) >= max_failures * 4:
        LoginAttempt.objects.create(username=username, source_ip=source_ip, succeeded=False, reason="ip_throttled")
        record(actor=None, action=verbs.Auth.LOGIN_FAILED, data={"username": username, "reason": "ip_throttled"},
               result="refused")
        raise LoginRefused("该地址登录失败次数过多，请稍后再试 / too many failures from this address", locked=True)
    user = User.objects.filter(username=username).first()
    if user and user.locked_until and user.locked_until > timezone.now():
        LoginAttempt.objects.create(username=username, source_ip=source_ip, succeeded=False, reason="locked")
        record(actor=None, action=verbs.Auth.LOGIN_FAILED, data={"username": username, "reason": "locked"},
               result="refused")
        minutes = max(1, int((user.locked_until - timezone.now()).total_seconds() // 60) + 1)
        raise LoginRefused(f"账号已锁定，请 {minutes} 分钟后再试 / account locked, retry in {minutes} min", locked=True)
    authed = authenticate(request, username=username, password=password)
    if authed is None:
        LoginAttempt.objects.create(username=username, source_ip=source_ip, succeeded=False, reason="bad_credentials")
        record(actor=None, action=verbs.Auth.LOGIN_FAILED, data={"username": username, "reason": "bad_credentials"},
               result="refused")
        if user and _recent_failures(username=username) >= max_failures:
            user.locked_until = timezone.now() + timedelta(minutes=settings.CIVICGRID_LOGIN_LOCK_MINUTES)
            user.save(update_fields=["locked_until"])
            record(actor=None, action=verbs.Auth.LOCKED, target=user, data={"failures": max_failures})
        raise LoginRefused(GENERIC_FAILURE)
    LoginAttempt.objects.create(username=username, source_ip=source_ip, succeeded=True)
    if authed.locked_until:
        authed.locked_until = None
        authed.save(update_fields=["locked_until"])
    record(actor=authed, action=verbs.Auth.LOGIN, target=authed)
    return authed


def issue_token(*, user: User, label: str = "") -> str:
    """A new API token for the user; the raw value is returned once."""
    token, raw = ApiToken.issue(user, label=label)
    record(actor=user, action=verbs.Auth.TOKEN_ISSUED, target=user, data={"prefix": token.prefix, "label": label})
    return raw


def revoke_token(*, actor: User, token: ApiToken) -> None:
    if token.user_id != actor.pk and not has_capability(actor, "accounts.manage"):
        raise PermissionDenied("无权吊销他人的令牌 / may not revoke another user's token")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(actor=actor, action=verbs.Auth.TOKEN_REVOKED, target=token.user, data={"prefix": token.prefix})


@transaction.atomic
def set_password(*, actor: User, user: User, new_password: str) -> None:
    """Change a password under the policy (validators incl. history) and remember the old hash."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationFailed("；".join(exc.messages), field="password") from None
    if user.password:
        PasswordHistory.objects.create(user=user, password=user.password)
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.must_change_password = actor.pk != user.pk
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record(actor=actor, action=verbs.Auth.PASSWORD_CHANGED, target=user)


def _check_grant_shape(role: str, region, department) -> None:
    if role not in Role.values:
        raise ValidationFailed(f"未知角色：{role} / unknown role", field="role")
    if role in REGION_ROLES and region is None:
        raise ValidationFailed("该角色须指定区域 / this role needs a region", field="region")
    if role in DEPARTMENT_ROLES and department is None:
        raise ValidationFailed("该角色须指定部门 / this role needs a department", field="department")


@transaction.atomic
def add_grant(*, actor, user: User, role: str, region=None, department=None, valid_until=None) -> Grant:
    """Give a user a role over a region subtree or a department (security administrators only)."""
    if actor is not None and not has_capability(actor, "grants.manage"):
        raise PermissionDenied("只有安全管理员可以授权 / only the security administrator grants roles")
    _check_grant_shape(role, region, department)
    grant, created = Grant.objects.get_or_create(
        user=user, role=role, region=region, department=department, defaults={"valid_until": valid_until}
    )
    if created:
        record(actor=actor, action=verbs.Access.GRANT_ADDED, target=user, after=snapshot(grant))
    forget_grants(user)
    return grant


@transaction.atomic
def remove_grant(*, actor, grant: Grant) -> None:
    if actor is not None and not has_capability(actor, "grants.manage"):
        raise PermissionDenied("只有安全管理员可以撤销授权 / only the security administrator revokes roles")
    before = snapshot(grant)
    user = grant.user
    grant.delete()
    record(actor=actor, action=verbs.Access.GRANT_REMOVED, target=user, before=before)
    forget_grants(user)

"""Account use cases: sign-in with failure handling, tokens, grants, accounts. Each one audits itself."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from ..audit import verbs
from ..audit.service import record, snapshot
from ..core import ratelimit
from ..core.errors import Conflict, PermissionDenied, ValidationFailed
from .models import ApiToken, Grant, LoginAttempt, PasswordHistory, User
from .passwords import check_policy
from .roles import ADMIN_ROLES, DEPARTMENT_ROLES, REGION_ROLES, Role, grant_capabilities
from .scope import forget_grants, has_capability

# Unlocking accounts and addresses and resetting second factors is security policy (三员分立: the security
# administrator's work, not the system administrator's, who only creates and deactivates accounts).
grant_capabilities("accounts.unlock", {Role.SECURITY_ADMIN})


class LoginRefused(Exception):
    """Sign-in refused; the message says why in a way that does not reveal whether the account exists."""

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


GENERIC_FAILURE = "用户名或密码错误 / wrong username or password"
UNLOCKED = "unlocked"  # LoginAttempt.reason of the marker row an unlock writes
DISPLAY_NAME_MAX = User._meta.get_field("display_name").max_length
USERNAME_MAX = User._meta.get_field("username").max_length


def _recent_failures(*, username: str | None = None, source_ip: str | None = None) -> int:
    """Failures inside the lock window since the last reset.

    An account's count restarts after a successful sign-in or an unlock; an address's only after an unlock
    (a successful sign-in from an address must not wash away a password-guessing run from it).
    """
    since = timezone.now() - timedelta(minutes=settings.CIVICGRID_LOGIN_LOCK_MINUTES)
    if username is not None:
        filters = {"username": username}
        resets = LoginAttempt.objects.filter(username=username, succeeded=True)
    else:
        filters = {"source_ip": source_ip}
        resets = LoginAttempt.objects.filter(source_ip=source_ip, succeeded=True, reason=UNLOCKED)
    last_reset = resets.filter(at__gte=since).order_by("-at").values_list("at", flat=True).first()
    if last_reset is not None:
        since = last_reset
    return LoginAttempt.objects.filter(succeeded=False, at__gte=since, **filters).count()


def address_failure_limit() -> int:
    """Failures from one address inside the lock window that throttle it (four times an account's)."""
    return settings.CIVICGRID_LOGIN_MAX_FAILURES * 4


def throttled_addresses(limit: int = 50) -> list[dict]:
    """The addresses throttled now, most failures first, as `{"source_ip", "n"}`: each address's failures in the
    lock window since its last unlock, counted as `check_credentials` counts them (one query)."""
    since = timezone.now() - timedelta(minutes=settings.CIVICGRID_LOGIN_LOCK_MINUTES)
    last_unlock = (LoginAttempt.objects.filter(source_ip=OuterRef("source_ip"), succeeded=True, reason=UNLOCKED,
                                               at__gte=since)
                   .order_by("-at").values("at")[:1])
    return list(
        LoginAttempt.objects.filter(succeeded=False, at__gte=since).exclude(source_ip="")
        .annotate(unlocked_at=Subquery(last_unlock))
        .filter(Q(unlocked_at__isnull=True) | Q(at__gte=F("unlocked_at")))
        .values("source_ip").annotate(n=Count("id")).filter(n__gte=address_failure_limit())
        .order_by("-n", "source_ip")[:limit]
    )


# Refusals before any credential was checked: recorded and counted, but they do not lock a username themselves.
_NOT_LOCKING = {"ip_throttled", "locked"}


def record_failure(*, username: str, source_ip: str, reason: str, user: User | None = None) -> bool:
    """Record a refused sign-in step and lock the username tried once it reaches the limit; True when it locked.

    The username locks whether or not an account holds it (the lock of a name nobody holds is kept on the
    failure that locked it), so a lock tells a guesser nothing about which usernames exist."""
    attempt = LoginAttempt.objects.create(username=username, source_ip=source_ip, succeeded=False, reason=reason)
    record(actor=None, action=verbs.Auth.LOGIN_FAILED, data={"username": username, "reason": reason},
           result="refused")
    max_failures = settings.CIVICGRID_LOGIN_MAX_FAILURES
    if reason in _NOT_LOCKING or _recent_failures(username=username) < max_failures:
        return False
    until = timezone.now() + timedelta(minutes=settings.CIVICGRID_LOGIN_LOCK_MINUTES)
    LoginAttempt.objects.filter(pk=attempt.pk).update(locked_until=until)
    if user is not None:
        user.locked_until = until
        user.save(update_fields=["locked_until"])
    record(actor=None, action=verbs.Auth.LOCKED, target=user, data={"failures": max_failures, "username": username})
    return True


def check_credentials(*, username: str, password: str, source_ip: str = "", request=None) -> User:
    """First step of signing in: the password, under the lockout rules (per account and per address).

    A failure is recorded here; success is not, because an account that needs a second factor has not
    signed in yet (see `complete_sign_in`).
    """
    username = (username or "").strip()[:150]
    if source_ip and _recent_failures(source_ip=source_ip) >= address_failure_limit():
        record_failure(username=username, source_ip=source_ip, reason="ip_throttled")
        raise LoginRefused("该地址登录失败次数过多，请稍后再试 / too many failures from this address", locked=True)
    user = User.objects.filter(username=username).first()
    ensure_not_locked(user, username=username, source_ip=source_ip)
    authed = authenticate(request, username=username, password=password)
    if authed is None:
        record_failure(username=username, source_ip=source_ip, reason="bad_credentials", user=user)
        raise LoginRefused(GENERIC_FAILURE)
    return authed


def ensure_not_locked(user: User | None, *, username: str, source_ip: str) -> None:
    """Refuse (and record) any sign-in step of a username locked now: an account's lock, or for a name no
    account holds the lock its failures set, in the same words (see `record_failure`)."""
    now = timezone.now()
    if user is not None:
        until = user.locked_until
    else:
        until = (LoginAttempt.objects.filter(username=username, locked_until__gt=now)
                 .order_by("-locked_until").values_list("locked_until", flat=True).first())
    if until and until > now:
        record_failure(username=username, source_ip=source_ip, reason="locked")
        minutes = max(1, int((until - now).total_seconds() // 60) + 1)
        raise LoginRefused(f"账号已锁定，请 {minutes} 分钟后再试 / account locked, retry in {minutes} min", locked=True)


def complete_sign_in(*, user: User, source_ip: str = "") -> User:
    """Last step of signing in: record the success and clear an expired lock."""
    LoginAttempt.objects.create(username=user.get_username(), source_ip=source_ip, succeeded=True)
    if user.locked_until:
        user.locked_until = None
        user.save(update_fields=["locked_until"])
    record(actor=user, action=verbs.Auth.LOGIN, target=user)
    return user


def sign_in(*, username: str, password: str, source_ip: str = "", request=None) -> User:
    """Check credentials under the lockout rules (per account and per address) and record the attempt.

    For accounts without a second factor; the login page and the token endpoint call the two steps
    themselves so that a TOTP code can sit between them.
    """
    user = check_credentials(username=username, password=password, source_ip=source_ip, request=request)
    return complete_sign_in(user=user, source_ip=source_ip)


def limit_token_requests(*, username: str, source_ip: str) -> None:
    """Token issuing is rate limited (SECURITY.md "Web and API"): every request takes a token from the bucket of
    the username it tries (whether or not the account exists, in any letter case) and from its address's
    (`CIVICGRID_TOKEN_*` settings), before any password is checked; an empty bucket is a 429
    (`ratelimit.RateLimited`) and nothing is written. The lockout rules still count the failures that pass. When the
    bucket store fails, no token is issued (a 503, `ratelimit.Unavailable`): these buckets are what stops guessing
    across usernames from one address."""
    name = (username or "").strip()[:150].casefold()
    buckets = [(f"token:user:{name}",
                ratelimit.configured("CIVICGRID_TOKEN_RATE_PER_HOUR", "CIVICGRID_TOKEN_BURST", per="hour"))]
    if source_ip:
        buckets.append((f"token:addr:{source_ip}",
                        ratelimit.configured("CIVICGRID_TOKEN_ADDRESS_RATE_PER_HOUR", "CIVICGRID_TOKEN_ADDRESS_BURST",
                                             per="hour")))
    ratelimit.check(*buckets, fail_closed=True)


def issue_token(*, user: User, label: str = "") -> str:
    """A new API token for the user; the raw value is returned once."""
    token, raw = ApiToken.issue(user, label=label)
    record(actor=user, action=verbs.Auth.TOKEN_ISSUED, target=user, data={"prefix": token.prefix, "label": label})
    return raw


@transaction.atomic
def revoke_token(*, actor: User, token: ApiToken) -> None:
    """Revoke one API token: its owner's, or any for the system administrator; audited."""
    if token.user_id != actor.pk and not has_capability(actor, "accounts.manage"):
        raise PermissionDenied("无权吊销他人的令牌 / may not revoke another user's token")
    if token.revoked_at is not None:
        raise Conflict("该令牌已吊销 / this token is already revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(actor=actor, action=verbs.Auth.TOKEN_REVOKED, target=token.user, data={"prefix": token.prefix})


@transaction.atomic
def revoke_all_tokens(*, actor: User | None, user: User) -> int:
    """Revoke every token of the account still valid (its owner, or the system administrator); the number."""
    if actor is not None and actor.pk != user.pk and not has_capability(actor, "accounts.manage"):
        raise PermissionDenied("无权吊销他人的令牌 / may not revoke another user's token")
    return _revoke_live_tokens(user, actor=actor, reason="asked")


def _revoke_live_tokens(user: User, *, actor, reason: str) -> int:
    """Revoke the account's tokens still valid, in one audit entry naming them (by prefix) and why."""
    now = timezone.now()
    live = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
    prefixes = list(live.order_by("created_at").values_list("prefix", flat=True))
    if not prefixes:
        return 0
    live.update(revoked_at=now)
    record(actor=actor, action=verbs.Auth.TOKEN_REVOKED, target=user, data={"prefixes": prefixes, "reason": reason})
    return len(prefixes)


@transaction.atomic
def set_password(*, actor: User, user: User, new_password: str) -> None:
    """Change a password under the policy (validators incl. history) and remember the old hash."""
    check_policy(new_password, user)
    # The history holds earlier hashes only; the current one must not come back either.
    if user.has_usable_password() and user.check_password(new_password):
        raise ValidationFailed("新密码不能与当前密码相同 / the new password must differ from the current one",
                               field="password")
    if user.password:
        PasswordHistory.objects.create(user=user, password=user.password)
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.must_change_password = actor.pk != user.pk
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record(actor=actor, action=verbs.Auth.PASSWORD_CHANGED, target=user)
    # The new hash ends the account's other web sessions; its API tokens end with them (SECURITY.md: a changed
    # password must shut out whoever held the old one).
    _revoke_live_tokens(user, actor=actor, reason="password_changed")


def _check_grant_shape(role: str, region, department) -> None:
    if role not in Role.values:
        raise ValidationFailed(f"未知角色：{role} / unknown role", field="role")
    if role in REGION_ROLES and region is None:
        raise ValidationFailed("该角色须指定区域 / this role needs a region", field="region")
    if role in DEPARTMENT_ROLES and department is None:
        raise ValidationFailed("该角色须指定部门 / this role needs a department", field="department")


def _check_separation(user: User, role: str, *, keep: Grant | None = None) -> None:
    """三员分立 (SECURITY.md, "Access control"): the system, security and audit administrators are distinct
    roles and none of them reads business data by virtue of that role. So an administrator role is the only
    role its account holds: never two administrator roles on one account, never one beside a business role.
    Expired grants do not count (they give nothing; renewing one goes through this check again)."""
    now = timezone.now()
    held = (Grant.objects.filter(user=user).filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .exclude(pk=keep.pk if keep else None))
    if role in ADMIN_ROLES:
        other = held.first()
    else:
        other = held.filter(role__in=ADMIN_ROLES).first()
    if other is not None:
        raise ValidationFailed(
            f"三员分立：该账号已持有“{other.get_role_display()}”，管理员角色不能与其他角色兼任"
            f" / separation of duties: this account already holds {other.role}; an administrator role cannot"
            " be combined with any other role", field="role")


def _check_validity(valid_from, valid_until) -> None:
    if valid_until is not None and (valid_until <= timezone.now() or valid_until <= valid_from):
        raise ValidationFailed("有效期至不能早于今天，且须晚于授权开始时间 / the end date must be today or later, and "
                               "after the start", field="valid_until")


class GrantSaved(NamedTuple):
    """What `add_grant` did: the grant, and whether an existing one was renewed rather than created."""

    grant: Grant
    renewed: bool


@transaction.atomic
def add_grant(*, actor, user: User, role: str, region=None, department=None, valid_until=None) -> GrantSaved:
    """Give a user a role over a region subtree or a department (security administrators only).

    The same role over the same region or department again renews the grant when it has expired or ends
    sooner than asked (the new end date, or none, replaces the old); any other repeat is refused as a
    duplicate, so a success always means a change. Refused: an end date in the past, an administrator role
    combined with another role (三员分立), and granting oneself anything (no administrator extends their
    own powers)."""
    if actor is not None and not has_capability(actor, "grants.manage"):
        raise PermissionDenied("只有安全管理员可以授权 / only the security administrator grants roles")
    if actor is not None and actor.pk == user.pk:
        raise PermissionDenied("不能为自己的账号授权 / you cannot grant roles to your own account")
    _check_grant_shape(role, region, department)
    now = timezone.now()
    existing = (Grant.objects.select_for_update()
                .filter(user=user, role=role, region=region, department=department).first())
    _check_separation(user, role, keep=existing)
    if existing is None:
        _check_validity(now, valid_until)
        grant = Grant.objects.create(user=user, role=role, region=region, department=department,
                                     valid_from=now, valid_until=valid_until)
        record(actor=actor, action=verbs.Access.GRANT_ADDED, target=user, after=snapshot(grant))
        forget_grants(user)
        return GrantSaved(grant, renewed=False)
    expired = existing.valid_until is not None and existing.valid_until <= now
    _check_validity(now if expired else existing.valid_from, valid_until)
    extends = existing.valid_until is not None and (valid_until is None or valid_until > existing.valid_until)
    if not extends:
        zh, en = (existing.last_day.isoformat(),) * 2 if existing.last_day else ("长期", "no end")
        raise Conflict(f"该账号已有此授权（有效期至 {zh}） / this account already holds this role here"
                       f" (valid until: {en})", field="role")
    before = snapshot(existing)
    if expired:
        existing.valid_from = now  # a new period: the gap in between gave nothing
    existing.valid_until = valid_until
    existing.save(update_fields=["valid_from", "valid_until"])
    record(actor=actor, action=verbs.Access.GRANT_ADDED, target=user, before=before, after=snapshot(existing),
           data={"renewed": True})
    forget_grants(user)
    return GrantSaved(existing, renewed=True)


@transaction.atomic
def remove_grant(*, actor, grant: Grant) -> None:
    if actor is not None and not has_capability(actor, "grants.manage"):
        raise PermissionDenied("只有安全管理员可以撤销授权 / only the security administrator revokes roles")
    before = snapshot(grant)
    user = grant.user
    grant.delete()
    record(actor=actor, action=verbs.Access.GRANT_REMOVED, target=user, before=before)
    forget_grants(user)


@transaction.atomic
def create_account(*, actor, username: str, display_name: str, password: str) -> User:
    """A new account (system administrators only) that must change its password at first sign-in.

    The account holds no grants: roles are the security administrator's to give.
    """
    if actor is not None and not has_capability(actor, "accounts.manage"):
        raise PermissionDenied("只有系统管理员可以创建账号 / only the system administrator creates accounts")
    username = (username or "").strip()
    if not username:
        raise ValidationFailed("请填写用户名 / a username is required", field="username")
    if len(username) > USERNAME_MAX:
        raise ValidationFailed(f"用户名最多 {USERNAME_MAX} 个字符，现为 {len(username)} 个 / the username is at most "
                               f"{USERNAME_MAX} characters; this one has {len(username)}", field="username")
    if not all(c.isalnum() or c in "@.+-_" for c in username):
        raise ValidationFailed("用户名只能包含字母、数字和 @.+-_ / a username may hold only letters, digits and "
                               "@.+-_", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationFailed("该用户名已存在 / this username is taken", field="username")
    display_name = (display_name or "").strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        raise ValidationFailed(f"姓名最多 {DISPLAY_NAME_MAX} 个字符 / the name is at most {DISPLAY_NAME_MAX} characters",
                               field="display_name")
    user = User(username=username, display_name=display_name)
    check_policy(password, user)
    user.set_password(password)
    user.must_change_password = True
    user.password_changed_at = timezone.now()
    user.save()
    record(actor=actor, action=verbs.Access.USER_CREATED, target=user,
           after={"username": user.username, "display_name": user.display_name, "must_change_password": True})
    return user


@transaction.atomic
def set_account_active(*, actor, user: User, active: bool) -> None:
    """Deactivate (or reactivate) an account; a deactivated account's sessions and tokens end for good, so a
    reactivated account signs in afresh and asks for new tokens."""
    if actor is not None and not has_capability(actor, "accounts.manage"):
        raise PermissionDenied("只有系统管理员可以停用账号 / only the system administrator deactivates accounts")
    if actor is not None and actor.pk == user.pk and not active:
        raise ValidationFailed("不能停用自己的账号 / you cannot deactivate your own account")
    if user.is_active == active:
        return
    user.is_active = active
    fields = ["is_active"]
    if not active:
        user.session_generation += 1  # a session of the inactive account must not come back with it
        fields.append("session_generation")
    user.save(update_fields=fields)
    record(actor=actor, action=verbs.Access.USER_CHANGED, target=user,
           before={"is_active": not active}, after={"is_active": active})
    if not active:
        _revoke_live_tokens(user, actor=actor, reason="deactivated")


@transaction.atomic
def unlock_account(*, actor, user: User) -> None:
    """Lift an account's lock now and restart its failure count (security administrators only)."""
    if actor is not None and not has_capability(actor, "accounts.unlock"):
        raise PermissionDenied("只有安全管理员可以解锁账号 / only the security administrator unlocks accounts")
    user.locked_until = None
    user.save(update_fields=["locked_until"])
    LoginAttempt.objects.create(username=user.get_username(), succeeded=True, reason=UNLOCKED)
    record(actor=actor, action=verbs.Access.USER_CHANGED, target=user, data={"unlocked": True})


@transaction.atomic
def unlock_address(*, actor, source_ip: str) -> None:
    """Restart the failure count of a source address throttled for too many failures."""
    if actor is not None and not has_capability(actor, "accounts.unlock"):
        raise PermissionDenied("只有安全管理员可以解除地址限制 / only the security administrator unlocks addresses")
    source_ip = (source_ip or "").strip()
    if not source_ip:
        raise ValidationFailed("请提供地址 / an address is required", field="source_ip")
    try:
        ipaddress.ip_address(source_ip)  # checked, but kept as typed: failures are stored as the request gave it
    except ValueError:
        raise ValidationFailed(f"“{source_ip[:64]}”不是有效的 IP 地址 / not a valid IP address",
                               field="source_ip") from None
    LoginAttempt.objects.create(username="", source_ip=source_ip, succeeded=True, reason=UNLOCKED)
    record(actor=actor, action=verbs.Config.CHANGED, data={"unlocked_address": source_ip})

"""Second factor for privileged roles: time-based one-time codes (TOTP, RFC 6238; 6 digits, 30 s).

Which roles need it is configuration (等保 2.0 level 3 asks for two factors for privileged users):
``CIVICGRID_TOTP_ROLES=system_admin,security_admin,audit_admin`` in production; empty in the demo so that the
demo accounts sign in with a password alone. ``superuser`` in the list covers superuser accounts too.

An account that needs a second factor and has none enrols at its next sign-in, after the password: the page
shows the secret and the ``otpauth://`` URI (to type or paste into any authenticator app) and the sign-in
finishes only once a code from the app checks out. The security administrator can reset a lost factor; the
account then enrols again. Wrong codes count as login failures, so the account lockout also stops guessing.
"""

from __future__ import annotations

import hashlib
import re
import time

import pyotp
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from ..audit import verbs
from ..audit.service import record
from ..core.errors import PermissionDenied
from . import services
from .models import User
from .scope import has_capability, user_roles

ISSUER = "civicgrid"
INTERVAL = 30
# Codes of the neighbouring time steps are accepted too: phones drift, and typing takes time.
VALID_WINDOW = 1
TOTP_RESET = verbs.Auth.TOTP_RESET
_CODE = re.compile(r"^\d{6}$")


class SecondFactorRefused(services.LoginRefused):
    """The second step of signing in failed; `code` tells API clients what to do next."""

    def __init__(self, message: str, *, code: str, locked: bool = False):
        super().__init__(message, locked=locked)
        self.code = code


def configured_roles() -> set[str]:
    """The roles (and possibly "superuser") whose holders need a second factor."""
    return {r.strip() for r in getattr(settings, "CIVICGRID_TOTP_ROLES", []) if r.strip()}


def required(user: User) -> bool:
    """Whether this account must present a code after its password."""
    roles = configured_roles()
    if not roles:
        return False
    if user.is_superuser and "superuser" in roles:
        return True
    return bool(user_roles(user) & roles)


def enrolled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_confirmed)


def pending_secret(user: User) -> str:
    """The secret being enrolled, created on first call; kept across page reloads until confirmed."""
    if not user.totp_secret or user.totp_confirmed:
        user.totp_secret = pyotp.random_base32()
        user.totp_confirmed = False
        user.save(update_fields=["totp_secret", "totp_confirmed"])
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    """The otpauth:// URI an authenticator app imports (shown as text: no QR library is vendored)."""
    return pyotp.TOTP(user.totp_secret, interval=INTERVAL).provisioning_uri(name=user.get_username(), issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals `code`, within the accepted window, or None."""
    totp = pyotp.TOTP(secret, interval=INTERVAL)
    current = int(now // INTERVAL)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def _check_code(user: User, code: str | None) -> bool:
    """A well-formed code of the user's secret, not used before (a code seen on the wire cannot be replayed).

    Used steps are remembered in the cache for the life of the window; with several server processes the
    cache must be shared (e.g. a database or Redis cache) for the replay guard to span them.
    """
    code = re.sub(r"\s", "", code or "")
    if not user.totp_secret or not _CODE.match(code):
        return False
    step = _matching_step(user.totp_secret, code, time.time())
    if step is None:
        return False
    # Keyed by the secret too: a reset factor starts afresh, and keys never collide between accounts.
    secret_tag = hashlib.sha256(user.totp_secret.encode()).hexdigest()[:16]
    return cache.add(f"civicgrid:totp-used:{user.pk}:{secret_tag}:{step}", 1, timeout=INTERVAL * (2 * VALID_WINDOW + 2))


def verify_login(*, user: User, code: str | None, source_ip: str = "") -> None:
    """Second step of signing in for an enrolled account; a wrong code counts as a login failure."""
    services.ensure_not_locked(user, username=user.get_username(), source_ip=source_ip)
    if not enrolled(user):
        raise SecondFactorRefused(
            "该账号须先在网页登录时绑定动态口令 / enrol a one-time-code app at the web sign-in first",
            code="otp_enrolment_required",
        )
    if not code:
        raise SecondFactorRefused("请输入动态口令 / a one-time code is required", code="otp_required")
    if not _check_code(user, code):
        locked = services.record_failure(
            username=user.get_username(), source_ip=source_ip, reason="bad_otp", user=user
        )
        raise SecondFactorRefused("动态口令错误 / wrong one-time code", code="otp_invalid", locked=locked)


def confirm_enrolment(*, user: User, code: str | None, source_ip: str = "") -> None:
    """Finish enrolment with a first code from the app; audited. A wrong code counts as a failure.

    Not one transaction: a refused code must stay recorded although the call raises.
    """
    services.ensure_not_locked(user, username=user.get_username(), source_ip=source_ip)
    if enrolled(user):
        return verify_login(user=user, code=code, source_ip=source_ip)
    if not _check_code(user, code):
        locked = services.record_failure(
            username=user.get_username(), source_ip=source_ip, reason="bad_otp_enrolment", user=user
        )
        raise SecondFactorRefused("动态口令错误 / wrong one-time code", code="otp_invalid", locked=locked)
    with transaction.atomic():
        user.totp_confirmed = True
        user.save(update_fields=["totp_confirmed"])
        record(actor=user, action=verbs.Auth.TOTP_ENROLLED, target=user)


@transaction.atomic
def reset(*, actor: User, user: User) -> None:
    """Forget an account's second factor (lost phone); it enrols again at its next sign-in. Security admins."""
    if not has_capability(actor, "accounts.unlock"):
        raise PermissionDenied("只有安全管理员可以重置动态口令 / only the security administrator resets factors")
    user.totp_secret = ""
    user.totp_confirmed = False
    user.save(update_fields=["totp_secret", "totp_confirmed"])
    record(actor=actor, action=TOTP_RESET, target=user)

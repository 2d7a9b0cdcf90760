"""Token endpoint (fixed contract): POST /api/v1/auth/token {"username","password"} → {"token"}.

Accounts whose role needs a second factor (`CIVICGRID_TOTP_ROLES`) add `"otp"`: the 6-digit code of their
authenticator app. Accounts that must change their password first get no token until they have. Requests are
rate limited per username tried and per address (`services.limit_token_requests`): 429 with `Retry-After` (503 while
the bucket store has failed: token issuing fails closed).
"""

from ninja import Router, Schema

from civicgrid.foundation.core.api_json import StrictIn

from ..core.api_errors import ErrorOut
from ..core.errors import CivicgridError
from ..core.middleware import client_ip
from . import services

router = Router(tags=["auth"])


class TokenIn(StrictIn):
    username: str
    password: str
    otp: str | None = None  # only for accounts that need a second factor


class TokenOut(Schema):
    token: str
    expires_in: int


class Unauthorized(CivicgridError):
    status = 401
    code = "unauthorized"


class Locked(CivicgridError):
    status = 429
    code = "locked"


class PasswordChangeRequired(CivicgridError):
    status = 403
    code = "password_change_required"


@router.post("/token", auth=None, response={200: TokenOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut, 422: ErrorOut})
def create_token(request, payload: TokenIn):
    """Exchange a username and password (and a one-time code, where required) for a bearer token."""
    from django.conf import settings

    from ..audit import verbs
    from ..audit.service import record
    from . import totp
    from .middleware import password_change_required

    source_ip = client_ip(request)
    services.limit_token_requests(username=payload.username, source_ip=source_ip)
    try:
        user = services.check_credentials(
            username=payload.username, password=payload.password, source_ip=source_ip, request=request
        )
        if totp.required(user):
            totp.verify_login(user=user, code=payload.otp, source_ip=source_ip)
    except totp.SecondFactorRefused as exc:
        error = Locked(exc.message) if exc.locked else Unauthorized(exc.message)
        error.code = exc.code if not exc.locked else Locked.code
        raise error from None
    except services.LoginRefused as exc:
        raise (Locked if exc.locked else Unauthorized)(exc.message) from None
    if password_change_required(user):
        # The forced change of SECURITY.md applies to every channel, not only to pages.
        record(actor=None, action=verbs.Auth.LOGIN_FAILED, target=user,
               data={"username": user.get_username(), "reason": "password_change_required"}, result="refused")
        raise PasswordChangeRequired("请先在网页登录修改密码 / change your password at the web sign-in first")
    services.complete_sign_in(user=user, source_ip=source_ip)
    raw = services.issue_token(user=user, label="api")
    return {"token": raw, "expires_in": settings.CIVICGRID_TOKEN_TTL_HOURS * 3600}

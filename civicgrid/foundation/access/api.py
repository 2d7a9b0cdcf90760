"""Token endpoint (fixed contract): POST /api/v1/auth/token {"username","password"} → {"token"}.

Accounts whose role needs a second factor (`CIVICGRID_TOTP_ROLES`) add `"otp"`: the 6-digit code of their
authenticator app. Accounts that must change their password first get no token until they have. Requests are
rate limited per username tried and per address (`services.limit_token_requests`): 429 with `Retry-After` (503 while
the bucket store has failed: token issuing fails closed).

POST /api/v1/auth/token/revoke revokes the token the request carries (`{"all": true}`: every valid token of its
account), audited as the web page's revoke (/accounts/tokens/) is; the token then answers 401.
"""

from ninja import Router, Schema

from civicgrid.foundation.core.api_errors import errors, reads_own_body, refuse_unknown_body
from civicgrid.foundation.core.api_json import StrictIn

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


class RevokeIn(StrictIn):
    all: bool = False  # every valid token of the account, not only the one this request carries


class RevokeOut(Schema):
    revoked: int  # how many tokens this request revoked


class Unauthorized(CivicgridError):
    status = 401
    code = "unauthorized"


class Locked(CivicgridError):
    status = 429
    code = "locked"


class PasswordChangeRequired(CivicgridError):
    status = 403
    code = "password_change_required"


@router.post("/token", auth=None, response={200: TokenOut, **errors(400, 401, 403, 422, 429)})
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


@router.post("/token/revoke", response={200: RevokeOut, **errors(400, 401, 422)}, url_name="revoke_token",
             openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
                 "schema": RevokeIn.json_schema()}}}})
@reads_own_body("all")
def revoke_token(request, all: bool = False):  # noqa: A002 - the parameter's name in the API
    """Sign out of the API: revoke the bearer token this request carries (any further request with it is 401).
    With `all` (`?all=true`, or the JSON body `{"all": true}`), every valid token of the account (other devices
    and scripts too). The body is optional. Recorded in the audit trail as `auth.token_revoked`, as a revoke on
    the web page /accounts/tokens/ is. Answers how many tokens it revoked."""
    if _all_in_body(request):
        all = True  # noqa: A001
    if all:
        return {"revoked": services.revoke_all_tokens(actor=request.user, user=request.user)}
    services.revoke_token(actor=request.user, token=request.api_token)
    return {"revoked": 1}


def _all_in_body(request) -> bool:
    """`{"all": true}` in a JSON body; no body, or one of another type (an empty form), asks nothing."""
    import json

    from ..core.errors import ValidationFailed

    if not request.content_type == "application/json" or not request.body.strip():
        return False
    refuse_unknown_body(request, RevokeIn.model_fields)
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ValidationFailed("请求体不是有效的 JSON / the request body is not valid JSON", field="body") from None
    value = body.get("all", False) if isinstance(body, dict) else None
    if not isinstance(value, bool):
        raise ValidationFailed("all 须为 true 或 false / all must be true or false", field="all")
    return value

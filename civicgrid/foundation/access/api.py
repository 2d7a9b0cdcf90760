"""Token endpoint (fixed contract): POST /api/v1/auth/token {"username","password"} → {"token"}."""

from ninja import Router, Schema

from ..core.errors import CivicgridError
from ..core.middleware import client_ip
from . import services

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str
    expires_in: int


class ErrorOut(Schema):
    detail: str
    code: str


class Unauthorized(CivicgridError):
    status = 401
    code = "unauthorized"


class Locked(CivicgridError):
    status = 429
    code = "locked"


@router.post("/token", auth=None, response={200: TokenOut, 401: ErrorOut, 429: ErrorOut, 422: ErrorOut})
def create_token(request, payload: TokenIn):
    """Exchange a username and password for a bearer token (expires; stored hashed)."""
    from django.conf import settings

    try:
        user = services.sign_in(
            username=payload.username, password=payload.password, source_ip=client_ip(request), request=request
        )
    except services.LoginRefused as exc:
        raise (Locked if exc.locked else Unauthorized)(exc.message) from None
    raw = services.issue_token(user=user, label="api")
    return {"token": raw, "expires_in": settings.CIVICGRID_TOKEN_TTL_HOURS * 3600}

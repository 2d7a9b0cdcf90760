"""The one NinjaAPI. Each app contributes a router in its `api.py`; errors are always JSON with a message."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from civicgrid.foundation.access.api_auth import BearerAuth
from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core import dbdown
from civicgrid.foundation.core.api_errors import invalid_request, strict_operation
from civicgrid.foundation.core.api_json import DistrictTimeRenderer
from civicgrid.foundation.core.errors import CivicgridError

api = NinjaAPI(
    title="civicgrid API",
    version="1.0.0",
    description="网格化基层治理平台接口 / civicgrid REST API. Token: POST /api/v1/auth/token, then "
    "`Authorization: Bearer <token>`; POST /api/v1/auth/token/revoke revokes it (`{\"all\": true}`: every token "
    "of the account). Datetimes are written in district time with their offset "
    "(`2026-12-01T18:00:00+08:00`); any offset is read. Errors: `{\"detail\": \"中文 / English\", \"code\": …, "
    "\"field\": …}`. On every endpoint, a query parameter, body field or form field it does not declare is a 422 "
    "naming it; lists page with limit 1–1000 and offset 0–10⁹.",
    urls_namespace="api",
    auth=BearerAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    renderer=DistrictTimeRenderer(),
)

# Every operation refuses a query parameter, form field or body key it does not declare, by name (a 422).
api.add_decorator(strict_operation, mode="view")  # "view": around the operation's run, before its parameters are read

# Every 401 names the scheme to answer with (RFC 6750), so that clients and generated SDKs retry with a token.
BEARER_CHALLENGE = 'Bearer realm="civicgrid"'


@api.exception_handler(CivicgridError)
def civicgrid_error(request, exc: CivicgridError):
    response = api.create_response(request, exc.as_dict(), status=exc.status)
    for name, value in getattr(exc, "headers", {}).items():  # a 429's Retry-After
        response[name] = value
    if exc.status == 401:
        response["WWW-Authenticate"] = BEARER_CHALLENGE
    return response


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    # Each field's problem in Chinese first, pydantic's English after it, and its error type for programs.
    return api.create_response(request, invalid_request(list(exc.errors)), status=422)


@api.exception_handler(AuthenticationError)
def auth_error(request, exc):
    response = api.create_response(
        request, {"detail": "需要有效的令牌 / a valid bearer token is required", "code": "unauthorized"}, status=401
    )
    response["WWW-Authenticate"] = BEARER_CHALLENGE
    return response


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, {"detail": "未找到 / not found", "code": "not_found"}, status=404)


# Django Ninja's own refusals, in the API's two languages.
NINJA_MESSAGES = {
    "Cannot parse request body": ("请求体不是有效的 JSON / the request body is not valid JSON", "invalid"),
    "Forbidden": ("无权进行此操作 / forbidden", "forbidden"),
}
# A status Django Ninja refuses with a message not listed above still gets a code a program can switch on.
STATUS_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited"}


@api.exception_handler(Throttled)
def throttled(request, exc: Throttled):
    # Django Ninja adds Retry-After to this answer.
    return api.create_response(
        request, {"detail": "请求过于频繁，请稍后再试 / too many requests, try again later", "code": "rate_limited"},
        status=429,
    )


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    detail, code = NINJA_MESSAGES.get(str(exc.message), (str(exc.message), STATUS_CODES.get(exc.status_code, "error")))
    return api.create_response(request, {"detail": detail, "code": code}, status=exc.status_code)


@api.exception_handler(DataError)
def data_error(request, exc):
    # The database refused a value (out of range, malformed): the request was wrong, not the server. Logged,
    # because a validator should have stopped it before the query.
    import logging

    logging.getLogger("civicgrid.api").warning("database refused a request value: %s", exc)
    return api.create_response(
        request, {"detail": "请求参数超出允许范围 / a value in the request is out of range", "code": "invalid"},
        status=400,
    )


@api.exception_handler(OverflowError)
def overflow_error(request, exc):
    # SQLite's driver refuses a Python int beyond 64 bits before the query runs (PostgreSQL answers DataError,
    # above): the same 400. A safety net: inputs are bounded where they are read (`core.ids.checked_id`).
    import logging

    logging.getLogger("civicgrid.api").warning("a request value overflowed a database integer: %s", exc)
    return api.create_response(
        request, {"detail": "请求参数超出允许范围 / a value in the request is out of range", "code": "invalid"},
        status=400,
    )


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
    return api.create_response(
        request,
        {"detail": f"请求体过大（上限 {limit_mb} MB），照片请分批上传 / request body too large (limit {limit_mb} MB)",
         "code": "too_large"},
        status=413,
    )


@api.exception_handler(Exception)
def unexpected(request, exc):
    import logging

    if dbdown.unavailable(exc):  # the database is away: 503 with Retry-After, one log line per incident
        dbdown.refused(exc, f"{request.method} {request.path}")
        response = api.create_response(request, {"detail": dbdown.DETAIL, "code": "unavailable"}, status=503)
        return dbdown.retry_after(response)

    logging.getLogger("civicgrid.api").exception("unhandled API error")
    return api.create_response(
        request, {"detail": "服务器内部错误，已记录 / internal error, logged", "code": "server_error"}, status=500
    )


def _mount_routers() -> None:
    # Routers are imported here so that apps stay unaware of each other and the order is explicit.
    from civicgrid.foundation.access.api import router as auth_router
    from civicgrid.foundation.regions.api import router as regions_router

    api.add_router("/auth", auth_router)
    api.add_router("/", regions_router)
    for dotted in (
        "civicgrid.foundation.orgs.api",
        "civicgrid.foundation.people.api",
        "civicgrid.foundation.imports.api",
        "civicgrid.foundation.audit.api",
        "civicgrid.foundation.notify.api",
        "civicgrid.foundation.sla.api",
        "civicgrid.apps.cases.api",
        "civicgrid.apps.categories.api",
        "civicgrid.apps.evaluation.api",
        "civicgrid.integrations.router.api",
        "civicgrid.apps.hazards.api",
        "civicgrid.apps.flood.api",
        "civicgrid.apps.materials.api",
        "civicgrid.apps.rescue.api",
    ):
        try:
            module = __import__(dotted, fromlist=["router"])
        except ModuleNotFoundError as exc:
            if exc.name != dotted:
                raise
            continue
        api.add_router(getattr(module, "PREFIX", "/"), module.router)


_mount_routers()

# The API root (django-ninja's own page) returns no business data; every other URL declares itself where its
# view is defined (see civicgrid.foundation.access.endpoints and the scope contract test).
non_data_endpoint("api:api-root")

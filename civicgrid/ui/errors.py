"""The error pages: 400, 403, 404 and 500 in the user's language, inside the site's frame (Django's defaults are
English-only plain pages). A message the code raised for people (ours are Chinese, such as the scoped read
path's "not found or not in your scope") is shown; Django's own technical messages are not. Under `/api/` the
answer is JSON (`{"detail": …}`); under `/open311/` the GeoReport error list (the Open311 app answers its own
unknown paths in the spec's formats; this covers what reaches Django's handlers). A database that cannot be
reached answers 503 with `Retry-After` in the same forms (`DatabaseUnavailableMiddleware`, `core.dbdown`)."""

from __future__ import annotations

import logging
import sys
from pathlib import PurePosixPath

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.handlers.exception import get_exception_response
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import Resolver404, get_resolver, get_urlconf, resolve
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from civicgrid.foundation.core import dbdown, keys
from civicgrid.ui.language import has_chinese, one_language

log = logging.getLogger(__name__)

TITLES = {
    400: gettext_noop("请求有误"),
    403: gettext_noop("无权访问"),
    404: gettext_noop("页面不存在"),
}


def _human_message(exception) -> str:
    """The exception's own message when it was written for people, in the reader's language: ours are Chinese,
    or "中文 / English" pairs (`one_language`). '' otherwise (Django's technical messages, or a Chinese-only
    message in the English interface, where the page's own translated sentence says the same)."""
    args = getattr(exception, "args", ())
    message = args[0] if args else ""
    if not isinstance(message, str) or not has_chinese(message):
        return ""
    shown = one_language(message)
    if (get_language() or "").startswith("zh"):
        return shown
    return shown if not has_chinese(shown) else ""


# The API's error shape (`core.api_errors.ErrorOut`) for what reaches Django's handlers under /api/ (an unknown
# address, a failure outside the API's own handlers): "中文 / English" and a code, whatever the interface language.
API_ERRORS = {
    400: ("请求有误 / bad request", "invalid"),
    403: ("无权访问 / forbidden", "forbidden"),
    404: ("未找到该地址或对象 / not found", "not_found"),
    405: ("该地址不接受此请求方法 / method not allowed", "method_not_allowed"),
    500: ("服务器内部错误，请稍后重试 / internal server error", "server_error"),
    503: ("服务暂不可用，请稍后重试 / service unavailable", "unavailable"),
}


def api_error(status: int, detail: str = "", **extra) -> JsonResponse:
    """An error under /api/ in the API's shape: `detail` when it is "中文 / English", else the status's own."""
    default, code = API_ERRORS.get(status, (f"请求未被受理 / request refused ({status})", "error"))
    shown = detail if " / " in detail and has_chinese(detail) else default
    return JsonResponse({"detail": shown, "code": code, **extra}, status=status,
                        json_dumps_params={"ensure_ascii": False})


def _machine(request, status: int, detail: str, exception=None):
    """JSON for API clients; None for a page."""
    path = request.path
    if path.startswith("/api/"):
        args = getattr(exception, "args", ())
        raised = args[0] if args and isinstance(args[0], str) else ""
        return api_error(status, raised or detail)
    if path.startswith("/open311/"):
        return open311_error(path, status, detail)
    return None


def open311_error(path: str, status: int, detail: str) -> HttpResponse:
    """The GeoReport error list in the format the URL asks for: XML for a `.xml` URL (a client reading XML must
    be able to parse even a 500), JSON otherwise."""
    from civicgrid.integrations.open311.formats import JSON, XML, error_response

    return error_response(XML if path.lower().rstrip("/").endswith(".xml") else JSON, status, detail)


def _page(request, status: int, exception=None):
    default = {
        400: _("请求的内容有误，请检查后重试。"),
        403: _("您的账号没有访问该页面的权限。如需开通，请联系系统管理员。"),
        404: _("未找到该页面或对象，或不在您的权限范围内。"),
    }[status]
    detail = _human_message(exception) or default
    answer = _machine(request, status, detail, exception)
    if answer is not None:
        return answer
    # A follow link opens without an account: signing in would not make a bad link good.
    signin = not request.path.startswith("/follow/")
    # A list refused for its filters (a link typed or kept from before) is one click from the list without them.
    clear = (request.path if status == 400 and request.method == "GET" and request.GET
             and not PurePosixPath(request.path).suffix else "")
    return render(request, "ui/error.html", {"status": status, "title": _(TITLES[status]), "detail": detail,
                                             "signin": signin, "clear": clear}, status=status)


@requires_csrf_token
def bad_request(request, exception=None):
    return _page(request, 400, exception)


@requires_csrf_token
def permission_denied(request, exception=None):
    return _page(request, 403, exception)


@requires_csrf_token
def page_not_found(request, exception=None):
    return _page(request, 404, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form sent from a page too old (its token expired with the session) or from
    elsewhere."""
    detail = _("页面已过期或来源无法确认，本次提交未被受理。请刷新页面后重新提交。")
    answer = _machine(request, 403, detail)
    if answer is not None:
        return answer
    return render(request, "ui/error.html", {"status": 403, "title": _("提交未被受理"), "detail": detail}, status=403)


@requires_csrf_token
def server_error(request):
    """A page that needs nothing that could itself be broken: no database, no navigation, both languages.
    A database that cannot be reached, failing in a middleware (the session, the signed-in user), is the 503
    of `database_unavailable` instead."""
    failure = sys.exc_info()[1]
    if dbdown.unavailable(failure):
        return database_unavailable(request, failure)
    answer = _machine(request, 500, "服务器内部错误，请稍后重试 / internal server error")
    if answer is not None:
        return answer
    return HttpResponseServerError(loader.get_template("ui/error_500.html").render())


# ---- a refused request -----------------------------------------------------------------------------------------
# Django logs a view's PermissionDenied on `django.request` with its traceback, one for every click on a page or
# a button the user's scope does not reach, and the real errors drown in them. A refusal is no fault of the code:
# it is one warning line (who, what, why) on this module's logger, which cuts the tokens of paths
# (config/settings.py's LOGGING). The answer is the one Django gives (the 403 handler, `permission_denied`).


def _one_line(text: str) -> str:
    """`text` on one line: what a request brought (its path) never starts a line of its own in the log."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class RefusalLogMiddleware:
    """A view's PermissionDenied is logged as one warning line without a traceback; the response is unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DjangoPermissionDenied):
            return None
        user = getattr(request, "user", None)
        who = user.pk if getattr(user, "is_authenticated", False) else "anonymous"
        args = getattr(exception, "args", ())
        reason = args[0] if args and isinstance(args[0], str) and args[0] else "-"
        log.warning("refused: user=%s %s %s reason=%s", who, request.method, _one_line(request.path),
                    _one_line(reason))
        response = get_exception_response(request, get_resolver(get_urlconf()), 403, exception)
        response._has_been_logged = True  # Django's own line (django.request, "Forbidden: …") would repeat it
        return response


# ---- encrypted data without its key ---------------------------------------------------------------------------
# The key file is missing while the database holds encrypted values, or it is not the file the data was written
# with (`core.keys`): the page says so in words, 503, rather than "internal server error"; the log names the
# file and the error for the administrator.

KEYS_TITLE = gettext_noop("加密密钥不可用")
KEYS_UNAVAILABLE = gettext_noop(
    "加密数据暂时无法读取或写入：加密密钥文件缺失，或与数据不符。请联系系统管理员从备份恢复密钥文件。")


class KeysUnavailableMiddleware:
    """A view that failed for want of the right encryption key answers a clear 503 page (or JSON)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (keys.KeyFileMissing, keys.KeyMismatch)):
            return None
        log.error("%s %s: %s", request.method, request.path, exception)
        detail = _(KEYS_UNAVAILABLE)
        answer = _machine(request, 503, detail, Exception(KEYS_UNAVAILABLE + " / encryption key unavailable"))
        if answer is not None:
            return answer
        return render(request, "ui/error.html", {"status": 503, "title": _(KEYS_TITLE), "detail": detail},
                      status=503)


# ---- the database cannot be reached ----------------------------------------------------------------------------
# `core.dbdown` tells a database that is away from a bug. A view's failure reaches the middleware below; one in a
# middleware (loading the session or the user) reaches `server_error` above. Either way the answer is a 503 with
# Retry-After in the caller's form, one log line per incident, and connections closed so that the next request
# connects again. The request's own transaction has been rolled back on the way out, as for any error.


def database_unavailable(request, exc: BaseException):
    """The 503 answer to a request that found the database away."""
    if getattr(request, "database_unavailable", False):  # a middleware on the way out failed again
        dbdown.reset_connections()
    else:
        request.database_unavailable = True
        dbdown.refused(exc, f"{request.method} {request.path}")
    path = request.path
    if path.startswith("/api/"):
        answer = api_error(503, dbdown.DETAIL)
    elif path.startswith("/open311/"):
        from civicgrid.integrations.open311.formats import error_response

        answer = error_response(PurePosixPath(path).suffix.lstrip(".").lower(), 503, dbdown.DETAIL)
    elif path.rstrip("/") == "/healthz":
        answer = JsonResponse({"status": "error", "detail": "database unavailable"}, status=503)
    else:
        # No site frame: drawing it would ask the database for the user and the menu.
        body = loader.get_template("ui/error_503.html").render({"retry_after": dbdown.RETRY_AFTER})
        answer = HttpResponse(body, status=503)
    return dbdown.retry_after(answer)


class DatabaseUnavailableMiddleware:
    """A view that found the database away answers 503 (above); the first request served after an incident
    ends it in the log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(response, "database_unavailable", False):
            dbdown.incident.served()
        return response

    def process_exception(self, request, exception):
        if not dbdown.unavailable(exception):
            return None
        return database_unavailable(request, exception)


# ---- a form's address opened as a page ------------------------------------------------------------------------
# A POST-only address (an action on a case, marking a message read, revealing a number) is reached by GET when a
# page drawn there after a refusal is reloaded or switched to the other language, when its address is typed or
# opened in a new tab, or when signing in again after the session ended leads back to it (`next`). Django
# answers 405 with an empty body, which the browser shows as its own blank error. Instead the user is taken to
# the page the form belongs to (the nearest address above it that is a page), told that nothing was submitted.

NOT_SUBMITTED = gettext_noop("该地址只接受页面上的提交，已转到所属页面；如有未完成的操作，请在此重新提交。")
MACHINE_PREFIXES = ("/api/", "/open311/", "/static/")


def _owning_page(path: str) -> str | None:
    """The nearest address above `path` that Django resolves (the page the form belongs to), or None."""
    here = resolve(path)
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) + "/"
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        if match.func is not here.func:
            return candidate
    return None


class FormAddressMiddleware:
    """GET or HEAD on a page address that takes only POST: redirect to the page it belongs to (see above)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code != 405 or request.method not in ("GET", "HEAD")
                or request.path.startswith(MACHINE_PREFIXES) or request.headers.get("HX-Request")):
            return response
        try:
            target = _owning_page(request.path)
        except Resolver404:
            target = None
        if target is None:
            return response
        messages.info(request, _(NOT_SUBMITTED))
        return redirect(target)


class ApiMethodMiddleware:
    """A method an /api/ address does not take: Django Ninja answers 405 in plain text; this gives the API's
    error shape, keeping the `Allow` header (which also names the methods in the message)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        allowed = response.get("Allow", "")
        answer = api_error(405, f"该地址不接受 {request.method[:10]} 请求（可用：{allowed}） / method not allowed "
                                f"(allowed: {allowed})" if allowed else "")
        if allowed:
            answer["Allow"] = allowed
        return answer

"""Request context middleware: a request id on every request and response."""

import re

from django.conf import settings

from . import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
USER_AGENT_MAX = 300


def client_ip(request) -> str:
    """The caller's address; a proxy's X-Forwarded-For is trusted only when configured."""
    if getattr(settings, "SECURE_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


class RequestContextMiddleware:
    """Binds request id, source address and channel for audit records made while serving the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else None
        path = request.path
        channel = "api" if path.startswith("/api/") else "open311" if path.startswith("/open311/") else "web"
        agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]
        with context.acting(channel=channel, source_ip=client_ip(request), request_id=request_id,
                            user_agent=agent) as ctx:
            request.request_id = ctx.request_id
            response = self.get_response(request)
            response["X-Request-ID"] = ctx.request_id
            return response


class ChineseFirstLocaleMiddleware:
    """Chinese unless the user chose otherwise: the language cookie (set by the language switch) decides, the
    browser's Accept-Language does not (district PCs often have English-language browsers)."""

    def __init__(self, get_response):
        from django.middleware.locale import LocaleMiddleware

        self._inner = LocaleMiddleware(get_response)

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self._inner(request)

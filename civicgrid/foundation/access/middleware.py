"""Session rules: the idle timeout, which automatic refreshes do not reset (`IdleSessionMiddleware`), forced
password change (first login, expiry) before anything else, and htmx requests turned away by them sent to the
whole page (`HtmxSessionRedirectMiddleware`)."""

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.sessions.middleware import SessionMiddleware
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

_ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/", "/open311/", "/i18n/")

# The query flag a page's own timer adds to the requests it makes by itself (the board's htmx polls, a retraining
# run's and an import job's progress carry it in their `hx-get`, the board's map script on the timed reload only). A query flag, not a header: `hx-headers` would be
# inherited by every htmx element inside the polling one, and a user's click on any of them would then count
# as no activity; and not htmx's `HX-Trigger` (the polling element's id), which a click on that same element
# would send too. Anyone may add the flag: it can only make their own session end sooner.
AUTO_REFRESH_PARAM = "refresh"
AUTO_REFRESH_VALUE = "auto"


def is_auto_refresh(request) -> bool:
    """A read the page made by itself on a timer, not something the user did (see `IdleSessionMiddleware`)."""
    return request.method in ("GET", "HEAD") and request.GET.get(AUTO_REFRESH_PARAM) == AUTO_REFRESH_VALUE


class IdleSessionMiddleware(SessionMiddleware):
    """Django's session middleware, whose `SESSION_SAVE_EVERY_REQUEST` makes `SESSION_COOKIE_AGE` an idle
    timeout (SECURITY.md: idle sessions time out), except that an automatic refresh (`is_auto_refresh`) is
    answered while the session lives but does not save it: neither its expiry nor its cookie moves. A board
    left open, refreshing itself every 30 s, is signed out once nobody has used it for the timeout; its next
    refresh is then sent to the sign-in page (`HtmxSessionRedirectMiddleware`). A refresh that changed the
    session (none of the board's do) is saved as any request is."""

    def process_response(self, request, response):
        session = getattr(request, "session", None)
        if session is not None and is_auto_refresh(request) and not session.modified and not session.is_empty():
            if session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)


class SessionPolicyMiddleware:
    """Send a signed-in user whose password must change to the change form."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(_ALLOWED_PREFIXES):
            if password_change_required(user):
                return redirect("ui:password_change")
        return self.get_response(request)


def password_change_required(user) -> bool:
    if user.must_change_password:
        return True
    max_age = getattr(settings, "CIVICGRID_PASSWORD_MAX_AGE_DAYS", 0)
    if max_age and user.password_changed_at and not user.is_demo:
        return timezone.now() - user.password_changed_at > timedelta(days=max_age)
    return False


class HtmxSessionRedirectMiddleware:
    """An htmx request the session rules turn away (signed out, session ended or its password to change) is
    answered with `HX-Redirect`: the browser goes to the sign-in or password page. Followed by the XHR, the
    redirect brought that whole page into the fragment's place (the board's tiles, refreshed every 30 s, showed
    a sign-in form inside them, whose `next` was the fragment's address). After signing in the user comes back
    to the page they were on (`HX-Current-URL`), not to the fragment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code not in (301, 302, 303, 307, 308) or not request.headers.get("HX-Request"):
            return response
        target = urlsplit(response.get("Location", ""))
        if target.path == resolve_url(settings.LOGIN_URL):
            location = f"{target.path}?{urlencode({REDIRECT_FIELD_NAME: _current_page(request)})}"
        elif target.path == resolve_url("ui:password_change"):
            location = target.path
        else:
            return response
        return HttpResponseClientRedirect(location)


def _current_page(request) -> str:
    """The path (and query) of the page an htmx request came from, when it is one of this site's; else "/"."""
    current = request.headers.get("HX-Current-URL", "")
    if not url_has_allowed_host_and_scheme(current, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        return "/"
    page = urlsplit(current)
    return f"{page.path or '/'}{'?' + page.query if page.query else ''}"

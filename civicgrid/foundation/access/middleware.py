"""Session rules: forced password change (first login, expiry) before anything else."""

from datetime import timedelta

from django.conf import settings
from django.shortcuts import redirect
from django.utils import timezone

_ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/", "/open311/", "/i18n/")


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

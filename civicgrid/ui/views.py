"""Sign-in (with a second factor where configured), sign-out, password change and the home page."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicgrid.apps.cases.selectors import my_work
from civicgrid.foundation.access import services, totp
from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import user_roles
from civicgrid.foundation.core.errors import CivicgridError, ValidationFailed
from civicgrid.foundation.core.ids import MAX_ID
from civicgrid.foundation.core.middleware import client_ip
from civicgrid.ui.language import one_language
from civicgrid.ui.pages.common import paginate

_PENDING = "civicgrid_2fa"  # session key: the account that passed its password and owes a one-time code
_PENDING_SECONDS = 300


def _safe_next(request, next_url: str) -> str:
    return next_url if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}) else ""


@require_http_methods(["GET", "POST"])
def login_view(request):
    """Sign in: the password, then (for roles that need it) a one-time code, enrolling the app the first time."""
    if request.method == "POST" and request.POST.get("step") == "otp":
        return _login_second_step(request)
    request.session.pop(_PENDING, None)
    error = ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        source_ip = client_ip(request)
        try:
            user = services.check_credentials(
                username=request.POST.get("username", ""),
                password=request.POST.get("password", ""),
                source_ip=source_ip,
                request=request,
            )
        except services.LoginRefused as exc:
            error = one_language(exc.message)
        else:
            if totp.required(user):
                request.session[_PENDING] = {
                    "uid": user.pk, "backend": user.backend, "at": time.time(), "next": _safe_next(request, next_url)
                }
                return _render_second_step(request, user)
            services.complete_sign_in(user=user, source_ip=source_ip)
            login(request, user)
            return redirect(_safe_next(request, next_url) or "ui:home")
    return render(request, "registration/login.html", {"error": error, "next": next_url}, status=401 if error else 200)


def _render_second_step(request, user, error: str = ""):
    context = {"error": error, "enrolling": not totp.enrolled(user)}
    if context["enrolling"]:
        context["secret"] = totp.pending_secret(user)
        context["uri"] = totp.provisioning_uri(user)
    response = render(request, "security/login_totp.html", context, status=401 if error else 200)
    response["Cache-Control"] = "no-store"  # the enrolment page shows the secret
    return response


def _login_second_step(request):
    from civicgrid.foundation.access.models import User

    pending = request.session.get(_PENDING) or {}
    user = User.objects.filter(pk=pending.get("uid"), is_active=True).first()
    if user is None or time.time() - pending.get("at", 0) > _PENDING_SECONDS:
        request.session.pop(_PENDING, None)
        error = "登录已超时，请重新输入密码 / sign-in timed out, enter your password again"
        return render(request, "registration/login.html", {"error": error, "next": ""}, status=401)
    source_ip = client_ip(request)
    try:
        totp.confirm_enrolment(user=user, code=request.POST.get("otp", ""), source_ip=source_ip)
    except services.LoginRefused as exc:
        if exc.locked:
            request.session.pop(_PENDING, None)
            return render(request, "registration/login.html", {"error": one_language(exc.message), "next": ""}, status=401)
        return _render_second_step(request, user, one_language(exc.message))
    request.session.pop(_PENDING, None)
    services.complete_sign_in(user=user, source_ip=source_ip)
    login(request, user, backend=pending.get("backend"))
    return redirect(pending.get("next") or "ui:home")


@require_POST
def logout_view(request):
    logout(request)
    return redirect("ui:login")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    errors = []
    if request.method == "POST":
        old = request.POST.get("old_password", "")
        new1 = request.POST.get("new_password1", "")
        new2 = request.POST.get("new_password2", "")
        refused = ("请填写原密码 / enter your current password" if not old
                   else "原密码不正确 / the current password is wrong" if not request.user.check_password(old)
                   else "请填写新密码 / enter a new password" if not new1
                   else "两次输入的新密码不一致 / the new passwords differ" if new1 != new2 else "")
        if refused:
            errors.append(one_language(refused))
        else:
            try:
                services.set_password(actor=request.user, user=request.user, new_password=new1)
            except ValidationFailed as exc:
                errors.append(one_language(exc.message))
            else:
                from django.contrib.auth import update_session_auth_hash

                update_session_auth_hash(request, request.user)
                messages.success(request, one_language("密码已修改 / password changed"))
                return redirect("ui:home")
    return render(request, "registration/password_change.html", {"errors": errors}, status=400 if errors else 200)


@login_required
@require_safe
def api_tokens(request):
    """The signed-in user's API tokens (prefix, label, issued, expires, last used, state), each to revoke, and
    all at once. Only one's own: the system administrator's account pages revoke others' by deactivating."""
    now = timezone.now()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk")
    context = {"page_obj": paginate(request, tokens), "now": now, "ttl_hours": settings.CIVICGRID_TOKEN_TTL_HOURS,
               "live": tokens.filter(revoked_at__isnull=True, expires_at__gt=now).exists()}
    return render(request, "registration/api_tokens.html", context)


@login_required
@require_POST
def api_token_revoke(request, pk: int):
    token = ApiToken.objects.filter(pk=pk, user=request.user).first() if pk <= MAX_ID else None
    if token is None:  # another account's token is as unknown as a missing one
        raise Http404("no such token")
    try:
        services.revoke_token(actor=request.user, token=token)
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已吊销令牌 cg_{token.prefix}… / token cg_{token.prefix}… revoked")
    return redirect("ui:api_tokens")


@login_required
@require_POST
def api_tokens_revoke_all(request):
    count = services.revoke_all_tokens(actor=request.user, user=request.user)
    if count:
        messages.success(request, f"已吊销 {count} 个令牌 / {count} tokens revoked")
    else:
        messages.info(request, "没有有效的令牌 / no valid tokens")
    return redirect("ui:api_tokens")


non_data_endpoint("ui:api_tokens", "ui:api_token_revoke", "ui:api_tokens_revoke_all")  # the user's own tokens


@login_required
def home(request):
    """Greeting, roles, 我的待办 (the steps of the case loop waiting for this user, with counts) and the menu."""
    labels = dict(Role.choices)
    roles = [labels.get(r, r) for r in sorted(user_roles(request.user))]
    return render(request, "ui/home.html", {"roles": roles, "work": my_work(request.user)})

"""Sign-in, sign-out, password change and the home page."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.foundation.access import services
from civicgrid.foundation.access.scope import user_roles
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.core.middleware import client_ip


@require_http_methods(["GET", "POST"])
def login_view(request):
    error = ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        try:
            user = services.sign_in(
                username=request.POST.get("username", ""),
                password=request.POST.get("password", ""),
                source_ip=client_ip(request),
                request=request,
            )
        except services.LoginRefused as exc:
            error = exc.message
        else:
            login(request, user)
            if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
                next_url = ""
            return redirect(next_url or "ui:home")
    return render(request, "registration/login.html", {"error": error, "next": next_url}, status=401 if error else 200)


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
        if not request.user.check_password(old):
            errors.append("原密码不正确 / the current password is wrong")
        elif new1 != new2:
            errors.append("两次输入的新密码不一致 / the new passwords differ")
        else:
            try:
                services.set_password(actor=request.user, user=request.user, new_password=new1)
            except ValidationFailed as exc:
                errors.append(exc.message)
            else:
                from django.contrib.auth import update_session_auth_hash

                update_session_auth_hash(request, request.user)
                messages.success(request, "密码已修改 / password changed")
                return redirect("ui:home")
    return render(request, "registration/password_change.html", {"errors": errors}, status=400 if errors else 200)


@login_required
def home(request):
    return render(request, "ui/home.html", {"roles": sorted(user_roles(request.user))})

"""The system administrator's pages (三员分立): create and deactivate accounts, nothing else.

New accounts must change their password at first sign-in. Roles and regions are not shown or given here:
that is the security administrator's work (`security.py`); the audit trail is the audit administrator's.
"""

from __future__ import annotations

import secrets
import string

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from civicgrid.foundation.access import services
from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.access.models import User
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, paginate

CAPABILITY = "accounts.manage"


def initial_password() -> str:
    """A random first password that meets the policy (it must be changed at first sign-in anyway)."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(14))
    return body + secrets.choice(string.ascii_uppercase) + secrets.choice(string.digits) + "-"


@require_safe
@capability_required(CAPABILITY)
def accounts(request):
    """Accounts with their state; a form to create one."""
    q = (request.GET.get("q") or "").strip()[:50]
    qs = User.objects.order_by("username")
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(display_name__icontains=q))
    page_obj = paginate(request, qs)
    return render(request, "manage/accounts.html", {"page_obj": page_obj, "q": q})


@require_POST
@capability_required(CAPABILITY)
def account_create(request):
    """Create an account; a generated first password is shown once."""
    password = request.POST.get("password", "")
    generated = not password
    if generated:
        password = initial_password()
    try:
        user = services.create_account(
            actor=request.user,
            username=request.POST.get("username", ""),
            display_name=request.POST.get("display_name", ""),
            password=password,
        )
    except CivicgridError as exc:
        messages.error(request, exc.message)
        return redirect("ui:manage_accounts")
    # One "中文 / English" pair (the page shows one half): the first password is in both halves.
    zh = f"已创建账号 {user.username}，首次登录须修改密码"
    en = f"account {user.username} created; it must change its password at first sign-in"
    if generated:
        zh += f"。初始密码（只显示这一次）：{password}"
        en += f". First password (shown once): {password}"
    messages.success(request, f"{zh} / {en}")
    return redirect("ui:manage_accounts")


@require_POST
@capability_required(CAPABILITY)
def account_active(request, pk: int):
    """Deactivate or reactivate an account (its sessions and tokens stop working at once)."""
    user = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.set_account_active(actor=request.user, user=user, active=active)
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已启用账号 {user.username} / account {user.username} enabled" if active
                         else f"已停用账号 {user.username} / account {user.username} disabled")
    return redirect("ui:manage_accounts")


urlpatterns = [
    path("accounts/", accounts, name="manage_accounts"),
    path("accounts/new/", account_create, name="manage_account_create"),
    path("accounts/<int:pk>/active/", account_active, name="manage_account_active"),
]
# Accounts are not business data; the capability decides who reaches them (tests in access/tests).
non_data_endpoint("ui:manage_accounts", "ui:manage_account_create", "ui:manage_account_active")
register(MenuItem("manage_accounts", "账号管理", "ui:manage_accounts", CAPABILITY, order=90))

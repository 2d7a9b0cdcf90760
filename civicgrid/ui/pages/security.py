"""The security administrator's and the audit administrator's pages (三员分立).

Security administrator (`grants.manage`, `accounts.unlock`): give and take roles over regions or departments,
see sign-in failures, unlock accounts and addresses, reset a lost second factor. Audit administrator
(`audit.view`, `audit.export`): read and export the audit trail; the export is itself recorded. Neither reads
business data by virtue of the role; each write goes through the access services, which audit it.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from civicgrid.foundation.access import services, totp
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.models import Grant, LoginAttempt, User
from civicgrid.foundation.access.roles import ADMIN_ROLES, DEPARTMENT_ROLES, Role
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.audit.export import (
    AuditFilter,
    apply_filter,
    export_entries,
    filter_from_query,
    object_types,
    visible_audit,
)
from civicgrid.foundation.audit.service import shown_repr
from civicgrid.foundation.core.days import day_end
from civicgrid.foundation.core.downloads import file_response
from civicgrid.foundation.core.errors import CivicgridError, ValidationFailed
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, paginate

# ----------------------------------------------------------------------------------------- grants (roles)


def _grant_target(role: str, region_code: str, department_code: str):
    """The region or department a grant form names; reference data, looked up by code, not through scope."""
    from civicgrid.foundation.orgs.models import CASE_HANDLING_KINDS, Organisation, handling_kinds_text
    from civicgrid.foundation.regions.models import Region

    region = department = None
    if role in DEPARTMENT_ROLES:
        if not department_code.strip():
            raise ValidationFailed("请填写处置单位的机构代码 / enter the code of the organisation", field="department")
        # Whoever a case can be sent to acts through its department handlers: a department, a street office,
        # the command centre or a rescue team.
        department = Organisation.objects.filter(code=department_code.strip(), kind__in=CASE_HANDLING_KINDS).first()
        if department is None:
            raise ValidationFailed(f"找不到该代码的{handling_kinds_text()} / no organisation that handles cases has "
                                   f"this code", field="department")
    elif role not in ADMIN_ROLES:
        region = Region.objects.filter(code=region_code.strip()).first()
        if region is None:
            raise ValidationFailed("找不到该区域代码 / no region with this code", field="region")
    return region, department


@require_safe
@capability_required("grants.manage")
def grants(request):
    """Accounts and the roles they hold; forms to grant and revoke."""
    q = (request.GET.get("q") or "").strip()[:50]
    # Expired grants are listed too (marked): they are what a renewal extends, and what an audit asks about.
    held = Grant.objects.select_related("region", "department").order_by("role", "id")
    qs = User.objects.filter(is_active=True).prefetch_related(Prefetch("grants", queryset=held)).order_by("username")
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(display_name__icontains=q))
    context = {
        "page_obj": paginate(request, qs),
        "q": q,
        "roles": Role.choices,
        "department_roles": [str(r) for r in DEPARTMENT_ROLES],
        "admin_roles": [str(r) for r in ADMIN_ROLES],
    }
    return render(request, "security/grants.html", context)


@require_POST
@capability_required("grants.manage")
def grant_add(request):
    """Give an account a role over a region subtree or a department (audited by the service)."""
    role = request.POST.get("role", "")
    try:
        user = User.objects.filter(username=request.POST.get("username", "").strip()).first()
        if user is None:
            raise ValidationFailed("找不到该账号 / no such account", field="username")
        region, department = _grant_target(role, request.POST.get("region", ""), request.POST.get("department", ""))
        valid_until = _end_of_day(request.POST.get("valid_until", ""))
        saved = services.add_grant(actor=request.user, user=user, role=role, region=region, department=department,
                                   valid_until=valid_until)
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        zh, en = _role_names(role)
        if saved.renewed:
            last = saved.grant.last_day.isoformat() if saved.grant.last_day else ""
            messages.success(request, f"已续期 {user.username}：{zh}，有效期至 {last or '长期'} / "
                                      f"grant renewed: {user.username}, {en}, valid until {last or 'no end'}")
        else:
            messages.success(request, f"已授权 {user.username}：{zh} / role granted: {user.username}, {en}")
    return redirect("ui:security_grants")


def _role_names(role: str) -> tuple[str, str]:
    """A role's name in Chinese and in English, for the two halves of a message (the page shows one)."""
    with translation.override(settings.LANGUAGE_CODE):
        zh = str(Role(role).label)
    with translation.override("en"):
        return zh, str(Role(role).label)


def _end_of_day(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationFailed("有效期格式应为 YYYY-MM-DD / use YYYY-MM-DD", field="valid_until") from None
    return day_end(day)


@require_POST
@capability_required("grants.manage")
def grant_remove(request, pk: int):
    """Revoke one grant (audited by the service)."""
    grant = get_object_or_404(Grant.objects.select_related("user"), pk=pk)
    try:
        services.remove_grant(actor=request.user, grant=grant)
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        zh, en = _role_names(grant.role)
        messages.success(request, f"已撤销 {grant.user.username}：{zh} / role revoked: {grant.user.username}, {en}")
    return redirect("ui:security_grants")


# ------------------------------------------------------------------------------------ sign-in failures


@require_safe
@capability_required("accounts.unlock")
def logins(request):
    """Recent sign-in failures, locked accounts and throttled addresses, with the means to unlock them."""
    now = timezone.now()
    failures = LoginAttempt.objects.filter(succeeded=False).order_by("-at")
    username = (request.GET.get("username") or "").strip()[:150]
    source_ip = (request.GET.get("source_ip") or "").strip()[:64]
    if username:
        failures = failures.filter(username=username)
    if source_ip:
        failures = failures.filter(source_ip=source_ip)
    context = {
        "page_obj": paginate(request, failures),
        "locked": User.objects.filter(locked_until__gt=now).order_by("locked_until"),
        "throttled": services.throttled_addresses(),
        "username": username,
        "source_ip": source_ip,
        "totp_roles": sorted(totp.configured_roles()),
    }
    return render(request, "security/logins.html", context)


@require_POST
@capability_required("accounts.unlock")
def unlock(request, pk: int):
    user = get_object_or_404(User, pk=pk)
    services.unlock_account(actor=request.user, user=user)
    messages.success(request, f"已解锁 {user.username} / account {user.username} unlocked")
    return redirect("ui:security_logins")


@require_POST
@capability_required("accounts.unlock")
def unlock_address(request):
    try:
        services.unlock_address(actor=request.user, source_ip=request.POST.get("source_ip", ""))
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "已解除该地址的限制 / address unlocked")
    return redirect("ui:security_logins")


@require_POST
@capability_required("accounts.unlock")
def totp_reset(request):
    user = User.objects.filter(username=request.POST.get("username", "").strip()).first()
    if user is None:
        messages.error(request, "找不到该账号 / no such account")
    else:
        totp.reset(actor=request.user, user=user)
        messages.success(request, f"已重置 {user.username} 的动态口令，下次登录时重新绑定 / second factor of "
                                  f"{user.username} reset; it is bound again at the next sign-in")
    return redirect("ui:security_logins")


# ------------------------------------------------------------------------------------------ audit trail

RESULTS = [("ok", _("成功")), ("refused", _("被拒绝")), ("failed", _("失败"))]
# What each recorded result reads as: a refused reveal of personal data is recorded "denied" (audit.export.REFUSED,
# which the 被拒绝 filter finds with "refused").
RESULT_NAMES = {**dict(RESULTS), "denied": _("被拒绝")}


@require_safe
@capability_required("audit.view")
def audit_log(request):
    """The audit trail, newest first, filtered by actor, action, time range, object, result or address."""
    try:
        f = filter_from_query(request.GET)
        entries, error = apply_filter(visible_audit(request.user), f), ""
    except CivicgridError as exc:
        # Nothing listed: rows under a filter the reader believes applied (but was not) would mislead.
        f, error = AuditFilter(), one_language(exc.message)
        entries = visible_audit(request.user).none()
    page_obj = paginate(request, entries)
    for entry in page_obj:  # a Page keeps the list it read, so the template iterates the same entries
        entry.action_name = audit_labels.action_name(entry.action)
        entry.result_name = RESULT_NAMES.get(entry.result, entry.result)
        entry.shown_repr = shown_repr(entry)
    types = object_types()
    chosen_type = request.GET.get("target_type", "").strip().lower()
    if chosen_type and chosen_type not in dict(types):  # a link with a type the trail has not recorded yet
        types.append((chosen_type, chosen_type))
    groups = audit_labels.action_groups()
    listed = {g.prefix for g in groups} | {code for g in groups for code, _name in g.actions}
    context = {
        "page_obj": page_obj, "params": request.GET, "error": error, "results": RESULTS,
        "object_types": types, "chosen_type": chosen_type,
        "action_groups": groups,
        # The chosen action: in the grouped list when it is one of its entries, else in the box for a typed code.
        "action_chosen": f.action if f.action in listed else "",
        "action_typed": "" if f.action in listed else (f.action or request.GET.get("action", "")),
    }
    return render(request, "security/audit_log.html", context, status=400 if error else 200)


@require_safe
@capability_required("audit.export")
def audit_log_export(request):
    """The filtered trail as CSV or XLSX; the export itself is recorded in the trail."""
    try:
        content, content_type, filename = export_entries(
            actor=request.user, f=filter_from_query(request.GET), fmt=request.GET.get("format", "csv")
        )
    except CivicgridError as exc:
        return HttpResponse(one_language(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    return file_response(content, filename, content_type)


urlpatterns = [
    path("grants/", grants, name="security_grants"),
    path("grants/new/", grant_add, name="security_grant_add"),
    path("grants/<int:pk>/revoke/", grant_remove, name="security_grant_remove"),
    path("logins/", logins, name="security_logins"),
    path("logins/unlock/<int:pk>/", unlock, name="security_unlock"),
    path("logins/unlock-address/", unlock_address, name="security_unlock_address"),
    path("logins/totp-reset/", totp_reset, name="security_totp_reset"),
    path("audit/", audit_log, name="audit_log"),
    path("audit/export/", audit_log_export, name="audit_log_export"),
]
non_data_endpoint(
    "ui:security_grants", "ui:security_grant_add", "ui:security_grant_remove", "ui:security_logins",
    "ui:security_unlock", "ui:security_unlock_address", "ui:security_totp_reset",
)
data_endpoint("ui:audit_log", "audit.AuditEntry", "list")
data_endpoint("ui:audit_log_export", "audit.AuditEntry", "export")
register(MenuItem("security_grants", "角色授权", "ui:security_grants", "grants.manage", order=91))
register(MenuItem("security_logins", "登录安全", "ui:security_logins", "accounts.unlock", order=92))
register(MenuItem("audit_log", "审计记录", "ui:audit_log", "audit.view", order=93))

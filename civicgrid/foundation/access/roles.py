"""Roles and what each may do. Apps add capabilities for their own objects with `grant_capabilities`."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The roles an account can be granted, each over a region subtree or a department's work."""

    GRID_WORKER = "grid_worker", _("网格员")
    COMMUNITY_STAFF = "community_staff", _("社区工作人员")
    STREET_STAFF = "street_staff", _("街道工作人员")
    STREET_DISPATCHER = "street_dispatcher", _("街道派遣员")
    DEPARTMENT_HANDLER = "department_handler", _("部门处置人员")
    COMMAND_DISPATCHER = "command_dispatcher", _("指挥中心派遣员")
    LEADER = "leader", _("领导")
    VOLUNTEER = "volunteer", _("志愿者")
    RESIDENT = "resident", _("居民")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")
    SECURITY_ADMIN = "security_admin", _("安全管理员")
    AUDIT_ADMIN = "audit_admin", _("审计管理员")


# Roles that work over a region subtree; the others work over a department or only on their own records.
REGION_ROLES = {
    Role.GRID_WORKER,
    Role.COMMUNITY_STAFF,
    Role.STREET_STAFF,
    Role.STREET_DISPATCHER,
    Role.COMMAND_DISPATCHER,
    Role.LEADER,
    Role.VOLUNTEER,
    Role.RESIDENT,
}
DEPARTMENT_ROLES = {Role.DEPARTMENT_HANDLER}
# 三员分立: these three administer the system and never read business data by virtue of the role.
ADMIN_ROLES = {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}

_STAFF = {
    Role.GRID_WORKER,
    Role.COMMUNITY_STAFF,
    Role.STREET_STAFF,
    Role.STREET_DISPATCHER,
    Role.DEPARTMENT_HANDLER,
    Role.COMMAND_DISPATCHER,
    Role.LEADER,
}

CAPABILITIES: dict[str, set[str]] = {role.value: set() for role in Role}


def grant_capabilities(capability: str, roles) -> None:
    """Let `roles` exercise `capability` within their scope (called by apps at import time)."""
    for role in roles:
        CAPABILITIES[str(role)].add(capability)


def capabilities_of(role: str) -> set[str]:
    """The capabilities a role carries."""
    return CAPABILITIES.get(role, set())


def roles_with(capability: str) -> set[str]:
    """The roles that carry a capability."""
    return {role for role, caps in CAPABILITIES.items() if capability in caps}


# The foundation's own capabilities.
grant_capabilities("regions.view", _STAFF | {Role.VOLUNTEER})
grant_capabilities("regions.change", {Role.STREET_STAFF, Role.COMMAND_DISPATCHER})
grant_capabilities("orgs.view", _STAFF | {Role.VOLUNTEER})
grant_capabilities("orgs.change", {Role.SYSTEM_ADMIN})
grant_capabilities("people.view", {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.LEADER})
grant_capabilities("people.change", {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF})
grant_capabilities("people.reveal", {Role.GRID_WORKER, Role.COMMUNITY_STAFF})
grant_capabilities("people.key_group", {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF})
grant_capabilities("people.import", {Role.COMMUNITY_STAFF, Role.STREET_STAFF})
grant_capabilities("people.export", {Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.LEADER})
grant_capabilities("regions.import", {Role.STREET_STAFF, Role.COMMAND_DISPATCHER})
grant_capabilities("accounts.manage", {Role.SYSTEM_ADMIN})
grant_capabilities("config.manage", {Role.SYSTEM_ADMIN})
grant_capabilities("grants.manage", {Role.SECURITY_ADMIN})
grant_capabilities("audit.view", {Role.AUDIT_ADMIN})
grant_capabilities("audit.export", {Role.AUDIT_ADMIN})

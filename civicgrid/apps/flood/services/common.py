"""Pieces every flood service uses: errors, actor checks, audit and event helpers, recipients."""

from __future__ import annotations

from django.db import connection

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit.service import user_or_none  # noqa: F401  (used by the services)
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.events import bus as events

VIEW, REPORT, MANAGE, TASK = "flood.view", "flood.report", "flood.manage", "flood.task"


class Invalid(ValidationFailed):
    """Input that cannot be processed (422); nothing was changed."""

    status = 422
    code = "invalid"


def is_system(actor) -> bool:
    """The operator running a command or the demo loader (no account): full scope."""
    return actor is None


def require(actor, capability: str, label: str) -> None:
    """403 unless the actor (or the system) holds the capability somewhere."""
    if is_system(actor):
        return
    if not has_capability(actor, capability):
        raise PermissionDenied(f"您无权{label} / you may not do this")


def require_code(actor, capability: str, code: str, label: str) -> None:
    """403 unless the actor's grant for `capability` covers the region `code`."""
    if is_system(actor):
        return
    if not scope_for(actor, capability).covers_code(code):
        raise PermissionDenied(f"该位置不在您{label}的权限范围内 / outside the scope of your role")


def manages_district(actor) -> bool:
    """Whether the actor holds `flood.manage` over the whole district (the command centre, district leaders);
    a street-level leader follows the response but does not set it."""
    if is_system(actor):
        return True
    scope = scope_for(actor, MANAGE)
    return scope.everything or any(len(code) <= 6 for code in scope.region_codes)


def require_district(actor, label: str) -> None:
    """403 unless the actor manages flood control for the whole district."""
    if not manages_district(actor):
        raise PermissionDenied(f"只有区指挥中心或区领导可以{label} / only the district command centre or leaders")


def record(actor, action: str, target=None, *, before=None, after=None, data=None, region_code: str = ""):
    return audit.record(actor=user_or_none(actor), action=f"flood.{action}", target=target, before=before,
                        after=after, data=data, region_code=region_code)


def publish(topic: str, *, payload: dict, aggregate=None, region_code: str = ""):
    return events.publish(f"flood.{topic}", payload=payload, aggregate=aggregate, region_code=region_code)


def lock_rows(qs):
    return qs.select_for_update() if connection.features.has_select_for_update else qs


def _covering(code: str) -> list[str]:
    return [code[:n] for n in (6, 9, 12, 15) if n <= len(code)]


STREET_ROLES = (Role.STREET_STAFF, Role.STREET_DISPATCHER)


def street_staff(street_code: str) -> list[User]:
    """Street staff whose region grant covers the street (not the district's: they follow the board)."""
    grants = Grant.objects.active().filter(role__in=STREET_ROLES, region__code=street_code)
    return list(User.objects.filter(is_active=True, grants__in=grants).distinct().order_by("pk"))


def department_handlers(department_id: int | None) -> list[User]:
    if not department_id:
        return []
    grants = Grant.objects.active().filter(role=Role.DEPARTMENT_HANDLER, department_id=department_id)
    return list(User.objects.filter(is_active=True, grants__in=grants).distinct().order_by("pk"))


def district_managers() -> list[User]:
    grants = Grant.objects.active().filter(role__in=(Role.COMMAND_DISPATCHER, Role.LEADER), region__level="district")
    return list(User.objects.filter(is_active=True, grants__in=grants).distinct().order_by("pk"))

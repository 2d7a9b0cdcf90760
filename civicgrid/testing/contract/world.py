"""The scope contract's world: regions, departments, a user for every role and level, and objects of every
data model in four grids (own grid, sibling grid, sibling community, other street)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.utils import timezone

from civicgrid.foundation.access.models import ApiToken, Grant, User
from civicgrid.foundation.access.roles import ADMIN_ROLES, DEPARTMENT_ROLES, REGION_ROLES, Role

from .registry import FACTORIES, load_registry, model_for, register_factory, register_scope

_marks = itertools.count(1)
MARK = re.compile(r"cgm\d{4}z")
# The levels each role is really granted at; a role added later is tried at every level.
ROLE_LEVELS: dict[str, tuple[str, ...]] = {
    Role.GRID_WORKER: ("grid",),
    Role.COMMUNITY_STAFF: ("community",),
    Role.STREET_STAFF: ("street",),
    Role.STREET_DISPATCHER: ("street",),
    Role.COMMAND_DISPATCHER: ("district",),
    Role.LEADER: ("district", "street"),
    Role.VOLUNTEER: ("community", "grid"),
    Role.RESIDENT: ("grid",),
}
ALL_LEVELS = ("district", "street", "community", "grid")
HOME = {"district": "140213", "street": "140213050", "community": "140213050001", "grid": "140213050001001"}
# Own grid, a grid of the same community, a grid of another community of the street, a grid of another street.
PLACEMENT_GRIDS = ("140213050001001", "140213050001002", "140213050002001", "140213051001001")
EXTRA_ROWS = 6


@dataclass
class Placement:
    """Where the contract puts one object of each model: a grid and the department working there."""

    grid: Any
    department: Any
    objects: dict = field(default_factory=dict)  # model label -> object created here

    @property
    def community(self):
        return self.grid.parent

    @property
    def street(self):
        return self.grid.parent.parent

    @staticmethod
    def mark() -> str:
        """A unique text to write into an object, so a leak of it is visible wherever it shows up."""
        return f"cgm{next(_marks):04d}z"


@dataclass
class Persona:
    label: str
    user: Any
    token: str  # API bearer token
    session: str = ""  # web session key, made once with the world (a sign-in per request would cost more)


@dataclass
class World:
    placements: list[Placement]
    personas: list[Persona]
    owner: Any  # an account without grants, for required user references
    objects: dict[str, list] = field(default_factory=dict)  # model label -> every row at build time
    markers: dict[tuple[str, str], str] = field(default_factory=dict)  # (label, pk) -> marker

    def object_for(self, model: type[models.Model], placement: Placement):
        """The object of `model` at `placement`, created once (factories call this for required relations)."""
        from civicgrid.foundation.orgs.models import Organisation

        label = model._meta.label_lower
        if model is User:
            return self.owner
        if model is Organisation and label not in FACTORIES:
            return placement.department
        if label not in placement.objects:
            factory = FACTORIES.get(label)
            placement.objects[label] = factory(placement) if factory else generic_object(model, placement, self)
        return placement.objects[label]


def _value_for(model, f: models.Field, mark: str):
    if f.choices:
        return f.choices[0][0]
    if isinstance(f, models.EmailField):
        return f"{mark}@example.invalid"
    if isinstance(f, models.URLField):
        return f"https://example.invalid/{mark}"
    if isinstance(f, models.CharField | models.TextField):
        return mark[: f.max_length] if f.max_length else mark
    if isinstance(f, models.BooleanField):
        return False
    if isinstance(f, models.IntegerField | models.FloatField):
        return 1
    if isinstance(f, models.DecimalField):
        return Decimal("1")
    if isinstance(f, models.DateTimeField):
        return timezone.now()
    if isinstance(f, models.DateField):
        return date.today()
    if isinstance(f, models.TimeField):
        return time(9, 0)
    if isinstance(f, models.DurationField):
        return timedelta(hours=1)
    if isinstance(f, models.UUIDField):
        return uuid.uuid4()
    if isinstance(f, models.JSONField):
        return {}
    raise LookupError(
        f"the scope contract cannot fill {model._meta.label}.{f.name} ({type(f).__name__}): register a factory "
        f"with civicgrid.testing.contract.register_factory('{model._meta.label}', fn) in your app's contract.py"
    )


def generic_object(model: type[models.Model], placement: Placement, world: World):
    """One object of `model` at `placement` from its fields: region fields get the grid, the scope's department
    field the placement's department, required relations an object at the same placement, required values a
    unique marker (text) or a plain value."""
    from civicgrid.foundation.orgs.models import Organisation
    from civicgrid.foundation.regions.models import Region

    region_path = (getattr(model, "scope_region_field", None) or "").split("__")
    dept_path = (getattr(model, "scope_department_field", None) or "").split("__")
    mark = placement.mark()
    values: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if f.primary_key or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            continue
        if f.is_relation:
            target = f.related_model
            if target is Region:
                values[f.name] = placement.grid
            elif f.name == dept_path[0] and target is Organisation:
                values[f.name] = placement.department
            elif f.name == region_path[0] or f.name == dept_path[0] or not f.null:
                values[f.name] = world.object_for(target, placement)
        elif f.name == region_path[0] and len(region_path) == 1:
            values[f.name] = placement.grid.code
        elif not (f.has_default() or f.null or (f.blank and f.empty_strings_allowed)):
            values[f.name] = _value_for(model, f, mark)
    return model._default_manager.create(**values)


def _region_factory(placement: Placement):
    return placement.grid  # the tree exists already; every region is checked anyway


def _audit_factory(placement: Placement):
    from civicgrid.foundation.audit.service import record

    return record(actor=None, action="contract.probe", target_repr=placement.mark(), region_code=placement.grid.code)


def _visible_audit(user):
    from civicgrid.foundation.audit.export import visible_audit

    return visible_audit(user)


register_factory("regions.Region", _region_factory)
register_factory("audit.AuditEntry", _audit_factory)
# The audit trail is not region-scoped: the audit.view capability reads all of it, nothing else reads any.
register_scope("audit.AuditEntry", _visible_audit)


def _persona(label: str, user, role: str | None = None, **grant) -> Persona:
    if role:
        Grant.objects.create(user=user, role=role, **grant)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return Persona(label, user, ApiToken.issue(user, label="contract")[1], session)


def build_world() -> World:
    """The regions, departments, users of every role and objects of every data model the contract checks."""
    from django.utils.module_loading import autodiscover_modules

    from civicgrid.testing.builders import department, small_tree

    autodiscover_modules("contract")  # apps' factories and scope rules
    data, _ = load_registry()
    tree = small_tree()
    depts = [department("合同测试部门甲"), department("合同测试部门乙")]
    placements = [Placement(tree[code], depts[0] if code.startswith(HOME["street"]) else depts[1])
                  for code in PLACEMENT_GRIDS]
    owner = User.objects.create_user("contract-owner", password=None)
    personas = [_persona("no grants", User.objects.create_user("contract-nobody", password=None)),
                _persona("superuser", User.objects.create_superuser("contract-root", password=None))]
    for role in Role:
        if role in DEPARTMENT_ROLES:
            user = User.objects.create_user(f"contract-{role}", password=None)
            personas.append(_persona(f"{role}@department", user, role, department=depts[0]))
            continue
        if role in ADMIN_ROLES:
            personas.append(_persona(role.value, User.objects.create_user(f"contract-{role}"), role))
            continue
        levels = ROLE_LEVELS.get(role, ALL_LEVELS) if role in REGION_ROLES else ALL_LEVELS
        for level in levels:
            user = User.objects.create_user(f"contract-{role}-{level}", password=None)
            personas.append(_persona(f"{role}@{level}", user, role, region=tree[HOME[level]]))
    # Two grids in two streets: scope is the union of the grants.
    twice = User.objects.create_user("contract-two-grids", password=None)
    Grant.objects.create(user=twice, role=Role.GRID_WORKER, region=tree["140213051002002"])
    personas.append(_persona("grid_worker@two streets", twice, Role.GRID_WORKER, region=tree[HOME["grid"]]))

    world = World(placements, personas, owner)
    labels = sorted({ep.model.lower() for ep in data.values() if model_for(ep.model)})
    for label in labels:
        model = apps.get_model(label)
        for placement in placements:
            world.object_for(model, placement)
    for label in labels:
        model = apps.get_model(label)
        placed = {p.objects[label].pk for p in placements if getattr(p.objects.get(label), "pk", None) is not None}
        others = list(model._default_manager.exclude(pk__in=placed).order_by("pk"))
        # Rows made by other means (the region tree, audit records of the setup): a spread of them is enough.
        step = max(1, len(others) // EXTRA_ROWS)
        rows = list(model._default_manager.filter(pk__in=placed).order_by("pk")) + others[::step][:EXTRA_ROWS]
        world.objects[label] = rows
        for obj in rows:
            for f in model._meta.concrete_fields:
                value = getattr(obj, f.attname, None)
                found = MARK.search(value) if isinstance(value, str) else None
                if found:
                    world.markers[(label, str(obj.pk))] = found.group(0)
                    break
    return world

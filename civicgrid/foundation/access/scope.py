"""The one place read scope is decided: `Model.objects.visible_to(user, action)`.

A scoped model names the field that holds its region code (codes are prefixes of their descendants' codes,
so a subtree is a range) and, optionally, the field that holds the responsible department. A user's grants
whose role carries the model's capability for the action open the matching ranges and departments. No grant,
no rows: default deny.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from .roles import capabilities_of


@dataclass
class Scope:
    """What one user may reach for one capability: region code subtrees, departments, everything, or nothing."""

    everything: bool = False
    region_codes: set[str] = field(default_factory=set)
    department_ids: set[int] = field(default_factory=set)
    user_id: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.everything or self.region_codes or self.department_ids)

    def covers_code(self, code: str) -> bool:
        return self.everything or any(code.startswith(prefix) for prefix in self.region_codes)


def subtree_q(field_name: str, code: str) -> models.Q:
    """Codes that start with `code`, as an index-friendly range (digits sort below ':')."""
    return models.Q(**{f"{field_name}__gte": code, f"{field_name}__lt": code + ":"})


def ancestor_codes(code: str) -> list[str]:
    """The codes of a region's ancestors (6, 9, 12 and 15 digits), itself excluded."""
    return [code[:n] for n in (6, 9, 12) if n < len(code)]


def _grants(user):
    cache = getattr(user, "_civicgrid_grants", None)
    if cache is None:
        from .models import Grant

        cache = list(Grant.objects.active().filter(user_id=user.pk).select_related("region").only(
            "role", "region__code", "department_id"
        ))
        user._civicgrid_grants = cache
    return cache


def forget_grants(user) -> None:
    """Drop the per-request grant cache (after grants change)."""
    if hasattr(user, "_civicgrid_grants"):
        del user._civicgrid_grants


def user_roles(user) -> set[str]:
    """The roles a user holds now."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return {g.role for g in _grants(user)}


def has_capability(user, capability: str) -> bool:
    """Whether any of the user's grants carries the capability (somewhere)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return any(capability in capabilities_of(g.role) for g in _grants(user))


def departments_with(capability: str) -> set[int]:
    """The departments whose work at least one active account holds `capability` over, by an active grant
    (e.g. `cases.handle`: the departments a case can be sent to). One query."""
    from .models import Grant
    from .roles import roles_with

    return set(Grant.objects.active().filter(role__in=sorted(roles_with(capability)), department_id__isnull=False,
                                             user__is_active=True)
               .values_list("department_id", flat=True).distinct())


def scope_for(user, capability: str) -> Scope:
    """Collect the subtrees and departments in which the user may exercise a capability."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope()
    if user.is_superuser:
        return Scope(everything=True, user_id=user.pk)
    scope = Scope(user_id=user.pk)
    for grant in _grants(user):
        if capability not in capabilities_of(grant.role):
            continue
        if grant.region_id:
            scope.region_codes.add(grant.region.code)
        if grant.department_id:
            scope.department_ids.add(grant.department_id)
    # A subtree inside another adds nothing; keep the filter small.
    codes = sorted(scope.region_codes, key=len)
    kept: list[str] = []
    for code in codes:
        if not any(code.startswith(k) for k in kept):
            kept.append(code)
    scope.region_codes = set(kept)
    return scope


def scoped_q(model, scope: Scope, user, action: str = "view") -> models.Q | None:
    """`model.scope_q` for one action (every override takes `action` as a keyword, and may ignore it)."""
    return model.scope_q(scope, user, action=action)


def scoped_branches(model, scope: Scope, user, action: str = "view") -> list[models.Q]:
    """The alternatives whose OR is exactly `scoped_q(model, …)` (empty: nothing visible). A model that
    overrides `scope_q` itself (not `scope_branches`) has one alternative: its whole filter."""
    if model.scope_q.__func__ is not ScopedModel.scope_q.__func__:
        q = scoped_q(model, scope, user, action)
        return [] if q is None else [q]
    return model.scope_branches(scope, user, action=action)


class ScopedQuerySet(models.QuerySet):
    """QuerySet whose every read path starts from `visible_to`."""

    def visible_to(self, user, action: str = "view"):
        model = self.model
        capability = model.scope_capability(action)
        scope = scope_for(user, capability)
        if scope.everything:
            return self
        q = scoped_q(model, scope, user, action)
        if q is None:
            return self.none()
        return self.filter(q)


class ScopedModel(models.Model):
    """Base for every object read through the scoped path.

    Subclasses set `scope_region_field` (a field holding a region code, possibly across a relation) and may
    set `scope_department_field`, `scope_app` (capability prefix) or `scope_include_ancestors` (visible
    also from inside the subtree, e.g. a district department seen by a grid worker).
    """

    scope_region_field: str | None = "region_code"
    scope_department_field: str | None = None
    scope_include_ancestors: bool = False
    scope_app: str | None = None

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def scope_capability(cls, action: str) -> str:
        return f"{cls.scope_app or cls._meta.app_label}.{action}"

    @classmethod
    def scope_branches(cls, scope: Scope, user, *, action: str = "view") -> list[models.Q]:
        """The alternatives of the scope filter (each region subtree, with its ancestors where the model
        asks for them; the departments), whose OR is `scope_q`; empty when nothing is visible. Override to
        add a path (e.g. own records), so that readers that take the alternatives one by one (a long list
        finding its page per alternative) see it too.

        `action` is what the rows are read for ("view", "export", "board" …).
        """
        branches = []
        if cls.scope_region_field:
            for code in sorted(scope.region_codes):
                branches.append(subtree_q(cls.scope_region_field, code))
                if cls.scope_include_ancestors:
                    parents = ancestor_codes(code)
                    if parents:
                        branches.append(models.Q(**{f"{cls.scope_region_field}__in": parents}))
        if cls.scope_department_field and scope.department_ids:
            branches.append(models.Q(**{f"{cls.scope_department_field}__in": sorted(scope.department_ids)}))
        return branches

    @classmethod
    def scope_q(cls, scope: Scope, user, *, action: str = "view") -> models.Q | None:
        """The filter for a scope: the OR of `scope_branches`; None when nothing is visible. A model whose
        scope is not a union of paths overrides this instead (its readers then take it whole)."""
        branches = cls.scope_branches(scope, user, action=action)
        if not branches:
            return None
        q = models.Q()
        for branch in branches:
            q |= branch
        return q

    def is_visible_to(self, user, action: str = "view") -> bool:
        """Whether this object is within the user's scope (one query)."""
        return type(self)._default_manager.visible_to(user, action).filter(pk=self.pk).exists()

    def actions_in_scope(self, user, actions) -> set[str]:
        """Which of `actions` the user's scope reaches for this object: the `visible_to` filter of each, asked
        together in one query (a page's buttons cost one read however many actions it weighs)."""
        manager = type(self)._default_manager
        scoped = {action: manager.visible_to(user, action) for action in sorted(set(actions))}
        scoped = {action: qs for action, qs in scoped.items() if not qs.query.is_empty()}  # no grant: no query
        if not scoped:
            return set()
        names = {f"in_scope_{i}": action for i, action in enumerate(scoped)}
        row = manager.filter(pk=self.pk).values(**{
            name: models.Exists(scoped[action].filter(pk=models.OuterRef("pk"))) for name, action in names.items()
        }).first()
        return {action for name, action in names.items() if row and row[name]}

    def capabilities_in_scope(self, user, capabilities) -> set[str]:
        """Which of `capabilities` (each this model's `scope_capability` of an action, e.g. "cases.dispatch")
        the user's grants reach for this object: `actions_in_scope` of their actions, one query for them all
        and none when there is nothing to ask. Another app's capability never reaches it."""
        prefix = self.scope_capability("")
        actions = {c[len(prefix):] for c in capabilities if c.startswith(prefix) and len(c) > len(prefix)}
        return {self.scope_capability(a) for a in self.actions_in_scope(user, actions)} if actions else set()


def get_visible_or_404(queryset_or_model, user, action: str = "view", **lookup):
    """Fetch one object through the scoped path; missing or out of scope are the same 404."""
    from ..core.errors import NotFound

    qs = queryset_or_model if isinstance(queryset_or_model, models.QuerySet) else queryset_or_model._default_manager
    try:
        return qs.visible_to(user, action).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise NotFound("未找到该对象，或不在您的权限范围内 / not found") from None

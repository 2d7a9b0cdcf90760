"""Reads of categories and routing rules: what a user may see, and finding organisations by the names people
use for them ("区城管局").

Categories are not region-scoped, so they do not go through `visible_to`; these functions are their one read
path (pages, API and the scope contract all use them).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Cast

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.orgs.models import CASE_HANDLING_KINDS, Organisation, OrgKind

from .models import Category, RoutingRule, Taxonomy, in_use_q
from .permissions import MANAGE, VIEW, VIEW_PUBLIC


def can_view(user) -> bool:
    """Whether the user reads categories at all (all of them, or only those open to the public)."""
    return has_capability(user, VIEW) or has_capability(user, VIEW_PUBLIC)


def visible_taxonomies(user) -> models.QuerySet[Taxonomy]:
    """Every taxonomy for staff; the active ones for residents and volunteers; none for anybody else."""
    if has_capability(user, VIEW):
        return Taxonomy.objects.all()
    if has_capability(user, VIEW_PUBLIC):
        return Taxonomy.objects.filter(is_active=True)
    return Taxonomy.objects.none()


def visible_categories(user) -> models.QuerySet[Category]:
    """Every category for staff; for residents and volunteers the public ones offered for reports (`in_use_q`:
    enabled, of an enabled taxonomy and under an enabled class)."""
    if has_capability(user, VIEW):
        return Category.objects.all()
    if has_capability(user, VIEW_PUBLIC):
        return Category.objects.filter(in_use_q(), is_public=True)
    return Category.objects.none()


def visible_rules(user) -> models.QuerySet[RoutingRule]:
    """Routing rules are read (and written) by those who manage them."""
    if has_capability(user, MANAGE):
        return RoutingRule.objects.all()
    return RoutingRule.objects.none()


def deleted_rules(user) -> models.QuerySet:
    """The audit records of deleted routing rules, newest first, for those who manage rules (none for anybody
    else): each keeps the rule's last state (`before`), so that its page and history still answer after the
    rule is gone, and a case timeline's 「按分拨规则 #21」 still has something to look up. A rule id recreated
    since (never, ids are not reused, but an import of old data might) is left out."""
    if not has_capability(user, MANAGE):
        return AuditEntry.objects.none()
    label = RoutingRule._meta.label_lower
    alive = RoutingRule.objects.annotate(key=Cast("pk", models.CharField())).values("key")
    return (AuditEntry.objects.filter(target_type=label, action=verbs.Data.DELETED)
            .exclude(target_id__in=alive).order_by("-at", "-id"))


def deleted_rule(user, pk: int) -> AuditEntry | None:
    """The record of the deletion of rule `pk` (its last state in `before`), when the user manages rules."""
    return deleted_rules(user).filter(target_id=str(pk)).first()


def history_read_paths(user) -> dict:
    """Where the history of a category or rule reads the names of what it references (`ui.pages.audit`):
    categories and taxonomies through the functions above, and the organisations a case may be sent to,
    which the category and rule pages name to everyone who reads them (the system administrator included,
    who reads no region's data)."""
    departments = (Organisation.objects.filter(kind__in=CASE_HANDLING_KINDS) if can_view(user)
                   else Organisation.objects.none())
    return {Category: visible_categories(user), Taxonomy: visible_taxonomies(user), Organisation: departments}


def org_label(org: Organisation | None) -> str:
    """An organisation in the rule pages' dense tables: its brief name (`Organisation.brief_name`)."""
    if org is None:
        return ""
    return org.brief_name


_ORG_FIELDS = ("id", "code", "name", "short_name", "kind", "is_active")


def find_organisation(name: str) -> Organisation | None:
    """The active organisation called `name` (short or full name), departments first, then other organisations
    that handle cases; None when unknown.

    Raises ValidationFailed when the name is ambiguous (two organisations of the same kind carry it), so an
    import never guesses.
    """
    name = (name or "").strip()
    if not name:
        return None
    matches = list(
        Organisation.objects.filter(models.Q(short_name=name) | models.Q(name=name), is_active=True)
        .only(*_ORG_FIELDS)
        .order_by("id")[:20]
    )
    return _pick(name, matches)


def _pick(name: str, matches: list[Organisation]) -> Organisation | None:
    """The organisation `find_organisation` answers among the active ones carrying `name` (by id)."""
    if not matches:
        return None
    departments = [o for o in matches if o.kind == OrgKind.DEPARTMENT]
    handlers = [o for o in matches if o.kind in CASE_HANDLING_KINDS]
    pool = departments or handlers or matches
    if len(pool) > 1:
        codes = "、".join(o.code for o in pool[:5])
        raise ValidationFailed(f"“{name}”对应多个机构（{codes}），请用全称 / ambiguous organisation name")
    return pool[0]


def organisations_by_name(names, *, ambiguous: dict[str, ValidationFailed] | None = None
                          ) -> dict[str, Organisation | None]:
    """`find_organisation` for many names, in one query whatever their number. An ambiguous name raises as
    there, or, when `ambiguous` is given, is put there with its error (and maps to None), so that an import
    can report each row."""
    wanted = sorted({n for n in names if n})
    found: dict[str, list[Organisation]] = {name.strip(): [] for name in wanted}
    found.pop("", None)
    if found:
        for org in (Organisation.objects.filter(models.Q(short_name__in=found) | models.Q(name__in=found),
                                                is_active=True).only(*_ORG_FIELDS).order_by("id")):
            for name in {org.short_name, org.name}:
                if name in found:
                    found[name].append(org)
    result: dict[str, Organisation | None] = {}
    for name in wanted:
        try:
            result[name] = _pick(name.strip(), found.get(name.strip(), []))
        except ValidationFailed as exc:
            if ambiguous is None:
                raise
            ambiguous[name] = exc
            result[name] = None
    return result

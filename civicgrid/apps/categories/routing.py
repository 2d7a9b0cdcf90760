"""Which department a case of a category in a region goes to: the most specific routing rule, else the
category's default department.

Specificity, in this order: the rule's category (the case's own subclass, then its class, then a rule for any
category), the rule's region (a grid's rule over its community's, over its street's, over the district's),
then the rule's priority; at a full tie a routing rule beats a 包保 (patron) rule and the newer rule beats the
older. 包保 rules are ordinary rules of kind `patron`, usually on a class (防汛应急) and a street, so a
department answerable for a street in the flood season gets that street's flood cases unless a more specific
rule says otherwise. `resolve_department` is what intake and dispatch call; `explain_route` says why, for the
dispatcher's screen; `dispatch_target` puts the text router's guess after all of these, for auto-dispatch and
the dispatch form alike. A guess that names a community matter (社区居委会: `local`, no department) is routed to
the street office (街道办事处) of the street holding the case's place, which reaches its committees: a pre-fill
for a dispatcher to confirm, never an automatic dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import Region

from .models import Category, RoutingRule, RuleKind
from .selectors import org_label

REGION_LENGTHS = (6, 9, 12, 15)
_MAX_DEPTH = 8  # guards the ancestor walk against a cycle an import might one day slip in


def region_prefixes(region_code: str) -> list[str]:
    """The codes whose subtree holds `region_code`: district, street, community, grid (those that apply)."""
    code = (region_code or "").strip()
    if not (code.isascii() and code.isdigit()) or len(code) not in REGION_LENGTHS:
        raise ValidationFailed("区域代码须为 6/9/12/15 位数字 / region must be a 6-15 digit region code",
                               field="region")
    return [code[:n] for n in REGION_LENGTHS if n <= len(code)]


@dataclass(frozen=True)
class _Link:
    category_id: int
    default_department_id: int | None


def _chain(category: Category | None) -> list[_Link]:
    """The category and its ancestors, nearest first (one query per level above the category)."""
    if category is None:
        return []
    chain = [_Link(category.pk, category.default_department_id)]
    parent_id = category.parent_id
    while parent_id and len(chain) < _MAX_DEPTH and all(link.category_id != parent_id for link in chain):
        row = Category.objects.filter(pk=parent_id).values_list("parent_id", "default_department_id").first()
        if row is None:
            break
        chain.append(_Link(parent_id, row[1]))
        parent_id = row[0]
    return chain


def _rank(rule: RoutingRule, category_rank: dict[int | None, int]) -> tuple:
    return (
        category_rank[rule.category_id],
        len(rule.region_code),
        rule.priority,
        rule.kind == RuleKind.ROUTING,
        rule.pk,
    )


@dataclass
class Route:
    """A routing decision: the department, and the rule (or default) it came from."""

    department: Organisation | None
    source: str  # "rule" | "patron" | "default" | "none"
    rule: RoutingRule | None = None
    category_match: str = ""  # "exact" | "parent" | "any": which of the case's categories the rule names
    candidates: list[RoutingRule] = field(default_factory=list)  # every rule that applies, best first
    text: str = ""

    def as_dict(self) -> dict:
        """JSON for the API and the dispatcher's screen."""
        dept = self.department
        return {
            "department": {"id": dept.pk, "code": dept.code, "name": dept.name, "label": org_label(dept)}
            if dept else None,
            "source": self.source,
            "category_match": self.category_match or None,
            "rule": _rule_dict(self.rule) if self.rule else None,
            "candidates": [_rule_dict(r) for r in self.candidates],
            "explanation": self.text,
        }


def _rule_dict(rule: RoutingRule) -> dict:
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "category_id": rule.category_id,
        "region_code": rule.region_code,
        "department_id": rule.department_id,
        "department": rule.department.name if rule.department_id else "",
        "priority": rule.priority,
        "note": rule.note,
    }


def match(category: Category | None, region_code: str) -> Route:
    """The routing decision without its explanation text (what intake needs; two or three queries)."""
    prefixes = region_prefixes(region_code)
    chain = _chain(category)
    category_rank: dict[int | None, int] = {link.category_id: len(chain) - i for i, link in enumerate(chain)}
    category_rank[None] = 0
    rules = list(
        RoutingRule.objects.filter(is_active=True, department__is_active=True, region_code__in=prefixes)
        .filter(models.Q(category_id__in=[link.category_id for link in chain]) | models.Q(category__isnull=True))
        .select_related("department")
    )
    rules.sort(key=lambda r: _rank(r, category_rank), reverse=True)
    if rules:
        best = rules[0]
        rank = category_rank[best.category_id]
        how = "any" if rank == 0 else ("exact" if rank == len(chain) else "parent")
        source = "patron" if best.kind == RuleKind.PATRON else "rule"
        return Route(best.department, source, best, how, rules)
    for link in chain:
        if link.default_department_id:
            dept = Organisation.objects.filter(pk=link.default_department_id, is_active=True).first()
            if dept is not None:
                how = "exact" if link.category_id == chain[0].category_id else "parent"
                return Route(dept, "default", None, how, [])
    return Route(None, "none")


_CATEGORY_RANK = {"any": 0, "parent": 1, "exact": 2}


def overriding_route(category: Category | None, region_code: str, location: str) -> Route | None:
    """The route of a case of `category` at `location` when a rule more specific than one for exactly
    `category` and `region_code` decides it (one naming the same category for a deeper region), else None: what
    a correction of that rule would not change at `location`. None too when `region_code` does not hold
    `location`, or a rule of the same place decides (`same_place_rules` speaks of those)."""
    region_prefixes(region_code)  # format
    if not location.startswith(region_code.strip()):
        return None
    route = match(category, location)
    if route.rule is None:
        return None
    corrected = (_CATEGORY_RANK["exact"] if category is not None else _CATEGORY_RANK["any"], len(region_code.strip()))
    if (_CATEGORY_RANK[route.category_match], len(route.rule.region_code)) > corrected:
        return route
    return None


def resolve_department(category: Category | None, region_code: str) -> Organisation | None:
    """The department a case of `category` in `region_code` should be dispatched to, or None (choose by hand)."""
    return match(category, region_code).department


@dataclass(frozen=True)
class DispatchTarget:
    """Where dispatch starts: the department's id and what decided it ("rule" | "patron" | "default" from the
    route, "model" from the text router, "street_office" for a community matter the router named (the office
    itself in `office`), "none")."""

    department_id: int | None
    source: str
    route: Route
    office: Organisation | None = None


STREET_CODE_LENGTH = 9


def street_office(region_code: str) -> Organisation | None:
    """The active street office (街道办事处) of the street holding `region_code` (a street, community or grid),
    or None (a district code, or a street without one)."""
    code = (region_code or "").strip()
    if len(code) < STREET_CODE_LENGTH or not code.isdigit():
        return None
    return (Organisation.objects.filter(kind=OrgKind.STREET_OFFICE, region_code=code[:STREET_CODE_LENGTH],
                                        is_active=True).order_by("id").first())


def dispatch_target(category: Category | None, region_code: str, *, model_department_id=None,
                    model_local: bool = False, route: Route | None = None) -> DispatchTarget:
    """The one precedence auto-dispatch and the dispatch form share: what the district configured for category
    × region (a routing or 包保 rule, else the category's default department, as `match` decides) comes before
    the text router's guess, which fills in only where nothing is configured. A dispatcher's rule correction
    therefore takes effect at once for the next case, whatever the model (trained before it) says. `route` may
    be passed when the caller has already matched (or explained) it.

    `model_local`: the router's label names a community matter (社区居委会, 物业: no department a case can go
    to). Where nothing is configured, the street office of the case's street takes it (source "street_office"):
    committees are reached through their street office. The model vouched for no department, so auto-dispatch
    never acts on it (`router.handlers.disagreement`); the dispatch form starts from it and says why."""
    route = route if route is not None else match(category, region_code)
    if route.department is not None:
        return DispatchTarget(route.department.pk, route.source, route)
    try:
        model_id = int(model_department_id) if model_department_id else None
    except (TypeError, ValueError):
        model_id = None
    if model_id and 0 < model_id < 2**63 and Organisation.objects.filter(pk=model_id, is_active=True).exists():
        return DispatchTarget(model_id, "model", route)
    if model_local and not model_id:
        office = street_office(region_code)
        if office is not None:
            return DispatchTarget(office.pk, "street_office", route, office)
    return DispatchTarget(None, "none", route)


class RoutingTable:
    """Every active rule and the category tree in memory, so that `department_id` answers as `match` does
    without a query: what intake keeps per process (with a stamp of the data that built it, see
    `cases.services.intake`), since a district's reports come from thousands of category × grid pairs and a
    cache of decisions per pair would rarely be warm."""

    def __init__(self) -> None:
        self._category = {pk: (parent_id, default_id) for pk, parent_id, default_id in
                          Category.objects.values_list("pk", "parent_id", "default_department_id")}
        self._active = set(Organisation.objects.filter(is_active=True).values_list("pk", flat=True))
        self._rules: dict[str, list[tuple]] = {}
        rows = (RoutingRule.objects.filter(is_active=True, department__is_active=True)
                .values_list("pk", "category_id", "region_code", "priority", "kind", "department_id"))
        for pk, category_id, region_code, priority, kind, department_id in rows:
            self._rules.setdefault(region_code, []).append(
                (category_id, len(region_code), priority, kind == RuleKind.ROUTING, pk, department_id))

    def _chain(self, category_id: int | None) -> list[int]:
        chain: list[int] = []
        current = category_id
        while current is not None and current in self._category and len(chain) < _MAX_DEPTH \
                and current not in chain:
            chain.append(current)
            current = self._category[current][0]
        return chain

    def department_id(self, category_id: int | None, region_code: str) -> int | None:
        """The id of the department `resolve_department` would answer, or None."""
        prefixes = region_prefixes(region_code)
        chain = self._chain(category_id)
        rank = {pk: len(chain) - i for i, pk in enumerate(chain)}
        rank[None] = 0
        best = None
        for prefix in prefixes:
            for category, depth, priority, routing, pk, department in self._rules.get(prefix, ()):
                if category in rank:
                    key = (rank[category], depth, priority, routing, pk)
                    if best is None or key > best[0]:
                        best = (key, department)
        if best is not None:
            return best[1]
        for pk in chain:
            default_id = self._category[pk][1]
            if default_id and default_id in self._active:
                return default_id
        return None


def explain_route(category: Category | None, region_code: str) -> Route:
    """The routing decision with a sentence saying which rule (or default) decided it and what else applied."""
    route = match(category, region_code)
    names = dict(Region.objects.filter(code__in=region_prefixes(region_code)).values_list("code", "name"))
    route.text = _sentence(route, category, names)
    return route


def _sentence(route: Route, category: Category | None, names: dict[str, str]) -> str:
    """Why the route goes where it goes, as "中文 / English" (a page shows the reader's half)."""
    def where(code: str) -> str:
        return f"{names.get(code, code)}（{code}）"

    if route.rule is not None:
        rule = route.rule
        what, what_en = {"exact": ("本分类", "this category"), "parent": ("上级分类", "the parent category"),
                         "any": ("任意分类", "any category")}[route.category_match]
        kind, kind_en = (("汛期包保规则", "flood patron rule") if rule.kind == RuleKind.PATRON
                         else ("分拨规则", "routing rule"))
        dept = route.department.name
        zh = f"按{kind} #{rule.pk}（{what} · {where(rule.region_code)}）派往 {dept}"
        en = f"by {kind_en} #{rule.pk} ({what_en} · {rule.region_code}) to {dept}"
        if rule.note:
            zh, en = zh + f"；说明：{rule.note}", en + f"; note: {rule.note}"
        others = [r for r in route.candidates[1:] if r.department_id != rule.department_id]
        if others:
            listed = "、".join(f"#{r.pk}→{r.department.name}" for r in others[:3])
            zh, en = zh + f"；另有适用但不如其具体的规则：{listed}", en + f"; less specific rules also apply: {listed}"
        return f"{zh} / {en}"
    if route.source == "default":
        what, what_en = ("本分类", "this category") if route.category_match == "exact" else ("上级分类", "the parent category")
        dept = route.department.name
        return f"没有适用的分拨规则，按{what}的默认处置部门派往 {dept} / no routing rule applies: to the default department " \
               f"of {what_en}, {dept}"
    if category is None:
        return "未选择分类，也没有适用于任意分类的规则：请人工选择处置部门 / no category and no rule for any category: " \
               "choose the department"
    return f"“{category.name}”没有适用的分拨规则和默认处置部门：请人工选择处置部门 / no routing rule and no default " \
           f"department for this category: choose the department"

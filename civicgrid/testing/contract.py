"""The scope contract: every URL is declared, and no data endpoint ever answers with objects outside scope.

Used by `tests/test_scope_contract.py`; apps extend it, they never edit it:

* every URL pattern is declared in `civicgrid.foundation.access.endpoints` (`data_endpoint(...)` for URLs that
  return business objects, `non_data_endpoint(...)` for the rest); an undeclared URL fails the test;
* the contract builds objects of every model that has data endpoints in four grids (own grid, neighbouring
  grid, neighbouring community, other street), generically from the model's fields, or through a factory an app
  registers with `register_factory("people.Resident", fn)` in a module `<app>/contract.py` (imported here);
* it signs in users of every role at the levels the role is used at (department roles on a department, the
  three administrators without a region) and asks every data endpoint as each of them:

  - lists (`kind="list"`): API JSON `items[*].id|code`, web rows `data-oid` (primary keys) inside
    `table[data-model]`, GeoJSON `features[*].properties.code|id`, exports (CSV/XLSX/JSON with an `id` or
    `code` column) may contain only what `Model.objects.visible_to(user, "view")` contains;
  - an out-of-scope object must answer exactly as an object that does not exist (404, or 403 when the role
    lacks the endpoint's capability altogether), and an in-scope one must not answer 404;
  - every HTML page's `table[data-model]` rows, of whatever model, are checked the same way;
  - the unique marker text the generic factory writes into each object must never appear in an answer to a
    user who may not see that object;
  - anonymous callers get 401 (API) or a redirect to the sign-in page (web).

Models that are not `ScopedModel`s declare how their scope is decided with `register_scope`; the audit trail
is the one in the foundation (the audit administrator sees every record, nobody else any).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from civicgrid.foundation.access import endpoints
from civicgrid.foundation.access.models import ApiToken, Grant, User
from civicgrid.foundation.access.roles import ADMIN_ROLES, DEPARTMENT_ROLES, REGION_ROLES, Role
from civicgrid.foundation.access.scope import ScopedModel

# --------------------------------------------------------------------------------------------- extension hooks


@dataclass(frozen=True)
class ScopeRule:
    """How the contract learns what a user may see of a model that is not a ScopedModel."""

    selector: Callable[[Any], models.QuerySet]  # user -> the rows the user may read


@dataclass(frozen=True)
class Kind:
    """How the contract calls and reads one kind of data endpoint."""

    method: str = "GET"
    rows: bool = False  # the answer lists objects (checked against scope)
    expect_success: bool = True  # some in-scope caller must get a 2xx (else the check proved nothing)


KINDS: dict[str, Kind] = {
    "list": Kind(rows=True),
    "export": Kind(rows=True),
    "geojson": Kind(rows=True),
    "detail": Kind(),
    # POST of one object's sensitive field; the field names are the app's, so only scope is checked here.
    "reveal": Kind(method="POST", expect_success=False),
}
FACTORIES: dict[str, Callable] = {}
SCOPE_RULES: dict[str, ScopeRule] = {}
URL_KWARGS: dict[str, Callable] = {}


def register_factory(model_label: str, factory: Callable) -> None:
    """Create objects of `model_label` for the contract: `factory(placement)` returns the (saved) object."""
    FACTORIES[model_label.lower()] = factory


def register_scope(model_label: str, selector: Callable[[Any], models.QuerySet]) -> None:
    """Declare the scope of a model that is not a ScopedModel: `selector(user)` returns what the user may see."""
    SCOPE_RULES[model_label.lower()] = ScopeRule(selector)


def register_kind(name: str, kind: Kind) -> None:
    """Teach the contract a new kind of data endpoint."""
    KINDS[name] = kind


def register_url_kwargs(url_name: str, build: Callable[[Any], dict]) -> None:
    """URL kwargs for an endpoint that needs more than its lookup: `build(obj)` (obj is None for lists)."""
    URL_KWARGS[url_name] = build


# ------------------------------------------------------------------------------------------------- the URL map


@dataclass(frozen=True)
class Route:
    name: str | None  # namespaced, e.g. "api:region_list"
    route: str  # "api/v1/regions/<code>"
    kwargs: frozenset[str]


def iter_routes() -> list[Route]:
    """Every URL pattern of the project (web and API), with its namespaced name and its URL kwargs."""

    def walk(patterns, namespace: str, prefix: str, kwargs: frozenset[str]):
        for p in patterns:
            names = _pattern_kwargs(p.pattern)
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                ns = ":".join(x for x in (namespace, p.namespace) if x)
                yield from walk(p.url_patterns, ns, route, kwargs | names)
            elif isinstance(p, URLPattern):
                name = ":".join(x for x in (namespace, p.name) if x) if p.name else None
                yield Route(name, route, kwargs | names)

    return list(walk(get_resolver().url_patterns, "", "", frozenset()))


def _pattern_kwargs(pattern) -> frozenset[str]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return frozenset(converters)
    regex = getattr(pattern, "regex", None)
    return frozenset(regex.groupindex) if regex is not None else frozenset()


def _excluded(route: Route) -> bool:
    # Static files and uploads are served outside the scoped views (uploads only through scoped views).
    prefixes = [u.lstrip("/") for u in (settings.STATIC_URL, settings.MEDIA_URL) if u]
    return any(route.route.startswith(p) for p in prefixes if p)


def load_registry() -> tuple[dict[str, endpoints.DataEndpoint], set[str]]:
    """The declarations, after importing every URL module (declarations sit next to the views)."""
    iter_routes()
    return endpoints.DATA_ENDPOINTS, endpoints.NON_DATA_ENDPOINTS


def model_for(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def scope_selector(model: type[models.Model]) -> Callable[[Any], models.QuerySet] | None:
    """What a user may see of `model`: a registered rule, else the ScopedModel's `visible_to(user, "view")`."""
    rule = SCOPE_RULES.get(model._meta.label_lower)
    if rule:
        return rule.selector
    if issubclass(model, ScopedModel):
        return lambda user: model._default_manager.visible_to(user, "view")
    return None


def registry_problems() -> list[str]:
    """Everything wrong with the declarations, as messages that say what to do."""
    data, non_data = load_registry()
    routes = [r for r in iter_routes() if not _excluded(r)]
    by_name = {r.name: r for r in routes if r.name}
    problems = []
    for r in routes:
        if r.name is None:
            problems.append(f"URL '{r.route}' has no name: name it, then declare it (see below).")
        elif r.name not in data and r.name not in non_data:
            problems.append(
                f"URL '{r.name}' ({r.route}) is not declared. In the module that defines it, call "
                f"civicgrid.foundation.access.endpoints.data_endpoint('{r.name}', '<app_label.Model>', "
                f"'list'|'detail'|'export'|'geojson', lookup='<url kwarg>', lookup_field='<model field>') if it "
                f"returns business objects, else non_data_endpoint('{r.name}')."
            )
    for name in sorted((set(data) | non_data) - set(by_name)):
        problems.append(f"'{name}' is declared but no URL has that name: remove or rename the declaration.")
    for name in sorted(set(data) & non_data):
        problems.append(f"'{name}' is declared both as a data endpoint and as a non-data endpoint.")
    for name, ep in sorted(data.items()):
        model = model_for(ep.model)
        if model is None:
            problems.append(f"data endpoint '{name}': '{ep.model}' is not a model label (app_label.ModelName).")
            continue
        if scope_selector(model) is None:
            problems.append(
                f"data endpoint '{name}': {ep.model} is not a ScopedModel; declare its scope with "
                "civicgrid.testing.contract.register_scope(label, selector)."
            )
        if ep.kind not in KINDS:
            problems.append(f"data endpoint '{name}': unknown kind '{ep.kind}' (known: {', '.join(KINDS)}).")
        route = by_name.get(name)
        if route and name not in URL_KWARGS and route.kwargs - {ep.lookup}:
            problems.append(
                f"data endpoint '{name}': URL kwargs {sorted(route.kwargs)} are not all its lookup "
                f"'{ep.lookup}'; fix lookup= or call register_url_kwargs('{name}', fn)."
            )
        if route and route.kwargs and ep.lookup_field != "pk":
            try:
                model._meta.get_field(ep.lookup_field)
            except Exception:
                problems.append(f"data endpoint '{name}': {ep.model} has no field '{ep.lookup_field}'.")
    return problems


# ------------------------------------------------------------------------------------------------------ world

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
    token: str


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
    return Persona(label, user, ApiToken.issue(user, label="contract")[1])


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


# ------------------------------------------------------------------------------------------- reading answers


class _TableRows(HTMLParser):
    """(data-model, data-oid) of every element carrying data-oid inside a `table[data-model]`."""

    def __init__(self):
        super().__init__()
        self.tables: list[str | None] = []
        self.rows: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("data-model"))
        elif self.tables and self.tables[-1] and attrs.get("data-oid") is not None:
            self.rows.append((self.tables[-1], attrs["data-oid"]))

    def handle_endtag(self, tag):
        if tag == "table" and self.tables:
            self.tables.pop()


def html_rows(text: str) -> list[tuple[str, str]]:
    parser = _TableRows()
    parser.feed(text)
    return parser.rows


def _ident(item: dict) -> list[tuple[str, str]]:
    """What identifies one JSON object: its `id` (a primary key, or a code, as GeoJSON feature ids often
    are) and its `code`; empty when it carries neither."""
    found = []
    if item.get("id") not in (None, ""):
        found += [("pk", str(item["id"])), ("code", str(item["id"]))]
    if item.get("code") not in (None, ""):
        found.append(("code", str(item["code"])))
    return found


def answer_ids(response, model) -> tuple[list[list[tuple[str, str]]] | None, str]:
    """The objects a list-like answer names, each as its (pk|code, value) candidates, or None when the answer does not say (a
    ledger export without id or code); and the answer's text for the marker check."""
    content_type = response.get("Content-Type", "")
    body = response.content
    if "spreadsheetml" in content_type:
        from openpyxl import load_workbook

        rows = [list(r) for r in load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True)]
        return _table_ids(rows, model), "\n".join(" ".join(str(c) for c in r if c is not None) for r in rows)
    text = body.decode("utf-8-sig", errors="replace")
    if "text/csv" in content_type:
        return _table_ids(list(csv.reader(io.StringIO(text))), model), text
    if "json" in content_type:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            items = [{**(f.get("properties") or {}), **({"id": f["id"]} if "id" in f else {})}
                     for f in data.get("features", [])]
        else:
            items = data.get("items", []) if isinstance(data, dict) else data
        return [_ident(i) or [("missing", json.dumps(i)[:80])] for i in items if isinstance(i, dict)], text
    return [[("pk", oid)] for _, oid in html_rows(text)], text


def _table_ids(rows: list[list], model) -> list[list[tuple[str, str]]] | None:
    """Row identities from a table with an `id` column, or a `code` column (by name or the field's verbose
    name, e.g. 楼栋编码); None when it has neither (a ledger export: then only the markers tell)."""
    if not rows:
        return []
    names = {"pk": {"id", "pk"}, "code": {"code"}}
    try:
        names["code"].add(str(model._meta.get_field("code").verbose_name).lower())
    except Exception:
        pass
    headers = [str(h or "").strip().lower() for h in rows[0]]
    for kind, wanted in names.items():
        cols = [i for i, h in enumerate(headers) if h in wanted or wanted & set(re.split(r"[\s/()（）]+", h))]
        if cols:
            return [[(kind, str(r[cols[0]]))] for r in rows[1:] if len(r) > cols[0] and r[cols[0]] not in (None, "")]
    return None


# ----------------------------------------------------------------------------------------------------- checks


class Checker:
    """Asks one data endpoint as every persona and collects every breach of the contract."""

    def __init__(self, world: World, endpoint: endpoints.DataEndpoint):
        self.world = world
        self.ep = endpoint
        self.kind = KINDS[endpoint.kind]
        self.model = apps.get_model(endpoint.model)
        self.label = self.model._meta.label_lower
        self.api = endpoint.url_name.startswith("api:")
        route = {r.name: r for r in iter_routes()}[endpoint.url_name]
        self.addressed = bool(route.kwargs)
        self.problems: list[str] = []
        self.successes = 0
        self.rows_seen = 0
        self._clients: dict[int, Client] = {}
        self._visible: dict[tuple[int, str], tuple[set[str], set[str]]] = {}

    # -- plumbing
    def url(self, obj) -> str:
        if self.ep.url_name in URL_KWARGS:
            return reverse(self.ep.url_name, kwargs=URL_KWARGS[self.ep.url_name](obj))
        if not self.addressed:
            return reverse(self.ep.url_name)
        value = obj.pk if self.ep.lookup_field == "pk" else getattr(obj, self.ep.lookup_field)
        return reverse(self.ep.url_name, kwargs={self.ep.lookup: value})

    def missing_url(self) -> str:
        name = self.ep.lookup_field
        f = self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)
        value = 2_000_000_000 if isinstance(f, models.IntegerField | models.AutoField) else "999999999999999"
        return reverse(self.ep.url_name, kwargs={self.ep.lookup: value})

    def call(self, persona: Persona | None, url: str):
        headers = {}
        if self.api and persona:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {persona.token}"
        if persona is None or self.api:
            client = Client()
        else:
            client = self._clients.get(persona.user.pk)
            if client is None:
                client = self._clients[persona.user.pk] = Client()
                client.force_login(persona.user)
        return client.generic(self.kind.method, url, **headers)

    def visible(self, persona: Persona, label: str, *, fresh: bool = False) -> tuple[set[str], set[str]]:
        """(pks, codes) the persona may see of a model; cached, and asked again on a miss (the trail grows)."""
        key = (persona.user.pk, label)
        if fresh or key not in self._visible:
            model = apps.get_model(label)
            selector = scope_selector(model)
            qs = selector(persona.user) if selector else model._default_manager.none()
            has_code = any(f.name == "code" for f in model._meta.concrete_fields)
            rows = list(qs.values_list("pk", "code") if has_code else qs.values_list("pk", "pk"))
            self._visible[key] = {str(r[0]) for r in rows}, ({str(r[1]) for r in rows} if has_code else set())
        return self._visible[key]

    def sees(self, persona: Persona, label: str, kind: str, value: str) -> bool:
        for fresh in (False, True):
            pks, codes = self.visible(persona, label, fresh=fresh)
            if value in (pks if kind == "pk" else codes):
                return True
        return False

    def fail(self, persona: Persona | None, url: str, message: str) -> None:
        who = persona.label if persona else "anonymous"
        self.problems.append(f"{self.ep.url_name} as {who}: {self.kind.method} {url}: {message}")

    # -- rules
    def check_rows(self, persona: Persona, url: str, response) -> None:
        """Every object the answer names (rows, features, export lines, HTML tables) is within scope."""
        if response.status_code != 200:
            return
        html = "text/html" in response.get("Content-Type", "")
        idents, text = answer_ids(response, self.model) if self.kind.rows else (None, response.content.decode(errors="replace"))
        for candidates in idents or []:
            if candidates[0][0] == "missing":
                self.fail(persona, url, f"cannot tell which object a row is (no id or code): {candidates[0][1]}")
            elif not any(self.sees(persona, self.label, kind, value) for kind, value in candidates):
                kind, value = candidates[-1]
                self.fail(persona, url, f"returned {self.label} {kind}={value}, outside the user's scope")
        self.rows_seen += len(idents or [])
        for table_model, oid in html_rows(text) if html else []:
            model = model_for(table_model)
            if model is None:
                self.fail(persona, url, f"table data-model='{table_model}' is not a model label")
            elif not self.sees(persona, model._meta.label_lower, "pk", oid):
                self.fail(persona, url, f"table of {table_model} shows pk={oid}, outside the user's scope")
        self.rows_seen += self.check_markers(persona, url, text)

    def check_markers(self, persona: Persona, url: str, text: str) -> int:
        """No out-of-scope object's marker in the answer; returns how many in-scope markers it shows."""
        shown = 0
        for obj in self.world.objects.get(self.label, []):
            marker = self.world.markers.get((self.label, str(obj.pk)))
            if not marker or marker not in text:
                continue
            if self.sees(persona, self.label, "pk", str(obj.pk)):
                shown += 1
            else:
                self.fail(persona, url, f"the answer contains {self.label} pk={obj.pk} (marker {marker}), "
                                        "which is outside the user's scope")
        return shown

    def run(self) -> list[str]:
        for persona in self.world.personas:
            if not self.addressed:
                url = self.url(None)
                response = self.call(persona, url)
                self.check_status(persona, url, response)
                self.check_rows(persona, url, response)
                continue
            pks = self.visible(persona, self.label)[0]
            missing_url = self.missing_url()
            missing = self.call(persona, missing_url).status_code
            if missing not in (403, 404):
                self.fail(persona, missing_url, f"an object that does not exist answered {missing}, not 404")
            for obj in self.sample(self.world.objects[self.label], pks):
                url = self.url(obj)
                response = self.call(persona, url)
                status = response.status_code
                if not self.check_status(persona, url, response):
                    continue
                if str(obj.pk) in pks:
                    if status == 404:
                        self.fail(persona, url, "answered 404 for an object inside the user's scope")
                    self.successes += 200 <= status < 300
                    self.check_rows(persona, url, response)
                else:
                    if status != missing or status not in (403, 404):
                        self.fail(persona, url, f"answered {status} for an object outside the user's scope; "
                                                f"it must answer as a missing object does ({missing})")
                    self.check_markers(persona, url, response.content.decode(errors="replace"))
        self.check_meaningful()
        return self.problems

    @staticmethod
    def sample(objects: list, pks: set[str]) -> list:
        """Every object for a persona whose scope cuts through them; a spread of three for one that sees all of
        them or none (it has no boundary to cross, and the requests add up)."""
        inside = sum(str(o.pk) in pks for o in objects)
        if 0 < inside < len(objects):
            return objects
        step = max(1, len(objects) // 3)
        return objects[::step][:3]

    def check_status(self, persona: Persona, url: str, response) -> bool:
        if response.status_code >= 500:
            self.fail(persona, url, f"server error {response.status_code}")
            return False
        if response.status_code == 403:
            self.check_markers(persona, url, response.content.decode(errors="replace"))
        return True

    def check_meaningful(self) -> None:
        # A check that never saw data proves nothing: an endpoint that always fails would pass it.
        if self.kind.rows and not self.addressed and not self.rows_seen:
            self.problems.append(f"{self.ep.url_name}: no user of any role got a single row; the contract "
                                 "cannot tell scope from breakage (is the factory or the endpoint wrong?)")
        if self.addressed and self.kind.expect_success and not self.successes:
            self.problems.append(f"{self.ep.url_name}: no in-scope object ever answered 2xx; the contract "
                                 "cannot tell scope from breakage")

    def check_anonymous(self) -> list[str]:
        """Anonymous callers: 401 from the API, a redirect to the sign-in page from the web."""
        objs = self.world.objects.get(self.label) or [None]
        url = self.url(objs[0]) if self.addressed else self.url(None)
        response = self.call(None, url)
        login = reverse(settings.LOGIN_URL)
        if self.api and response.status_code != 401:
            self.fail(None, url, f"answered {response.status_code}, not 401")
        if not self.api and not (response.status_code == 302 and response["Location"].startswith(login)):
            self.fail(None, url, f"answered {response.status_code}, not a redirect to {login}")
        return self.problems


def scope_coverage_problems(world: World) -> list[str]:
    """Each data model must have objects some persona sees and some persona does not, or nothing is tested."""
    problems = []
    for label, rows in world.objects.items():
        selector = scope_selector(apps.get_model(label))
        seen = [{str(pk) for pk in selector(p.user).values_list("pk", flat=True)} for p in world.personas]
        pks = {str(o.pk) for o in rows}
        if not any(s & pks for s in seen) or not any(pks - s for s in seen):
            problems.append(f"{label}: the contract's objects are seen by everybody or by nobody; register a "
                            "factory that places them in their grid (register_factory)")
    return problems

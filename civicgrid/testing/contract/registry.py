"""The scope contract's registry side: extension hooks, the project's URL map and the declaration check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver

from civicgrid.foundation.access import endpoints
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
    """The declarations, after importing every URL module (declarations sit next to the views) and every
    app's `contract.py` (its scope rules: without them the check depends on which tests ran before)."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("contract")
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

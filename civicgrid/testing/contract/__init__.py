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

The package: `registry` (hooks, URL map, declarations), `world` (data and personas), `checks` (the rules).
"""

from .checks import Checker, answer_ids, html_rows, scope_coverage_problems
from .registry import (
    FACTORIES,
    KINDS,
    SCOPE_RULES,
    URL_KWARGS,
    Kind,
    Route,
    ScopeRule,
    iter_routes,
    load_registry,
    model_for,
    register_factory,
    register_kind,
    register_scope,
    register_url_kwargs,
    registry_problems,
    scope_selector,
)
from .world import (
    ALL_LEVELS,
    EXTRA_ROWS,
    HOME,
    MARK,
    PLACEMENT_GRIDS,
    ROLE_LEVELS,
    Persona,
    Placement,
    World,
    build_world,
    generic_object,
)

__all__ = [
    "ALL_LEVELS", "EXTRA_ROWS", "FACTORIES", "HOME", "KINDS", "MARK", "PLACEMENT_GRIDS", "ROLE_LEVELS",
    "SCOPE_RULES", "URL_KWARGS", "Checker", "Kind", "Persona", "Placement", "Route", "ScopeRule", "World",
    "answer_ids", "build_world", "generic_object", "html_rows", "iter_routes", "load_registry", "model_for",
    "register_factory", "register_kind", "register_scope", "register_url_kwargs", "registry_problems",
    "scope_coverage_problems", "scope_selector",
]

"""Registry of data endpoints for the scope contract test.

Every URL that returns business data declares here which model it lists or shows, so the contract test can
check, for users of every role and region, that nothing outside their scope ever comes back. URLs that return
no business data are declared public (login, health, static, docs). A URL in neither list fails the test:
new apps inherit the check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataEndpoint:
    url_name: str  # namespaced, e.g. "api:region_list" or "ui:people:resident_list"
    model: str  # "app_label.ModelName"
    kind: str  # "list" | "detail" | "export" | "geojson"
    lookup: str = "pk"  # URL kwarg / field used by detail endpoints
    lookup_field: str = "pk"  # the model field the lookup kwarg matches


DATA_ENDPOINTS: dict[str, DataEndpoint] = {}
NON_DATA_ENDPOINTS: set[str] = set()


def data_endpoint(url_name: str, model: str, kind: str, *, lookup: str = "pk", lookup_field: str = "pk") -> None:
    """Declare that `url_name` returns `model` objects, so the contract test covers it."""
    DATA_ENDPOINTS[url_name] = DataEndpoint(url_name, model, kind, lookup, lookup_field)


def non_data_endpoint(*url_names: str) -> None:
    """Declare URLs that return no business data (forms, health, auth, docs)."""
    NON_DATA_ENDPOINTS.update(url_names)


non_data_endpoint(
    "healthz",
    "set_language",
    "ui:home",
    "ui:login",
    "ui:logout",
    "ui:password_change",
    "api:create_token",
    "api:revoke_token",
    "api:openapi-json",
    "api:openapi-view",
)
data_endpoint("api:region_list", "regions.Region", "list")
data_endpoint("api:region_detail", "regions.Region", "detail", lookup="code", lookup_field="code")

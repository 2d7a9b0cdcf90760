"""The scope contract's checks: reading answers (JSON, GeoJSON, HTML tables, CSV/XLSX) and judging them
against what each persona may see."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.urls import reverse

from civicgrid.foundation.access import endpoints

from .registry import KINDS, URL_KWARGS, iter_routes, model_for, scope_selector
from .world import Persona, World


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
    # Rows of the endpoint's own model; tables of other models on the page are checked against theirs.
    label = model._meta.label_lower
    return [[("pk", oid)] for table, oid in html_rows(text) if table.lower() == label], text


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
                client.cookies[settings.SESSION_COOKIE_NAME] = persona.session
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

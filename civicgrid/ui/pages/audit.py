"""Object history: the audit records of one object, as an htmx partial on every detail page.

The object is fetched through the scoped read path first: a user who cannot see the object gets a 404, never
its history. Each historied model gets its own URL name (`ui:<slug>_history`) so the scope contract test can
check each one against its model. The audit administrator's pages live elsewhere.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.labels import action_name
from civicgrid.foundation.audit.service import SENSITIVE_MARK, WITHHELD_MARK, history, text_mark_parts
from civicgrid.foundation.imports import history as imported

from .common import page_view, scoped_get

HISTORY_LIMIT = 100


@dataclass(frozen=True)
class Historied:
    """A model whose detail pages show history: its URL slug and the field the URL key matches."""

    slug: str
    model: str  # "app_label.ModelName"
    lookup_field: str = "pk"


HISTORIED: dict[str, Historied] = {
    h.model.lower(): h
    for h in (
        Historied("region", "regions.Region", "code"),
        Historied("organisation", "orgs.Organisation"),
        Historied("building", "people.Building"),
        Historied("house", "people.House"),
        Historied("household", "people.Household"),
        Historied("resident", "people.Resident"),
        Historied("unit", "people.Unit"),
        Historied("place", "people.Place"),
    )
}

RESULT_LABELS = {"ok": _("成功"), "refused": _("被拒绝"), "denied": _("被拒绝"), "failed": _("失败")}

# Bookkeeping and derived fields say nothing to a reader of the history (the grid reference repeats
# region_code); blind indexes must not be shown.
_HIDDEN_FIELDS = {"id", "created_at", "updated_at", "grid", "region_code", "min_lng", "min_lat", "max_lng",
                  "max_lat", "centroid_lng", "centroid_lat"}


def _hidden(name: str, model) -> bool:
    """Bookkeeping, derived fields and blind indexes; encrypted columns too (a change of one is recorded as
    "(encrypted)" on its masked twin, which is shown). A model names in `history_shown_fields` the fields of
    that list it is defined by (a routing rule's region_code is where it applies, derived from nothing), and in
    `history_hidden_fields` its own bookkeeping (a category's 人工修改时间, moved by every change)."""
    if name in getattr(model, "history_shown_fields", ()):
        return False
    if name in getattr(model, "history_hidden_fields", ()):
        return True
    return name in _HIDDEN_FIELDS or name.endswith(("_index", "_enc"))


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _field_label(model, name: str) -> str:
    field = _field(model, name)
    return str(getattr(field, "verbose_name", name))


_SPOKEN_ORDER = ("name", "title", "quantity", "count", "unit")
_EMPTY = (None, "", [], {})


def _local_time(value: str) -> str:
    """A recorded instant (ISO text, UTC) as people read it: local time to the minute."""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M")


def _shown(value, field=None, names: dict | None = None) -> str:
    if value in _EMPTY:
        return "—"
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        return _local_time(value)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field is not None and field.is_relation:
        # A reference: named when the user may see the object (`describe_all` fetched the names in one query
        # per related model), else its number.
        return (names or {}).get((field.related_model, str(value))) or f"#{value}"
    if isinstance(value, dict):  # a JSON object (one piece of equipment: name, quantity, unit)
        # In the order people say it; PostgreSQL's jsonb keeps its keys sorted by length, not as written.
        keys = sorted(value, key=lambda k: (_SPOKEN_ORDER.index(k) if k in _SPOKEN_ORDER else len(_SPOKEN_ORDER), k))
        return " ".join(_shown(value[k]) for k in keys if value[k] not in (None, ""))
    if isinstance(value, list):
        return "、".join(_shown(v) for v in value)
    if value == SENSITIVE_MARK:
        return str(_("（已加密）"))
    if value == WITHHELD_MARK:
        return str(_("（不显示）"))
    if marked := text_mark_parts(value):  # free text the trail keeps as its length and a digest
        length, digest = marked
        return str(_("（文本 %(n)s 字，已隐去）")) % {"n": length} + (f" {digest[:8]}" if digest else "")
    if value is True:
        return str(_("是"))
    if value is False:
        return str(_("否"))
    return str(value)


def describe(entry, model, names: dict | None = None) -> dict:
    """One audit record ready for the template: the action's name (audit.labels) and the changed fields (references named
    from `names`, as `describe_all` collects them)."""
    changes = []
    for name, before, after in entry.changes:
        if _hidden(name, model) or (before in _EMPTY and after in _EMPTY):
            continue
        field = _field(model, name)
        changes.append({"field": _field_label(model, name), "before": _shown(before, field, names),
                        "after": _shown(after, field, names)})
    field = (entry.data or {}).get("field") if isinstance(entry.data, dict) else None
    job = getattr(entry, "import_job", None)  # an import's part in the row's history (`imports.history`)
    note = ""
    action = action_name(entry.action)
    if job is not None:
        words = _("由导入任务 #%(job)s 创建") if entry.created else _("由导入任务 #%(job)s 更改")
        note = str(words) % {"job": job} + (f"（{entry.file_name}）" if entry.file_name else "")
    elif isinstance(entry.data, dict) and entry.data.get("via") == "xlsx":
        # A row of a file import that audits each row (事件分类): shown as the import, naming the file and row.
        action, note = action_name(verbs.Data.IMPORTED), _file_row_note(entry)
    return {
        "at": entry.at,
        "actor": entry.actor_name if entry.actor_name not in ("", "system") else str(_("系统")),
        "action": action,
        "code": entry.action,
        "result": RESULT_LABELS.get(entry.result, entry.result),
        "ok": entry.result == "ok",
        "channel": entry.channel,
        "changes": changes,
        "field": _field_label(model, field) if field else "",
        "note": note,
        "source_ip": entry.source_ip if job is not None else "",
    }


def _file_row_note(entry) -> str:
    """What an imported row's entry says of its import: created or changed, by which file, from which row."""
    file_name, row = str(entry.data.get("file") or ""), entry.data.get("row")
    created = entry.action == verbs.Data.CREATED
    if file_name:
        words = _("由文件「%(file)s」第 %(row)s 行导入创建") if created else _("由文件「%(file)s」第 %(row)s 行导入更改")
    else:  # recorded before the file's name was kept
        words = _("由导入第 %(row)s 行创建") if created else _("由导入第 %(row)s 行更改")
    return str(words) % {"file": file_name, "row": row if row is not None else "?"}


def describe_all(entries, model, user, read_paths: dict | None = None) -> list[dict]:
    """`describe` for a page of audit records, the objects they reference named where the user may see them:
    one query per related model, whatever the number of records.

    A related model is read through its scoped read path (`visible_to`), or through the queryset `read_paths`
    gives for it: the page's own read path for models that are not region-scoped (categories) or that the
    page already names to its readers (the departments of a routing rule)."""
    read_paths = read_paths or {}
    entries = list(entries)
    wanted: dict = {}
    for entry in entries:
        for name, before, after in entry.changes:
            field = _field(model, name)
            if field is None or not field.is_relation or _hidden(name, model):
                continue
            wanted.setdefault(field.related_model, set()).update(
                str(v) for v in (before, after) if v not in (None, "") and not isinstance(v, list | dict))
    names = {}
    for related, ids in wanted.items():
        readable = read_paths.get(related)
        if readable is None:
            readable = related._default_manager.all()
            if not hasattr(readable, "visible_to"):
                continue  # not a scoped model: left as its number rather than read outside the scoped path
            readable = readable.visible_to(user, "view")
        rows = readable.filter(pk__in=sorted(ids))
        names.update({(related, str(obj.pk)): str(getattr(obj, "name", "") or obj) for obj in rows})
    return [describe(e, model, names) for e in entries]


def _history_view(spec: Historied):
    model = apps.get_model(spec.model)

    @page_view(model.scope_capability("view"))
    def view(request, key: str):
        obj = scoped_get(model.objects.all(), request.user, "view", **{spec.lookup_field: key})
        # The row's own audit entries, and the imports that created or changed it (one entry per job, not per row).
        merged = [*history(obj)[:HISTORY_LIMIT], *imported.entries_for(obj)]
        merged.sort(key=lambda e: e.at, reverse=True)  # stable: the trail's own order among equal instants
        entries = describe_all(merged[:HISTORY_LIMIT], model, request.user)
        return render(
            request,
            "ui/partials/history.html",
            {"object": obj, "entries": entries, "limit": HISTORY_LIMIT},
        )

    view.__name__ = f"{spec.slug}_history"
    view.__doc__ = f"History of one {spec.model} the user can see (404 otherwise)."
    return view


def history_url_name(obj) -> tuple[str, str] | None:
    """The URL name and key of an object's history partial, or None when its model keeps no history page."""
    spec = HISTORIED.get(obj._meta.label_lower)
    if spec is None:
        return None
    key = obj.pk if spec.lookup_field == "pk" else getattr(obj, spec.lookup_field)
    return f"ui:{spec.slug}_history", str(key)


urlpatterns = []
for _spec in HISTORIED.values():
    urlpatterns.append(path(f"{_spec.slug}/<str:key>/history/", _history_view(_spec), name=f"{_spec.slug}_history"))
    data_endpoint(
        f"ui:{_spec.slug}_history",
        _spec.model,
        "detail",
        lookup="key",
        lookup_field=_spec.lookup_field,
    )

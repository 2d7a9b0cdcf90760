"""Table types that can be imported and exported, each declaring its Chinese columns and how rows are checked.

A table type turns one row of text into database values in two steps: `parse` (no queries: formats, choices,
personal numbers, duplicates within the file) and `resolve` (one batch at a time: references by code and
duplicates against the database, in a few queries per batch). `imports.services` drives the steps, keeps the
errors, and writes only a file without any.

Apps register their types from a module listed in `PROVIDERS` (or `settings.CIVICGRID_IMPORT_PROVIDERS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models

PROVIDERS = ("civicgrid.foundation.people.importers",)
# Columns added by our own error report, and a row counter many ledgers carry: read past, never an error.
IGNORED_HEADERS = {"错误行", "错误字段", "错误说明", "序号"}


@dataclass(frozen=True)
class Column:
    """One column of a table type: its Chinese header, the key rows use, and what a person must know."""

    header: str
    key: str
    required: bool = False
    hint: str = ""
    aliases: tuple[str, ...] = ()
    # Personal numbers (ID numbers, phones): how to mask what a row holds, wherever the file's rows are shown
    # back (the error report) to a reader who may not see them in clear.
    mask: Callable[[str], str] | None = None


@dataclass
class ImportContext:
    """What one import run knows: who imports, where they may, the lookups loaded, and the errors found."""

    actor: Any
    scope: Any  # access.scope.Scope for `people.import`
    errors: list = field(default_factory=list)  # (row, header, message)
    error_count: int = 0
    max_errors: int = 5000
    cache: dict = field(default_factory=dict)
    job_id: int | None = None  # the job being run: rows record it (`import_job`), and so do `ImportedChange` rows

    def error(self, row: int, header: str, message: str) -> None:
        """Record one problem; messages never repeat personal values (they end up in reports and logs)."""
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append((row, header, message))

    @property
    def failed(self) -> bool:
        return self.error_count > 0


def record_changes(ctx: ImportContext, model: type[models.Model], field_name: str, changes) -> None:
    """Record values the running import changed on rows it did not create, as (id, before, after), one narrow
    `ImportedChange` row each, in the apply transaction: the rows' history shows them with the job's entry."""
    from .models import ImportedChange
    from .services import insert_rows

    if ctx.job_id is None:
        return
    target_type = model._meta.label_lower
    rows = [(ctx.job_id, target_type, pk, field_name, before, after) for pk, before, after in changes]
    for start in range(0, len(rows), 50_000):
        insert_rows(ImportedChange, ("job", "target_type", "target_id", "field", "before", "after"),
                    rows[start : start + 50_000])


class TableType:
    """Base class for an importable/exportable table; subclasses fill in the class attributes and methods."""

    key: str = ""
    label: str = ""
    model: type[models.Model]
    columns: tuple[Column, ...] = ()
    db_columns: tuple[str, ...] = ()  # the order of the values `resolve` returns
    # Columns with one value for the whole run (e.g. timestamps), added at apply time: the spool stays small.
    constant_columns: tuple[str, ...] = ()
    import_capability = "people.import"
    export_capability = "people.export"
    batch_size = 5000

    def header_map(self) -> dict[str, Column]:
        """Every accepted header (and alias) → its column."""
        out = {}
        for column in self.columns:
            out[column.header] = column
            for alias in column.aliases:
                out[alias] = column
        return out

    def begin(self, ctx: ImportContext) -> None:
        """Load lookups the rows need (e.g. the grids), once per run."""

    def parse(self, ctx: ImportContext, number: int, row: dict[str, str]) -> dict | None:
        """Check one row without queries; return cleaned values, or None after recording errors."""
        raise NotImplementedError

    def resolve(self, ctx: ImportContext, batch: list[tuple[int, dict]], prepare: bool) -> list[tuple]:
        """Resolve references and database duplicates for a batch; with `prepare`, return rows in `db_columns`
        order (encrypted and ready to insert; plain str/int/float/bool/None values, dates as ISO text, so the
        spool pickles fast); without it (the file already has errors) only check."""
        raise NotImplementedError

    def constant_values(self, ctx: ImportContext) -> tuple:
        """The values of `constant_columns` for this run."""
        return ()

    def after_apply(self, ctx: ImportContext) -> None:
        """Bring dependent data up to date inside the apply transaction (e.g. household sizes), recording each
        changed value as an `ImportedChange` of the job (`imports.services.record_changes`)."""

    # --- exports
    def export_queryset(self, actor, region: str | None) -> models.QuerySet:
        raise NotImplementedError

    def export_rows(self, actor, queryset: models.QuerySet, clear: bool) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    @property
    def export_headers(self) -> list[str]:
        return [c.header for c in self.columns]


_TYPES: dict[str, TableType] = {}
_loaded = False


def register(table_type: TableType) -> TableType:
    """Make a table type importable and exportable under its key."""
    _TYPES[table_type.key] = table_type
    return table_type


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for dotted in (*PROVIDERS, *getattr(settings, "CIVICGRID_IMPORT_PROVIDERS", ())):
        importlib.import_module(dotted)
    _loaded = True


def get(key: str) -> TableType | None:
    """The table type registered under `key` (also accepts the plural, e.g. "residents")."""
    _load()
    return _TYPES.get(key) or _TYPES.get(key.removesuffix("s"))


def all_types() -> Iterable[TableType]:
    """Every registered table type, in registration order."""
    _load()
    return list(_TYPES.values())

"""Index operations for large tables (`core.migration_ops`): CONCURRENTLY on PostgreSQL, plain on SQLite, both
ways; refused inside a transaction on PostgreSQL; a migration stopped halfway runs again.

Migrating for real needs no surrounding transaction (CONCURRENTLY cannot run in one), hence transactional
tests; each leaves the schema at the latest migration, as it found it."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import NotSupportedError, connection, models
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import IntegrityError

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently
from civicgrid.testing.browser import browser_db

pytestmark = browser_db  # flushed afterwards, all but the append-only audit table

BEFORE_INDEXES = ("cases", "0006_hotline_ticket_index")
# What the later migrations of cases add to (or remove from) `cases_case` with the operations.
INDEXES = {
    "cases_accepted_by_idx",
    "cases_dispatched_by_idx",
    "cases_retention_closed_idx",
    "cases_retention_ended_idx",  # 0008, dropped in 0011
    "cases_retention_ended_at_idx",
}
POSTGRESQL = connection.vendor == "postgresql"


@contextmanager
def _every_app():
    """The whole app registry for the migration graph: `browser_db` leaves the audit app out of the test's
    available apps (its table refuses the flush), and a migration that depends on audit's (categories 0004 writes
    audit rows) would name a node the graph then lacks."""
    available = [config.name for config in apps.get_app_configs()]
    apps.unset_available_apps()
    try:
        yield
    finally:
        apps.set_available_apps(available)


def _latest(app: str) -> tuple[str, str]:
    with _every_app():
        return MigrationExecutor(connection).loader.graph.leaf_nodes(app)[0]


def _migrate(target: tuple[str, str]) -> list[str]:
    """Migrate to `target`; the SQL statements it ran."""
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with _every_app(), connection.execute_wrapper(capture):
        MigrationExecutor(connection).migrate([target])
    return statements


def _indexes(table: str) -> dict[str, bool]:
    """The table's indexes by name, each with whether it is valid (always, on SQLite)."""
    with connection.cursor() as cursor:
        found = {
            name for name, c in connection.introspection.get_constraints(cursor, table).items() if c["index"]
        }
        if not POSTGRESQL:
            return dict.fromkeys(found, True)
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass",
            [table],
        )
        return {name: valid for name, valid in cursor.fetchall() if name in found}


def _every_latest() -> list[tuple[str, str]]:
    with _every_app():
        return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def back_to_latest():
    """Whatever the test did to the cases migrations, every app ends at its latest: unapplying an early cases
    migration also unapplies the later migrations of other apps that depend on cases (router 0004 depends on
    cases 0025), and a worker's next tests would meet their tables without those columns."""
    latest = _every_latest()
    yield
    with _every_app():
        MigrationExecutor(connection).migrate(latest)
    with _every_app():
        assert not MigrationExecutor(connection).migration_plan(latest)


def test_the_case_indexes_are_dropped_and_built_again_concurrently_on_postgresql(back_to_latest):
    latest = _latest("cases")
    down = _migrate(BEFORE_INDEXES)
    assert not INDEXES & set(_indexes("cases_case"))

    up = _migrate(latest)

    indexes = _indexes("cases_case")
    assert INDEXES - {"cases_retention_ended_idx"} == {n for n in INDEXES if indexes.get(n)}
    ours = [
        s for s in down + up if s.startswith(("CREATE INDEX", "DROP INDEX")) and any(n in s for n in INDEXES)
    ]
    assert {n for n in INDEXES if any(s.startswith("CREATE INDEX") and f'"{n}"' in s for s in up)} == INDEXES
    assert {n for n in INDEXES if any(s.startswith("DROP INDEX") and f'"{n}"' in s for s in down)} == INDEXES
    # PostgreSQL builds and drops each without blocking the table's writes; SQLite as always.
    assert all(("CONCURRENTLY" in s) == POSTGRESQL for s in ours), ours


def test_on_postgresql_the_operation_refuses_to_run_inside_a_transaction(back_to_latest):
    """A migration left atomic would lock the table for the whole build: PostgreSQL refuses it, and nothing is
    built; SQLite builds the index as AddIndex does, and takes it back."""
    from django.db.migrations.loader import MigrationLoader

    operation = AddIndexConcurrently(
        model_name="case", index=models.Index(fields=["title"], name="cases_title_tmp")
    )
    with _every_app():
        before = MigrationLoader(connection).project_state()
    after = before.clone()
    operation.state_forwards("cases", after)

    if POSTGRESQL:
        with pytest.raises(NotSupportedError, match="atomic = False"):
            with connection.schema_editor(atomic=True) as editor:
                operation.database_forwards("cases", editor, before, after)
        assert "cases_title_tmp" not in _indexes("cases_case")
        return
    with connection.schema_editor(atomic=True) as editor:
        operation.database_forwards("cases", editor, before, after)
    assert "cases_title_tmp" in _indexes("cases_case")
    with connection.schema_editor(atomic=True) as editor:
        operation.database_backwards("cases", editor, after, before)
    assert "cases_title_tmp" not in _indexes("cases_case")


def test_on_postgresql_a_migration_stopped_halfway_runs_again(back_to_latest):
    """An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index of its name behind, and a non-atomic
    migration that failed after building one of its indexes is not recorded: run again, it drops and builds the
    invalid one and keeps the one already built."""
    if not POSTGRESQL:
        pytest.skip("CONCURRENTLY and INVALID indexes are PostgreSQL's")
    _migrate(BEFORE_INDEXES)
    with connection.cursor() as cursor:
        # A build that fails leaves an invalid index (here a unique one over repeated values: the apps).
        with pytest.raises(IntegrityError):
            cursor.execute(
                'CREATE UNIQUE INDEX CONCURRENTLY "cases_accepted_by_idx" ON django_migrations (app)'
            )
        cursor.execute(
            'CREATE INDEX "cases_dispatched_by_idx" ON cases_case (dispatched_by_id) '
            "WHERE dispatched_by_id IS NOT NULL"
        )
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'cases_accepted_by_idx'::regclass")
        assert cursor.fetchone() == (False,)

    up = _migrate(_latest("cases"))

    indexes = _indexes("cases_case")
    assert indexes["cases_accepted_by_idx"] is True and indexes["cases_dispatched_by_idx"] is True
    assert any(s.startswith("DROP INDEX CONCURRENTLY") and '"cases_accepted_by_idx"' in s for s in up)
    assert not any(s.startswith("CREATE INDEX") and '"cases_dispatched_by_idx"' in s for s in up)
    assert "cases_accepted_by_idx" not in _indexes("django_migrations")

"""Index operations for migrations on tables that grow large (cases, events, clocks, messages).

`AddIndexConcurrently` and `RemoveIndexConcurrently` are Django's `AddIndex` and `RemoveIndex`, except that on
PostgreSQL they build and drop the index CONCURRENTLY: a plain CREATE INDEX holds a lock that blocks every
INSERT, UPDATE and DELETE on the table while it reads the whole table (minutes at millions of rows), and a plain
DROP INDEX waits behind every query on the table and blocks everything queued after it. On SQLite (one writer,
an index built in seconds) they are the plain operations. PostgreSQL refuses CONCURRENTLY inside a transaction,
so a migration using them sets `atomic = False`; in an atomic one they refuse on PostgreSQL (NotSupportedError)
rather than quietly lock the table. `django.contrib.postgres.operations` has the PostgreSQL half only.

A non-atomic migration that fails halfway is not recorded and runs again from its first operation, so on
PostgreSQL these can be repeated: an index left INVALID by an interrupted build is dropped and built again, one
already built on the same table is kept, and dropping one already gone does nothing. Put them before the
operations of the migration that cannot be repeated (AddField, CreateModel): a failure anywhere then leaves a
migration that runs again cleanly.
"""

from __future__ import annotations

from django.db import NotSupportedError
from django.db.migrations.operations import AddIndex, RemoveIndex


def _concurrently(schema_editor, operation) -> bool:
    """Whether to build or drop CONCURRENTLY: on PostgreSQL, outside a transaction (refused inside one)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return False
    if connection.in_atomic_block:
        raise NotSupportedError(
            f"{type(operation).__name__} builds CONCURRENTLY on PostgreSQL, which cannot run "
            "inside a transaction: set atomic = False on the migration"
        )
    return True


def _create(schema_editor, model, index) -> None:
    """CREATE INDEX CONCURRENTLY, after dropping what an interrupted build of the same index left INVALID; an
    index of that name already built on this table is kept (the migration is running again)."""
    if not schema_editor.collect_sql:  # sqlmigrate shows the statement as a first run makes it
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid, indrelid = to_regclass(%s) FROM pg_index "
                "WHERE indexrelid = to_regclass(%s)",
                [schema_editor.quote_name(model._meta.db_table), schema_editor.quote_name(index.name)],
            )
            found = cursor.fetchone()
        if found == (True, True):
            return
        if found is not None and not found[0]:
            schema_editor.remove_index(model, index, concurrently=True)
    schema_editor.add_index(model, index, concurrently=True)


class AddIndexConcurrently(AddIndex):
    """AddIndex, built without blocking writes on PostgreSQL (CREATE INDEX CONCURRENTLY; `atomic = False`)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _concurrently(schema_editor, self):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _create(schema_editor, model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not _concurrently(schema_editor, self):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class RemoveIndexConcurrently(RemoveIndex):
    """RemoveIndex, dropped without blocking the table on PostgreSQL (DROP INDEX CONCURRENTLY; `atomic = False`);
    put back the same way."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _concurrently(schema_editor, self):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not _concurrently(schema_editor, self):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _create(
                schema_editor,
                model,
                to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name),
            )

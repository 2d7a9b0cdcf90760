"""One case per 12345 ticket, held by the database: a unique index over the tickets of hotline cases that are not
refused or voided (`models.ticket_held`, the set the repeat check `intake._ticket_unused` asks about). Two desks
registering the same ticket at once both passed the check before either had written; now the second INSERT is
refused and intake answers it with the check's 409.

Duplicates already stored (registered twice before this index, or typed full width before migration 0014 made
them one ticket) do not stop the migration and are not changed: in each group of hotline cases holding the same
ticket, the earliest (lowest id) is the ticket's case and the index covers it; the later ones are left out of the
index by their ids (its condition gains `AND NOT id IN (…)` in the database; the model's constraint, which new
rows meet, does not name them). They are logged (warning, logger `civicgrid.migrations`) with their numbers, for
the command centre to void or merge; the repeat check still sees them, so their ticket cannot be registered a
third time. On a database without duplicates (every new one) the index is exactly the model's.

On PostgreSQL the index is built CONCURRENTLY (reports go on meanwhile; hence `atomic = False`). A build that
fails (interrupted, or a running web process of the old code registered a ticket twice during it) leaves an
INVALID index, which the migration drops and builds again when it is run again; a valid one (on SQLite, any) is
kept.
"""

import logging

from django.db import migrations, models

log = logging.getLogger("civicgrid.migrations")

# `models.ticket_held()`, frozen here as migrations must not import the live models.
HELD = (models.Q(source="hotline") & ~models.Q(hotline_ticket="") & ~models.Q(status="refused")
        & ~models.Q(status="voided"))
NAME = "cases_hotline_ticket_once"


def later_duplicates(Case) -> list[tuple[int, str, str]]:
    """(id, number, ticket) of every held case whose ticket an earlier held case already holds."""
    tickets = (Case.objects.filter(HELD).values("hotline_ticket").annotate(n=models.Count("pk"))
               .filter(n__gt=1).values_list("hotline_ticket", flat=True))
    rows = Case.objects.filter(HELD, hotline_ticket__in=list(tickets)).order_by("hotline_ticket", "pk")
    found, seen = [], set()
    for pk, number, ticket in rows.values_list("pk", "number", "hotline_ticket"):
        if ticket in seen:
            found.append((pk, number, ticket))
        seen.add(ticket)
    return found


class AddTicketConstraint(migrations.AddConstraint):
    """The model's unique constraint, built CONCURRENTLY on PostgreSQL and leaving out duplicates already stored."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        constraint = self.constraint
        if not schema_editor.collect_sql:
            kept = later_duplicates(model)
            if kept:
                log.warning("cases: %d hotline case(s) repeat a ticket an earlier case holds; kept, and left out of "
                            "the unique index %s: %s", len(kept), NAME,
                            ", ".join(f"{number} ({ticket})" for _, number, ticket in kept))
                constraint = models.UniqueConstraint(fields=["hotline_ticket"], name=NAME,
                                                     condition=HELD & ~models.Q(pk__in=[pk for pk, _, _ in kept]))
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            if not schema_editor.collect_sql:
                with connection.cursor() as cursor:
                    if NAME in connection.introspection.get_constraints(cursor, model._meta.db_table):
                        return  # built by an earlier run of this migration
            schema_editor.add_constraint(model, constraint)
            return
        if not schema_editor.collect_sql:
            with connection.cursor() as cursor:
                cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                               [schema_editor.quote_name(NAME)])
                found = cursor.fetchone()
            if found is not None and found[0]:
                return  # built by an earlier run of this migration
            if found is not None:
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(NAME)}")
        sql = str(constraint.create_sql(model, schema_editor))
        schema_editor.execute(sql.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1), params=None)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0016_step_key_idx'),
    ]

    operations = [
        AddTicketConstraint(
            model_name='case',
            constraint=models.UniqueConstraint(condition=HELD, fields=('hotline_ticket',), name=NAME),
        ),
    ]

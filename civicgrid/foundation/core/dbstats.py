"""Planner statistics after bulk writes (the demo load, large imports).

Without statistics SQLite's planner guesses which index is selective (a region-code range over the whole
district looks as good as a day's range of report times), and PostgreSQL's autovacuum may not have analysed a
table filled a second ago. After a bulk load we therefore:

* SQLite: `ANALYZE` (bounded by `PRAGMA analysis_limit`, so it samples instead of reading every row of every
  index: milliseconds, not minutes) on the loaded tables or the whole file, then `PRAGMA optimize`;
* PostgreSQL: `ANALYZE` on the loaded tables (or the whole database).

`refresh_statistics()` never fails the load it follows: statistics are an optimisation, so an error is logged.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, connections

log = logging.getLogger(__name__)
ANALYSIS_LIMIT = 1000  # rows SQLite samples per index (`PRAGMA analysis_limit`); 0 would read them all
BIG_IMPORT_ROWS = 5000  # an import of at least this many rows refreshes its table's statistics


def big_import_rows() -> int:
    return int(getattr(settings, "CIVICGRID_ANALYZE_AFTER_ROWS", BIG_IMPORT_ROWS))


def refresh_statistics(models=(), *, using: str = "default") -> float | None:
    """Update the planner's statistics for `models`' tables (all tables when none are given); returns the
    seconds it took, or None when the database is neither SQLite nor PostgreSQL or the refresh failed."""
    connection = connections[using]
    qn = connection.ops.quote_name
    tables = [qn(m._meta.db_table) for m in models]
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                limit = int(getattr(settings, "CIVICGRID_SQLITE_ANALYSIS_LIMIT", ANALYSIS_LIMIT))
                cursor.execute(f"PRAGMA analysis_limit = {max(limit, 0)}")
                for statement in [f"ANALYZE {t}" for t in tables] or ["ANALYZE"]:
                    cursor.execute(statement)
                cursor.execute("PRAGMA optimize")
            elif connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {', '.join(tables)}" if tables else "ANALYZE")
            else:
                return None
    except DatabaseError:
        log.exception("could not refresh the planner statistics of %s", ", ".join(tables) or "the database")
        return None
    seconds = time.perf_counter() - started
    log.info("planner statistics refreshed for %s in %.2f s", ", ".join(tables) or "every table", seconds)
    return seconds

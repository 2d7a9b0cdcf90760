"""The database away while the web serves: the server cannot reach it (refused, closed, restarting), it refuses
service (too many connections, shutting down), or SQLite cannot open, read or lock its file in time. Every
request then answers 503 with `Retry-After`, in the form its caller reads (`ui.errors`: the page in Chinese
first, the API's JSON error, the GeoReport error list, /healthz), instead of an "internal server error" and a
traceback per request. The log says so once per incident, then once a minute while it lasts, and once when
the database answers again. The connection is closed, so the next request connects afresh: a database that
comes back is used without restarting the process.

Only these errors count (`unavailable`): a ProgrammingError, an IntegrityError, a missing table or any other
bug stays the 500 it is.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger("civicgrid.dbdown")

RETRY_AFTER = 30  # seconds the caller is asked to wait (the header `Retry-After`)
REMIND_EVERY = 60.0  # seconds between two log lines of one incident

# SQLite's own words for a file it cannot open, read, write or lock (after its busy timeout).
SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "disk i/o error",
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "readonly database",
    "database or disk is full",
)
# PostgreSQL SQLSTATE prefixes: connection exception, insufficient resources (too many connections, disk full,
# out of memory), operator intervention (shut down, restarting; not 57014, a cancelled statement), system error.
PG_UNAVAILABLE = ("08", "53", "57P", "58")
# Words of a connection failure when the driver's error is not at hand.
MESSAGES = (
    "connection refused",
    "could not connect",
    "connection failed",
    "server closed the connection",
    "connection is closed",
    "connection already closed",
    "connection is lost",
    "too many connections",
    "terminating connection",
    "the database system is",
    "timeout expired",
    *SQLITE_UNAVAILABLE,
)

PAGE_TITLE = "数据库暂时无法连接"
DETAIL = "数据库暂时无法连接，请稍后再试 / the database is unavailable, please try again later"


def unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` says the database cannot be reached or refuses service (not a bug in a query)."""
    if not isinstance(exc, (OperationalError, InterfaceError, sqlite3.OperationalError)):
        return False
    cause = exc if isinstance(exc, sqlite3.Error) else exc.__cause__
    if isinstance(cause, sqlite3.Error):
        text = str(cause).lower()
        return any(words in text for words in SQLITE_UNAVAILABLE)
    if cause is not None and type(cause).__module__.startswith("psycopg"):
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        # No SQLSTATE: the client library's own error (refused, closed, lost): the connection itself failed.
        return not state or state.startswith(PG_UNAVAILABLE)
    if isinstance(exc, InterfaceError):
        return True
    text = str(exc).lower()
    return any(words in text for words in MESSAGES)


def reset_connections() -> None:
    """Close the connections outside a transaction, so the next request connects again (Django's own end of
    request does the same for an unusable connection; this does not wait for it). One inside a transaction
    is left to the rollback that ends it."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None or conn.in_atomic_block:
            continue
        try:
            conn.close()
        except Exception:  # a connection already gone: forgotten all the same
            conn.connection = None


class _Incident:
    """One run of refused requests: its first line, a reminder every `REMIND_EVERY`, a line when it ends."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.since = self.logged = 0.0

    def refused(self, exc: BaseException, where: str) -> None:
        now = time.monotonic()
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
        with self.lock:
            self.count += 1
            if self.count == 1:
                self.since = self.logged = now
                log.error("database unavailable (%s): %s; answering 503 with Retry-After %ds until it is back",
                          where, reason, RETRY_AFTER)
            elif now - self.logged >= REMIND_EVERY:
                self.logged = now
                log.error("database still unavailable: %d requests answered 503 in %.0fs, last: %s", self.count,
                          now - self.since, reason)

    def served(self) -> None:
        if not self.count:  # the usual case: no lock taken
            return
        with self.lock:
            if self.count:
                log.warning("database available again after %d requests answered 503 in %.0fs", self.count,
                            time.monotonic() - self.since)
                self.count = 0


incident = _Incident()


def refused(exc: BaseException, where: str) -> None:
    """A request refused for `exc`: logged (once per incident, see `_Incident`), connections reset."""
    incident.refused(exc, where)
    reset_connections()


def retry_after(response):
    """Mark a 503 answer: Retry-After, not cached, and not logged again by Django (a line per request, or the
    traceback of each: the incident's lines say it)."""
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    response.database_unavailable = True
    response._has_been_logged = True
    return response

"""Races for the PostgreSQL concurrency tests: callables run in threads that start together, each on its own
database connection (closed when it ends), and `POSTGRES_RACE`, the marks such a test module carries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest
from django.conf import settings
from django.db import connections

from .browser import BROWSER_APPS

# A race test's module: `pytestmark = POSTGRES_RACE`. Real transactions (the threads' connections see each
# other's commits), only on PostgreSQL (SQLite serialises writers, so there is no race to test), and the
# append-only audit table, which the flush after a transactional test leaves out, emptied afterwards
# (the `purge_audit_rows` fixture, conftest.py).
POSTGRES_RACE = [
    pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS),
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="the race needs concurrent writers"),
    pytest.mark.usefixtures("purge_audit_rows"),
]


def race(funcs: Sequence[Callable[[], object]], *, timeout: float = 120) -> list:
    """Run each callable in its own thread, all released at once; their results (or the exception each
    raised) in the order given."""
    barrier = threading.Barrier(len(funcs))
    results: list = [None] * len(funcs)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = funcs[i]()
        except Exception as exc:  # handed back to the test, which asserts on it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(funcs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results


def race_same(func: Callable[[int], object], threads: int, *, timeout: float = 60) -> list:
    """`func(0)` … `func(threads - 1)` raced against each other (see `race`)."""
    return race([lambda i=i: func(i) for i in range(threads)], timeout=timeout)

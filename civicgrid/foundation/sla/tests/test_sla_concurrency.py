"""The sweep racing the services on PostgreSQL (real transactions on several connections): every late clock
gets exactly one breach, whether the sweep or a late stop publishes it. SQLite serialises writers, so the
same code is trivially exact there; these tests run where the race is real."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.concurrency import POSTGRES_RACE, race

pytestmark = POSTGRES_RACE
CLOCKS = 60
STOPPERS = 4


def _run_together(funcs) -> list:
    """The exceptions the raced callables raised."""
    return [r for r in race(funcs) if isinstance(r, Exception)]


def _per_clock(topic: str) -> Counter:
    return Counter(p["clock_id"] for p in OutboxEvent.objects.filter(topic=topic).values_list("payload", flat=True))


def test_late_stops_racing_the_sweep_publish_each_breach_once():
    started = timezone.now() - timedelta(hours=2)
    targets = [("cases.case", str(n)) for n in range(CLOCKS)]
    ids = [sla.start_clock(target=t, kind="case.handle", limit=("natural_hours", 1), at=started).pk
           for t in targets]

    def sweeper():
        for _ in range(20):
            sweep()

    def stopper(share):
        def stop_all():
            for target in targets[share::STOPPERS]:
                sla.stop_clock(target=target, kind="case.handle")
        return stop_all

    errors = _run_together([sweeper, sweeper] + [stopper(i) for i in range(STOPPERS)])
    assert errors == []
    sweep()
    assert _per_clock("sla.breached") == Counter(dict.fromkeys(ids, 1))
    assert set(_per_clock("sla.warning").values()) <= {1}  # a clock stopped before any sweep is not warned


def test_backdated_starts_racing_the_sweep_publish_each_event_once():
    started = timezone.now() - timedelta(hours=2)
    ids: list[int] = []

    def sweeper():
        for _ in range(20):
            sweep()

    def starter(share):
        def start_all():
            for n in range(share, CLOCKS, STOPPERS):
                ids.append(sla.start_clock(target=("cases.case", str(n)), kind="case.handle",
                                           limit=("natural_hours", 1), at=started).pk)
        return start_all

    errors = _run_together([sweeper, sweeper] + [starter(i) for i in range(STOPPERS)])
    assert errors == []
    sweep()
    assert len(ids) == CLOCKS
    assert _per_clock("sla.warning") == Counter(dict.fromkeys(ids, 1))
    assert _per_clock("sla.breached") == Counter(dict.fromkeys(ids, 1))

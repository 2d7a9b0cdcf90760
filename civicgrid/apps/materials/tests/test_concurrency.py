"""Concurrent draws on PostgreSQL (real transactions on several connections): stock never goes negative, the
ledger adds up, and opposite transfers do not deadlock. SQLite serialises writers (IMMEDIATE transactions), so
the same code is trivially safe there; these tests run where the race is real."""

from __future__ import annotations

from django.db import connection
from django.db.models import Sum

from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import Movement, StockLot
from civicgrid.apps.materials.services.stock import balance
from civicgrid.foundation.core.errors import Conflict
from civicgrid.testing.concurrency import POSTGRES_RACE, race_same

pytestmark = POSTGRES_RACE
THREADS = 6


def _race(func) -> list:
    return race_same(func, THREADS)


def test_concurrent_draws_never_take_stock_below_zero(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=1000, batch="A",
                     reason="入库")
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=500, batch="B",
                     reason="入库")
    # Six draws of 400 against 1,500: exactly three can succeed.
    results = _race(lambda i: services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=400,
                                            reason=f"并发出库{i}"))
    ok = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(ok) == 3 and len(refused) == 3, results
    assert balance(depot.street.pk, depot.sandbag.pk) == 300
    assert not StockLot.objects.filter(quantity__lt=0).exists()
    total = Movement.objects.filter(warehouse=depot.street, item=depot.sandbag).aggregate(s=Sum("quantity"))["s"]
    assert total == 300
    assert connection.vendor == "postgresql"


def test_opposite_transfers_at_once_do_not_deadlock(depot):
    services.receive(actor=depot.centre, warehouse=depot.street, item="pump", quantity=30, reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.other, item="pump", quantity=30, reason="入库")

    def move(i):
        src, dst = (depot.street, depot.other) if i % 2 else (depot.other, depot.street)
        return services.transfer(actor=depot.centre, source=src, destination=dst, item="pump", quantity=5,
                                 reason=f"互调{i}")

    results = _race(move)
    assert all(isinstance(r, list) for r in results), results
    assert balance(depot.street.pk, depot.pump.pk) + balance(depot.other.pk, depot.pump.pk) == 60
    assert balance(depot.street.pk, depot.pump.pk) == 30

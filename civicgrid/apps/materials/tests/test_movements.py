"""Movements keep stock exact and never negative; a refused movement changes nothing; transfers are atomic."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import Condition, Movement, MovementKind, StockLot
from civicgrid.apps.materials.services.stock import balance
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent

from .conftest import quantities, state

pytestmark = pytest.mark.django_db


def test_in_out_issue_keep_the_balance_exact_and_audited(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=1000, reason="采购入库")
    services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=300, reason="加固堤防")
    rows = services.issue_to_incident(actor=depot.staff, warehouse=depot.street.pk, item=depot.sandbag, quantity=200,
                                      incident_ref="XQ-2026-001", note="御河东路积水点")
    assert balance(depot.street.pk, depot.sandbag.pk) == 500
    assert [r.kind for r in rows] == [MovementKind.ISSUE] and rows[0].incident_ref == "XQ-2026-001"
    assert rows[0].balance_after == 500 and rows[0].quantity == -200
    ledger = Movement.objects.filter(warehouse=depot.street).aggregate(s=Sum("quantity"))["s"]
    assert ledger == 500  # the movements add up to the stock
    actions = list(AuditEntry.objects.filter(target_type="materials.warehouse").values_list("action", flat=True))
    assert sorted(actions) == ["materials.draw", "materials.issue", "materials.receive"]
    entry = AuditEntry.objects.get(action="materials.issue")
    assert entry.actor == depot.staff and entry.data["reason"] == "御河东路积水点"
    assert entry.before["balance"] == 700 and entry.after["balance"] == 500
    assert OutboxEvent.objects.filter(topic="materials.moved").count() == 3


def test_drawing_more_than_there_is_is_refused_and_changes_nothing(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=3, reason="入库")
    before = state()
    with pytest.raises(Conflict) as exc:
        services.draw(actor=depot.staff, warehouse=depot.street, item="pump", quantity=4, reason="抽排")
    assert "库存不足" in exc.value.message
    assert state() == before
    assert quantities(depot.street, depot.pump) == {("", "good"): 3}


@pytest.mark.parametrize("bad", [0, -5, "abc", 1.5, None, 10**13])
def test_bad_quantities_are_refused(depot, bad):
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=3, reason="入库")
    before = state()
    with pytest.raises(ValidationFailed):
        services.draw(actor=depot.staff, warehouse=depot.street, item="pump", quantity=bad, reason="抽排")
    with pytest.raises(ValidationFailed):
        services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=bad, reason="x")
    assert state() == before


def test_a_reason_is_required_and_unknown_items_are_refused(depot):
    before = state()
    with pytest.raises(ValidationFailed):
        services.draw(actor=depot.staff, warehouse=depot.street, item="pump", quantity=1, reason="  ")
    with pytest.raises(ValidationFailed):
        services.receive(actor=depot.staff, warehouse=depot.street, item="nope", quantity=1, reason="入库")
    assert state() == before


def test_the_database_refuses_a_negative_lot(depot):
    from django.db import IntegrityError, transaction

    lot = StockLot(warehouse=depot.street, item=depot.pump, quantity=1)
    lot.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLot.objects.filter(pk=lot.pk).update(quantity=-1)


def test_first_expiry_first_and_expired_lots_are_not_drawn_unless_named(depot):
    today = timezone.localdate()
    receive = services.receive
    receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="B-old",
            expiry_date=today - timedelta(days=1), reason="入库")
    receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="B-late",
            expiry_date=today + timedelta(days=300), reason="入库")
    receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="B-soon",
            expiry_date=today + timedelta(days=20), reason="入库")
    rows = services.draw(actor=depot.staff, warehouse=depot.street, item="water", quantity=15, reason="转移安置点")
    assert [(r.lot.batch, r.quantity) for r in rows] == [("B-soon", -10), ("B-late", -5)]
    with pytest.raises(Conflict):
        services.draw(actor=depot.staff, warehouse=depot.street, item="water", quantity=6, reason="再领")
    services.draw(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="B-old",
                  reason="过期报损出库")
    assert quantities(depot.street, depot.water) == {("B-old", "good"): 0, ("B-late", "good"): 5,
                                                     ("B-soon", "good"): 0}


def test_transfer_moves_both_sides_in_one_transaction(depot):
    services.receive(actor=depot.centre, warehouse=depot.district, item="pump", quantity=10, batch="2026",
                     reason="入库")
    rows = services.transfer(actor=depot.centre, source=depot.district, destination=depot.street, item="pump",
                             quantity=4, reason="汛前前置")
    assert {r.kind for r in rows} == {MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN}
    assert len({r.transfer_ref for r in rows}) == 1
    assert quantities(depot.district, depot.pump) == {("2026", "good"): 6}
    assert quantities(depot.street, depot.pump) == {("2026", "good"): 4}
    before = state()
    with pytest.raises(Conflict):
        services.transfer(actor=depot.centre, source=depot.district, destination=depot.street, item="pump",
                          quantity=7, reason="再调")
    assert state() == before


def test_a_transfer_failing_halfway_leaves_both_warehouses_as_they_were(depot, monkeypatch):
    """The destination side fails after the source side was written: the whole transfer rolls back."""
    from civicgrid.apps.materials.services import stock

    services.receive(actor=depot.centre, warehouse=depot.district, item="pump", quantity=10, reason="入库")
    before = state()
    real_put = stock._put

    def failing_put(lot, quantity):
        if lot.warehouse_id == depot.street.pk:
            raise RuntimeError("disk full")
        return real_put(lot, quantity)

    monkeypatch.setattr(stock, "_put", failing_put)
    with pytest.raises(RuntimeError):
        services.transfer(actor=depot.centre, source=depot.district, destination=depot.street, item="pump",
                          quantity=4, reason="汛前前置")
    assert state() == before


def test_scope_and_capability_of_movements(depot):
    services.receive(actor=depot.centre, warehouse=depot.district, item="pump", quantity=5, reason="入库")
    services.receive(actor=depot.other_staff, warehouse=depot.other, item="pump", quantity=5, reason="入库")
    before = state()
    # Another street's warehouse does not exist for this user; the district one is theirs to see, not to move.
    with pytest.raises(NotFound):
        services.draw(actor=depot.staff, warehouse=depot.other, item="pump", quantity=1, reason="x")
    with pytest.raises(PermissionDenied):
        services.draw(actor=depot.staff, warehouse=depot.district, item="pump", quantity=1, reason="x")
    with pytest.raises(PermissionDenied):  # grid workers see stock but do not move it
        services.receive(actor=depot.worker, warehouse=depot.community, item="pump", quantity=1, reason="x")
    with pytest.raises(PermissionDenied):  # community staff: their community only, not the street's
        services.receive(actor=depot.community_staff, warehouse=depot.street, item="pump", quantity=1, reason="x")
    assert state() == before
    # The department running the district warehouse moves its stock; community staff their community's.
    services.draw(actor=depot.handler, warehouse=depot.district, item="pump", quantity=1, reason="抽排")
    services.receive(actor=depot.community_staff, warehouse=depot.community, item="pump", quantity=2, reason="入库")
    # A transfer from the district into another street: the destination needs only to be visible.
    services.transfer(actor=depot.centre, source=depot.district, destination=depot.other, item="pump", quantity=2,
                      reason="支援古城")
    assert balance(depot.other.pk, depot.pump.pk) == 7


def test_condition_change_moves_units_between_good_and_repair(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=5, reason="入库")
    services.change_condition(actor=depot.staff, warehouse=depot.street, item="pump", quantity=2,
                              to_condition=Condition.REPAIR, reason="抽排后电机损坏")
    assert quantities(depot.street, depot.pump) == {("", "good"): 3, ("", "repair"): 2}
    assert balance(depot.street.pk, depot.pump.pk) == 5
    with pytest.raises(Conflict):
        services.draw(actor=depot.staff, warehouse=depot.street, item="pump", quantity=4, reason="抽排")

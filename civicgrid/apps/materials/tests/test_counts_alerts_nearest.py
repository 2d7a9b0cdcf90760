"""Stock counts adjust stock all-or-nothing; shortage and expiry alerts; the nearest warehouses in order."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from civicgrid.apps.materials import selectors, services
from civicgrid.apps.materials.models import Movement, MovementKind, StockCount, StockTarget, Warehouse
from civicgrid.apps.materials.services.stock import balance
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.foundation.notify.models import Notification

from .conftest import quantities, state

pytestmark = pytest.mark.django_db


# ---- stock counts ------------------------------------------------------------------------------------------

def test_a_count_adjusts_stock_and_records_movements(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=500, reason="入库")
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=4, reason="入库")
    count = services.start_count(actor=depot.staff, warehouse=depot.street, note="汛前盘点")
    lines = {line.item.code: line for line in count.lines.select_related("item")}
    assert {k: v.expected for k, v in lines.items()} == {"sandbag": 500, "pump": 4}
    # Meanwhile 100 sandbags go out: the count corrects only what it found.
    services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=100, reason="加固")
    services.enter_counts(actor=depot.staff, count=count, lines=[
        {"line": lines["sandbag"].pk, "counted": 480}, {"line": lines["pump"].pk, "counted": 4},
        {"item": "water", "batch": "W1", "counted": 12}])
    count.refresh_from_db()
    diffs = {line.item.code: line.difference for line in count.lines.select_related("item")}
    assert diffs == {"sandbag": -20, "pump": 0, "water": 12}
    services.confirm_count(actor=depot.staff, count=count)
    count.refresh_from_db()
    assert count.status == StockCount.Status.CONFIRMED and count.confirmed_by == depot.staff
    assert balance(depot.street.pk, depot.sandbag.pk) == 380
    assert quantities(depot.street, depot.water) == {("W1", "good"): 12}
    adjustments = Movement.objects.filter(count=count, kind=MovementKind.ADJUST)
    assert sorted(adjustments.values_list("item__code", "quantity")) == [("sandbag", -20), ("water", 12)]
    with pytest.raises(Conflict):  # closed
        services.enter_counts(actor=depot.staff, count=count, lines=[{"line": lines["pump"].pk, "counted": 1}])


def test_a_count_with_uncounted_lines_or_a_negative_result_changes_nothing(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=50, reason="入库")
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=4, reason="入库")
    count = services.start_count(actor=depot.staff, warehouse=depot.street)
    lines = {line.item.code: line for line in count.lines.select_related("item")}
    services.enter_counts(actor=depot.staff, count=count, lines=[{"line": lines["pump"].pk, "counted": 1}])
    before = state()
    with pytest.raises(ValidationFailed):
        services.confirm_count(actor=depot.staff, count=count)
    assert state() == before
    # Counted 10 of 50 while 45 went out meanwhile: the loss of 40 would leave −35.
    services.enter_counts(actor=depot.staff, count=count, lines=[{"line": lines["sandbag"].pk, "counted": 10}])
    services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=45, reason="加固")
    before = state()
    with pytest.raises(Conflict):
        services.confirm_count(actor=depot.staff, count=count)
    assert state() == before
    # Bad entries: none of the batch is saved.
    with pytest.raises(ValidationFailed) as exc:
        services.enter_counts(actor=depot.staff, count=count, lines=[
            {"line": lines["pump"].pk, "counted": 3}, {"line": lines["sandbag"].pk, "counted": -1}])
    assert exc.value.details[0]["row"] == 2
    assert state() == before
    # One open count per warehouse; others may not count here.
    with pytest.raises(Conflict):
        services.start_count(actor=depot.staff, warehouse=depot.street)
    with pytest.raises(PermissionDenied):
        services.start_count(actor=depot.worker, warehouse=depot.community)
    services.cancel_count(actor=depot.staff, count=count, reason="重新盘点")
    assert StockCount.objects.get(pk=count.pk).status == StockCount.Status.CANCELLED


# ---- shortage and expiry alerts ----------------------------------------------------------------------------

def test_a_movement_dropping_a_street_below_its_target_alerts_the_street(depot):
    target = services.set_target(actor=depot.centre, street="140213050", item="sandbag", min_quantity=2000)
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=1500, reason="入库")
    services.receive(actor=depot.community_staff, warehouse=depot.community, item="sandbag", quantity=600,
                     reason="入库")
    assert selectors.target_status(depot.centre) == []  # 2,100 ≥ 2,000
    assert not Notification.objects.filter(kind="materials_shortage").exists()
    services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=50, reason="加固")
    assert not Notification.objects.filter(kind="materials_shortage").exists()  # 2,050: still enough
    services.issue_to_incident(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=100,
                               incident_ref="XQ-7")
    told = set(Notification.objects.filter(kind="materials_shortage").values_list("user_id", flat=True))
    assert {depot.staff.pk, depot.centre.pk} <= told
    assert depot.other_staff.pk not in told and depot.worker.pk not in told
    note = Notification.objects.filter(kind="materials_shortage", user=depot.staff).get()
    assert "1950" in note.body and "2000" in note.body
    short = selectors.target_status(depot.staff)
    assert [(s.target.pk, s.held, s.missing) for s in short] == [(target.pk, 1950, 50)]
    assert selectors.target_status(depot.other_staff) == []  # another street's targets are not theirs
    # Further draws below the target do not repeat the alert.
    services.draw(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=10, reason="加固")
    assert Notification.objects.filter(kind="materials_shortage", user=depot.staff).count() == 1


def test_targets_are_managed_within_scope(depot):
    before = state()
    with pytest.raises(PermissionDenied):
        services.set_target(actor=depot.staff, street="140213051", item="sandbag", min_quantity=10)
    with pytest.raises(ValidationFailed):
        services.set_target(actor=depot.centre, street="140213050001", item="sandbag", min_quantity=10)
    with pytest.raises(PermissionDenied):
        services.save_item(actor=depot.staff, code="boat", name="冲锋舟", unit="艘", group="lifesaving", grade="A")
    assert state() == before
    services.set_target(actor=depot.staff, street="140213050", item="pump", min_quantity=10)
    assert StockTarget.objects.get(item=depot.pump).min_quantity == 10
    services.save_item(actor=depot.centre, code="boat", name="冲锋舟", unit="艘", group="lifesaving", grade="A")


def test_expiring_lots_are_listed_and_their_keepers_told_once(depot):
    today = timezone.localdate()
    services.receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="W-soon",
                     expiry_date=today + timedelta(days=10), reason="入库")
    services.receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="W-late",
                     expiry_date=today + timedelta(days=200), reason="入库")
    assert [lot.batch for lot in selectors.expiring(depot.staff, days=30)] == ["W-soon"]
    assert list(selectors.expiring(depot.other_staff, days=30)) == []
    sent = services.notify_expiring(days=30)
    assert sent >= 2 and services.notify_expiring(days=30) == 0


# ---- the nearest warehouses ----------------------------------------------------------------------------------

def _stock_pumps(depot):
    for wh, n in ((depot.district, 20), (depot.street, 5), (depot.community, 2), (depot.other, 8)):
        services.receive(actor=depot.centre, warehouse=wh, item="pump", quantity=n, reason="入库")


def test_nearest_warehouses_in_order_of_distance_with_enough_stock(depot):
    _stock_pumps(depot)
    # A point next to the community store (40.02, 113.22): community, street, district, other street.
    found = selectors.nearest_warehouses(40.021, 113.221, "pump", min_quantity=1, limit=5)
    assert [n.code for n in found] == ["WH-050001", "WH-050", "WH-D", "WH-051"]
    assert found[0].distance_m == pytest.approx(140.5, abs=2)  # 0.001° lat ≈ 111 m, 0.001° lng ≈ 85 m at 40°N
    assert [n.distance_m for n in found] == sorted(n.distance_m for n in found)
    assert found[1].available == 5
    # At least 6 pumps: only the district and the other street hold that many.
    assert [n.code for n in selectors.nearest_warehouses(40.021, 113.221, "pump", 6)] == ["WH-D", "WH-051"]
    assert [n.code for n in selectors.nearest_warehouses(40.021, 113.221, "pump", 6, limit=1)] == ["WH-D"]
    assert selectors.nearest_warehouses(40.021, 113.221, "pump", 21) == []
    # A point in the other street: its own warehouse first.
    assert selectors.nearest_warehouses(40.04, 113.33, "pump", 1)[0].code == "WH-051"


def test_nearest_respects_scope_usable_stock_and_inactive_warehouses(depot):
    _stock_pumps(depot)
    codes = [n.code for n in selectors.nearest_warehouses(40.021, 113.221, "pump", 1, user=depot.staff)]
    assert codes == ["WH-050001", "WH-050", "WH-D"]  # not the other street's
    services.change_condition(actor=depot.centre, warehouse=depot.community, item="pump", quantity=2,
                              to_condition="repair", reason="损坏")
    Warehouse.objects.filter(pk=depot.street.pk).update(is_active=False)
    assert [n.code for n in selectors.nearest_warehouses(40.021, 113.221, "pump", 1, user=depot.staff)] == ["WH-D"]
    with pytest.raises(ValidationFailed):
        selectors.nearest_warehouses(None, 113.2, "pump", 1)
    with pytest.raises(ValidationFailed):
        selectors.nearest_warehouses(95, 113.2, "pump", 1)


def test_nearest_many_agrees_with_one_at_a_time(depot):
    _stock_pumps(depot)
    rng = np.random.default_rng(7)
    lats, lngs = rng.uniform(40.0, 40.1, 40), rng.uniform(113.2, 113.36, 40)
    idx, dist, rows = selectors.nearest_many(lats, lngs, "pump", 3, limit=2)
    for i in range(len(lats)):
        one = selectors.nearest_warehouses(lats[i], lngs[i], "pump", 3, limit=2)
        assert [rows[j][1] for j in idx[i]] == [n.code for n in one]
        assert np.allclose(dist[i], [n.distance_m for n in one])


def test_the_expiry_alert_command(depot):
    from io import StringIO

    from django.core.management import call_command

    services.receive(actor=depot.staff, warehouse=depot.street, item="water", quantity=10, batch="W-soon",
                     expiry_date=timezone.localdate() + timedelta(days=3), reason="入库")
    out = StringIO()
    call_command("materials_expiry_alerts", "--days", "7", stdout=out)
    assert "已发送临期提醒" in out.getvalue()
    assert Notification.objects.filter(kind="materials_expiry", user=depot.staff).count() == 1

"""Reading the trail: the audit administrator only; filters; CSV/XLSX export that is itself audited."""

import csv
import gc
import io
import sys
import tempfile
from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.export import (
    AuditFilter,
    apply_filter,
    object_types,
    recorded_target_types,
    visible_audit,
)
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import record
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user)[1]}"}


@pytest.fixture
def trail(db):
    old = AuditEntry.objects.create(at=timezone.now() - timedelta(days=40), action="auth.login", actor_name="alice")
    record(actor=None, action="data.changed", target_type="people.resident", target_id="7", data={"x": 1})
    record(actor=None, action="auth.login_failed", data={"username": "bob"}, result="refused")
    record(actor=None, action="config.changed", target_repr="=HYPERLINK(\"http://evil\")")
    return old


def test_only_the_audit_administrator_sees_records(tree, trail):
    auditor = user_with(Role.AUDIT_ADMIN)
    assert visible_audit(auditor).count() == AuditEntry.objects.count()
    for role, kw in [
        (Role.SYSTEM_ADMIN, {}),
        (Role.SECURITY_ADMIN, {}),
        (Role.LEADER, {"region": tree["140213"]}),
        (Role.STREET_STAFF, {"region": tree["140213050"]}),
    ]:
        assert visible_audit(user_with(role, **kw)).count() == 0


def test_filters(trail):
    qs = AuditEntry.objects.all()
    assert apply_filter(qs, AuditFilter(action="auth.")).count() == 2
    assert apply_filter(qs, AuditFilter(action="auth.login")).count() == 1
    assert apply_filter(qs, AuditFilter(actor="alice")).get() == trail
    assert apply_filter(qs, AuditFilter(until=timezone.now() - timedelta(days=1))).get() == trail
    assert apply_filter(qs, AuditFilter(since=timezone.now() - timedelta(days=1))).count() == 3
    assert apply_filter(qs, AuditFilter(target_type="people.resident", target_id="7")).count() == 1
    assert apply_filter(qs, AuditFilter(result="refused")).count() == 1


def test_refused_finds_the_denied_reveals_too(trail):
    """A refused reveal records `denied`, a refused export `refused`: 被拒绝 is one filter for both."""
    denied = record(actor=None, action="data.revealed", target_type="people.resident", target_id="7",
                    data={"field": "id_number"}, result="denied")
    qs = AuditEntry.objects.all()
    assert set(apply_filter(qs, AuditFilter(result="refused")).values_list("action", flat=True)) == {
        "auth.login_failed", "data.revealed"}
    assert apply_filter(qs, AuditFilter(result="denied")).get() == denied
    assert apply_filter(qs, AuditFilter(result="ok")).count() == 3


def test_object_types_offer_every_recorded_type_once(trail):
    # Types that share prefixes, sort next to each other, repeat, or name no model (one since removed); records
    # with no object at all offer nothing.
    for code, times in [("people.resident", 3), ("people.residents", 1), ("people.house", 2), ("cases.case", 1),
                        ("gone.model", 1), ("a.b", 1), ("people.resident ", 1)]:
        for n in range(times):
            record(actor=None, action="data.changed", target_type=code, target_id=str(n))
    recorded = {e.target_type for e in AuditEntry.objects.all() if e.target_type}

    found = recorded_target_types()

    assert sorted(found) == sorted(recorded) and len(found) == len(set(found))
    offered = dict(object_types())
    assert set(offered) == recorded and "" not in offered
    assert offered["gone.model"] == "gone.model" and offered["cases.case"] != "cases.case"


def test_object_types_are_empty_for_a_trail_without_objects(db):
    record(actor=None, action="auth.login")
    assert recorded_target_types() == [] and object_types() == []


def test_api_list_is_for_audit_administrators_only(client, tree, trail):
    auditor = user_with(Role.AUDIT_ADMIN)
    resp = client.get("/api/v1/audit?action=auth.&limit=10", **bearer(auditor))
    assert resp.status_code == 200
    body = resp.json()
    assert body["total"] == 2 and {i["action"] for i in body["items"]} == {"auth.login", "auth.login_failed"}
    for other in (user_with(Role.SECURITY_ADMIN), user_with(Role.SYSTEM_ADMIN),
                  user_with(Role.LEADER, region=tree["140213"])):
        resp = client.get("/api/v1/audit", **bearer(other))
        assert resp.status_code == 403 and "detail" in resp.json()
    assert client.get("/api/v1/audit").status_code == 401


def test_api_rejects_a_bad_time_with_a_message(client, trail):
    auditor = user_with(Role.AUDIT_ADMIN)
    resp = client.get("/api/v1/audit?since=yesterday", **bearer(auditor))
    assert resp.status_code == 422 and resp.json()["detail"]


def test_csv_export_is_audited_and_defused(client, trail):
    auditor = user_with(Role.AUDIT_ADMIN)
    before = AuditEntry.objects.filter(action="audit.exported").count()
    resp = client.get("/api/v1/audit/export?format=csv&action=config.", **bearer(auditor))
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    assert "attachment" in resp["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][0].startswith("编号") and len(rows) == 2
    target = rows[1][[h.split()[0] for h in rows[0]].index("对象")]
    assert target.startswith("'=")  # a spreadsheet will not run it as a formula
    exported = AuditEntry.objects.filter(action="audit.exported")
    assert exported.count() == before + 1
    last = exported.latest("id")
    assert last.actor_id == auditor.pk and last.data["format"] == "csv" and last.data["filter"] == {"action": "config."}


def test_xlsx_export(client, trail):
    from openpyxl import load_workbook

    auditor = user_with(Role.AUDIT_ADMIN)
    resp = client.get("/api/v1/audit/export?format=xlsx", **bearer(auditor))
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) >= 1 + 4


def test_an_xlsx_export_carries_control_characters_as_replacement_marks(client, trail):
    from openpyxl import load_workbook

    record(actor=None, action="config.changed", target_repr="垂直\x0b制表")
    resp = client.get("/api/v1/audit/export?format=xlsx", **bearer(user_with(Role.AUDIT_ADMIN)))
    assert resp.status_code == 200
    cells = [c for row in load_workbook(io.BytesIO(resp.content)).active.iter_rows(values_only=True) for c in row]
    assert "垂直\ufffd制表" in cells


def test_an_xlsx_export_whose_query_fails_leaves_no_workbook_behind(trail, tmp_path, monkeypatch):
    """The query is sent only once the sheet has its header row: when the database refuses it, the error comes
    out as it is, and the half-written workbook leaves nothing for the garbage collector to trip over ("Exception
    ignored in … _write_rows: I/O operation on closed file") and no temporary file."""
    from django.db import DatabaseError, transaction

    from civicgrid.foundation.audit.export import _xlsx

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: ignored.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    refused = AuditEntry.objects.extra(where=["no_such_column = 1"])

    with pytest.raises(DatabaseError), transaction.atomic():
        _xlsx(refused)
    gc.collect()
    assert ignored == [] and list(tmp_path.iterdir()) == []


def test_export_refused_to_others(client, tree, trail):
    security = user_with(Role.SECURITY_ADMIN)
    resp = client.get("/api/v1/audit/export?format=csv", **bearer(security))
    assert resp.status_code == 403
    assert not AuditEntry.objects.filter(action="audit.exported").exists()

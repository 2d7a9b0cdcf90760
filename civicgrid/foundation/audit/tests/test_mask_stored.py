"""Records written before the snapshot policy are masked in storage (migration 0004, `civicgrid
audit_mask_stored`): in batches, once (a masked record is left as it is), recorded, and the append-only triggers
are back for everyone afterwards, also when the rewrite fails half-way."""

from __future__ import annotations

import importlib
import io
import os
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from civicgrid.foundation.audit import remask, service
from civicgrid.foundation.audit.models import AppendOnlyError, AuditEntry
from civicgrid.foundation.audit.service import TEXT, WITHHELD_MARK, mask_value, record

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table
COLUMNS = ("id", "at", "actor_name", "channel", "action", "target_type", "target_id", "target_repr", "before",
           "after", "data")
MIGRATION = importlib.import_module("civicgrid.foundation.audit.migrations.0004_mask_stored_snapshots")

DESCRIPTION = "张三家楼道堆物，电话13912345678"
CASE_AFTER = {"reporter_name": "欧阳明华", "address": "平城区新建北路12号院3号楼2单元501室",
              "description": DESCRIPTION, "title": "楼道堆物", "reporter_phone_masked": "139****5678"}
RESIDENT_AFTER = {"name": "欧阳明华", "birth_date": "1990-01-01", "id_number_masked": "1402**********1234"}


def insert_raw(**values) -> int:
    """A record as it was written before the policy: straight into the table, snapshots in clear."""
    row = {"at": timezone.now(), "actor_name": "老系统", "source_ip": "", "channel": "web", "request_id": "",
           "target_id": "1", "target_repr": "", "region_code": "", "result": "ok", **values}
    json_field = AuditEntry._meta.get_field("after")
    params = [json_field.get_db_prep_value(v, connection) if k in ("before", "after", "data") else v
              for k, v in row.items()]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", params)
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True)[0]


def stored(pk: int) -> dict:
    return dict(zip(COLUMNS, AuditEntry.objects.filter(pk=pk).values_list(*COLUMNS).get(), strict=True))


def stored_all() -> list[tuple]:
    return list(AuditEntry.objects.order_by("id").values_list(*COLUMNS))


def run_migration():
    """The migration's own function, with its historical model, as `migrate` runs it."""
    state = MigrationExecutor(connection).loader.project_state(("audit", "0004_mask_stored_snapshots"))
    MIGRATION.forwards(state.apps, SimpleNamespace(connection=connection))


def raw(sql, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def old_rows():
    case = insert_raw(action="data.changed", target_type="cases.case", target_repr="C20250101001 楼道堆物",
                      before={"reporter_name": "欧阳明华", "description": "张三家楼道堆物"}, after=CASE_AFTER)
    resident = insert_raw(action="data.created", target_type="people.resident", target_repr="欧阳明华",
                          after=RESIDENT_AFTER)
    unknown = insert_raw(action="data.changed", target_type="gone.model", after={"name": "欧阳明华"})
    login = insert_raw(action="auth.login", target_type="", data={"username": "ouyang"})
    # written under the policy: already masked
    masked = record(actor=None, action="data.changed", target_type="cases.case", target_id="2",
                    after=service.shown_snapshot("cases.case", CASE_AFTER)).pk
    return {"case": case, "resident": resident, "unknown": unknown, "login": login, "masked": masked}


def test_the_migration_masks_old_records_in_storage_and_records_how_many(old_rows):
    untouched = {k: stored(old_rows[k]) for k in ("unknown", "login", "masked")}
    run_migration()

    case = stored(old_rows["case"])
    assert case["after"] == {"reporter_name": "欧***", "address": "平城区新建北路12号院3号楼**单元**室",
                             "description": mask_value(TEXT, DESCRIPTION), "title": "楼道堆物",
                             "reporter_phone_masked": "139****5678"}
    assert case["before"] == {"reporter_name": "欧***", "description": mask_value(TEXT, "张三家楼道堆物")}
    assert case["target_repr"] == "C20250101001 楼道堆物" and case["actor_name"] == "老系统"
    resident = stored(old_rows["resident"])
    assert resident["after"] == {"name": "欧***", "birth_date": WITHHELD_MARK, "id_number_masked": "1402**********1234"}
    assert resident["target_repr"] == "欧***"  # masked by the clear name its own snapshot held
    for key, row in untouched.items():
        assert stored(old_rows[key]) == row, key
    # what readers show is what is now stored (nothing left for them to mask)
    for key in ("case", "resident"):
        row = stored(old_rows[key])
        assert service.shown_snapshot(row["target_type"], row["after"]) == row["after"]
    dump = str([row for row in stored_all() if row[0] != old_rows["unknown"]])  # (no model, no policy: as read)
    for clear in ("欧阳明华", "阳明华", "13912345678", "501室", "1990-01-01", "张三"):
        assert clear not in dump

    note = AuditEntry.objects.get(action="audit.remasked")
    assert note.data == {"rewritten": 2} and note.channel == "migration" and note.actor_name == "system"


def test_the_append_only_guard_refuses_changes_afterwards(old_rows):
    run_migration()
    before = stored_all()
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {TABLE} SET target_repr = %s WHERE id = %s", ["tampered", old_rows["case"]])
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [old_rows["resident"]])
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=old_rows["case"]).update(after={})
    assert stored_all() == before


def test_a_second_run_changes_and_records_nothing(old_rows):
    run_migration()
    after_first = stored_all()
    run_migration()
    assert remask.mask_stored() == 0
    assert stored_all() == after_first and AuditEntry.objects.filter(action="audit.remasked").count() == 1


def test_the_command_counts_then_masks_in_batches(old_rows, monkeypatch):
    batches = []
    real = remask._batches
    monkeypatch.setattr(remask, "_batches", lambda *a: (batches.append(len(rows)) or rows for rows in real(*a)))
    out = io.StringIO()
    call_command("audit_mask_stored", "--dry-run", "--batch-size", "2", stdout=out)
    assert "would mask 2 audit records" in out.getvalue()
    assert AuditEntry.objects.filter(action="audit.remasked").count() == 0
    assert stored(old_rows["resident"])["after"] == RESIDENT_AFTER
    batches.clear()
    call_command("audit_mask_stored", "--batch-size", "2", stdout=out)
    assert "masked 2 audit records" in out.getvalue()
    assert batches == [2, 2, 1]  # five records, read two at a time
    assert AuditEntry.objects.get(action="audit.remasked").channel == "command"
    with pytest.raises(CommandError, match="batch-size"):
        call_command("audit_mask_stored", "--batch-size", "0")


def test_a_rewrite_that_fails_half_way_changes_nothing_and_leaves_the_triggers(old_rows, monkeypatch):
    before = stored_all()
    real = remask._masked
    seen = []

    def failing(row):
        seen.append(row[0])
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return real(row)

    monkeypatch.setattr(remask, "_masked", failing)
    with pytest.raises(RuntimeError):
        remask.mask_stored(batch_size=10)
    assert stored_all() == before  # the first record's rewrite rolled back with the rest
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {TABLE} SET target_repr = %s WHERE id = %s", ["tampered", old_rows["case"]])
    assert stored_all() == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="table ownership exists on PostgreSQL only")
def test_a_role_that_does_not_own_the_table_cannot_rewrite_it(old_rows):
    before = stored_all()
    role = f"civicgrid_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")  # rolled back with the test's transaction
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {role}")
        cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"SET ROLE {role}")
    try:
        with pytest.raises(DatabaseError, match="must be owner"):
            remask.mask_stored()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert stored_all() == before

"""Backup and restore round trip on the running database (SQLite online backup, or pg_dump/pg_restore)."""

import os
import stat

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from civicgrid.foundation.access.models import User
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.regions.models import Region
from civicgrid.testing.browser import BROWSER_APPS, purge_test_audit_rows
from civicgrid.testing.builders import small_tree

# Real commits: the restore replaces whole tables. The audit table is left out of the flush (it refuses
# TRUNCATE); its rows are removed by lifting the triggers at the end.
real_db = pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS)


@pytest.fixture
def keys(settings, tmp_path):
    key_file = tmp_path / "secrets" / "keys.json"
    key_file.parent.mkdir()
    key_file.write_text('{"current": "k1", "keys": {"k1": "AAAA"}, "blind_index_key": "AAAA"}')
    settings.CIVICGRID_KEY_FILE = key_file
    return key_file


@pytest.fixture
def clean_audit():
    yield
    purge_test_audit_rows()


@real_db
def test_round_trip(tmp_path, keys, clean_audit):
    small_tree()
    User.objects.create_user("keep-me", password=None)
    record(actor=None, action="config.changed", data={"before": "backup"})
    out = tmp_path / "backups" / "civicgrid.backup"

    call_command("backup", "--out", str(out), "--keys-out", str(tmp_path / "vault" / "keys.json"))
    assert out.exists() and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert (tmp_path / "vault" / "keys.json").read_text() == keys.read_text()
    assert AuditEntry.objects.filter(action="system.backup").count() == 1

    # Change everything the backup holds.
    User.objects.filter(username="keep-me").delete()
    User.objects.create_user("added-later", password=None)
    Region.objects.filter(code="140213050").update(name="改过的名字")
    record(actor=None, action="config.changed", data={"after": "backup"})

    call_command("restore", str(out), "--yes")

    assert User.objects.filter(username="keep-me").exists()
    assert not User.objects.filter(username="added-later").exists()
    assert Region.objects.get(code="140213050").name == "永泰街道"
    assert Region.objects.count() == 15
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["config.changed", "system.backup", "system.restore"]
    # The append-only triggers came back with the data.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")


@real_db
def test_keys_are_never_put_beside_the_backup(tmp_path, keys, clean_audit):
    out = tmp_path / "b" / "db.backup"
    with pytest.raises(CommandError, match="--keys-out"):
        call_command("backup", "--out", str(out))
    with pytest.raises(CommandError, match="next to the data"):
        call_command("backup", "--out", str(out), "--keys-out", str(tmp_path / "b" / "keys.json"))
    assert not out.exists()
    call_command("backup", "--out", str(out), "--without-keys")
    assert out.exists() and not (tmp_path / "b" / "keys.json").exists()
    with pytest.raises(CommandError, match="exists"):
        call_command("backup", "--out", str(out), "--without-keys")


@real_db
def test_restore_needs_yes_and_a_backup_of_this_engine(tmp_path, keys, clean_audit):
    out = tmp_path / "db.backup"
    call_command("backup", "--out", str(out), "--without-keys")
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(out))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all")
    with pytest.raises(CommandError, match="neither"):
        call_command("restore", str(junk), "--yes")


@real_db
def test_restore_puts_keys_back_and_keeps_a_different_key_file(tmp_path, keys, clean_audit):
    out = tmp_path / "db.backup"
    vault = tmp_path / "vault" / "keys.json"
    call_command("backup", "--out", str(out), "--keys-out", str(vault))
    keys.write_text('{"current": "k9", "keys": {"k9": "BBBB"}}')
    call_command("restore", str(out), "--yes", "--keys", str(vault))
    assert keys.read_text() == vault.read_text()
    kept = [p for p in keys.parent.iterdir() if p.name.startswith("keys.json.replaced-")]
    assert len(kept) == 1 and "k9" in kept[0].read_text()
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600

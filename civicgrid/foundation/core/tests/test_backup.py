"""Backup and restore round trip on the running database (SQLite online backup, or pg_dump/pg_restore)."""

import io
import os
import shutil
import stat
import tarfile

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from civicgrid.foundation.access.models import User
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core import heartbeat
from civicgrid.foundation.core import keys as core_keys
from civicgrid.foundation.core.crypto import KeyRing
from civicgrid.foundation.core.management.commands.backup import RESTORE
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify.models import OutgoingMessage
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
    KeyRing.generate(key_file, core_keys.new_key_id())
    settings.CIVICGRID_KEY_FILE = key_file
    core_keys.reset()
    yield key_file
    core_keys.reset()


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    """Each test's own upload dir: a restore replaces it, which must not touch the session's."""
    settings.MEDIA_ROOT = tmp_path / "data" / "uploads"
    return settings.MEDIA_ROOT


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
    other_tar = tmp_path / "other.tar"
    with tarfile.open(other_tar, "w") as tar:
        tar.add(junk, arcname="manifest.json")
    with pytest.raises(CommandError, match="not a civicgrid backup"):
        call_command("restore", str(other_tar), "--yes")


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
    # A second restore within the same second keeps the file it replaces beside the first one kept.
    keys.write_text('{"current": "k8", "keys": {"k8": "CCCC"}}')
    call_command("restore", str(out), "--yes", "--keys", str(vault))
    kept = sorted(p.read_text() for p in keys.parent.iterdir() if p.name.startswith("keys.json.replaced-"))
    assert len(kept) == 2 and "k9" in "".join(kept) and "k8" in "".join(kept)
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600


def _snapshot(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@real_db
def test_restore_refuses_a_key_file_that_cannot_read_the_backup_and_changes_nothing(tmp_path, keys, clean_audit):
    notify.queue_message(channel="sms", to="13812345678", body="已受理")
    before_rotation = tmp_path / "vault1" / "keys.json"
    call_command("backup", "--out", str(tmp_path / "b1.backup"), "--keys-out", str(before_rotation))
    call_command("rotate_keys", "--yes", stdout=io.StringIO(), stderr=io.StringIO())
    notify.queue_message(channel="sms", to="13900000000", body="已办结")
    out, after_rotation = tmp_path / "b2.backup", tmp_path / "vault2" / "keys.json"
    call_command("backup", "--out", str(out), "--keys-out", str(after_rotation))
    User.objects.create_user("added-later", password=None)
    key_file_before = keys.read_bytes()

    # Keys from before the rotation lack the key the backup's newer values name: refused, nothing replaced.
    with pytest.raises(CommandError, match="cannot decrypt.*unknown encryption key id") as refused:
        call_command("restore", str(out), "--yes", "--keys", str(before_rotation))
    assert "notify.OutgoingMessage.to_enc" in str(refused.value) and "Nothing was changed" in str(refused.value)
    assert User.objects.filter(username="added-later").exists() and keys.read_bytes() == key_file_before
    # A fresh data dir without the key file, or with a newly generated one: refused as well.
    keys.unlink()
    with pytest.raises(CommandError, match="no key file"):
        call_command("restore", str(out), "--yes")
    KeyRing.generate(keys, core_keys.new_key_id())
    with pytest.raises(CommandError, match="unknown encryption key id"):
        call_command("restore", str(out), "--yes")
    assert User.objects.filter(username="added-later").exists()
    assert not [p for p in keys.parent.iterdir() if ".replaced-" in p.name]

    call_command("restore", str(out), "--yes", "--keys", str(after_rotation), stdout=io.StringIO())
    assert not User.objects.filter(username="added-later").exists()
    core_keys.reset()
    assert sorted(core_keys.decrypt(m.to_enc, notify.TO_CONTEXT) for m in OutgoingMessage.objects.all()) == [
        "13812345678", "13900000000"]
    # The older backup with the older keys is fine too (every key id it uses is in them).
    call_command("restore", str(tmp_path / "b1.backup"), "--yes", "--keys", str(before_rotation),
                 stdout=io.StringIO())
    assert OutgoingMessage.objects.count() == 1


@real_db
def test_backup_holds_the_uploads_and_restore_puts_them_back(tmp_path, keys, uploads, clean_audit):
    photo = uploads / "cases" / "2026" / "11" / "ab12.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 a photo")
    (uploads / "hazards").mkdir()
    (uploads / "hazards" / "cd34.jpg").write_bytes(b"\xff\xd8 another")
    out = tmp_path / "b" / "civicgrid.backup"
    printed = io.StringIO()
    call_command("backup", "--out", str(out), "--without-keys", stdout=printed)
    assert "uploads included: 2 files" in printed.getvalue()
    with tarfile.open(out) as tar:
        assert {"manifest.json", "database.sqlite3" if connection.vendor == "sqlite" else "database.pgdump",
                "uploads/cases/2026/11/ab12.jpg", "uploads/hazards/cd34.jpg"} <= set(tar.getnames())
    saved = _snapshot(uploads)

    # A restore into a fresh data dir: no uploads at all.
    shutil.rmtree(uploads)
    call_command("restore", str(out), "--yes", stdout=io.StringIO())
    assert _snapshot(uploads) == saved

    # Uploads made after the backup are kept aside, not mixed in nor deleted.
    photo.unlink()
    (uploads / "later.jpg").write_bytes(b"later")
    call_command("restore", str(out), "--yes", stdout=io.StringIO())
    assert _snapshot(uploads) == saved
    aside = [p for p in uploads.parent.iterdir() if p.name.startswith("uploads.replaced-")]
    assert len(aside) == 1 and (aside[0] / "later.jpg").read_bytes() == b"later"
    assert not [p for p in uploads.parent.iterdir() if p.name.startswith(".civicgrid-restore-")]


@real_db
def test_a_database_only_backup_still_restores_and_says_the_uploads_are_not_in_it(tmp_path, keys, uploads,
                                                                                  clean_audit):
    (uploads / "x.jpg").parent.mkdir(parents=True)
    (uploads / "x.jpg").write_bytes(b"x")
    out = tmp_path / "db.backup"
    printed = io.StringIO()
    call_command("backup", "--out", str(out), "--without-keys", "--without-uploads", stdout=printed)
    assert "uploads NOT included" in printed.getvalue()
    with out.open("rb") as fh:  # the bare database file, as earlier versions wrote
        assert fh.read(5) in (b"SQLit", b"PGDMP")
    User.objects.create_user("added-later", password=None)
    printed = io.StringIO()
    call_command("restore", str(out), "--yes", stdout=printed)
    assert not User.objects.filter(username="added-later").exists()
    assert "uploads in" in printed.getvalue() and (uploads / "x.jpg").read_bytes() == b"x"


@real_db
def test_restore_refuses_while_a_worker_reports_itself(tmp_path, keys, clean_audit):
    out = tmp_path / "db.backup"
    call_command("backup", "--out", str(out), "--without-keys", stdout=io.StringIO())
    heartbeat.started("web-1-worker")
    User.objects.create_user("added-later", password=None)
    with pytest.raises(CommandError, match="worker process.*--force"):
        call_command("restore", str(out), "--yes")
    assert User.objects.filter(username="added-later").exists()
    heartbeat.stopped("web-1-worker")
    call_command("restore", str(out), "--yes", stdout=io.StringIO())  # a stopped worker does not count
    heartbeat.started("web-1-worker")
    User.objects.create_user("added-later", password=None)
    call_command("restore", str(out), "--yes", "--force", stdout=io.StringIO())
    assert not User.objects.filter(username="added-later").exists()


def _wait_for(condition, seconds=10.0):
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@real_db
def test_restore_refuses_while_a_web_server_reports_itself_and_names_it(tmp_path, keys, uploads, clean_audit):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.foundation.core.models import WorkerBeat

    (uploads / "x.jpg").parent.mkdir(parents=True)
    (uploads / "x.jpg").write_bytes(b"x")
    out = tmp_path / "db.backup"
    call_command("backup", "--out", str(out), "--without-keys", stdout=io.StringIO())
    User.objects.create_user("added-later", password=None)
    (uploads / "later.jpg").write_bytes(b"later")
    saved = _snapshot(uploads)
    # The heartbeat a web server process starts (config/wsgi.py), here one beat only.
    web = heartbeat.WebBeat(every=3600).start()
    try:
        _wait_for(lambda: WorkerBeat.objects.filter(worker_id=web.beat_id).exists())
        row = WorkerBeat.objects.get(worker_id=web.beat_id)
        assert row.kind == "web" and row.pid == os.getpid()
        assert heartbeat.status().running == 0  # a web process is not a worker (the board's warning stays)
        with pytest.raises(CommandError, match="web server process.*--force") as refused:
            call_command("restore", str(out), "--yes")
        message = str(refused.value)
        assert f"{row.host} pid {os.getpid()} (last seen " in message and "Nothing was changed" in message
        assert User.objects.filter(username="added-later").exists() and _snapshot(uploads) == saved
        assert not [p for p in uploads.parent.iterdir() if p.name != "uploads"]
    finally:
        web.stop()
    assert WorkerBeat.objects.get(worker_id=web.beat_id).stopped_at is not None
    # A web process silent for longer than WEB_STALE_AFTER (killed) does not hold the restore back.
    WorkerBeat.objects.filter(worker_id=web.beat_id).update(
        stopped_at=None, seen_at=timezone.now() - timedelta(seconds=heartbeat.WEB_STALE_AFTER + 5))
    call_command("restore", str(out), "--yes", stdout=io.StringIO())
    assert not User.objects.filter(username="added-later").exists()


@real_db
def test_a_failure_moving_the_uploads_puts_the_database_back(tmp_path, keys, uploads, clean_audit):
    (uploads / "cases").mkdir(parents=True)
    (uploads / "cases" / "ab12.jpg").write_bytes(b"\xff\xd8 a photo")
    out = tmp_path / "b" / "civicgrid.backup"
    call_command("backup", "--out", str(out), "--without-keys", stdout=io.StringIO())
    User.objects.create_user("added-later", password=None)
    # A file in the way where the uploads directory belongs: the database is replaced, then the uploads fail.
    shutil.rmtree(uploads)
    uploads.write_bytes(b"not a directory")
    key_file_before = keys.read_bytes()
    with pytest.raises(CommandError, match="moving the uploads into place.*The database put back as before"):
        call_command("restore", str(out), "--yes", stdout=io.StringIO())
    assert User.objects.filter(username="added-later").exists()
    assert uploads.read_bytes() == b"not a directory" and keys.read_bytes() == key_file_before
    assert sorted(p.name for p in uploads.parent.iterdir()) == ["uploads"]  # no working dir, nothing aside
    assert not AuditEntry.objects.filter(action=RESTORE).exists()


@real_db
def test_a_failure_moving_the_key_file_puts_the_uploads_and_database_back(tmp_path, keys, uploads, settings,
                                                                          clean_audit):
    (uploads / "cases").mkdir(parents=True)
    (uploads / "cases" / "ab12.jpg").write_bytes(b"\xff\xd8 a photo")
    out, vault = tmp_path / "b" / "civicgrid.backup", tmp_path / "vault" / "keys.json"
    call_command("backup", "--out", str(out), "--keys-out", str(vault), stdout=io.StringIO())
    User.objects.create_user("added-later", password=None)
    (uploads / "later.jpg").write_bytes(b"later")
    saved = _snapshot(uploads)
    # The key file's directory is a file: the database and the uploads are replaced, then the key file fails.
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"a file")
    settings.CIVICGRID_KEY_FILE = blocked / "keys.json"
    core_keys.reset()
    with pytest.raises(CommandError, match="moving the key file into place.*The uploads and the database put back"):
        call_command("restore", str(out), "--yes", "--keys", str(vault), stdout=io.StringIO())
    assert User.objects.filter(username="added-later").exists()
    assert _snapshot(uploads) == saved and blocked.read_bytes() == b"a file"
    assert sorted(p.name for p in uploads.parent.iterdir()) == ["uploads"]

"""`civicgrid restore FILE --yes`: replace the database's content (and the uploads) with a backup made by
`civicgrid backup`.

Stop the web server and the worker first: the restore replaces every table. The command refuses while a worker
or a web server process has reported itself recently (their heartbeats, `core.heartbeat`; `--force` overrides),
naming each process (host, pid, last seen). A backup archive
(database and uploads) is unpacked into a working directory in the data dir; a bare database file (earlier
versions, or `backup --without-uploads`) is read as it is. SQLite backups are copied in with the online backup
API (all pages, one step); PostgreSQL archives go through `pg_restore --clean --if-exists --single-transaction`,
so a failed restore leaves the database as it was. The archive's uploads take the place of `MEDIA_ROOT`; the
uploads there before are kept aside (`uploads.replaced-<time>`), never mixed or deleted.

All or nothing: before the database is replaced, a copy of it as it is goes into the working directory (SQLite
online backup, or `pg_dump`). If a later step fails (moving the uploads or the key file into place, recording
the restore), what was replaced is put back (the database from that copy, the uploads and key file that were
moved aside) and the command says so; should putting back fail too, the copy is kept beside the uploads and
named.

The encryption keys come back separately (`--keys FILE`): an existing, different key file is moved aside, never
overwritten. Before anything is replaced, the key file that will be in use (`--keys`, or the one in place)
must decrypt a sample of the backup's encrypted values, a few for every key id they name; otherwise the restore
refuses and changes nothing (`--no-key-check` restores anyway, leaving those values unreadable). The restore is
recorded in the (restored) audit trail.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.utils import timezone

from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core import context, heartbeat, keys
from civicgrid.foundation.core.crypto import CryptoError, FieldEncryptor, KeyRing

from .backup import (
    ARCHIVE_FORMAT,
    DATABASE_MEMBER,
    MANIFEST,
    RESTORE,
    UPLOADS_MEMBER,
    backup_format,
    pg_command,
    private_copy,
    run_tool,
    sha256_of,
)

SAMPLES_PER_KEY = 3  # tokens tried for every (column, cipher, key id) the backup holds


class Command(BaseCommand):
    help = ("Restore the database and uploads from a backup FILE (replaces all data); --keys restores the key "
            "file too. Refuses while the worker or the web server runs, and when the key file cannot read the "
            "backup. A step that fails after the database was replaced puts everything back.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file written by `civicgrid backup`")
        parser.add_argument("--yes", action="store_true", help="confirm that every row is to be replaced")
        parser.add_argument("--keys", help="the key file copied by `civicgrid backup --keys-out`")
        parser.add_argument("--force", action="store_true",
                            help="restore although a worker or web server process reported itself recently")
        parser.add_argument("--no-key-check", action="store_true",
                            help="restore although the key file cannot decrypt the backup's encrypted values "
                            "(they stay unreadable until the right key file is put back)")

    def handle(self, *args, file, yes, keys=None, force=False, no_key_check=False, **options):
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise CommandError(f"no such backup file: {path}")
        key_path = Path(keys).expanduser().resolve() if keys else None
        fmt = backup_format(path)
        manifest = read_manifest(path) if fmt == "archive" else None
        engine = manifest["engine"] if manifest else fmt
        if engine != connection.vendor:
            raise CommandError(f"{path} is a {engine} backup; this installation runs on {connection.vendor}")
        if not yes:
            raise CommandError(
                f"restoring replaces every row of the database '{connection.settings_dict['NAME']}' with the "
                "backup's content; stop the server and worker, then run again with --yes"
            )
        if not force:
            self._refuse_while_running()
        if key_path:
            self._ring(key_path)  # a readable key file, before anything is unpacked
        work_parent = Path(settings.MEDIA_ROOT).parent
        work_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".civicgrid-restore-", dir=work_parent) as work:
            work = Path(work)
            if manifest:
                database, uploads = unpack(path, manifest, work)
                if backup_format(database) != engine:
                    raise CommandError(f"{path}: its database is not the {engine} file its manifest names")
            else:
                database, uploads = path, None
            if engine == "sqlite":
                check_sqlite(database)
            if not no_key_check:
                self._check_keys_read(database, engine, key_path)
            digest = sha256_of(path)
            before = self._keep_database(engine, work)
            undo = []  # what to put back, last first: (what, how)
            step = "replacing the database"
            try:
                if engine == "sqlite":
                    undo.append(("the database", lambda: self._put_back_database(engine, before)))
                    self._restore_sqlite(database)
                else:
                    self._restore_postgresql(database)  # one transaction: a failure leaves the database as it was
                    undo.append(("the database", lambda: self._put_back_database(engine, before)))
                if uploads is not None:
                    step = "moving the uploads into place"
                    undo.append(("the uploads", self._install_uploads(uploads, work)))
                if key_path:
                    step = "moving the key file into place"
                    undo.append(("the key file", self._install_keys(key_path)))
                step = "recording the restore in the audit trail"
                with context.acting(channel="command"):
                    record(actor=None, action=RESTORE, data={"file": path.name, "sha256": digest,
                                                              "keys": bool(key_path),
                                                              "uploads": manifest["uploads"] if manifest else None})
            except (Exception, KeyboardInterrupt) as exc:
                self._put_back(undo, step, exc, before)
        if not key_path and not Path(settings.CIVICGRID_KEY_FILE).exists():
            self.stdout.write(self.style.WARNING(
                f"no key file at {settings.CIVICGRID_KEY_FILE}: encrypted fields stay unreadable until the keys "
                "of this backup are put back (restore --keys FILE)"))
        if manifest is None:
            self.stdout.write(self.style.WARNING(
                f"this backup holds the database only: the uploads in {settings.MEDIA_ROOT} were left as they are"))
        self.stdout.write(self.style.SUCCESS(f"restored {path} (sha256 {digest})"))

    # ---- before anything is replaced ------------------------------------------------------------------------

    def _refuse_while_running(self) -> None:
        """Refuse while a worker or a web server process has reported itself recently, naming each."""
        now = timezone.now()
        try:
            workers = [p for p in heartbeat.status(now).processes if p.state == "running"]
            web = heartbeat.running_web(now)
        except DatabaseError:  # an empty database (no tables yet) has no worker or web process either
            workers, web = [], []

        def named(processes) -> str:
            return ", ".join(f"{p.host} pid {p.pid} (last seen {timezone.localtime(p.seen_at):%Y-%m-%d %H:%M:%S}, "
                             f"{max(0, int((now - p.seen_at).total_seconds()))}s ago)" for p in processes)

        running = []
        if web:
            running.append(f"网站服务进程仍在运行 / {len(web)} web server process(es) reported within the last "
                           f"{heartbeat.WEB_STALE_AFTER} seconds: {named(web)}")
        if workers:
            running.append(f"后台进程仍在运行 / {len(workers)} worker process(es) reported within the last "
                           f"{heartbeat.stale_after()} seconds (运行监控): {named(workers)}")
        if running:
            raise CommandError(
                "; ".join(running) + ". Stop the web server and the worker first, then run again (--force restores "
                "anyway, e.g. after a process died without saying so). Nothing was changed."
            )

    def _ring(self, key_path: Path | None) -> KeyRing | None:
        """The key ring that will read the restored data: `--keys`, or the key file in place (None if none)."""
        path = key_path or Path(settings.CIVICGRID_KEY_FILE)
        if key_path is None and not path.exists():
            return None
        try:
            return KeyRing.load(path)
        except (OSError, CryptoError) as exc:
            raise CommandError(f"{path} is not a readable key file: {exc}") from None

    def _check_keys_read(self, database: Path, engine: str, key_path: Path | None) -> None:
        samples = sample_tokens(database, engine)
        if not samples:
            return
        where = key_path or Path(settings.CIVICGRID_KEY_FILE)
        ring = self._ring(key_path)
        if ring is None:
            raise CommandError(
                f"this backup holds encrypted values but there is no key file at {where}: pass --keys FILE, the "
                "key file saved with this backup (backup --keys-out). Nothing was changed."
            )
        reader = FieldEncryptor(ring)
        failures: dict[str, list[str]] = {}  # error → the columns it struck
        for (label, context_, _key), tokens in samples.items():
            for token in tokens:
                try:
                    reader.decrypt(token, context_)
                except CryptoError as exc:
                    failures.setdefault(str(exc), []).append(label)
                    break
        if failures:
            shown = "; ".join(f"{error} ({', '.join(labels)})" for error, labels in failures.items())
            raise CommandError(
                f"密钥文件无法解密该备份 / the key file {where} cannot decrypt this backup's encrypted values: "
                f"{shown}. Pass --keys FILE with the key file saved with this backup, or a later copy (after a "
                "key rotation, only a copy saved after it reads what was written since). Nothing was changed."
            )

    # ---- replacing ----------------------------------------------------------------------------------------

    def _restore_sqlite(self, path: Path) -> None:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            connection.ensure_connection()
            # Replaces the whole live database, schema and triggers included, in one step.
            source.backup(connection.connection)
        finally:
            source.close()

    def _restore_postgresql(self, path: Path) -> None:
        connection.close()  # hold no locks on the tables pg_restore drops
        cmd, env = pg_command("pg_restore", "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
                              str(path))
        run_tool(cmd, env)

    def _install_uploads(self, uploads: Path, work: Path):
        """Move the backup's uploads into `MEDIA_ROOT`, the ones there aside; returns how to undo it. A
        failure half-way puts the previous uploads back before it is raised."""
        target = Path(settings.MEDIA_ROOT)
        aside, was_empty = None, False
        if target.is_dir() and any(target.iterdir()):
            aside = aside_path(target)
            os.replace(target, aside)
        elif target.is_dir():
            target.rmdir()
            was_empty = True

        def undo() -> None:
            if target.is_dir():  # the backup's uploads go back to the working directory, deleted with it
                os.replace(target, work / "uploads.undone")
            if aside is not None:
                os.replace(aside, target)
            elif was_empty:
                target.mkdir()

        try:
            os.replace(uploads, target)
        except BaseException:
            undo()
            raise
        if aside is not None:
            self.stdout.write(f"the previous uploads were kept as {aside}")
        count = sum(1 for p in target.rglob("*") if p.is_file())
        self.stdout.write(f"uploads restored to {target} ({count} files)")
        return undo

    def _install_keys(self, keys_file: Path):
        """Put the key file in place, a different one there aside; returns how to undo it."""
        target = Path(settings.CIVICGRID_KEY_FILE)
        aside = None
        if target.exists():
            if target.read_bytes() == keys_file.read_bytes():
                return lambda: None
            aside = aside_path(target)
            os.replace(target, aside)

        def undo() -> None:
            if aside is not None:
                os.replace(aside, target)
            elif target.exists():
                target.unlink()
            keys.reset()

        try:
            private_copy(keys_file, target)
        except BaseException:
            undo()
            raise
        keys.reset()
        if aside is not None:
            self.stdout.write(f"the previous key file was kept as {aside}")
        self.stdout.write(f"encryption keys restored to {target}")
        return undo

    # ---- putting back ---------------------------------------------------------------------------------------

    def _keep_database(self, engine: str, work: Path) -> Path:
        """A copy of the database as it is, to put back if a step after its replacement fails."""
        kept = work / ("before-restore.sqlite3" if engine == "sqlite" else "before-restore.pgdump")
        try:
            if engine == "sqlite":
                target = sqlite3.connect(kept)
                try:
                    connection.ensure_connection()
                    connection.connection.backup(target)
                finally:
                    target.close()
            else:
                cmd, env = pg_command("pg_dump", "--format=custom", "--file", str(kept))
                run_tool(cmd, env)
            os.chmod(kept, 0o600)
        except (OSError, sqlite3.Error, DatabaseError, CommandError) as exc:
            raise CommandError(
                f"无法先保存当前数据库 / could not copy the database as it is to {work.parent} before replacing it "
                f"(is there room?): {' '.join(str(exc).split())[:500]}. Nothing was changed."
            ) from exc
        return kept

    def _put_back_database(self, engine: str, kept: Path) -> None:
        if engine == "sqlite":
            self._restore_sqlite(kept)
        else:
            self._restore_postgresql(kept)

    def _put_back(self, undo: list, step: str, exc: BaseException, kept: Path):
        """Undo what was replaced, last first, then raise a CommandError saying what happened."""
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        put_back, failed = [], []
        for what, how in reversed(undo):
            try:
                how()
                put_back.append(what)
            except Exception as again:
                failed.append(f"{what} ({type(again).__name__}: {' '.join(str(again).split())[:300]})")
        if not failed:
            done = " and ".join(put_back)
            done = f"{done[:1].upper()}{done[1:]} put back as before" if done else "Nothing had been replaced yet"
            raise CommandError(
                f"恢复失败，已还原到恢复前的状态 / the restore failed while {step}: {reason}. {done}: nothing was "
                "changed."
            ) from exc
        saved = kept.parent.parent / f"database.before-restore-{timezone.now():%Y%m%d%H%M%S}{kept.suffix}"
        shutil.copy2(kept, saved)
        raise CommandError(
            f"恢复失败，且未能完全还原 / the restore failed while {step}: {reason}; putting back failed for "
            f"{'; '.join(failed)}. The database as it was before is kept at {saved} (restore it with "
            f"`civicgrid restore {saved} --yes --force`); the uploads and key file moved aside are named above."
        ) from exc


def aside_path(target: Path) -> Path:
    """A free name beside `target` to keep what a restore replaces (`NAME.replaced-<time>`, `-2`, … when two
    restores fall in one second): never one that already holds something kept."""
    base = target.with_name(f"{target.name}.replaced-{timezone.now():%Y%m%d%H%M%S}")
    aside, n = base, 1
    while aside.exists():
        n += 1
        aside = base.with_name(f"{base.name}-{n}")
    return aside


def read_manifest(path: Path) -> dict:
    """The manifest of a backup archive; CommandError if it is not one `civicgrid backup` wrote."""
    try:
        with tarfile.open(path, "r:") as tar:
            member = tar.getmember(MANIFEST)
            manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, tarfile.TarError, OSError, ValueError, AttributeError) as exc:
        raise CommandError(f"{path} is a tar file but not a civicgrid backup: {exc}") from None
    if (not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT
            or manifest.get("database") != DATABASE_MEMBER.get(manifest.get("engine"))):
        raise CommandError(f"{path} is a tar file but not a civicgrid backup (no civicgrid manifest)")
    return manifest


def unpack(path: Path, manifest: dict, work: Path) -> tuple[Path, Path]:
    """Extract the archive's database and uploads below `work` (the tar's own paths, checked by the data
    filter: nothing outside `work`, no links out, no devices); returns both paths."""
    with tarfile.open(path, "r:") as tar:
        tar.extractall(work, filter="data")
    database = work / manifest["database"]
    if not database.is_file():
        raise CommandError(f"{path} holds no database file {manifest['database']}")
    uploads = work / UPLOADS_MEMBER
    uploads.mkdir(exist_ok=True)
    return database, uploads


def check_sqlite(path: Path) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = source.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise CommandError(f"{path} is damaged: {check}")
        if not source.execute("SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'").fetchone():
            raise CommandError(f"{path} is an SQLite file but not a civicgrid database")
    finally:
        source.close()


def _columns() -> Iterator[tuple[str, str, str, str]]:
    """(label, context, table, column) of every registered encrypted column."""
    from django.apps import apps

    apps.get_models()
    for column in keys.ENCRYPTED_COLUMNS.values():
        model = apps.get_model(column.model)
        yield (f"{column.model}.{column.field}", column.context, model._meta.db_table,
               model._meta.get_field(column.field).column)


def _add(samples: dict, label: str, context_: str, token: str) -> None:
    parts = token.split(":", 3)
    key_id = f"{parts[1]}/{parts[2]}" if len(parts) == 4 else "?"
    found = samples.setdefault((label, context_, key_id), [])
    if len(found) < SAMPLES_PER_KEY:
        found.append(token)


def sample_tokens(database: Path, engine: str) -> dict[tuple[str, str, str], list[str]]:
    """A few tokens of the backup for every (column, cipher/key id) it holds: {(label, context, key): tokens}.

    Every token is looked at (its key id is in its text), so a key used by one row only is tried too."""
    samples: dict[tuple[str, str, str], list[str]] = {}
    if engine == "sqlite":
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            for label, context_, table, column in _columns():
                present = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
                if column not in present:
                    continue  # an older schema without this column
                for (token,) in db.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" > \'\''):
                    _add(samples, label, context_, token)
        finally:
            db.close()
        return samples
    for label, context_, table, column in _columns():
        for token in _pg_column(database, table, column):
            _add(samples, label, context_, token)
    return samples


def _pg_column(archive: Path, table: str, column: str) -> Iterator[str]:
    """The non-empty values of one column of a pg_dump custom archive (its COPY data, read with pg_restore)."""
    cmd, env = pg_command("pg_restore", "--data-only", "--table", table, "--file", "-", str(archive))
    cmd = [part for i, part in enumerate(cmd) if part != "--dbname" and (i == 0 or cmd[i - 1] != "--dbname")]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        index = None
        for line in proc.stdout:
            if index is None:
                if line.startswith("COPY ") and "(" in line:
                    names = [n.strip().strip('"') for n in line[line.index("(") + 1 : line.rindex(")")].split(",")]
                    if column not in names:
                        break
                    index = names.index(column)
                continue
            if line.startswith("\\."):
                break
            value = line.rstrip("\n").split("\t")[index]
            if value and value != "\\N":
                yield value
        proc.stdout.close()
        proc.wait()

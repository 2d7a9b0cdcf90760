"""`civicgrid backup --out FILE`: a consistent copy of the database and the uploads; the encryption keys kept apart.

FILE is a tar archive holding `manifest.json`, the database (`database.sqlite3` or `database.pgdump`) and the
uploads (`uploads/`: case photos, hazard photos, … everything under `MEDIA_ROOT`), which the database refers to
and which are lost on a restore without them. `--without-uploads` writes the bare database file instead (the
format of earlier versions; `civicgrid restore` reads both).

* SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot page by page while
  the application keeps running; the result is an ordinary SQLite file.
* PostgreSQL: `pg_dump --format=custom` (one consistent snapshot; restored with `pg_restore`).

The uploads are copied after the database's snapshot: a file uploaded meanwhile is included though no row
names it; none the snapshot names is missing unless it was deleted meanwhile.

The encryption keys (`CIVICGRID_KEY_FILE`) are never written into or beside the database backup: whoever holds
both holds the personal data in clear, so keys must not sit next to the data they protect. If a key file
exists, the command insists on an explicit choice: `--keys-out PATH` (a copy in a directory other than the
backup's, meant for a different medium or custodian) or `--without-keys` (they are backed up by other means).
`civicgrid restore` takes the keys back separately with `--keys`. A key rotation (`civicgrid rotate_keys`)
makes earlier copies of the key file unable to read what is written after it: back the key file up again.

The file is written next to its destination under a temporary name, made readable by its owner only, and
moved into place when complete; the backup is recorded in the audit trail (so the copy contains its own
record).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core import context

BACKUP = verbs.System.BACKUP
RESTORE = verbs.System.RESTORE
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
ARCHIVE_FORMAT = "civicgrid-backup"
MANIFEST = "manifest.json"
DATABASE_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
UPLOADS_MEMBER = "uploads"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_format(path: Path) -> str:
    """'sqlite' or 'postgresql' (a bare database file), or 'archive' (database and uploads), from the file's
    first bytes; CommandError for anything else."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    if head[257:262] == b"ustar":
        return "archive"
    raise CommandError(f"{path} is neither a civicgrid backup archive, an SQLite database nor a pg_dump "
                       "custom-format archive")


def pg_command(tool: str, *args: str) -> tuple[list[str], dict]:
    """A pg_dump/pg_restore command line for the default database, and its environment (password via env)."""
    if shutil.which(tool) is None:
        raise CommandError(f"{tool} not found: install the PostgreSQL client tools (e.g. apt install postgresql-client)")
    s = connection.settings_dict
    cmd = [tool, "--dbname", s["NAME"]]
    if s.get("HOST"):
        cmd += ["--host", str(s["HOST"])]
    if s.get("PORT"):
        cmd += ["--port", str(s["PORT"])]
    if s.get("USER"):
        cmd += ["--username", str(s["USER"])]
    env = {**os.environ}
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = str(s["PASSWORD"])
    sslmode = (s.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return [*cmd, "--no-password", *args], env


def run_tool(cmd: list[str], env: dict) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise CommandError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def private_copy(source: Path, target: Path) -> None:
    """Copy a file so that only its owner can read the copy, moving it into place only when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    os.chmod(tmp, 0o600)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


class Command(BaseCommand):
    help = ("Back up the database and the uploads (photos, files) to FILE, a tar archive (SQLite online backup or "
            "pg_dump inside); the encryption keys are kept apart (--keys-out).")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the backup file to write")
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--keys-out", help="also copy the encryption key file here (not beside the backup)")
        keys.add_argument("--without-keys", action="store_true",
                          help="the key file is backed up by other means; do not copy it")
        parser.add_argument("--without-uploads", action="store_true",
                            help="write the bare database file only (the uploads, e.g. case photos, are NOT "
                            "backed up: back up MEDIA_ROOT by other means)")
        parser.add_argument("--force", action="store_true", help="overwrite an existing backup file")

    def handle(self, *args, out, keys_out, without_keys, without_uploads=False, force, **options):
        out = Path(out).expanduser().resolve()
        key_file = Path(settings.CIVICGRID_KEY_FILE)
        if out.exists() and not force:
            raise CommandError(f"{out} exists; pass --force to overwrite it")
        keys_target = self._keys_target(out, key_file, keys_out, without_keys)
        with context.acting(channel="command"):
            record(actor=None, action=BACKUP, data={"file": out.name, "engine": connection.vendor,
                                                     "keys": "separate" if keys_target else "not copied",
                                                     "uploads": "not copied" if without_uploads else "included"})
            uploads = self._write(out, with_uploads=not without_uploads)
        size = out.stat().st_size
        self.stdout.write(self.style.SUCCESS(f"backup written: {out} ({size} bytes, sha256 {sha256_of(out)})"))
        if without_uploads:
            self.stdout.write(self.style.WARNING(
                f"上传的文件未备份 / uploads NOT included: back up {settings.MEDIA_ROOT} separately (case photos "
                "and other files are missing after a restore without them)"))
        else:
            self.stdout.write(f"uploads included: {uploads} files from {settings.MEDIA_ROOT}")
        if keys_target:
            private_copy(key_file, keys_target)
            self.stdout.write(f"encryption keys copied to {keys_target}: keep them on another medium than the backup")
        elif key_file.exists():
            self.stdout.write(f"encryption keys NOT included: back up {key_file} separately")

    def _keys_target(self, out: Path, key_file: Path, keys_out: str | None, without_keys: bool) -> Path | None:
        if keys_out:
            if not key_file.exists():
                raise CommandError(f"--keys-out given, but there is no key file at {key_file}")
            target = Path(keys_out).expanduser().resolve()
            if target.parent == out.parent:
                raise CommandError(
                    "密钥不能与其保护的数据放在一起 / the keys must not sit next to the data they protect: choose a "
                    f"--keys-out directory other than {out.parent}"
                )
            return target
        if key_file.exists() and not without_keys:
            raise CommandError(
                f"加密密钥 {key_file} 不随数据库备份 / the encryption keys are not put into the database backup (keys "
                "must not sit next to the data they protect). Copy them separately with --keys-out PATH (another "
                "directory, ideally another medium), or pass --without-keys if they are backed up by other means."
            )
        return None

    def _write(self, out: Path, *, with_uploads: bool) -> int:
        """Write the backup to `out`; the number of uploaded files it holds."""
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o600)
        database = tmp.with_name(tmp.name + ".db")
        try:
            self._write_database(database if with_uploads else tmp)
            count = 0
            if with_uploads:
                count = self._write_archive(tmp, database)
            os.replace(tmp, out)
            return count
        finally:
            tmp.unlink(missing_ok=True)
            database.unlink(missing_ok=True)

    def _write_database(self, target_path: Path) -> None:
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            target = sqlite3.connect(target_path)
            try:
                # Page by page, consistent even while others write (they wait for each step's lock).
                connection.connection.backup(target, pages=1024)
            finally:
                target.close()
            os.chmod(target_path, 0o600)
        elif connection.vendor == "postgresql":
            cmd, env = pg_command("pg_dump", "--format=custom", "--file", str(target_path))
            run_tool(cmd, env)
        else:
            raise CommandError(f"backup of {connection.vendor} databases is not supported")

    def _write_archive(self, tmp: Path, database: Path) -> int:
        media = Path(settings.MEDIA_ROOT)
        files = sorted(p for p in media.rglob("*") if p.is_file()) if media.is_dir() else []
        manifest = {"format": ARCHIVE_FORMAT, "version": 1, "engine": connection.vendor,
                    "database": DATABASE_MEMBER[connection.vendor], "uploads": len(files)}
        with tarfile.open(tmp, "w") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(database, arcname=manifest["database"], recursive=False)
            for path in files:
                tar.add(path, arcname=f"{UPLOADS_MEMBER}/{path.relative_to(media).as_posix()}", recursive=False)
        return len(files)

"""`civicgrid backup --out FILE`: a consistent copy of the database, and the encryption keys kept apart.

* SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot page by page while
  the application keeps running; the result is an ordinary SQLite file.
* PostgreSQL: `pg_dump --format=custom` (one consistent snapshot; restored with `pg_restore`).

The encryption keys (`CIVICGRID_KEY_FILE`) are never written into or beside the database backup: whoever holds
both holds the personal data in clear, so keys must not sit next to the data they protect. If a key file
exists, the command insists on an explicit choice: `--keys-out PATH` (a copy in a directory other than the
backup's, meant for a different medium or custodian) or `--without-keys` (they are backed up by other means).
`civicgrid restore` takes the keys back separately with `--keys`.

The file is written next to its destination under a temporary name, made readable by its owner only, and
moved into place when complete; the backup is recorded in the audit trail (so the copy contains its own
record).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_format(path: Path) -> str:
    """'sqlite' or 'postgresql', from the file's first bytes; CommandError for anything else."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise CommandError(f"{path} is neither an SQLite database nor a pg_dump custom-format archive")


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
    help = "Back up the database to FILE (SQLite online backup or pg_dump); the encryption keys are kept apart."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the backup file to write")
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--keys-out", help="also copy the encryption key file here (not beside the backup)")
        keys.add_argument("--without-keys", action="store_true",
                          help="the key file is backed up by other means; do not copy it")
        parser.add_argument("--force", action="store_true", help="overwrite an existing backup file")

    def handle(self, *args, out, keys_out, without_keys, force, **options):
        out = Path(out).expanduser().resolve()
        key_file = Path(settings.CIVICGRID_KEY_FILE)
        if out.exists() and not force:
            raise CommandError(f"{out} exists; pass --force to overwrite it")
        keys_target = self._keys_target(out, key_file, keys_out, without_keys)
        with context.acting(channel="command"):
            record(actor=None, action=BACKUP, data={"file": out.name, "engine": connection.vendor,
                                                     "keys": "separate" if keys_target else "not copied"})
            self._write(out)
        size = out.stat().st_size
        self.stdout.write(self.style.SUCCESS(f"backup written: {out} ({size} bytes, sha256 {sha256_of(out)})"))
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

    def _write(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o600)
        try:
            if connection.vendor == "sqlite":
                connection.ensure_connection()
                target = sqlite3.connect(tmp)
                try:
                    # Page by page, consistent even while others write (they wait for each step's lock).
                    connection.connection.backup(target, pages=1024)
                finally:
                    target.close()
            elif connection.vendor == "postgresql":
                cmd, env = pg_command("pg_dump", "--format=custom", "--file", str(tmp))
                run_tool(cmd, env)
            else:
                raise CommandError(f"backup of {connection.vendor} databases is not supported")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)

"""`civicgrid restore FILE --yes`: replace the database's content with a backup made by `civicgrid backup`.

Stop the web server and the worker first: the restore replaces every table. SQLite backups are copied in with
the online backup API (all pages, one step); PostgreSQL archives go through `pg_restore --clean --if-exists
--single-transaction`, so a failed restore leaves the database as it was. The encryption keys come back
separately (`--keys FILE`): an existing, different key file is moved aside, never overwritten. The restore is
recorded in the (restored) audit trail.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core import context

from .backup import RESTORE, backup_format, pg_command, private_copy, run_tool, sha256_of


class Command(BaseCommand):
    help = "Restore the database from a backup FILE (replaces all data); --keys restores the key file too."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file written by `civicgrid backup`")
        parser.add_argument("--yes", action="store_true", help="confirm that every row is to be replaced")
        parser.add_argument("--keys", help="the key file copied by `civicgrid backup --keys-out`")

    def handle(self, *args, file, yes, keys, **options):
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise CommandError(f"no such backup file: {path}")
        fmt = backup_format(path)
        if fmt != connection.vendor:
            raise CommandError(f"{path} is a {fmt} backup; this installation runs on {connection.vendor}")
        if not yes:
            raise CommandError(
                f"restoring replaces every row of the database '{connection.settings_dict['NAME']}' with the "
                "backup's content; stop the server and worker, then run again with --yes"
            )
        if keys:
            self._check_keys(Path(keys).expanduser().resolve())
        digest = sha256_of(path)
        if fmt == "sqlite":
            self._restore_sqlite(path)
        else:
            self._restore_postgresql(path)
        if keys:
            self._install_keys(Path(keys).expanduser().resolve())
        elif not Path(settings.CIVICGRID_KEY_FILE).exists():
            self.stdout.write(self.style.WARNING(
                f"no key file at {settings.CIVICGRID_KEY_FILE}: encrypted fields stay unreadable until the keys "
                "of this backup are put back (restore --keys FILE)"))
        with context.acting(channel="command"):
            record(actor=None, action=RESTORE, data={"file": path.name, "sha256": digest, "keys": bool(keys)})
        self.stdout.write(self.style.SUCCESS(f"restored {path} (sha256 {digest})"))

    def _restore_sqlite(self, path: Path) -> None:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = source.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CommandError(f"{path} is damaged: {check}")
            if not source.execute("SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'").fetchone():
                raise CommandError(f"{path} is an SQLite file but not a civicgrid database")
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

    def _check_keys(self, keys: Path) -> None:
        try:
            data = json.loads(keys.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"{keys} is not a readable key file: {exc}") from None
        if not isinstance(data, dict) or "keys" not in data:
            raise CommandError(f"{keys} does not look like a civicgrid key file (no 'keys')")

    def _install_keys(self, keys: Path) -> None:
        target = Path(settings.CIVICGRID_KEY_FILE)
        if target.exists():
            if target.read_bytes() == keys.read_bytes():
                return
            aside = target.with_name(f"{target.name}.replaced-{timezone.now():%Y%m%d%H%M%S}")
            os.replace(target, aside)
            self.stdout.write(f"the previous key file was kept as {aside}")
        private_copy(keys, target)
        self.stdout.write(f"encryption keys restored to {target}")

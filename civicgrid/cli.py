"""`civicgrid` console script: the project's management commands, e.g. `civicgrid demo`, `civicgrid router train`."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(["civicgrid", *sys.argv[1:]])
    except OperationalError as exc:
        # A database that is down, missing or refuses the account: one line, not the driver's traceback.
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"数据库无法使用，请检查 DATABASE_URL 和数据库服务：{reason} / the database cannot be used (check "
              f"DATABASE_URL and the database server): {reason}", file=sys.stderr)
        sys.exit(1)

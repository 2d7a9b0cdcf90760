"""`civicgrid` console script: the project's management commands, e.g. `civicgrid demo`, `civicgrid router train`."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["civicgrid", *sys.argv[1:]])

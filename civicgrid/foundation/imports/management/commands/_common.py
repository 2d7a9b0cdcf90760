"""Shared bits of the import/export commands: acting user and a terminal progress bar."""

from __future__ import annotations

import sys
import time

from django.core.management.base import CommandError


def acting_user(username: str | None):
    """The account whose capability and scope apply; None (the operator, full scope) when not given."""
    if not username:
        return None
    from civicgrid.foundation.access.models import User

    try:
        return User.objects.get(username=username, is_active=True)
    except User.DoesNotExist:
        raise CommandError(f"账号不存在或已停用：{username} / no such active user") from None


class ProgressBar:
    """A one-line bar on stderr, redrawn at most ten times a second (and on every phase change)."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.last = 0.0
        self.phase = ""
        self.started = time.monotonic()

    def __call__(self, job) -> None:
        now = time.monotonic()
        if job.status == self.phase and now - self.last < 0.1 and not job.finished:
            return
        self.phase, self.last = job.status, now
        percent = job.percent
        filled = self.width * percent // 100
        done = job.applied_rows if job.status == "applying" else job.processed_rows
        total = job.total_rows or 0
        rate = done / max(now - self.started, 1e-6)
        line = (
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {job.get_status_display()} "
            f"{done:,}/{total:,} 行  {rate:,.0f} 行/秒"
        )
        self.stream.write(line.ljust(90))
        self.stream.flush()
        if job.finished:
            self.stream.write("\n")

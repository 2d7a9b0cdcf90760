"""Big case ledgers, built by the background worker and offered in the requester's inbox.

A ledger of more than `CIVICGRID_LEDGER_SYNC_MAX_ROWS` lines would hold one of the site's few web workers for
many seconds (and every page queued behind it). `ledger.export_or_queue` hands it here instead:

  1. `queue(user, filter)` writes a request file `<token>.json` (owner-only) in DATA_DIR/exports/ledger and
     enqueues `build_ledger(token)`; the page tells the user the file will come to their inbox;
  2. the worker builds it as the page would (`ledger.export`: the user's export scope and capability as they are
     now, the same audit record), saves `<token>.xlsx` (owner-only) and puts a message in the user's inbox with
     the link `/documents/cases/ledger/<token>.xlsx`; a refusal is said in the inbox instead;
  3. `ready_file(user, token)` gives the file to that user only (anyone else, or after
     `CIVICGRID_LEDGER_KEEP_HOURS`, gets a 404), and every request, build and download removes the files past
     their time (`purge_expired`), as does the worker once a minute (`purge_job`, a `core.jobs` job the cases
     app registers), so that no file outlives its hours for want of a next request.

The token (192 random bits) is the file's name; the request file says whose it is and until when.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.tasks import task
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.foundation.notify import titles
from civicgrid.foundation.notify.services import notify, withdraw_link

from . import ledger

READY, FAILED = gettext_noop("事件台账已生成"), gettext_noop("事件台账导出失败")
INBOX_TITLES = titles.register(READY, FAILED)
KIND = "ledger_export"
EXPIRED = gettext_noop("已过期")  # what the inbox says of a ready message once its file is removed
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
PURGE_EVERY = 60.0  # seconds between the worker's purges (its jobs run on every pass, about once a second)
_next_purge = 0.0  # time.monotonic() of this process's next purge by the worker


def folder() -> Path:
    """DATA_DIR/exports/ledger (made on first use, owner-only)."""
    path = Path(settings.DATA_DIR) / "exports" / "ledger"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write(path: Path, data: bytes) -> None:
    """`data` into `path` atomically, readable by the owner only."""
    partial = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(partial, path)


def _read(token: str) -> dict | None:
    if not _TOKEN.fullmatch(token or ""):
        return None
    try:
        return json.loads((folder() / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _save(token: str, meta: dict) -> None:
    _write(folder() / f"{token}.json", json.dumps(meta, ensure_ascii=False).encode())


def _expired(meta: dict, now: datetime) -> bool:
    return datetime.fromisoformat(meta["expires_at"]) <= now


def purge_expired(now: datetime | None = None, *, where: Path | None = None) -> int:
    """Remove the ledgers (and requests) past their time; returns how many. Files a build left without a request
    (a crash between writes) go when they are older than `CIVICGRID_LEDGER_KEEP_HOURS`."""
    now = now or timezone.now()
    where = where or folder()
    removed = 0
    for stray in [*where.glob("*.part"), *where.glob("*.xlsx")]:
        if stray.suffix == ".xlsx" and stray.with_suffix(".json").exists():
            continue
        with contextlib.suppress(OSError):
            modified = datetime.fromtimestamp(stray.stat().st_mtime, tz=now.tzinfo)
            if modified + timedelta(hours=settings.CIVICGRID_LEDGER_KEEP_HOURS) <= now:
                stray.unlink()
                removed += 1 if stray.suffix == ".xlsx" else 0
    for path in where.glob("*.json"):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if not _expired(meta, now):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: removed too
        for stale in (path, path.with_suffix(".xlsx")):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        # its inbox message loses its link (查看 would open a 404) and says 已过期
        withdraw_link(dedupe_key=f"ledger:{path.stem}", kind=KIND, resolution=EXPIRED, at=now)
        removed += 1
    return removed


def purge_job() -> int:
    """The worker's side of `purge_expired` (registered with `core.jobs`, run on every pass): at most every
    `PURGE_EVERY` seconds, and without making the folder when no ledger was ever queued."""
    global _next_purge
    if time.monotonic() < _next_purge:
        return 0
    _next_purge = time.monotonic() + PURGE_EVERY
    where = Path(settings.DATA_DIR) / "exports" / "ledger"
    return purge_expired(where=where) if where.is_dir() else 0


def queue(user, f) -> str:
    """Ask the worker for the ledger of `user` with the filters `f`; returns its token."""
    purge_expired()
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    _save(token, {"user": user.pk, "filter": ledger.filter_data(f), "state": "queued",
                  "requested_at": now.isoformat(),
                  "expires_at": (now + timedelta(hours=settings.CIVICGRID_LEDGER_KEEP_HOURS)).isoformat()})
    build_ledger.enqueue(token)
    return token


def url(token: str) -> str:
    return reverse("ui:case_ledger_file", kwargs={"token": token})


def build(token: str) -> str:
    """Build the requested ledger (once; a redelivered task finds it no longer queued) and tell its user."""
    from civicgrid.foundation.access.models import User

    purge_expired()
    meta = _read(token)
    if meta is None or meta.get("state") != "queued":
        return "gone" if meta is None else meta.get("state", "")
    meta["state"] = "building"
    _save(token, meta)
    user = User.objects.filter(pk=meta["user"], is_active=True).first()
    if user is None:
        meta["state"] = "failed"
        _save(token, meta)
        return "failed"
    try:
        body, filename = ledger.export(user, ledger.filter_from(meta["filter"]))
    except CivicgridError as exc:  # the user lost the capability, or the ledger grew past the cap
        meta["state"] = "failed"
        _save(token, meta)
        notify(user, KIND, "事件台账导出失败：事件台账", body=exc.message.split(" / ")[0],
               body_en=exc.message.split(" / ")[-1], dedupe_key=f"ledger:{token}")
        return "failed"
    _write(folder() / f"{token}.xlsx", body)
    meta.update(state="ready", filename=filename, size=len(body))
    _save(token, meta)
    until = timezone.localtime(datetime.fromisoformat(meta["expires_at"]))
    notify(user, KIND, f"事件台账已生成：{filename}", body=f"请在 {until:%Y-%m-%d %H:%M} 前下载。",
           body_en=f"Download it before {until:%Y-%m-%d %H:%M}.", url=url(token), dedupe_key=f"ledger:{token}")
    return "ready"


@task(queue_name="default")
def build_ledger(token: str) -> dict:
    """The worker's side of `queue`."""
    from civicgrid.foundation.core import context

    with context.acting(channel="worker"):
        return {"token": token[:6], "state": build(token)}


def ready_file(user, token: str) -> tuple[bytes, str]:
    """The built ledger of `token`, for the user who asked for it, within its time; NotFound otherwise."""
    purge_expired()
    meta = _read(token)
    if meta is None or meta.get("user") != user.pk or meta.get("state") != "ready":
        raise NotFound("未找到该台账文件，或已过期 / no such ledger file, or it has expired")
    try:
        return (folder() / f"{token}.xlsx").read_bytes(), meta["filename"]
    except OSError:
        raise NotFound("未找到该台账文件，或已过期 / no such ledger file, or it has expired") from None

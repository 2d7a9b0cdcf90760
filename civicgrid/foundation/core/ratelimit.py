"""Token buckets shared by every web process of the host, the one rate limiter of the site (SECURITY.md: sign-in,
tokens, public reporting and Open311 are rate limited).

A bucket holds up to `burst` tokens and refills at `per_minute`/60 tokens a second; each request takes one. A
limit with a negative rate is no limit; a zero rate or burst closes the door (every request waits a minute).
Callers name their buckets by what they count ("open311:addr:10.0.0.1", "report:user:42"), so the limits of
different doors never share tokens.

Where the buckets live: a small SQLite file of their own, `ratelimit.sqlite3` in CIVICGRID_DATA_DIR, which every
process of the deployment opens (the web server's workers, the worker, commands). Not the main database: a take
never waits for the main database's write lock, and works the same whether that is SQLite or PostgreSQL. The file
is in WAL mode with `synchronous=OFF` (a bucket lost to a power cut is a full bucket, which costs nothing) and a
short busy timeout. A take is one statement (an UPSERT ... RETURNING that refills, takes and answers), which
SQLite runs as its own write transaction: it holds the write lock from before it reads the row until it has
written it, as `BEGIN IMMEDIATE` around a read and a write would, in one round trip instead of four. So two
processes, or two threads of one process, never both get the last token, and the limits hold as written whatever
the number of workers. Each process keeps one connection, behind a lock (one take at a time per process; a take
costs microseconds), opened again in a forked child. Buckets left alone long enough to be full again are deleted
now and then. Several hosts need one store they share: Redis is not supported yet (its client is not installed),
and the file must not be put on a network file system, whose locks SQLite cannot rely on; each host behind a
load balancer then limits on its own.

When the store fails (the file cannot be opened or written, a disk error, a lock held past the busy timeout),
the site stays up: one warning is logged per incident (and one line when takes work again), and each door decides
(`check(..., fail_closed=...)`): public reporting and Open311 fail open (they are limits against floods, and
refusing every resident's report would be the larger harm); token issuing fails closed with a 503 and
`Retry-After` (it guards against password guessing across usernames from one address, which the per-account
lockout alone does not stop; the web login page does not use these buckets, only the lockout, and keeps working).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .errors import CivicgridError

log = logging.getLogger(__name__)

FILE_NAME = "ratelimit.sqlite3"  # in the data dir (the test run gives each parallel worker its own: conftest)
BUSY_TIMEOUT = 0.5  # seconds: a take waits at most this for another process's take before the store counts as failed
SWEEP_SECONDS = 300  # how often a process deletes buckets that are full again


@dataclass(frozen=True)
class Limit:
    """A refill rate and a bucket size."""

    per_minute: float
    burst: float

    @classmethod
    def per_hour(cls, rate: float, burst: float) -> Limit:
        """A limit whose rate is counted per hour (for doors a person uses a few times a day)."""
        return cls(float(rate) / 60.0 if float(rate) >= 0 else -1.0, float(burst))


def configured(rate_setting: str, burst_setting: str, *, per: str = "minute") -> Limit:
    """The limit two settings give (`config/settings.py` reads them from the environment with their defaults);
    read on every use, so a changed setting applies at once."""
    rate, burst = float(getattr(settings, rate_setting)), float(getattr(settings, burst_setting))
    return Limit.per_hour(rate, burst) if per == "hour" else Limit(rate, burst)


class StoreFailed(Exception):
    """The bucket store could not answer (see the module docstring for what each door does then)."""


# One statement: insert a new bucket (full, less the token taken) or refill the stored one and take a token if
# one is there; `taken` says which, `tokens` what is left. Named parameters: n (name), b (burst), r (tokens a
# second), t (now), e (when the bucket is full again and may be deleted).
_TAKE = """
INSERT INTO bucket (name, tokens, stamp, taken, expires)
VALUES (:n, CASE WHEN :b >= 1.0 THEN :b - 1.0 ELSE :b END, :t, :b >= 1.0, :e)
ON CONFLICT (name) DO UPDATE SET
    tokens = CASE WHEN min(:b, tokens + max(0.0, :t - stamp) * :r) >= 1.0
                  THEN min(:b, tokens + max(0.0, :t - stamp) * :r) - 1.0
                  ELSE min(:b, tokens + max(0.0, :t - stamp) * :r) END,
    taken = min(:b, tokens + max(0.0, :t - stamp) * :r) >= 1.0,
    stamp = :t,
    expires = :e
RETURNING tokens, taken
"""


class SqliteStore:
    """The buckets of every process on this host, in their own SQLite file (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._swept = 0.0

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork is the parent's: never used, never closed here
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA page_size=512")  # a new file only: a take writes one small page to the WAL
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("CREATE TABLE IF NOT EXISTS bucket (name TEXT PRIMARY KEY, tokens REAL NOT NULL, "
                         "stamp REAL NOT NULL, taken INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID")
        except BaseException:
            conn.close()
            raise
        if os.name == "posix":
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.chmod(f"{self.path}{suffix}", 0o600)
                except OSError:
                    pass
        self._conn, self._pid = conn, os.getpid()
        return conn

    def take(self, name: str, burst: float, rate: float, now: float, ttl: float) -> float:
        """Tokens left after the take, and whether one was taken, as one number: the wait in seconds (0.0 when
        taken)."""
        with self._lock:
            try:
                conn = self._connect()
                tokens, taken = conn.execute(_TAKE, {"n": name, "b": burst, "r": rate, "t": now, "e": now + ttl}).fetchone()
                if now - self._swept > SWEEP_SECONDS:
                    self._swept = now
                    conn.execute("DELETE FROM bucket WHERE expires < ?", (now,))
            except (sqlite3.Error, OSError) as exc:
                self._drop()
                raise StoreFailed(f"{self.path}: {exc}") from exc
        return 0.0 if taken else (1.0 - tokens) / rate

    def delete(self, name: str | None = None) -> None:
        """Forget one bucket, or every bucket."""
        with self._lock:
            try:
                conn = self._connect()
                if name is None:
                    conn.execute("DELETE FROM bucket")
                else:
                    conn.execute("DELETE FROM bucket WHERE name = ?", (name,))
            except (sqlite3.Error, OSError) as exc:
                self._drop()
                raise StoreFailed(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except sqlite3.Error:
                pass


_store: SqliteStore | None = None
_store_lock = threading.Lock()
_failing = False  # an incident is under way: warned once, not again until takes work


def store() -> SqliteStore:
    """This process's handle on the shared buckets (made on first use)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = SqliteStore(Path(settings.DATA_DIR) / FILE_NAME)
    return _store


@receiver(setting_changed)
def _relocate(setting, **_) -> None:
    global _store
    if setting == "DATA_DIR" and _store is not None:
        _store.close()
        _store = None


def take(name: str, limit: Limit, *, now: float | None = None, fail_closed: bool = False) -> float:
    """Take one token from bucket `name`: 0.0 when allowed, else the seconds until a token is back. When the
    store fails: 0.0 (allowed), or with `fail_closed` raise `Unavailable`."""
    global _failing
    if limit.per_minute <= 0 or limit.burst <= 0:
        return 0.0 if limit.per_minute < 0 else 60.0  # negative: unlimited; zero: closed
    now = time.time() if now is None else now  # wall clock: the buckets are shared between processes
    rate = limit.per_minute / 60.0
    try:
        wait = store().take(name, float(limit.burst), rate, now, _ttl(limit))
    except StoreFailed as exc:
        if not _failing:
            _failing = True
            log.warning("rate limits: the bucket store failed (%s); until it works again, public reporting and "
                        "Open311 are not limited and token issuing is refused", exc)
        if fail_closed:
            raise Unavailable() from None
        return 0.0
    if _failing:
        _failing = False
        log.warning("rate limits: the bucket store works again")
    return wait


def _ttl(limit: Limit) -> int:
    # A bucket left alone this long is full again, so the store may forget it.
    return max(1, math.ceil(limit.burst / (limit.per_minute / 60.0)) + 1)


def reset(name: str | None = None) -> None:
    """Forget a bucket, or every bucket without a name (tests; an administrator lifting a block)."""
    store().delete(name)


class RateLimited(CivicgridError):
    """Too many requests through one door: nothing was done; `retry_after` says when to come back (seconds)."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = max(1, math.ceil(retry_after))
        minutes = math.ceil(self.retry_after / 60)
        if message is None:
            when_zh = f"{self.retry_after} 秒" if self.retry_after < 120 else f"{minutes} 分钟"
            when_en = f"{self.retry_after} s" if self.retry_after < 120 else f"{minutes} min"
            message = f"操作过于频繁，请 {when_zh}后再试 / too many requests, retry in {when_en}"
        super().__init__(message)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(RateLimited):
    """The buckets of a door that fails closed could not be read (the store failed): nothing was done; a 503
    with `Retry-After`, since trying again later is all the caller can do."""

    status = 503
    code = "rate_limit_unavailable"

    def __init__(self, retry_after: float = 60.0):
        super().__init__(retry_after, "服务暂时不可用，请 1 分钟后再试 / temporarily unavailable, retry in a minute")


def check(*buckets: tuple[str, Limit], fail_closed: bool = False) -> None:
    """Take a token from each `(name, limit)` bucket; `RateLimited` with the longest wait when any is empty.
    Every bucket is charged, so a flood held back by one limit still counts against the others. With
    `fail_closed`, a failed store is `Unavailable` instead of no limit."""
    wait = max((take(name, limit, fail_closed=fail_closed) for name, limit in buckets), default=0.0)
    if wait:
        raise RateLimited(wait)

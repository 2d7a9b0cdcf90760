"""Token buckets shared by every web process of the host (of every host, through Redis), the one rate limiter of
the site (SECURITY.md: sign-in, tokens, public reporting and Open311 are rate limited).

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
now and then. The file must not be put on a network file system, whose locks SQLite cannot rely on.

Several hosts behind a load balancer share their buckets through Redis instead: with `CIVICGRID_REDIS_URL` set
(`redis://`, `rediss://` or `unix://`, checked at start) every process of every host takes from the same buckets
there, and the file is not used. A take is one Lua script (`register_script`: EVALSHA, loaded again after a
Redis restart) that reads the bucket's hash, refills, takes and writes it back with the same arithmetic as the
SQLite statement (the same results for the same takes; numbers travel as exact decimal strings), which Redis runs
atomically. Each bucket key expires once the bucket would be full again (an idle bucket is forgotten by Redis
itself, no sweep). Keys are `<CIVICGRID_REDIS_PREFIX>ratelimit:<name>`, so two deployments can share one Redis
with two prefixes. The clock is the caller's, as with the file (the hosts keep their clocks by NTP; a clock behind
another only refills less). Socket timeouts are short (`CIVICGRID_REDIS_TIMEOUT`, 0.5 s), a failed connection is
tried once more, and after a failed connection the process does not ask Redis again for `REDIS_BACKOFF` seconds,
so a Redis that is away costs a request at most about a second, not a hang.

When the store fails (the file cannot be opened or written, a disk error, a lock held past the busy timeout; Redis
refusing, timing out, or answering with an error),
the site stays up: one warning is logged per incident (and one line when takes work again), and each door decides
(`check(..., fail_closed=...)`): public reporting and Open311 fail open (they are limits against floods, and
refusing every resident's report would be the larger harm); token issuing fails closed with a 503 and
`Retry-After` (it guards against password guessing across usernames from one address, which the per-account
lockout alone does not stop; the web login page does not use these buckets, only the lockout, and keeps working).
`/healthz` stays 200 then (the site serves) and adds `"rate_limits": "unavailable"` (`reachable()`).
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

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import CivicgridError

log = logging.getLogger(__name__)

FILE_NAME = "ratelimit.sqlite3"  # in the data dir (the test run gives each parallel worker its own: conftest)
BUSY_TIMEOUT = 0.5  # seconds: a take waits at most this for another process's take before the store counts as failed
SWEEP_SECONDS = 300  # how often a process deletes buckets that are full again
REDIS_BACKOFF = 2.0  # seconds: after a failed connection to Redis, takes fail at once for this long


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

    def take(self, name: str, burst: float, rate: float, now: float | None, ttl: float) -> float:
        """Tokens left after the take, and whether one was taken, as one number: the wait in seconds (0.0 when
        taken). `now`: seconds since the epoch (None: this host's clock)."""
        now = time.time() if now is None else now
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

    def ping(self) -> None:
        """StoreFailed unless the file can be opened and read."""
        with self._lock:
            try:
                self._connect().execute("SELECT count(*) FROM bucket WHERE 0").fetchone()
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


# The take in Redis: the SQLite statement's arithmetic step by step (Lua numbers are the same doubles). KEYS[1]:
# the bucket (a hash of tokens and stamp); ARGV: burst, tokens a second, now (exact decimal strings), the TTL in
# whole seconds. Answers the tokens left (as an exact decimal string: a Lua number would come back truncated to
# an integer) and 1 when a token was taken.
_TAKE_LUA = """
local b = tonumber(ARGV[1])
local r = tonumber(ARGV[2])
local t = tonumber(ARGV[3])
local old = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = b
if old[1] and old[2] then
    tokens = math.min(b, tonumber(old[1]) + math.max(0.0, t - tonumber(old[2])) * r)
end
local taken = 0
if tokens >= 1.0 then
    tokens = tokens - 1.0
    taken = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'stamp', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {left, taken}
"""


class RedisStore:
    """The buckets of every process of every host, in Redis (module docstring)."""

    def __init__(self, url: str, prefix: str = "civicgrid:", *, timeout: float = 0.5) -> None:
        self.prefix = f"{prefix}ratelimit:"
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1))  # a connection Redis closed is made once more
        self.location = self._where()
        self._script = self.client.register_script(_TAKE_LUA)
        self._down_until = 0.0  # monotonic: after a failed connection, Redis is not asked again before this

    def _where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"redis {where}/{kwargs.get('db', 0)}"  # never the password

    def key(self, name: str) -> str:
        return self.prefix + name

    def _call(self, fn):
        if time.monotonic() < self._down_until:
            raise StoreFailed(f"{self.location}: unreachable (not asked again yet)")
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._down_until = time.monotonic() + REDIS_BACKOFF
            raise StoreFailed(f"{self.location}: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreFailed(f"{self.location}: {exc}") from exc

    def take(self, name: str, burst: float, rate: float, now: float | None, ttl: float) -> float:
        """As `SqliteStore.take`."""
        now = time.time() if now is None else now
        args = [repr(float(burst)), repr(float(rate)), repr(float(now)), str(max(1, math.ceil(ttl)))]
        left, taken = self._call(lambda: self._script(keys=[self.key(name)], args=args))
        return 0.0 if taken else (1.0 - float(left)) / rate

    def delete(self, name: str | None = None) -> None:
        """Forget one bucket, or every bucket under this store's prefix."""
        if name is not None:
            self._call(lambda: self.client.delete(self.key(name)))
            return

        def every():
            batch = []
            for key in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)

        self._call(every)

    def ping(self) -> None:
        """StoreFailed unless Redis answers."""
        self._call(self.client.ping)

    def close(self) -> None:
        self.client.close()


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


_store: SqliteStore | RedisStore | None = None
_store_lock = threading.Lock()
_failing = False  # an incident is under way: warned once, not again until takes work


def store() -> SqliteStore | RedisStore:
    """This process's handle on the shared buckets (made on first use): Redis when CIVICGRID_REDIS_URL is set,
    else the file in the data dir."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = getattr(settings, "CIVICGRID_REDIS_URL", "")
                if url:
                    _store = RedisStore(url, settings.CIVICGRID_REDIS_PREFIX, timeout=settings.CIVICGRID_REDIS_TIMEOUT)
                else:
                    _store = SqliteStore(Path(settings.DATA_DIR) / FILE_NAME)
    return _store


@receiver(setting_changed)
def _relocate(setting, **_) -> None:
    global _store
    if setting in {"DATA_DIR", "CIVICGRID_REDIS_URL", "CIVICGRID_REDIS_PREFIX", "CIVICGRID_REDIS_TIMEOUT"}:
        with _store_lock:
            if _store is not None:
                _store.close()
                _store = None


def reachable() -> bool:
    """Whether the bucket store answers now (`/healthz`); says nothing in the log (the takes do)."""
    try:
        store().ping()
    except StoreFailed:
        return False
    return True


def take(name: str, limit: Limit, *, now: float | None = None, fail_closed: bool = False) -> float:
    """Take one token from bucket `name`: 0.0 when allowed, else the seconds until a token is back. When the
    store fails: 0.0 (allowed), or with `fail_closed` raise `Unavailable`."""
    global _failing
    if limit.per_minute <= 0 or limit.burst <= 0:
        return 0.0 if limit.per_minute < 0 else 60.0  # negative: unlimited; zero: closed
    now = time.time() if now is None else now  # wall clock: the buckets are shared between processes and hosts
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

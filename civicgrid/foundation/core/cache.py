"""The default cache backend: Django's local-memory cache, except that a value which cannot change is kept as
it is instead of pickled.

`LocMemCache` pickles every value on `set` and unpickles it on `get`, so that a caller mutating what it got
cannot change what the next caller gets. For a value that cannot be mutated (a number, a string, a date, or a
tuple of such), the copy protects nothing, and on the hot paths that read and write small values on every
request (Open311's client lookup) pickling was most of the cache's cost. Such values are
kept wrapped as they are; anything else is pickled as before. Keys are not checked for memcached's limits
(they never leave the process). Expiry, culling, `clear()` and the per-process scope are Django's. A
deployment that names another backend in `CACHES` (Redis, say) is unaffected.

Also here: `Generation`, which ends every process's cached entries of one kind at once when any process
changes what they were read from (a per-process cache cannot be cleared from another process).
"""

from __future__ import annotations

import datetime
import decimal
import logging
import mmap
import os
import pickle
import secrets
import weakref
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import receiver

log = logging.getLogger(__name__)

_ATOMS = frozenset({int, float, str, bytes, bool, type(None), datetime.datetime, datetime.date, datetime.time,
                    datetime.timedelta, decimal.Decimal})


class _Kept:
    """A stored value that is its own copy (see `immutable`)."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value


def immutable(value, depth: int = 3) -> bool:
    """Whether `value` can be handed to every reader as it is: an atom (exact types, not subclasses) or a
    tuple/frozenset of such, nested at most `depth` deep."""
    kind = type(value)
    if kind in _ATOMS:
        return True
    if (kind is tuple or kind is frozenset) and depth > 0:
        return all(immutable(item, depth - 1) for item in value)
    return False


class LocalMemoryCache(LocMemCache):
    """`LocMemCache` that keeps immutable values unpickled (every method that stores or reads a value)."""

    def validate_key(self, key) -> None:
        """Nothing to check: keys never leave the process. (Django's base class warns about keys memcached
        would refuse, by a loop over every character, on every call; a memcached backend checks its own.)"""

    def _dump(self, value):
        return _Kept(value) if immutable(value) else pickle.dumps(value, self.pickle_protocol)

    @staticmethod
    def _load(stored):
        return stored.value if type(stored) is _Kept else pickle.loads(stored)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        stored = self._dump(value)
        with self._lock:
            if self._has_expired(key):
                self._set(key, stored, timeout)
                return True
            return False

    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                return default
            stored = self._cache[key]
            self._cache.move_to_end(key, last=False)
        return self._load(stored)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        stored = self._dump(value)
        with self._lock:
            self._set(key, stored, timeout)

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                raise ValueError(f"Key '{key}' not found")
            new_value = self._load(self._cache[key]) + delta
            self._cache[key] = self._dump(new_value)
            self._cache.move_to_end(key, last=False)
        return new_value


class Generation:
    """A token for the entries of one kind that processes keep in the default cache, which changes in every
    process the moment any process calls `bump()`. A caller puts it in its cache keys, so an entry read before
    a change is not used after it, whichever process made the change (it expires unread).

    With the default per-process cache, the token is 8 bytes of a stamp file under CIVICGRID_DATA_DIR, which
    the deployment's processes share, each through its own shared memory map of the file: a read is a memory
    read (no query, no system call), and `bump()` writes fresh random bytes there, seen by every process at
    once. (Random, not a counter: a read that caught a write half done yields a token never used, so it can only
    miss, never find an older generation's entry.) With a cache the processes share (Redis, memcached, the
    database) there are no copies in other processes: the changing process deletes the entries for everyone,
    and the token is empty. The stamp is made on first use; deleting it while processes run leaves them
    reading the old one until they restart.
    """

    SIZE = 8
    _all: weakref.WeakSet[Generation] = weakref.WeakSet()

    def __init__(self, name: str) -> None:
        self.name = name
        self._map: mmap.mmap | None = None
        self._located = False  # found on first use, and again after a test changes the settings
        self._raw = b""
        self._token = ""
        Generation._all.add(self)

    def path(self) -> Path:
        """The stamp file."""
        return Path(settings.DATA_DIR) / "stamps" / self.name

    def _locate(self) -> None:
        self._located, self._map, self._raw, self._token = True, None, b"", ""
        if not isinstance(caches["default"], LocMemCache):
            return
        path = self.path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < self.SIZE:
                    os.ftruncate(fd, self.SIZE)  # only ever lengthens: a concurrent first bump's bytes stay
                self._map = mmap.mmap(fd, self.SIZE)
            finally:
                os.close(fd)
        except OSError:
            log.exception("cannot use the stamp %s: a change to %s reaches other processes only when their "
                          "cached entries expire", path, self.name)

    def token(self) -> str:
        """The current generation ("" with a shared cache)."""
        if not self._located:
            self._locate()
        if self._map is None:
            return ""
        raw = self._map[: self.SIZE]
        if raw != self._raw:
            self._raw, self._token = raw, raw.hex()
        return self._token

    def bump(self) -> None:
        """Start a new generation in every process; call it once the change has committed."""
        if not self._located:
            self._locate()
        if self._map is not None:
            self._map[: self.SIZE] = secrets.token_bytes(self.SIZE)


@receiver(setting_changed)
def _relocate_generations(setting, **_) -> None:
    if setting in ("CACHES", "DATA_DIR"):
        for generation in list(Generation._all):
            generation._located = False

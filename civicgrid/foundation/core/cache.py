"""The default cache backend: Django's local-memory cache, except that a value which cannot change is kept as
it is instead of pickled.

`LocMemCache` pickles every value on `set` and unpickles it on `get`, so that a caller mutating what it got
cannot change what the next caller gets. For a value that cannot be mutated (a number, a string, a date, or a
tuple of such), the copy protects nothing, and on the hot paths that read and write small values on every
request (Open311's token buckets and client lookup) pickling was most of the cache's cost. Such values are
kept wrapped as they are; anything else is pickled as before. Keys are not checked for memcached's limits
(they never leave the process). Expiry, culling, `clear()` and the per-process scope are Django's. A
deployment that names another backend in `CACHES` (Redis, say) is unaffected.
"""

from __future__ import annotations

import datetime
import decimal
import pickle

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache

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

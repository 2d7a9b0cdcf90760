"""Token buckets in Django's cache: one per client key and one per caller address (SECURITY.md: public reporting
and Open311 are rate limited).

A bucket holds up to `burst` tokens and refills at `per_minute`/60 tokens a second; each request takes one. The
state is two numbers under one cache key, read and written without a lock: two requests racing may both get the
last token, which a limit meant to stop floods and key guessing can afford. With the default local-memory cache
each web worker keeps its own buckets (so the effective limit is per worker); a shared cache (Redis, database)
in `CACHES` makes it one limit for the whole site.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache

from .conf import setting

PREFIX = "open311:bucket:"


@dataclass(frozen=True)
class Limit:
    """A refill rate and a bucket size."""

    per_minute: float
    burst: float


def address_limit() -> Limit:
    """The limit per caller address (`CIVICGRID_OPEN311_ADDRESS_RATE` per minute, `…_ADDRESS_BURST`)."""
    return Limit(float(setting("CIVICGRID_OPEN311_ADDRESS_RATE", 120)),
                 float(setting("CIVICGRID_OPEN311_ADDRESS_BURST", 40)))


def take(name: str, limit: Limit, *, now: float | None = None) -> float:
    """Take one token from bucket `name`: 0.0 when allowed, else the seconds until a token is back."""
    if limit.per_minute <= 0 or limit.burst <= 0:
        return 0.0 if limit.per_minute < 0 else 60.0  # negative: unlimited; zero: closed
    now = time.time() if now is None else now  # wall clock: a shared cache spans processes
    key = PREFIX + name
    tokens, stamp = cache.get(key) or (limit.burst, now)
    rate = limit.per_minute / 60.0
    tokens = min(limit.burst, tokens + max(0.0, now - stamp) * rate)
    if tokens < 1.0:
        cache.set(key, (tokens, now), timeout=_ttl(limit))
        return (1.0 - tokens) / rate
    cache.set(key, (tokens - 1.0, now), timeout=_ttl(limit))
    return 0.0


def _ttl(limit: Limit) -> int:
    # A bucket left alone this long is full again, so the cache may forget it.
    return max(1, math.ceil(limit.burst / (limit.per_minute / 60.0)) + 1)


def reset(name: str) -> None:
    """Forget a bucket (tests; an administrator lifting a block)."""
    cache.delete(PREFIX + name)

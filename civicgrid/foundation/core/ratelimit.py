"""Token buckets in Django's cache, the one rate limiter of the site (SECURITY.md: sign-in, tokens, public
reporting and Open311 are rate limited).

A bucket holds up to `burst` tokens and refills at `per_minute`/60 tokens a second; each request takes one. The
state is two numbers under one cache key, read and written without a lock: two requests racing may both get the
last token, which a limit meant to stop floods and key guessing can afford. With the default local-memory cache
each web worker keeps its own buckets (so the effective limit is per worker); a shared cache (Redis, database)
in `CACHES` makes it one limit for the whole site.

A limit with a negative rate is no limit; a zero rate or burst closes the door (every request waits a minute).
Callers name their buckets by what they count ("open311:addr:10.0.0.1", "report:user:42"), so the limits of
different doors never share tokens.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from .errors import CivicgridError

PREFIX = "ratelimit:"


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


def check(*buckets: tuple[str, Limit]) -> None:
    """Take a token from each `(name, limit)` bucket; `RateLimited` with the longest wait when any is empty.
    Every bucket is charged, so a flood held back by one limit still counts against the others."""
    wait = max((take(name, limit) for name, limit in buckets), default=0.0)
    if wait:
        raise RateLimited(wait)

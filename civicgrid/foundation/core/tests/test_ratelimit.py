"""The site's one rate limiter: token buckets in the cache, and the 429 it raises."""

from __future__ import annotations

from civicgrid.foundation.core import ratelimit
from civicgrid.foundation.core.ratelimit import Limit, RateLimited


def test_a_bucket_gives_its_burst_then_refills_at_its_rate():
    limit = Limit(per_minute=60, burst=2)
    assert ratelimit.take("t:a", limit, now=1000.0) == 0.0
    assert ratelimit.take("t:a", limit, now=1000.0) == 0.0
    assert ratelimit.take("t:a", limit, now=1000.0) == 1.0  # a token a second
    assert ratelimit.take("t:a", limit, now=1001.0) == 0.0
    assert ratelimit.take("t:b", limit, now=1001.0) == 0.0  # another bucket is its own


def test_per_hour_negative_and_zero_limits():
    hourly = Limit.per_hour(6, 1)
    assert ratelimit.take("t:h", hourly, now=0.0) == 0.0
    assert round(ratelimit.take("t:h", hourly, now=0.0)) == 600  # one report per ten minutes
    assert ratelimit.take("t:open", Limit.per_hour(-1, 0)) == 0.0
    assert ratelimit.take("t:closed", Limit.per_hour(0, 5)) == 60.0


def test_check_charges_every_bucket_and_raises_with_the_longest_wait():
    one, many = Limit(per_minute=1, burst=1), Limit(per_minute=60, burst=100)
    ratelimit.check(("t:one", one), ("t:many", many))
    try:
        ratelimit.check(("t:one", one), ("t:many", many))
    except RateLimited as exc:
        assert exc.status == 429 and exc.code == "rate_limited" and 55 <= exc.retry_after <= 60
        assert exc.headers == {"Retry-After": str(exc.retry_after)}
        assert (
            exc.message
            == f"操作过于频繁，请 {exc.retry_after} 秒后再试 / too many requests, retry in {exc.retry_after} s"
        )
    else:
        raise AssertionError("the second request should have been held back")


def test_long_waits_are_said_in_minutes():
    assert RateLimited(599.2).message == "操作过于频繁，请 10 分钟后再试 / too many requests, retry in 10 min"
    assert RateLimited(0.2).retry_after == 1

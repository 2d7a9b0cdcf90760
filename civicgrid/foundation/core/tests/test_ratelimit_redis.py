"""Rate-limit buckets several hosts share through Redis (CIVICGRID_REDIS_URL): the file store's semantics, done
atomically in the real Redis (the `redis_buckets` fixture: a key prefix per test; skipped when no Redis answers),
keys that expire, and what each door does when Redis is away (a closed port)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from civicgrid.foundation.core import ratelimit
from civicgrid.foundation.core.ratelimit import Limit, RateLimited

# (name, burst, tokens a second, now): fractions, a burst below one, a clock going back, a long pause, many names.
TAKES = [
    ("a", 2.0, 1.0, 1000.0),
    ("a", 2.0, 1.0, 1000.0),
    ("a", 2.0, 1.0, 1000.0),
    ("a", 2.0, 1.0, 1000.3),
    ("a", 2.0, 1.0, 1001.0),
    ("a", 2.0, 1.0, 1000.5),
    ("a", 2.0, 1.0, 1003.7),
    ("b", 0.5, 0.25, 1000.0),
    ("b", 0.5, 0.25, 1002.0),
    ("c", 3.0, 1 / 360, 0.0),
    ("c", 3.0, 1 / 360, 0.1),
    ("c", 3.0, 1 / 360, 0.2),
    ("c", 3.0, 1 / 360, 0.3),
    ("c", 3.0, 1 / 360, 123.456789),
    ("c", 3.0, 1 / 360, 360.0),
    ("d", 7.5, 0.1, 5.0),
    *[("e", 4.0, 0.7, 2000.0 + i * 0.33) for i in range(20)],
]


def _redis_store(values) -> ratelimit.RedisStore:
    return ratelimit.RedisStore(values["CIVICGRID_REDIS_URL"], values["CIVICGRID_REDIS_PREFIX"], timeout=1.0)


def test_the_settings_put_the_buckets_in_redis_and_not_in_the_file(redis_buckets, tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        assert isinstance(ratelimit.store(), ratelimit.RedisStore)
        assert ratelimit.take("t:where", Limit(per_minute=60, burst=1)) == 0.0
    assert not (tmp_path / ratelimit.FILE_NAME).exists()
    keys = ratelimit.store().client.keys(redis_buckets["CIVICGRID_REDIS_PREFIX"] + "*")
    assert keys == [f"{redis_buckets['CIVICGRID_REDIS_PREFIX']}ratelimit:t:where".encode()]


def test_redis_gives_the_same_answers_as_the_file_for_the_same_takes(redis_buckets, tmp_path):
    in_file, in_redis = ratelimit.SqliteStore(tmp_path / "b.sqlite3"), _redis_store(redis_buckets)
    from_file = [in_file.take(name, burst, rate, now, 3600) for name, burst, rate, now in TAKES]
    from_redis = [in_redis.take(name, burst, rate, now, 3600) for name, burst, rate, now in TAKES]
    assert from_redis == from_file  # exactly, to the last bit of every wait
    assert from_file.count(0.0) not in (0, len(TAKES))  # the sequence both gives and refuses


def test_the_public_api_limits_the_same_through_redis(redis_buckets):
    limit = Limit(per_minute=60, burst=2)
    assert ratelimit.take("t:a", limit, now=1000.0) == 0.0
    assert ratelimit.take("t:a", limit, now=1000.0) == 0.0
    assert ratelimit.take("t:a", limit, now=1000.0) == 1.0  # a token a second
    assert ratelimit.take("t:a", limit, now=1001.0) == 0.0
    assert ratelimit.take("t:b", limit, now=1001.0) == 0.0  # another bucket is its own
    one, many = Limit(per_minute=1, burst=1), Limit(per_minute=60, burst=100)
    ratelimit.check(("t:one", one), ("t:many", many))
    with pytest.raises(RateLimited) as refused:
        ratelimit.check(("t:one", one), ("t:many", many))
    assert refused.value.status == 429 and 55 <= refused.value.retry_after <= 60
    ratelimit.reset("t:one")
    ratelimit.check(("t:one", one))


def test_two_hosts_share_one_bucket(redis_buckets):
    first, second = _redis_store(redis_buckets), _redis_store(redis_buckets)
    assert first.take("b", 2.0, 1.0, 1000.0, 5) == 0.0
    assert second.take("b", 2.0, 1.0, 1000.0, 5) == 0.0
    assert first.take("b", 2.0, 1.0, 1000.0, 5) == 1.0
    assert second.take("b", 2.0, 1.0, 1000.5, 5) == 0.5  # half a token back after half a second
    second.delete("b")
    assert first.take("b", 2.0, 1.0, 1000.5, 5) == 0.0


def test_another_prefix_is_another_deployment(redis_buckets):
    ours = _redis_store(redis_buckets)
    theirs = ratelimit.RedisStore(
        redis_buckets["CIVICGRID_REDIS_URL"], redis_buckets["CIVICGRID_REDIS_PREFIX"] + "x:"
    )
    try:
        assert ours.take("b", 1.0, 1.0, 1000.0, 5) == 0.0
        assert theirs.take("b", 1.0, 1.0, 1000.0, 5) == 0.0  # its own bucket of that name
        theirs.delete()  # forgetting every bucket of one deployment leaves the other's
        assert ours.take("b", 1.0, 1.0, 1000.0, 5) == 1.0
    finally:
        theirs.delete()


def test_a_bucket_key_expires_when_the_bucket_would_be_full_again(redis_buckets):
    limit = Limit.per_hour(6, 3)  # a token per ten minutes, three of them: full after 30 minutes
    ratelimit.take("t:ttl", limit)
    client, key = ratelimit.store().client, ratelimit.store().key("t:ttl")
    assert 0 < client.ttl(key) <= ratelimit._ttl(limit) == 1801
    assert client.ttl(key) > 1700


def test_a_prefix_with_glob_characters_forgets_only_its_own_buckets(redis_buckets):
    odd = ratelimit.RedisStore(
        redis_buckets["CIVICGRID_REDIS_URL"], redis_buckets["CIVICGRID_REDIS_PREFIX"] + "[*]:"
    )
    near = ratelimit.RedisStore(
        redis_buckets["CIVICGRID_REDIS_URL"], redis_buckets["CIVICGRID_REDIS_PREFIX"] + "a:"
    )
    try:
        odd.take("b", 1.0, 1.0, 1000.0, 60)
        near.take("b", 1.0, 1.0, 1000.0, 60)
        odd.delete()
        assert odd.take("b", 1.0, 1.0, 1000.0, 60) == 0.0
        assert near.take("b", 1.0, 1.0, 1000.0, 60) == 1.0  # "[*]" is no pattern matching "a"
    finally:
        odd.delete()
        near.delete()


# A host of the deployment: waits for the go file, then takes `takes` tokens from one Redis bucket with four
# threads at once, and prints how many it got.
TAKER = """
import sys, threading, time
from pathlib import Path
from civicgrid.foundation.core.ratelimit import RedisStore

url, prefix, go, takes = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
store = RedisStore(url, prefix, timeout=5)
store.take("warm:" + sys.argv[5], 1.0, 1.0, time.time(), 60)  # connected before the race starts
got = []
def run(n):
    for _ in range(n):
        got.append(store.take("race", 7.0, 1 / 3600, time.time(), 3600) == 0.0)
while not go.exists():
    time.sleep(0.001)
threads = [threading.Thread(target=run, args=(takes // 4,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(got))
"""


def test_two_processes_taking_from_one_redis_bucket_never_get_more_than_its_burst(redis_buckets, tmp_path):
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                TAKER,
                redis_buckets["CIVICGRID_REDIS_URL"],
                redis_buckets["CIVICGRID_REDIS_PREFIX"],
                str(go),
                "40",
                str(i),
            ],
            cwd=Path(settings.BASE_DIR),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    time.sleep(0.5)
    go.touch()
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        counts.append(int(out))
    assert sum(counts) == 7  # 80 takes, a burst of 7 and no refill to speak of: exactly 7, never more


def test_the_script_is_loaded_again_after_redis_forgets_it(redis_buckets):
    ratelimit.take("t:script", Limit(per_minute=60, burst=5))
    ratelimit.store().client.script_flush()  # as after a Redis restart
    assert ratelimit.take("t:script", Limit(per_minute=60, burst=5)) == 0.0


# ---- Redis away ------------------------------------------------------------------------------------------------


def test_an_unreachable_redis_lets_open_doors_through_and_closes_the_others(unreachable_redis, caplog):
    closed = Limit(per_minute=60, burst=1)
    with caplog.at_level(logging.WARNING, logger="civicgrid.foundation.core.ratelimit"):
        for _ in range(3):
            assert ratelimit.take("t:open", closed) == 0.0
        with pytest.raises(ratelimit.Unavailable) as refused:
            ratelimit.check(("t:closed", closed), fail_closed=True)
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "60"}
    warnings = [r.getMessage() for r in caplog.records if r.name == "civicgrid.foundation.core.ratelimit"]
    assert len(warnings) == 1 and "bucket store failed" in warnings[0]
    assert f"redis 127.0.0.1:{unreachable_redis}/0" in warnings[0]


def test_after_a_refused_connection_redis_is_not_asked_again_at_once(unreachable_redis):
    store = ratelimit.store()
    with pytest.raises(ratelimit.StoreFailed, match="Connection refused|Error 111"):
        store.take("t:x", 1.0, 1.0, None, 60)
    with pytest.raises(ratelimit.StoreFailed, match="not asked again yet"):
        store.take("t:x", 1.0, 1.0, None, 60)


def test_a_password_in_the_url_is_never_in_what_the_store_says():
    store = ratelimit.RedisStore("redis://:s3cret@127.0.0.1:1/0")
    assert store.location == "redis 127.0.0.1:1/0"
    with pytest.raises(ratelimit.StoreFailed) as failed:
        store.ping()
    assert "s3cret" not in str(failed.value)


# ---- /healthz --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_says_when_the_bucket_store_is_unreachable_and_stays_up(unreachable_redis):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "rate_limits": "unavailable"}


@pytest.mark.django_db
def test_healthz_is_plain_ok_with_redis_answering(redis_buckets):
    assert Client().get("/healthz").json() == {"status": "ok"}

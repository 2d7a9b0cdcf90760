"""The site's one rate limiter: token buckets every process of the host shares, and the 429 it raises."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

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


# ---- one store for every process of the host ------------------------------------------------------------------

# A process of the deployment: waits for the go file, then takes `takes` tokens from one bucket with four threads
# at once, and prints how many it got.
TAKER = """
import sys, threading, time
from pathlib import Path
from civicgrid.foundation.core.ratelimit import SqliteStore

path, go, takes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
store = SqliteStore(path)
store.take("warm:" + sys.argv[4], 1.0, 1.0, time.time(), 60)  # open the file before the race starts
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


def test_two_processes_taking_from_one_bucket_never_get_more_than_its_burst(tmp_path):
    """The integrator's finding: with a bucket per process, two web workers let twice the burst through."""
    go = tmp_path / "go"
    cwd = Path(settings.BASE_DIR)
    procs = [subprocess.Popen([sys.executable, "-c", TAKER, str(tmp_path / "buckets.sqlite3"), str(go), "40",
                               str(i)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    time.sleep(0.5)
    go.touch()
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        counts.append(int(out))
    assert sum(counts) == 7  # 80 takes, a burst of 7 and no refill to speak of: exactly 7, never more


def test_a_bucket_in_one_process_is_the_same_bucket_in_another(tmp_path):
    path = tmp_path / "buckets.sqlite3"
    first, second = ratelimit.SqliteStore(path), ratelimit.SqliteStore(path)
    assert first.take("b", 2.0, 1.0, 1000.0, 5) == 0.0
    assert second.take("b", 2.0, 1.0, 1000.0, 5) == 0.0
    assert first.take("b", 2.0, 1.0, 1000.0, 5) == 1.0
    assert second.take("b", 2.0, 1.0, 1000.5, 5) == 0.5  # half a token back after half a second
    second.delete("b")
    assert first.take("b", 2.0, 1.0, 1000.5, 5) == 0.0


def test_the_buckets_are_in_the_data_dir_and_not_the_main_database(tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        assert ratelimit.take("t:where", Limit(per_minute=60, burst=1)) == 0.0
        assert ratelimit.store().path == tmp_path / ratelimit.FILE_NAME
        assert (tmp_path / ratelimit.FILE_NAME).exists()
        assert (tmp_path / ratelimit.FILE_NAME).stat().st_mode & 0o077 == 0
    assert ratelimit.store().path == Path(settings.DATA_DIR) / ratelimit.FILE_NAME


def test_buckets_full_again_are_deleted_now_and_then(tmp_path):
    store = ratelimit.SqliteStore(tmp_path / "b.sqlite3")
    store.take("old", 2.0, 1.0, 1000.0, 3)
    store.take("new", 2.0, 1.0, 1000.0 + ratelimit.SWEEP_SECONDS + 1, 3600)
    names = [r[0] for r in sqlite3.connect(tmp_path / "b.sqlite3").execute("SELECT name FROM bucket")]
    assert names == ["new"]


# ---- a store that fails ---------------------------------------------------------------------------------------


@pytest.fixture
def broken_store(tmp_path, caplog):
    """A data dir where the bucket file cannot be made (a directory of that name stands there)."""
    (tmp_path / ratelimit.FILE_NAME).mkdir()
    with override_settings(DATA_DIR=tmp_path):
        ratelimit._failing = False
        yield tmp_path
    ratelimit._failing = False


def test_a_failed_store_lets_open_doors_through_and_warns_once_per_incident(broken_store, caplog):
    closed = Limit(per_minute=60, burst=1)
    with caplog.at_level(logging.WARNING, logger="civicgrid.foundation.core.ratelimit"):
        for _ in range(5):
            assert ratelimit.take("t:open-on-failure", closed) == 0.0
            ratelimit.check(("t:open-on-failure", closed))
    warnings = [r for r in caplog.records if r.name == "civicgrid.foundation.core.ratelimit"]
    assert len(warnings) == 1 and "bucket store failed" in warnings[0].getMessage()

    (broken_store / ratelimit.FILE_NAME).rmdir()  # repaired: the next take works, says so, and limits again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="civicgrid.foundation.core.ratelimit"):
        assert ratelimit.take("t:open-on-failure", closed) == 0.0
        assert ratelimit.take("t:open-on-failure", closed) > 0.0
    assert [r.getMessage() for r in caplog.records] == ["rate limits: the bucket store works again"]


def test_a_failed_store_closes_the_doors_that_fail_closed(broken_store):
    with pytest.raises(ratelimit.Unavailable) as refused:
        ratelimit.check(("t:closed-on-failure", Limit(per_minute=60, burst=100)), fail_closed=True)
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "60"}


@pytest.mark.django_db
def test_healthz_stays_up_and_says_the_bucket_store_failed(broken_store):
    """The host still serves (reports go through, only tokens are refused), so the load balancer keeps it; the
    answer tells the monitoring what is wrong."""
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "rate_limits": "unavailable"}
    (broken_store / ratelimit.FILE_NAME).rmdir()
    assert Client().get("/healthz").json() == {"status": "ok"}

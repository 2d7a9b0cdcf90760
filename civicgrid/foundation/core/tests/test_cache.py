"""The default cache backend: Django's local-memory cache that keeps values which cannot change unpickled."""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.core.cache import cache, caches
from django.test import override_settings

from civicgrid.foundation.core.cache import Generation, LocalMemoryCache, immutable


@pytest.fixture
def local():
    store = LocalMemoryCache("civicgrid-test-cache", {"TIMEOUT": 60})
    store.clear()
    yield store
    store.clear()


def test_it_is_the_default_cache():
    assert isinstance(caches["default"], LocalMemoryCache)


@pytest.mark.parametrize("value", [1, 2.5, "文本", b"raw", True, None, (1.0, 2.0), ("a", (1, None)),
                                   frozenset({1, 2}), datetime.datetime(2026, 11, 30, 8, 0, tzinfo=datetime.UTC),
                                   datetime.date(2026, 11, 30), decimal.Decimal("1.5")])
def test_values_that_cannot_change_are_kept_as_they_are(local, value):
    assert immutable(value)
    local.set("k", value)
    got = local.get("k")
    assert got == value and got is value  # no copy made: nothing a reader does can change it


class Text(str):
    """A subclass may add mutable state: it is pickled like any other object."""


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, {1, 2}, (1, [2]), ("a", {"b": 1}), Text("x"),
                                   ((((1,),),),)])
def test_anything_else_is_pickled_so_a_reader_cannot_change_what_the_next_gets(local, value):
    assert not immutable(value)
    local.set("k", value)
    got = local.get("k")
    assert got == value and got is not value
    if isinstance(got, list):
        got.append(3)
    elif isinstance(got, dict):
        got["changed"] = True
    elif isinstance(got, tuple) and isinstance(got[-1], list):
        got[-1].append(3)
    assert local.get("k") == value


def test_add_incr_expiry_and_clear_work_on_kept_and_pickled_values(local):
    assert local.add("n", 1) is True and local.add("n", 5) is False
    assert local.incr("n") == 2 and local.incr("n", 10) == 12 and local.get("n") == 12
    with pytest.raises(ValueError):
        local.incr("missing")
    local.set("gone", (1, 2), timeout=-1)  # expired at once
    assert local.get("gone", "default") == "default" and not local.has_key("gone")
    local.set_many({"a": (1,), "b": [1]})
    assert local.get_many(["a", "b", "c"]) == {"a": (1,), "b": [1]}
    local.clear()
    assert local.get("n") is None and local.get("a") is None


def test_the_default_cache_is_cleared_for_kept_values_too():
    cache.set("civicgrid-test:kept", (1.0, 2.0))
    cache.clear()
    assert cache.get("civicgrid-test:kept") is None


def test_a_generation_read_in_one_process_moves_when_another_bumps_it(tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        # Two instances map the same stamp, as two processes do; another kind of entry has its own.
        here, there, other = Generation("clients-a"), Generation("clients-a"), Generation("clients-b")
        before, unrelated = here.token(), other.token()
        assert before == there.token() and (tmp_path / "stamps" / "clients-a").stat().st_size == Generation.SIZE
        there.bump()
        assert here.token() != before and here.token() == there.token()
        tokens = {before, here.token()}
        for _ in range(50):  # changes however close together are told apart
            there.bump()
            tokens.add(here.token())
        assert len(tokens) == 52 and other.token() == unrelated


def test_with_a_shared_cache_a_generation_is_empty_and_writes_nothing(tmp_path):
    shared = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(tmp_path / "cache")}}
    with override_settings(CACHES=shared, DATA_DIR=tmp_path):
        generation = Generation("clients-a")
        generation.bump()
        assert generation.token() == "" and not (tmp_path / "stamps").exists()

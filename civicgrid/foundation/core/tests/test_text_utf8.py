"""`first_not_utf8`: which pair of a form-encoded body is not UTF-8, with the one-pass check in front of it."""

from urllib.parse import quote

import pytest

from civicgrid.foundation.core.text import first_not_utf8

ZH = quote("小区门口垃圾堆放")


@pytest.mark.parametrize("raw", [
    b"",
    b"a=1&b=two+words",
    f"description={ZH}&lat=40.1&long=113.3".encode(),
    f"{ZH}={ZH}".encode(),
    b"a=%25&b=%2",  # a literal percent sign, and a % that is no escape: kept as sent, both ASCII
    b"a=%zz&b=%",
    "a=小区".encode(),  # raw UTF-8 bytes, not escaped
    b"a=%EF%BF%BD",  # U+FFFD itself, sent properly: it is UTF-8
])
def test_utf8_bodies_pass(raw):
    assert first_not_utf8(raw) is None


@pytest.mark.parametrize(("raw", "name"), [
    (b"a=1&description=%FF%FE&z=2", "description"),
    (b"ok=1&bad=\xff", "bad"),  # a raw byte that is not UTF-8
    (f"{ZH}=%E5%B0".encode(), "小区门口垃圾堆放"),  # a sequence cut short at the end of the value
    (b"a=%E5&%B0%8F=1", "a"),  # a sequence cut by the separator is wrong in both of its halves
    (b"a=%E5%B0=%8F", "a"),
    (b"%FFname=1", "name"),  # the part of a name that is UTF-8
    (b"%FF=1", ""),
    (b"a=1&b=%C3+%A9", "b"),  # + is a space, which ends the sequence
])
def test_the_first_pair_not_utf8_is_named(raw, name):
    assert first_not_utf8(raw) == name

"""A wrong answer to a service's question (`attribute[code]`) is refused with a 400 whose two halves both say
why: the English half names the value sent and the keys the question offers, or what kind of value it takes, as
the Chinese half does; nothing is written."""

from __future__ import annotations

import pytest

from civicgrid.integrations.open311.models import Datatype, ServiceAttribute

from .conftest import form, post, spec_error, world_counts

pytestmark = pytest.mark.django_db


def english_half(description: str) -> str:
    zh, sep, en = description.partition(" / ")
    assert sep and zh and en, description
    return en


def refused(o311, http, fmt: str = "json", **attributes) -> str:
    before = world_counts()
    description = spec_error(post(http, f"requests.{fmt}", form(o311, **attributes)), 400)
    assert world_counts() == before
    return description


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_value_not_among_the_keys_is_named_with_the_keys_in_english_too(o311, http, fmt):
    description = refused(o311, http, fmt, **{"attribute[affects_traffic]": "maybe"})
    assert "不在可选值中（maybe）" in description
    assert english_half(description) == 'attribute affects_traffic is not valid: "maybe" is not one of its keys (yes, no)'


def test_each_kind_of_wrong_value_says_why_in_english(o311, http):
    ServiceAttribute.objects.create(category=o311.cat, code="count", datatype=Datatype.NUMBER, description="数量")
    ServiceAttribute.objects.create(category=o311.cat, code="seen", datatype=Datatype.DATETIME, description="发现时间")
    ServiceAttribute.objects.create(category=o311.cat, code="kinds", datatype=Datatype.MULTI, description="种类",
                                    values=[{"key": "paper", "name": "纸"}, {"key": "glass", "name": "玻璃"}])
    cases = {
        "attribute[count]": ("many", "it must be a number"),
        "attribute[seen]": ("yesterday", "it must be a W3C datetime"),
        "attribute[kinds][]": ("wood", '"wood" is not one of its keys (paper, glass)'),
    }
    for name, (value, why) in cases.items():
        assert english_half(refused(o311, http, **{name: value})).endswith(why), name
    two = form(o311, **{"attribute[affects_traffic]": None})
    two["attribute[affects_traffic][]"] = ["yes", "no"]
    before = world_counts()
    description = spec_error(post(http, "requests.json", two), 400)
    assert english_half(description).endswith("it takes one value") and "只能有一个值" in description
    assert world_counts() == before


def test_a_value_with_quotes_or_a_slash_does_not_split_the_message(o311, http):
    description = refused(o311, http, **{"attribute[affects_traffic]": 'a / "b"'})
    assert description.count(" / ") == 1

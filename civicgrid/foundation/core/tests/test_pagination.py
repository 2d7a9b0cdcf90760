"""The shared page helper bounds limit and offset (an absurd offset is an empty page, not a 500)."""

import pytest

from civicgrid.foundation.core.pagination import page
from civicgrid.foundation.regions.models import Region

pytestmark = pytest.mark.django_db


def test_huge_offset_gives_an_empty_page(tree):
    items, total = page(Region.objects.all(), limit=10, offset=2**80)
    assert items == [] and total == len(tree)


def test_limit_is_clamped(tree):
    items, _ = page(Region.objects.order_by("code"), limit=-5, offset=-3)
    assert [r.code for r in items] == ["140213"]

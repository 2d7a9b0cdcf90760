"""Tests for the regions package; shared helpers for the pure-geometry tests (no database)."""

from __future__ import annotations

import functools

from shapely.geometry.base import BaseGeometry


@functools.cache
def demo_partition() -> dict[str, BaseGeometry]:
    """The demo partition of the bundled Pingcheng data, generated once per test process (~1 s)."""
    from civicgrid.foundation.regions.geometry import demo_partition_from_data

    return demo_partition_from_data()


def codes_of_length(partition: dict[str, BaseGeometry], length: int) -> list[str]:
    """Sorted codes of one level: 6 district, 9 street, 12 community/village, 15 grid."""
    return sorted(code for code in partition if len(code) == length)

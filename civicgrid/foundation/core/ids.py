"""Integer ids from requests, bounded before they reach a query: the databases keep 64-bit integers, and a
larger value is no row at all (SQLite raises OverflowError on it, PostgreSQL a DataError)."""

from __future__ import annotations

from .errors import ValidationFailed

MAX_ID = 2**63 - 1


def checked_id(value: int | None, field: str) -> int | None:
    """`value` as an id (None stays None); outside 1…MAX_ID it can name nothing: a 400 naming `field`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValidationFailed(f"{field} 不是有效的编号 / {field} is not a valid id", field=field)
    return value

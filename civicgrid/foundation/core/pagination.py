"""List helpers shared by API routers: a bounded limit/offset page with a total count."""

from typing import Annotated

from django.db.models import QuerySet
from pydantic import Field

MAX_LIMIT = 1000
MAX_OFFSET = 10**9  # beyond any real table; larger values overflow SQLite's 64-bit integers


def page(queryset: QuerySet, *, limit: int, offset: int) -> tuple[list, int]:
    """One page of a (scoped) queryset and the total count: two queries whatever the page length.

    Anything with `count()` and slices will do (the case list passes `cases.selectors.CaseListing`, which
    reads a page of a large scope in a few small queries)."""
    limit = max(1, min(limit, MAX_LIMIT))
    offset = min(max(0, offset), MAX_OFFSET)
    total = queryset.count()
    return list(queryset[offset : offset + limit]), total


# A list's page parameters as every list declares them: out of range is a 422 naming the parameter and its
# bounds (never silently clamped), and the bounds are in the OpenAPI document for client generators.
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"rows per page, 1–{MAX_LIMIT}")]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="rows to skip, 0 or more")]

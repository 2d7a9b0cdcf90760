"""List helpers shared by API routers: a bounded limit/offset page with a total count."""

from django.db.models import QuerySet

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

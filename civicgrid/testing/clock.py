"""Moving Django's clock in tests."""

from __future__ import annotations

from contextlib import contextmanager

from django.utils import timezone


@contextmanager
def clock_at(moment):
    """Django's clock at `moment` for the block (what the services and `auto_now` read through `timezone.now`)."""
    real = timezone.now
    timezone.now = lambda: moment
    try:
        yield
    finally:
        timezone.now = real

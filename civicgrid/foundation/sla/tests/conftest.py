"""The SLA tests' shared fixture."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_calendar(fresh_calendar):
    """Every SLA test starts from, and leaves, a calendar rebuilt from the database (`fresh_calendar`)."""

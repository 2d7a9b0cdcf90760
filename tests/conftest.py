"""Fixtures the project-wide tests share."""

import pytest
from django.db import transaction

from civicgrid.testing import contract


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Data of every kind (the scope contract's world), one for the whole module and rolled back at its end; each
    test runs in a savepoint inside it."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield contract.build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)

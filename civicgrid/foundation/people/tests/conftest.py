import pytest

from .factories import users


@pytest.fixture
def people_users(tree):
    return users(tree)

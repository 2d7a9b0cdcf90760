"""The scope contract over the web pages' URLs (`ui:`); every other URL's check is in test_scope_contract.py,
which also asserts that the two lists together are every declared URL. A file of its own so that, with
`--dist loadfile`, the two halves of the check run on two workers at once."""

import pytest

from civicgrid.testing import contract
from tests.test_scope_contract import DATA, NAMES, OTHER_NAMES, UI_NAMES, report


def test_the_two_files_check_every_declared_url_once():
    assert UI_NAMES and OTHER_NAMES
    assert sorted(UI_NAMES + OTHER_NAMES) == NAMES == sorted(DATA)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", UI_NAMES)
def test_data_endpoint_stays_in_scope(world, url_name):
    problems = contract.Checker(world, DATA[url_name]).run()
    assert not problems, "\n" + report(problems)

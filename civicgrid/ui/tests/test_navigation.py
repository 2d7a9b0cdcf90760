"""The menu shows exactly the foundation pages a user's roles open."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db

FOUNDATION = {"regions", "people", "residents", "orgs"}


def menu_keys(client) -> set[str]:
    html = client.get(reverse("ui:home")).content.decode()
    return set(re.findall(r'data-nav="([^"]+)"', html)) & FOUNDATION


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.GRID_WORKER, FOUNDATION),
        (Role.STREET_STAFF, FOUNDATION),
        (Role.LEADER, FOUNDATION),
        (Role.VOLUNTEER, {"regions", "orgs"}),
        (Role.RESIDENT, set()),
        (Role.AUDIT_ADMIN, set()),
        (Role.SECURITY_ADMIN, set()),
    ],
)
def test_menu_by_role(role, expected, tree, client_for):
    user = user_with(role, region=tree["140213050"] if role not in {Role.AUDIT_ADMIN, Role.SECURITY_ADMIN} else None)
    assert menu_keys(client_for(user)) == expected


def test_department_handler_sees_regions_and_orgs_not_people(tree, client_for):
    handler = user_with(Role.DEPARTMENT_HANDLER, department=department())
    assert menu_keys(client_for(handler)) == {"regions", "orgs"}


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        (Role.VOLUNTEER, "ui:people_index", 403),
        (Role.VOLUNTEER, "ui:region_list", 200),
        (Role.RESIDENT, "ui:org_list", 403),
        (Role.GRID_WORKER, "ui:people_index", 200),
    ],
)
def test_menu_entries_match_what_the_pages_allow(role, url, status, tree, client_for):
    user = user_with(role, region=tree["140213050"])
    assert client_for(user).get(reverse(url)).status_code == status

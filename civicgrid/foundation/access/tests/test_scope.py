"""The scoped read path: subtrees, ancestors, departments, default deny."""

import pytest

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.regions.models import Region
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db


def codes(qs):
    return sorted(qs.values_list("code", flat=True))


def test_grid_worker_sees_own_grid_and_its_ancestors_only(tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    visible = codes(Region.objects.visible_to(worker))
    assert visible == ["140213", "140213050", "140213050001", "140213050001001"]


def test_street_staff_sees_whole_street_subtree_not_the_other_street(tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213051"])
    visible = codes(Region.objects.visible_to(staff))
    assert "140213051002002" in visible
    assert not any(c.startswith("140213050") for c in visible)
    assert len(visible) == 1 + 1 + 2 + 4  # district (ancestor) + street + 2 communities + 4 grids


def test_department_handler_sees_region_tree_but_no_residents(tree):
    handler = user_with(Role.DEPARTMENT_HANDLER, department=department())
    assert Region.objects.visible_to(handler).count() == len(tree)
    from civicgrid.foundation.people.models import Resident

    Resident.objects.create(name="张三", region_code="140213050001001", grid=tree["140213050001001"])
    assert Resident.objects.visible_to(handler).count() == 0


def test_no_grant_means_nothing(tree):
    from civicgrid.foundation.access.models import User

    nobody = User.objects.create_user(username="nobody", password="x")
    assert Region.objects.visible_to(nobody).count() == 0
    assert scope_for(nobody, "regions.view").empty


def test_nested_grants_collapse_to_the_outer_subtree(tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    from civicgrid.foundation.access.models import Grant

    Grant.objects.create(user=staff, role=Role.STREET_STAFF, region=tree["140213050001"])
    staff._civicgrid_grants = None
    del staff._civicgrid_grants
    assert scope_for(staff, "regions.view").region_codes == {"140213050"}


def test_scope_filter_is_one_query(tree, django_assert_num_queries):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    staff = type(staff).objects.get(pk=staff.pk)
    with django_assert_num_queries(2):  # grants once, then the list
        list(Region.objects.visible_to(staff))
    with django_assert_num_queries(1):  # grants are cached for the request
        list(Region.objects.visible_to(staff))

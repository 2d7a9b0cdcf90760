"""自行处置 is recorded closed on the spot, skipping 核查: only inside the grids where the reporter is the one who
checks (their scope for `cases.verify`). Elsewhere the report is refused as self-handled, with nothing made, and
can be sent as an ordinary report."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, Source, Status
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.testing.builders import user_with

from .conftest import NEIGHBOUR_POINT, OTHER_STREET_POINT, jpeg, report, world_counts

pytestmark = pytest.mark.django_db

PHOTOS = [("before", jpeg()), ("after", jpeg(color=(10, 200, 10)))]


def _self_handled(loop, actor, point):
    return report(loop, actor=actor, self_handled=True, source=Source.SELF_HANDLED, photos=PHOTOS,
                  lng=point[0], lat=point[1])


@pytest.mark.parametrize("point", [NEIGHBOUR_POINT, OTHER_STREET_POINT])
def test_a_grid_worker_cannot_record_self_handled_outside_their_grid(loop, point):
    before = world_counts()
    with pytest.raises(PermissionDenied) as refused:
        _self_handled(loop, loop.worker, point)
    assert refused.value.field == "self_handled" and "普通事件上报" in refused.value.message
    assert world_counts() == before
    # as an ordinary report it goes through
    case = report(loop, lng=point[0], lat=point[1])
    assert case.status == Status.REPORTED and not case.is_self_handled


def test_community_staff_record_self_handled_in_every_grid_of_their_community(loop):
    staff = user_with(Role.COMMUNITY_STAFF, region=loop.tree["140213050001"], username="sq")
    case = _self_handled(loop, staff, NEIGHBOUR_POINT)
    assert case.status == Status.CLOSED and case.is_self_handled and case.region_code == "140213050001002"
    with pytest.raises(PermissionDenied):
        _self_handled(loop, staff, OTHER_STREET_POINT)
    assert Case.objects.count() == 1

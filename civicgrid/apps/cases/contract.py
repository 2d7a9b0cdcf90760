"""Scope contract hooks: one case per placement, in its grid and dispatched to the placement's department; who
reads the open routing proposals (规则更正建议)."""

import itertools

from django.utils import timezone

from civicgrid.testing.contract import PLACEMENT_GRIDS, Placement, register_factory, register_scope

from .models import Case, CaseReporter, Status

_seq = itertools.count(90001)


def _case(placement: Placement) -> Case:
    grid = placement.grid
    mark = placement.mark()
    return Case.objects.create(
        number=f"{timezone.localdate():%Y%m%d}{next(_seq):05d}", title=f"契约测试 {mark}",
        title_masked=f"契约测试 {mark}", description=mark,
        source="grid_worker", status=Status.DISPATCHED, lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid,
        region_code=grid.code, department=placement.department, reported_at=timezone.now(),
    )


register_factory("cases.Case", _case)


def _own_reports(user):
    """我的上报: an account sees exactly the reports it made itself."""
    return CaseReporter.objects.filter(user_id=user.pk)


def _reporter(placement: Placement) -> CaseReporter:
    # Each placement's report is made by a different persona (personas exist before objects are built), so some
    # users see one report of their own and everybody else sees none of them.
    from civicgrid.foundation.access.models import User

    users = list(User.objects.filter(username__startswith="contract-").exclude(username="contract-owner")
                 .order_by("username").values_list("pk", flat=True))
    case = _case(placement)
    index = 5 * PLACEMENT_GRIDS.index(placement.grid.code) + 2
    return CaseReporter.objects.create(case=case, original_case=case, user_id=users[index % len(users)],
                                       follow_token=f"contract-{case.number}-{placement.mark()}"[:64])


register_scope("cases.CaseReporter", _own_reports)
register_factory("cases.CaseReporter", _reporter)


def _open_proposals(user):
    """规则更正建议: those who manage routing rules read every open one (`routing_proposals.open_proposals`, the
    list page's own read path); nobody else any."""
    from .services.routing_proposals import open_proposals

    return open_proposals(user)


register_scope("cases.RoutingProposal", _open_proposals)

"""The alternatives of a case's view scope (`Case.scope_branches`): their union is exactly the scoped filter,
for every kind of user, so a reader that takes them one by one (the case list) reads the same rows."""

from __future__ import annotations

import pytest
from django.db.models import Q

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.hazards.models import Hazard
from civicgrid.foundation.access.scope import scope_for, scoped_branches, scoped_q

from .conftest import report

pytestmark = pytest.mark.django_db

KINDS = ["worker", "neighbour_worker", "dispatcher", "street_dispatcher", "other_street_dispatcher", "handler",
         "other_handler", "leader", "resident"]


def _union(branches):
    q = Q()
    for branch in branches:
        q |= branch
    return q


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("action", ["view", "export"])
def test_the_branches_of_a_case_scope_read_what_the_scoped_path_reads(loop, kind, action):
    own = report(loop, actor=loop.resident, source="public")
    dispatched = report(loop)
    act(actor=loop.dispatcher, case=dispatched, action="accept")
    act(actor=loop.dispatcher, case=dispatched, action="dispatch", department=loop.dept.pk)
    report(loop, actor=loop.neighbour_worker)
    user = getattr(loop, kind)
    scope = scope_for(user, Case.scope_capability(action))
    branches = scoped_branches(Case, scope, user, action)
    expected = set(Case.objects.visible_to(user, action).values_list("pk", flat=True))
    got = set(Case.objects.filter(_union(branches)).values_list("pk", flat=True)) if branches else set()
    assert got == expected
    assert (scoped_q(Case, scope, user, action) is None) == (branches == [])
    if kind == "resident":
        # the resident sees their own report by its own alternative, for viewing only
        assert (Q(reporter_id=user.pk) in branches) == (action == "view")
        assert (own.pk in got) == (action == "view")


def test_a_model_that_writes_its_own_scope_filter_is_one_alternative(loop):
    scope = scope_for(loop.handler, Hazard.scope_capability("view"))
    q = scoped_q(Hazard, scope, loop.handler, "view")
    assert q is not None and scoped_branches(Hazard, scope, loop.handler, "view") == [q]

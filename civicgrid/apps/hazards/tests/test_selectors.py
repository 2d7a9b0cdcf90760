"""The scoped reads pages, the API and the exports share: filters, scope, prefetching, the street summary."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicgrid.apps.hazards import selectors, services
from civicgrid.apps.hazards.models import Hazard
from civicgrid.foundation.core.errors import NotFound, ValidationFailed

from .conftest import GRID, OTHER_STREET_POINT, flood_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def points(world):
    a = services.register_hazard(actor=world.worker, **flood_fields(name="甲路积水点", address="甲路1号"))
    b = services.register_hazard(actor=world.street, **flood_fields(name="乙街", grade="major", category="roof_leak"))
    c = services.register_hazard(actor=world.street, **flood_fields(kind="safety", category="hazchem", name="丙化工"))
    d = services.register_hazard(actor=world.centre, **flood_fields(name="丁路", lng=OTHER_STREET_POINT[0],
                                                                     lat=OTHER_STREET_POINT[1]))
    services.act(actor=world.street, hazard=a, action="start", measures="清淤",
                 deadline=(timezone.localdate() + dt.timedelta(days=5)).isoformat())
    services.mark_overdue(a.pk)
    return a, b, c, d


def codes(qs) -> list[str]:
    return list(qs.values_list("code", flat=True))


def test_filters(world, points):
    a, b, c, d = points
    u = world.centre
    assert codes(selectors.hazard_list(u)) == sorted(h.code for h in points)
    assert codes(selectors.hazard_list(u, kind="safety")) == [c.code]
    assert codes(selectors.hazard_list(u, kind="flood,safety")) == sorted(h.code for h in points)
    assert codes(selectors.hazard_list(u, street="140213051")) == [d.code]
    assert codes(selectors.hazard_list(u, street=GRID, kind="flood")) == [a.code, b.code]
    assert codes(selectors.hazard_list(u, status="rectifying")) == [a.code]
    assert set(codes(selectors.hazard_list(u, status="open"))) == {h.code for h in points}
    assert codes(selectors.hazard_list(u, grade="major")) == [b.code]
    assert codes(selectors.hazard_list(u, category="roof_leak")) == [b.code]
    assert set(codes(selectors.hazard_list(u, supervised=True))) == {a.code, b.code}
    assert codes(selectors.hazard_list(u, overdue="true")) == [a.code]
    assert set(codes(selectors.hazard_list(u, overdue=False))) == {b.code, c.code, d.code}
    assert codes(selectors.hazard_list(u, q="甲路1号")) == [a.code]
    assert codes(selectors.hazard_list(u, q=c.code)) == [c.code]


@pytest.mark.parametrize("bad", [{"kind": "fire"}, {"street": "14021"}, {"status": "finished"}, {"grade": "x"},
                                 {"category": "nope"}, {"supervised": "maybe"}, {"overdue": "2"}])
def test_invalid_filters_raise(world, bad):
    with pytest.raises(ValidationFailed) as err:
        selectors.hazard_list(world.centre, **bad)
    assert err.value.field == next(iter(bad))


def test_scope_and_actions(world, points):
    assert codes(selectors.hazard_list(world.other_street, street="140213050")) == []
    assert set(codes(selectors.hazard_list(world.patron_handler))) == {points[0].code, points[1].code,
                                                                         points[2].code}
    # grid workers may view, not export
    assert codes(selectors.hazard_list(world.worker, action="export")) == []
    assert codes(selectors.hazard_list(world.street, action="export", kind="flood")) == [points[0].code,
                                                                                          points[1].code]


def test_detail_prefetches_and_hides_out_of_scope(world, points, django_assert_max_num_queries):
    h = selectors.hazard_detail(world.street, points[0].pk)
    with django_assert_max_num_queries(0):
        assert h.rectification.measures == "清淤"
        assert [s.action for s in h.steps.all()] == ["register", "start", "overdue"]
        assert list(h.plans.all()) == [] and list(h.photos.all()) == []
        assert [list(s.photos.all()) for s in h.steps.all()] == [[], [], []]
        assert h.grid.code == GRID and h.patron_department == world.patron
    for pk in (points[0].pk, 10**9, "abc", None):
        with pytest.raises(NotFound):
            selectors.hazard_detail(world.other_street if pk == points[0].pk else world.centre, pk)


def test_list_rows_need_no_further_queries(world, points, django_assert_max_num_queries):
    rows = list(selectors.hazard_list(world.centre))
    with django_assert_max_num_queries(0):
        for h in rows:
            _ = (h.grid.name, h.patron_department and h.patron_department.name, h.rectification.deadline,
                 h.responsible_department, h.supervising_street and h.supervising_street.name)


def test_street_summary(world, points, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        rows = selectors.street_summary(world.centre, kind="flood")
    by = {r["street_code"]: r for r in rows}
    assert set(by) == {"140213050", "140213051"}
    s = by["140213050"]
    assert s["total"] == 2 and s["open"] == 2 and s["supervised"] == 2 and s["overdue"] == 1
    assert s["by_status"]["rectifying"] == 1 and s["by_status"]["registered"] == 1 and s["by_status"]["closed"] == 0
    assert s["by_grade"] == {"general": 1, "major": 1}
    assert s["patron_department"] == world.patron.name and s["street_name"] == world.tree["140213050"].name
    assert [r["street_code"] for r in selectors.street_summary(world.other_street)] == ["140213051"]
    assert selectors.street_summary(world.centre, kind="safety")[0]["total"] == 1
    assert Hazard.objects.count() == 4

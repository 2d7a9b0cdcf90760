"""Demo base data: deterministic, idempotent, valid numbers, points inside their grid, everything flagged."""


import pytest
from shapely.geometry import Point, shape

from civicgrid.foundation.core import keys
from civicgrid.foundation.people import demo, personal
from civicgrid.foundation.people.models import Building, Household, KeyGroupLabel, Place, Resident, Unit
from civicgrid.foundation.regions.models import Level, Region

pytestmark = pytest.mark.django_db


def test_demo_people_are_valid_flagged_inside_their_grids_and_idempotent(tree, django_assert_max_num_queries):
    grids = list(Region.objects.filter(level=Level.GRID).defer("geometry"))  # as the demo command passes them
    with django_assert_max_num_queries(40):  # a fixed number of statements, not one per grid or row
        first = demo.load_demo_people(grids, seed=2023)
    assert first["buildings"] >= 2 * len(grids) and first["residents"] >= first["households"] * 2
    assert first["units"] >= len(grids) and first["places"] >= len(grids)
    for model in (Building, Household, Resident, Unit, Place):
        assert not model.objects.filter(is_demo=False).exists()
    assert all("（演示）" in name for name in Building.objects.values_list("name", flat=True))
    for r in Resident.objects.all()[:50]:
        number = keys.decrypt(r.id_number_enc, personal.ID_CONTEXT)
        assert personal.clean_id_number(number) == (number, r.birth_date, r.sex)
        assert r.id_number_masked == number[:4] + "*" * 10 + number[-4:] and r.household.region_code == r.region_code
    for model in (Building, Unit, Place):
        for obj in model.objects.select_related("grid"):
            assert shape(obj.grid.geometry).covers(Point(obj.lng, obj.lat)), obj
    for h in Household.objects.all():
        assert h.size == h.members.count()
    assert KeyGroupLabel.objects.count() == first["key_groups"]
    again = demo.load_demo_people(grids, seed=2023)
    assert again == {"grids_skipped": len(grids)}
    assert Resident.objects.count() == first["residents"]


def test_demo_people_are_deterministic_and_removable(tree):
    grids = list(Region.objects.filter(level=Level.GRID))[:2]
    demo.load_demo_people(grids, seed=7)
    names = list(Resident.objects.order_by("id").values_list("name", "id_number_index", "birth_date"))
    removed = demo.remove_demo_people()
    assert removed["resident"] == len(names) and not Building.objects.exists()
    demo.load_demo_people(grids, seed=7)
    assert list(Resident.objects.order_by("id").values_list("name", "id_number_index", "birth_date")) == names

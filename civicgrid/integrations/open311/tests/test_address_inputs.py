"""A report's address_id and the encoding of what is posted: an address_id is a standard address's building
code, checked also when lat/long came with it (else a caller's text, even markup, was stored and published as
one); the address kept is that building's, and an address_string naming another is refused. Percent-escapes that
are not UTF-8 are a 400, not stored as U+FFFD."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.people.models import Building
from civicgrid.integrations.open311.models import Open311Request

from .conftest import BASE, GRID, KEY, POINT, form, get, post, spec_error, world_counts

pytestmark = pytest.mark.django_db

FIRST, SECOND = f"{GRID}-D01", f"{GRID}-D02"


@pytest.fixture
def buildings(o311):
    grid = o311.tree[GRID]
    for code, number, dx in ((FIRST, 1, 0.0), (SECOND, 2, 0.004)):
        Building.objects.create(code=code, address=f"平城区新建北路{number}号云冈苑{number}号楼", name=f"{number}号楼",
                                estate="云冈苑", grid=grid, region_code=grid.code, lng=POINT[0] + dx, lat=POINT[1])
    return Building.objects.get(code=FIRST), Building.objects.get(code=SECOND)


def _case(response) -> Case:
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


@pytest.mark.parametrize("address_id", ["<script>x</script>", "140213050001001-D99"])
def test_an_unknown_address_id_is_refused_also_with_lat_long(o311, http, buildings, address_id):
    before = world_counts()
    assert "address_id" in spec_error(post(http, "requests.json", form(o311, address_id=address_id)), 400)
    assert world_counts() == before
    assert "<script>" not in get(http, "requests.json").content.decode()


def test_the_address_kept_is_the_one_address_id_names(o311, http, buildings):
    first, _ = buildings
    case = _case(post(http, "requests.json", form(o311, address_id=FIRST)))  # with lat/long
    assert case.address == first.address and Open311Request.objects.get(case=case).address_id == FIRST
    # its own standard address alongside is welcome
    case = _case(post(http, "requests.json", form(o311, lat=None, long=None, address_id=FIRST,
                                                  address_string=first.address, device_id="d2")))
    assert case.address == first.address and abs(case.lng - first.lng) < 1e-9


@pytest.mark.parametrize("with_point", [False, True], ids=["address only", "with lat/long"])
def test_an_address_string_naming_another_building_than_address_id_is_refused(o311, http, buildings, with_point):
    _, second = buildings
    changes = {} if with_point else {"lat": None, "long": None}
    before = world_counts()
    text = spec_error(post(http, "requests.json", form(o311, address_id=FIRST, address_string=second.address,
                                                       **changes)), 400)
    assert "address_string" in text and "address_id" in text
    assert world_counts() == before


def test_percent_escapes_that_are_not_utf8_are_refused(o311, http):
    body = (f"api_key={KEY}&jurisdiction_id=140213&service_code={o311.code()}&lat={POINT[1]}&long={POINT[0]}"
            f"&description=%E5%9E%83%E5%9C%BE%FF%FE")
    before = world_counts()
    for path in ("requests.json", "servicerequestupdates.json"):
        response = http.post(f"{BASE}/{path}", body, content_type="application/x-www-form-urlencoded")
        assert "UTF-8" in spec_error(response, 400)
    assert world_counts() == before
    assert "UTF-8" in spec_error(http.get(f"{BASE}/requests.json?service_code=%FF%FE"), 400)
    # the same body in UTF-8 is a report
    good = body.replace("%FF%FE", "")
    case = _case(http.post(f"{BASE}/requests.json", good, content_type="application/x-www-form-urlencoded"))
    assert case.description == "垃圾"

"""Region services: the code directory, boundaries with their derived fields, grid numbering; all audited."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point, box

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.regions import services
from civicgrid.foundation.regions.models import GridKind, Level, Region
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def test_code_directory_is_loaded_exactly_and_once():
    result = services.load_region_codes(actor=None)
    assert len(result.created) == 1 + 18 + 202
    assert Region.objects.filter(level=Level.STREET).count() == 18
    assert Region.objects.filter(level=Level.COMMUNITY).count() == 155
    assert Region.objects.filter(level=Level.VILLAGE).count() == 47
    district = Region.objects.get(code="140213")
    assert (district.name, district.level, district.parent) == ("平城区", Level.DISTRICT, None)
    # The seed's OCR slips (水泰, 文瀾湖) must not appear; the NBS names are used.
    assert Region.objects.get(code="140213050").name == "永泰街道"
    assert Region.objects.get(code="140213065").name == "文瀛湖街道"
    assert not Region.objects.filter(name__in=["水泰街道", "文瀾湖街道"]).exists()
    community = Region.objects.get(code="140213050001")
    assert (community.name, community.parent.code, community.nbs_code) == ("康吉社区", "140213050", "140213050001")
    assert Region.objects.get(code="140213057203").name == "田村"  # 田村村民委员会
    assert Region.objects.get(code="140213052201").level == Level.VILLAGE
    assert Region.objects.get(code="140213050").nbs_code == "140213050000"
    for region in Region.objects.exclude(level=Level.DISTRICT).select_related("parent"):
        assert region.code.startswith(region.parent.code)
        assert len(region.code) == {Level.STREET: 9, Level.COMMUNITY: 12, Level.VILLAGE: 12}[region.level]
    assert AuditEntry.objects.filter(action="data.imported", target_type="regions.region").count() == 1
    assert OutboxEvent.objects.filter(topic="regions.codes_loaded").count() == 1

    again = services.load_region_codes(actor=None)
    assert not again.changed and again.unchanged == 221
    assert AuditEntry.objects.filter(action="data.imported", target_type="regions.region").count() == 1


def test_short_names_of_committees():
    assert services.short_unit_name("康吉社区居民委员会") == "康吉社区"
    assert services.short_unit_name("新泉村村民委员会") == "新泉村"
    assert services.short_unit_name("田村村民委员会") == "田村"
    assert services.short_unit_name("平城区") == "平城区"


def test_loading_codes_needs_the_capability(tree):
    grid_worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    with pytest.raises(PermissionDenied):
        services.load_region_codes(actor=grid_worker)


def test_equal_area_matches_the_spherical_area_of_a_cell():
    # A 0.01° x 0.01° cell at 40°N: R²·Δλ·(sin φ2 − sin φ1).
    cell = box(113.30, 40.00, 113.31, 40.01)
    radius = 6_371_008.8
    exact = radius**2 * math.radians(0.01) * (math.sin(math.radians(40.01)) - math.sin(math.radians(40.00)))
    assert services.equal_area_m2(cell) == pytest.approx(exact, rel=1e-6)


def test_apply_geometry_stores_derived_fields_and_is_audited(tree):
    # An L-shaped community: its centroid lies outside, so the stored label point must be moved inside.
    shape = box(113.20, 40.00, 113.24, 40.04).difference(box(113.21, 40.01, 113.24, 40.04))
    result = services.apply_geometry({"140213050001": shape}, actor=None, source="测试", is_demo=False)
    assert result.updated == ["140213050001"]
    region = Region.objects.get(code="140213050001")
    assert region.geometry["type"] == "Polygon"
    assert region.bbox == pytest.approx([113.20, 40.00, 113.24, 40.04])
    assert shape.covers(Point(region.centroid_lng, region.centroid_lat))
    assert region.area_m2 == pytest.approx(services.equal_area_m2(shape), rel=1e-3)
    assert (region.is_demo_geometry, region.geometry_source) == (False, "测试")
    assert AuditEntry.objects.filter(action="data.changed", target_type="regions.region").count() == 1
    assert OutboxEvent.objects.filter(topic="regions.boundaries_imported").count() == 1


def test_apply_geometry_refuses_unknown_codes_and_keeps_stored_ones_when_asked(tree):
    with pytest.raises(ValidationFailed):
        services.apply_geometry({"140213099": box(0, 0, 1, 1)}, source="x", is_demo=True)
    before = Region.objects.get(code="140213050").geometry
    result = services.apply_geometry({"140213050": box(113.2, 40.0, 113.3, 40.1)}, source="x", is_demo=True,
                                     only_missing=True)
    assert result.updated == [] and result.unchanged == 1
    assert Region.objects.get(code="140213050").geometry == before


def test_create_grids_numbers_west_to_east_then_north_to_south(tree):
    Region.objects.filter(level=Level.GRID, parent__code="140213050002").delete()
    # Four cells in two rows, given in a scrambled order.
    x, y, s = 113.20, 40.04, 0.02
    cells = {"sw": box(x, y, x + s, y + s), "se": box(x + s, y, x + 2 * s, y + s),
             "nw": box(x, y + s, x + s, y + 2 * s), "ne": box(x + s, y + s, x + 2 * s, y + 2 * s)}
    order = ["se", "nw", "sw", "ne"]
    created = services.create_grids({"140213050002": [cells[k] for k in order]}, source="测试", is_demo=True,
                                    dedicated={"140213050002004": "学校"})
    codes = [g.code for g in created]
    assert codes == [f"140213050002{i:03d}" for i in range(1, 5)]
    by_code = {g.code: g for g in Region.objects.filter(code__in=codes)}
    expected = {"140213050002001": "nw", "140213050002002": "ne", "140213050002003": "sw", "140213050002004": "se"}
    for code, key in expected.items():
        lng, lat = by_code[code].centroid_lng, by_code[code].centroid_lat
        assert cells[key].centroid.distance(Point(lng, lat)) < 1e-9
    assert by_code["140213050002001"].name == "永泰社区2第1网格"
    assert by_code["140213050002004"].grid_kind == GridKind.DEDICATED
    assert "学校专属网格" in by_code["140213050002004"].name
    assert {g.grid_kind for c, g in by_code.items() if c != "140213050002004"} == {GridKind.COMPREHENSIVE}
    assert all(len(c) == 15 and c.startswith("140213050002") for c in codes)
    with pytest.raises(Conflict):
        services.create_grids({"140213050002": [cells["sw"]]}, source="测试", is_demo=True)
    with pytest.raises(ValidationFailed):
        services.create_grids({"140213050": [cells["sw"]]}, source="测试", is_demo=True)

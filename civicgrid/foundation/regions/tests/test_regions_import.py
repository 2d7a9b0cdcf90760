"""Boundary import: every problem is reported with its code (and row, field) and nothing is applied; a clean file
replaces demo geometry, creates new grids, rebuilds the locator and is audited."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.foundation.regions import selectors
from civicgrid.foundation.regions.importers import import_boundaries
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

UNIT = "140213050001"  # the square 113.20–113.24 × 40.00–40.04 in the small tree
G1, G2, G3 = UNIT + "001", UNIT + "002", UNIT + "003"


def ring(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def poly(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [ring(x0, y0, x1, y1)]}


def feature(code, geometry, **props):
    return {"type": "Feature", "properties": {"code": code, **props}, "geometry": geometry}


def collection(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def clean_halves() -> list[dict]:
    """The community split into a west and an east half: an exact partition of the parent."""
    return [feature(G1, poly(113.20, 40.00, 113.22, 40.04)), feature(G2, poly(113.22, 40.00, 113.24, 40.04))]


def stored():
    return {r.code: (r.geometry, r.is_demo_geometry) for r in Region.objects.all()}


def run(data: bytes, filename="grids.geojson", **kwargs):
    return import_boundaries(actor=kwargs.pop("actor", None), data=data, filename=filename, **kwargs)


def kinds(report) -> set[tuple[str, str]]:
    return {(p.code, p.kind) for p in report.problems}


BAD_FILES = {
    "not_closed": [feature(G1, {"type": "Polygon", "coordinates": [ring(113.20, 40.00, 113.22, 40.04)[:-1]]}),
                   clean_halves()[1]],
    "self_intersection": [feature(G1, {"type": "Polygon", "coordinates": [[[113.20, 40.00], [113.22, 40.04],
                                                                            [113.22, 40.00], [113.20, 40.04],
                                                                            [113.20, 40.00]]]}),
                          clean_halves()[1]],
    "malformed": [feature(G1, {"type": "Point", "coordinates": [113.21, 40.01]}), clean_halves()[1]],
    "overlap": [feature(G1, poly(113.20, 40.00, 113.23, 40.04)), clean_halves()[1]],
    "gap": [feature(G1, poly(113.20, 40.00, 113.21, 40.04)), clean_halves()[1]],
    "outside_parent": [clean_halves()[0], feature(G2, poly(113.22, 40.00, 113.25, 40.04))],
    "duplicate_code": [*clean_halves(), clean_halves()[1]],
    "unknown_code": [*clean_halves(), feature("140213050099", poly(113.30, 40.10, 113.31, 40.11))],
    "unknown_parent": [*clean_halves(), feature("140213050099001", poly(113.30, 40.10, 113.31, 40.11))],
}
EXPECTED_CODE = {"gap": UNIT, "unknown_code": "140213050099", "unknown_parent": "140213050099001",
                 "outside_parent": G2, "duplicate_code": G2}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_each_problem_is_reported_with_its_code_and_nothing_is_applied(tree, kind):
    before = stored()
    report = run(collection(*BAD_FILES[kind]))
    assert (EXPECTED_CODE.get(kind, G1), kind) in kinds(report), report.problems
    assert not report.ok and not report.applied
    problem = next(p for p in report.problems if p.kind == kind)
    assert problem.message_zh and problem.message_en
    if problem.code in (G1, G2):
        assert problem.row in (1, 2, 3)
    assert stored() == before
    assert not AuditEntry.objects.filter(action="data.imported").exists()


@pytest.mark.parametrize(
    ("data", "filename", "kind", "hint"),
    [
        (b'{"type": "FeatureCollection", "features": [\n  {"type": "Feature",, }]}', "a.geojson", "invalid_json", "第 2 行"),
        (b"PK\x03\x04\x00\x00binary", "grids.geojson", "wrong_type", "不是 GeoJSON"),
        (b"\xb5\xd8\xcd\xbc", "gbk.geojson", "encoding", "UTF-8"),
        (b"code,name\n1,2\n", "grids.csv", "wrong_type", ".geojson"),
        (b'{"type": "Polygon", "coordinates": []}', "a.geojson", "wrong_type", "FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "a.geojson", "empty", "没有要素"),
        (b"   ", "a.geojson", "empty", "为空"),
    ],
)
def test_file_problems_are_clear(tree, data, filename, kind, hint):
    report = run(data, filename=filename)
    assert [p.kind for p in report.problems] == [kind]
    assert hint in report.problems[0].message_zh
    assert not report.applied


def test_oversized_files_are_refused_before_parsing(tree, settings):
    settings.CIVICGRID_MAX_IMPORT_BYTES = 100
    report = run(collection(*clean_halves()))
    assert [p.kind for p in report.problems] == ["file_too_large"]


def test_row_problems_name_the_row_and_field(tree):
    rows = [clean_halves()[0], {"type": "Feature", "properties": {"name": "无代码"}, "geometry": poly(0, 0, 1, 1)},
            feature("14021X", poly(0, 0, 1, 1)), "not a feature", clean_halves()[1]]
    report = run(collection(*rows))
    found = {(p.kind, p.row, p.field) for p in report.problems}
    assert ("missing_code", 2, "properties.code") in found
    assert ("bad_code", 3, "properties.code") in found
    assert ("not_a_feature", 4, "type") in found
    assert "第 2 个要素" in str(next(p for p in report.problems if p.kind == "missing_code"))


def test_level_and_scope_are_enforced(tree):
    report = run(collection(*clean_halves()), level=Level.COMMUNITY)
    assert {p.kind for p in report.problems} == {"wrong_level"}
    other_street = user_with(Role.STREET_STAFF, region=tree["140213051"])
    report = run(collection(*clean_halves()), actor=other_street)
    assert {p.kind for p in report.problems} == {"out_of_scope"}
    with pytest.raises(PermissionDenied):
        run(collection(*clean_halves()), actor=user_with(Role.GRID_WORKER, region=tree[G1]))


def test_dry_run_checks_without_writing(tree):
    before = stored()
    report = run(collection(*clean_halves()), dry_run=True)
    assert report.ok and not report.applied and stored() == before


def test_a_clean_import_replaces_demo_geometry_and_rebuilds_the_locator(tree):
    with pytest.raises(selectors.OutsideDistrict):
        selectors.locate(113.21, 40.03)  # the small tree's grids cover only the south half of the unit
    report = run(collection(*clean_halves()), filename="平城区网格.geojson")
    assert report.ok and report.applied and report.updated == [G1, G2] and report.created == []
    g1 = Region.objects.get(code=G1)
    assert g1.is_demo_geometry is False and g1.geometry_source.startswith("导入：平城区网格.geojson")
    assert g1.geometry == poly(113.20, 40.00, 113.22, 40.04)
    assert Region.objects.get(code="140213050001").is_demo_geometry is True  # untouched
    selectors.invalidate_locator()  # on_commit in production; the test transaction never commits
    assert selectors.locate(113.21, 40.03).grid.code == G1
    entry = AuditEntry.objects.get(action="data.imported")
    assert entry.data["filename"] == "平城区网格.geojson" and entry.data["updated"] == 2


def test_new_grids_are_created_under_their_community(tree):
    rows = [feature(G1, poly(113.20, 40.00, 113.22, 40.02)), feature(G2, poly(113.22, 40.00, 113.24, 40.02)),
            feature(G3, poly(113.20, 40.02, 113.24, 40.04), name="永泰社区1北区网格", kind="专属网格")]
    report = run(collection(*rows))
    assert report.ok, report.problems
    assert report.created == [G3]
    g3 = Region.objects.get(code=G3)
    assert (g3.level, g3.parent.code, g3.name, g3.grid_kind) == (Level.GRID, UNIT, "永泰社区1北区网格", "dedicated")
    assert g3.is_demo_geometry is False


def test_stored_siblings_not_in_the_file_take_part_in_the_check(tree):
    # G2 stays as stored (south-east quarter); a new G3 over the whole north half plus the east half overlaps it.
    rows = [feature(G1, poly(113.20, 40.00, 113.22, 40.02)),
            feature(G3, {"type": "Polygon", "coordinates": [[[113.20, 40.02], [113.22, 40.02], [113.22, 40.00],
                                                             [113.24, 40.00], [113.24, 40.04], [113.20, 40.04],
                                                             [113.20, 40.02]]]})]
    report = run(collection(*rows))
    assert (G2, "overlap") in kinds(report)
    assert not Region.objects.filter(code=G3).exists()


def test_round_trip_of_the_export_shape(tree):
    # Properties as the export writes them (code, name, level, parent_code, kind …) are read back.
    rows = [{"type": "Feature", "id": G1, "properties": {"code": G1, "level": "grid", "kind": "comprehensive",
                                                         "is_demo_geometry": True}, "geometry": clean_halves()[0]["geometry"]},
            {"type": "Feature", "properties": {"区划代码": G2}, "geometry": clean_halves()[1]["geometry"]}]
    assert run(collection(*rows), dry_run=True).ok


def test_management_command_prints_problems_and_fails(tree, tmp_path, capsys):
    bad = tmp_path / "bad.geojson"
    bad.write_bytes(collection(*BAD_FILES["overlap"]))
    with pytest.raises(CommandError):
        call_command("import_boundaries", str(bad))
    assert G1 in capsys.readouterr().err
    good = tmp_path / "good.geojson"
    good.write_bytes(collection(*clean_halves()))
    call_command("import_boundaries", str(good), "--dry-run")
    assert Region.objects.get(code=G1).is_demo_geometry is True
    call_command("import_boundaries", str(good))
    assert Region.objects.get(code=G1).is_demo_geometry is False

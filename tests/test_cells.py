"""`flask grid import` / `grid export`: formats, CRS rules, bad geometry, idempotence, history."""
import datetime as dt
import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import text

from gis.crs import wgs84_to_gcj02
from gis.errors import FileFormatError, ImportRefused
from gis.cells import import_cells
from tests.factories import CITY, EAST, WEST, add_cells, add_enterprises, cell_of

BOWTIE = shapely.Polygon([(116.0, 38.4), (116.1, 38.5), (116.1, 38.4), (116.0, 38.5)])


def frame(rows, crs=4326):
    return gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                            geometry=[r["geometry"] for r in rows], crs=crs)


def city_file(tmp_path, name="city.geojson"):
    path = tmp_path / name
    frame([{"code": "C", "name": "city", "geometry": CITY}]).to_file(path)
    return path


def halves(tmp_path, name="cells.geojson", crs=4326, west=WEST, east=EAST, **extra):
    path = tmp_path / name
    frame([{"code": "C-01", "name": "west", "geometry": west, **extra},
           {"code": "C-02", "name": "east", "geometry": east, **extra}], crs=crs).to_file(path)
    return path


def cells(session):
    return session.execute(text(
        "SELECT c.code, c.level, c.kind, (SELECT p.code FROM cell p WHERE p.id = c.parent_id) "
        "FROM cell c ORDER BY c.code")).all()


def test_geojson_without_crs_member_is_wgs84(session, tmp_path):
    path = tmp_path / "plain.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "C", "name": "城市"},
        "geometry": shapely.geometry.mapping(CITY)}]}), encoding="utf-8")
    summary = import_cells(session, path, level=1)
    assert summary.inserted == 1
    assert "EPSG:4326" in summary.notes[0]
    assert cells(session) == [("C", 1, "territorial", None)]


def test_levels_nest_and_enterprises_follow(session, tmp_path):
    add_enterprises(session, ("E1", 116.02, 38.45))
    import_cells(session, city_file(tmp_path), level=1)
    import_cells(session, halves(tmp_path), level=2, parent="C")
    assert cell_of(session, "E1") == ("C-01", False)


def test_level2_without_parent_is_refused(session, tmp_path):
    import_cells(session, city_file(tmp_path), level=1)
    with pytest.raises(ImportRefused) as err:
        import_cells(session, halves(tmp_path), level=2)
    assert "feature 1 (code C-01)" in str(err.value)
    assert "needs a parent" in str(err.value)
    assert cells(session) == [("C", 1, "territorial", None)]


def test_parent_code_field_replaces_the_option(session, tmp_path):
    import_cells(session, city_file(tmp_path), level=1)
    import_cells(session, halves(tmp_path, parent_code="C"), level=2)
    assert [c[3] for c in cells(session)] == [None, "C", "C"]


def test_unknown_parent_is_refused(session, tmp_path):
    with pytest.raises(ImportRefused, match="parent cell NOPE does not exist"):
        import_cells(session, halves(tmp_path), level=2, parent="NOPE")


def test_shapefile_without_prj_is_refused_naming_the_crs(session, tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    halves(folder, name="cells.shp")
    (folder / "cells.prj").unlink()
    import_cells(session, city_file(tmp_path), level=1)
    with pytest.raises(FileFormatError, match="no CRS.*--crs"):
        import_cells(session, folder, level=2, parent="C")
    summary = import_cells(session, folder, level=2, parent="C", crs="EPSG:4326")
    assert summary.inserted == 2


def test_zipped_shapefile_in_a_projected_crs_is_reprojected(session, tmp_path):
    folder = tmp_path / "utm"
    folder.mkdir()
    utm = gpd.GeoSeries([WEST, EAST], crs=4326).to_crs(32650)
    halves(folder, name="cells.shp", crs=32650, west=utm[0], east=utm[1])
    archive = tmp_path / "cells.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    import_cells(session, city_file(tmp_path), level=1)
    summary = import_cells(session, archive, level=2, parent="C")
    assert summary.inserted == 2 and "EPSG:32650" in summary.notes[0]
    west = session.execute(text("""
        SELECT ST_XMin(cv.geom), ST_XMax(cv.geom) FROM cell_version cv
        JOIN cell c ON c.id = cv.cell_id WHERE c.code = 'C-01'""")).one()
    assert west == pytest.approx((116.0, 116.05), abs=1e-6)


def test_geopackage_with_other_field_names(session, tmp_path):
    path = tmp_path / "cells.gpkg"
    frame([{"bm": "C-01", "mc": "西片", "geometry": WEST}]).to_file(path, driver="GPKG")
    import_cells(session, city_file(tmp_path), level=1)
    import_cells(session, path, level=2, parent="C", code_field="bm", name_field="mc")
    assert session.execute(text("SELECT name FROM cell WHERE code = 'C-01'")).scalar() == "西片"


def test_missing_code_field_names_the_fields_there(session, tmp_path):
    with pytest.raises(ImportRefused, match="no code field 'bm'.*code, name"):
        import_cells(session, city_file(tmp_path), level=1, code_field="bm")


def test_invalid_geometry_is_refused_with_feature_and_geos_reason(session, tmp_path):
    path = tmp_path / "bad.geojson"
    frame([{"code": "C", "name": "x", "geometry": BOWTIE}]).to_file(path)
    with pytest.raises(ImportRefused) as err:
        import_cells(session, path, level=1)
    assert "feature 1 (code C)" in str(err.value)
    assert "Self-intersection" in str(err.value)
    assert cells(session) == []


def test_make_valid_repairs_and_reports(session, tmp_path):
    path = tmp_path / "bad.geojson"
    frame([{"code": "C", "name": "x", "geometry": BOWTIE}]).to_file(path)
    summary = import_cells(session, path, level=1, make_valid=True)
    assert summary.inserted == 1
    assert any("repaired" in n and "feature 1" in n for n in summary.notes)


def test_one_bad_feature_writes_nothing_unless_skip_invalid(session, tmp_path):
    path = tmp_path / "mixed.geojson"
    frame([{"code": "C-01", "name": "ok", "geometry": WEST},
           {"code": "C-02", "name": "bad", "geometry": BOWTIE}]).to_file(path)
    import_cells(session, city_file(tmp_path), level=1)
    with pytest.raises(ImportRefused, match="feature 2 \\(code C-02\\)"):
        import_cells(session, path, level=2, parent="C")
    assert len(cells(session)) == 1
    summary = import_cells(session, path, level=2, parent="C", skip_invalid=True)
    assert (summary.inserted, summary.refused) == (1, 1)


def test_swapped_axes_are_refused(session, tmp_path):
    swapped = shapely.transform(CITY, lambda c: c[:, ::-1])
    path = tmp_path / "swapped.geojson"
    frame([{"code": "C", "name": "x", "geometry": swapped}]).to_file(path)
    with pytest.raises(ImportRefused, match="look swapped"):
        import_cells(session, path, level=1)


def test_projected_file_read_as_lonlat_is_refused(session, tmp_path):
    path = tmp_path / "metres.geojson"
    utm = gpd.GeoSeries([CITY], crs=4326).to_crs(32650)[0]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "C", "name": "x"},
        "geometry": shapely.geometry.mapping(utm)}]}))
    with pytest.raises(ImportRefused, match="outside China"):
        import_cells(session, path, level=1)


def test_gcj02_file_is_converted_to_wgs84(session, tmp_path):
    shifted = shapely.transform(CITY, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    path = tmp_path / "amap.geojson"
    frame([{"code": "C", "name": "x", "geometry": shifted}]).to_file(path)
    import_cells(session, path, level=1, crs="gcj02")
    xmin, ymin = session.execute(text(
        "SELECT ST_XMin(geom), ST_YMin(geom) FROM cell_version")).one()
    assert (xmin, ymin) == pytest.approx((116.0, 38.4), abs=1e-7)


def test_bad_crs_option_is_refused(session, tmp_path):
    with pytest.raises(ValueError, match="unsupported CRS 'mars'"):
        import_cells(session, city_file(tmp_path), level=1, crs="mars")


def test_reimport_is_idempotent_and_a_change_is_a_new_version(session, tmp_path):
    import datetime as dt

    jan = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    add_enterprises(session, ("E1", 116.04, 38.45), valid_from=jan)
    import_cells(session, city_file(tmp_path), level=1, valid_from=jan)
    import_cells(session, halves(tmp_path), level=2, parent="C", valid_from=jan)
    again = import_cells(session, halves(tmp_path), level=2, parent="C")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    moved = halves(tmp_path, name="moved.geojson", west=shapely.box(116.0, 38.4, 116.03, 38.5),
                   east=shapely.box(116.03, 38.4, 116.1, 38.5))
    changed = import_cells(session, moved, level=2, parent="C")
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 2, 0)
    assert session.execute(text("SELECT count(*) FROM cell_version")).scalar() == 5
    assert cell_of(session, "E1") == ("C-02", False)
    assert cell_of(session, "E1", dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)) == (
        "C-01", False)


def test_retired_codes_are_never_reused(session, tmp_path):
    import_cells(session, city_file(tmp_path), level=1)
    import_cells(session, halves(tmp_path), level=2, parent="C")
    session.execute(text("UPDATE cell SET retired_at = now() WHERE code = 'C-01'"))
    with pytest.raises(ImportRefused, match="C-01 was retired"):
        import_cells(session, halves(tmp_path), level=2, parent="C")


def test_professional_cells_need_a_specialty(session, tmp_path):
    import_cells(session, city_file(tmp_path), level=1)
    with pytest.raises(ImportRefused, match="needs a specialty"):
        import_cells(session, halves(tmp_path), level=2, parent="C", kind="professional")
    import_cells(session, halves(tmp_path), level=2, parent="C", kind="professional",
                 specialty="food")
    assert {c[2] for c in cells(session) if c[1] == 2} == {"professional"}


def test_grid_export_carries_the_contract_fields(session, tmp_path):
    from gis.cells import export_cells

    add_cells(session, ("C", 1, CITY, None), ("C-01", 2, WEST, "C"))
    for name in ("out.geojson", "out.gpkg"):
        n = export_cells(session, tmp_path / name)
        back = gpd.read_file(tmp_path / name)
        assert n == 2 and len(back) == 2
        assert {"code", "name", "level", "kind", "parent_code"} <= set(back.columns)
        assert back.crs.to_epsg() == 4326
        assert back.set_index("code").loc["C-01", "parent_code"] == "C"


def test_export_to_unknown_extension_is_refused(session, tmp_path):
    from gis.cells import export_cells

    with pytest.raises(FileFormatError, match=".geojson or .gpkg"):
        export_cells(session, tmp_path / "out.kml")


# --- issue 10: bounds, null geometries, imports that open gaps ------------------------------

PAST = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def test_null_geometry_is_named_not_a_traceback(session, tmp_path):
    path = tmp_path / "null.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "C", "name": "x"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "D", "name": "y"},
         "geometry": shapely.geometry.mapping(CITY)}]}), encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"feature 1 \(code C\): no geometry"):
        import_cells(session, path, level=1)


def test_null_geometry_in_redraw_is_named(session, tmp_path):
    from gis.redraw import proposals_from_file
    from tests.factories import two_cell_city

    two_cell_city(session, valid_from=PAST)
    path = tmp_path / "null.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "C-S-01"}, "geometry": None}]}),
        encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"feature 1 \(code C-S-01\): no geometry"):
        proposals_from_file(session, path)


def _circle(n):
    return shapely.Point(116.05, 38.45).buffer(0.04, quad_segs=n // 4)


def test_feature_with_too_many_vertices_is_refused_naming_it(session, tmp_path):
    from gis.files import VectorRefused
    from gis.limits import Limits

    path = tmp_path / "dense.geojson"
    frame([{"code": "C", "name": "c", "geometry": CITY},
           {"code": "D", "name": "d", "geometry": _circle(4000)}]).to_file(path)
    with pytest.raises(VectorRefused) as err:
        import_cells(session, path, level=1, limits=Limits(max_vertices_per_feature=1000))
    assert err.value.field == "feature 2" and err.value.params["count"] > 1000
    assert cells(session) == []


def test_file_with_too_many_features_is_refused_before_reading(session, tmp_path):
    from gis.files import VectorRefused
    from gis.limits import Limits

    path = tmp_path / "many.geojson"
    frame([{"code": f"C{i}", "name": "c", "geometry": CITY} for i in range(12)]).to_file(path)
    with pytest.raises(VectorRefused, match="12 features; at most 10"):
        import_cells(session, path, level=1, limits=Limits(max_features=10))


def test_redraw_file_is_bounded_in_vertices(session, tmp_path):
    from gis.files import VectorRefused
    from gis.limits import Limits
    from gis.redraw import proposals_from_file

    path = tmp_path / "dense.geojson"
    frame([{"code": "C-S-01", "geometry": _circle(4000)}]).to_file(path)
    with pytest.raises(VectorRefused, match="feature 1"):
        proposals_from_file(session, path, limits=Limits(max_vertices_per_feature=1000))


def _shrunk_cell_file(tmp_path):
    path = tmp_path / "one.geojson"
    frame([{"code": "C-S-01", "name": "west",
            "geometry": shapely.box(116.0, 38.4, 116.005, 38.41)}]).to_file(path)
    return path


def test_import_that_opens_a_gap_and_orphans_enterprises_needs_confirm(session, tmp_path):
    """The attack: a one-feature import shrank a cell to a sliver, exit 0, enterprises fell
    back to the station grid unnoticed."""
    from gis.cells import NeedsConfirmation
    from tests.factories import two_cell_city

    two_cell_city(session, valid_from=PAST)
    add_enterprises(session, ("E1", 116.02, 38.45), ("E2", 116.03, 38.46), valid_from=PAST)
    with pytest.raises(NeedsConfirmation) as err:
        import_cells(session, _shrunk_cell_file(tmp_path), level=3, parent="C-S")
    message = str(err.value)
    assert "part of the grid belongs to no cell" in message
    assert "enterprise E1 would be in no cell" in message and "E2" in message
    assert "--confirm" in message
    assert cell_of(session, "E1") == ("C-S-01", False)  # nothing written
    summary = import_cells(session, _shrunk_cell_file(tmp_path), level=3, parent="C-S",
                           confirm=True)
    assert summary.updated == 1
    assert any("E1" in note for note in summary.notes)


def test_cli_grid_import_exits_non_zero_without_confirm(runner, session, tmp_path):
    from tests.factories import two_cell_city

    two_cell_city(session, valid_from=PAST)
    add_enterprises(session, ("E1", 116.02, 38.45), valid_from=PAST)
    path = _shrunk_cell_file(tmp_path)
    result = runner.invoke(args=["grid", "import", str(path), "--level", "3",
                                 "--parent", "C-S"])
    assert result.exit_code == 1
    assert "enterprise E1 would be in no cell" in result.output
    assert cell_of(session, "E1") == ("C-S-01", False)
    result = runner.invoke(args=["grid", "import", str(path), "--level", "3",
                                 "--parent", "C-S", "--confirm"])
    assert result.exit_code == 0, result.output


def test_an_import_that_keeps_the_grid_covered_needs_no_confirm(session, tmp_path):
    from tests.factories import two_cell_city

    two_cell_city(session, valid_from=PAST)
    path = tmp_path / "both.geojson"
    frame([{"code": "C-S-01", "name": "w", "geometry": shapely.box(116.0, 38.4, 116.06, 38.5)},
           {"code": "C-S-02", "name": "e", "geometry": shapely.box(116.06, 38.4, 116.1, 38.5)}]
          ).to_file(path)
    assert import_cells(session, path, level=3, parent="C-S").updated == 2

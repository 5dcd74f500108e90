"""An outline edit validates as exactly the change its author made (gis/outline.py): rounding
is no change, a dragged vertex changes only the area near it and the neighbours follow it, a
file's boundaries are snapped but never moved for it."""
import datetime as dt
import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from gis import outline, redraw
from gis.limits import Limits
from gis.validation import ValidationError
from tests.factories import add_enterprises, cell_of, small_world

UTC = dt.timezone.utc
LONG_AGO = dt.datetime.now(UTC) - dt.timedelta(days=60)
# S1 = lon 116.00-116.10, lat 38.4-38.5; S1-01 its west half, S1-02 its east half.
WEST = [(116.0, 38.4), (116.05, 38.4), (116.05, 38.5), (116.0, 38.5)]


@pytest.fixture
def world(session):
    small_world(session, valid_from=LONG_AGO)
    # S1-01's outline has a vertex in the middle of each side, as a person's editor shows it:
    # (116.05, 38.45) on the edge shared with S1-02, (116.0, 38.45) on the grid's outline.
    session.execute(text("""
        UPDATE cell_version SET geom = ST_Multi(ST_GeomFromText(
            'POLYGON((116 38.4, 116.05 38.4, 116.05 38.45, 116.05 38.5, 116 38.5, 116 38.45,
                      116 38.4))', 4326))
        WHERE cell_id = (SELECT id FROM cell WHERE code = 'S1-01')"""))
    add_enterprises(session, ("IN_EAST", 116.055, 38.45), ("IN_WEST", 116.045, 38.45),
                    ("FAR_EAST", 116.09, 38.49), valid_from=LONG_AGO)


def stored(session, code):
    return shapely.from_wkb(bytes(session.execute(text(
        "SELECT ST_AsBinary(geom) FROM cell_current WHERE code = :c"), {"c": code}).scalar()))


def west_with(vertex_at_shared_edge=(116.05, 38.45), vertex_at_grid_edge=(116.0, 38.45),
              noise=0.0):
    """S1-01's outline as the editor sends it: the middle vertices where given, every
    coordinate moved by ``noise`` degrees (what rounding does)."""
    ring = [WEST[0], WEST[1], vertex_at_shared_edge, WEST[2], WEST[3], vertex_at_grid_edge]
    ring = [(x + noise, y - noise) for x, y in ring]
    return shapely.MultiPolygon([shapely.Polygon(ring)])


def reshaped(session, geom, code="S1-01"):
    proposal = redraw.Proposal("S1")
    outline.reshape(session, proposal, {code: geom})
    return proposal


def area_m2(session, geom):
    return session.execute(text("SELECT ST_Area(ST_GeomFromWKB(:g, 4326)::geography)"),
                           {"g": shapely.to_wkb(geom)}).scalar()


def test_an_unchanged_outline_rounded_by_the_browser_is_no_change(session, world):
    for noise in (0.0, 4e-7, -4e-7):  # 4e-7° ≈ 4 cm: more than 6-decimal rounding does
        proposal = reshaped(session, west_with(noise=noise))
        assert shapely.equals_exact(proposal.geometries["S1-01"], stored(session, "S1-01"), 0)
        assert set(proposal.geometries) == {"S1-01"}
        assert redraw.check(session, proposal).findings == []
        with pytest.raises(redraw.NothingChanges):
            redraw.commit(session, proposal, username="u", comment="unchanged")


def test_a_vertex_dragged_into_the_neighbour_takes_only_that_area(session, world):
    proposal = reshaped(session, west_with(vertex_at_shared_edge=(116.06, 38.45), noise=3e-7))
    assert set(proposal.geometries) == {"S1-01", "S1-02"}
    old = {c: stored(session, c) for c in ("S1-01", "S1-02")}
    taken = shapely.difference(proposal.geometries["S1-01"], old["S1-01"])
    given_up = shapely.difference(old["S1-02"], proposal.geometries["S1-02"])
    # The triangle (116.05, 38.4)-(116.06, 38.45)-(116.05, 38.5) and nothing else: 0.01° wide
    # (≈ 872 m) and 0.1° high (≈ 11.1 km), half of it.
    assert area_m2(session, taken) == pytest.approx(0.5 * 872.0 * 11_100, rel=0.01)
    assert area_m2(session, shapely.symmetric_difference(taken, given_up)) < 0.01
    assert shapely.Polygon([(116.05, 38.4), (116.06, 38.45), (116.05, 38.5)]).buffer(
        1e-6).contains(taken)
    report = redraw.check(session, proposal)
    assert report.findings == []
    effect = redraw.effect(session, proposal)
    assert [(m["management_code"], m["from_cell"], m["to_cell"]) for m in effect["moves"]] == [
        ("IN_EAST", "S1-02", "S1-01")]
    redraw.commit(session, proposal, username="s1-manager", comment="drag one vertex")
    assert cell_of(session, "IN_EAST")[0] == "S1-01"
    assert cell_of(session, "FAR_EAST")[0] == "S1-02"


def test_a_vertex_dragged_inwards_gives_the_piece_to_the_neighbour(session, world):
    proposal = reshaped(session, west_with(vertex_at_shared_edge=(116.04, 38.45)))
    assert set(proposal.geometries) == {"S1-01", "S1-02"}
    assert redraw.check(session, proposal).findings == []
    moves = redraw.effect(session, proposal)["moves"]
    assert [(m["management_code"], m["to_cell"]) for m in moves] == [("IN_WEST", "S1-02")]


def test_a_vertex_dragged_out_of_the_grid_is_outside_the_parent_there_only(session, world):
    proposal = reshaped(session, west_with(vertex_at_grid_edge=(115.99, 38.45)))
    assert set(proposal.geometries) == {"S1-01"}  # no neighbour on that side
    report = redraw.check(session, proposal)
    assert [f.kind for f in report.errors] == ["outside_parent"]
    outside = report.errors[0]
    assert 115.99 < outside.lon < 116.0 and 38.4 < outside.lat < 38.5
    assert outside.area_m2 == pytest.approx(0.5 * 872.0 * 11_100, rel=0.01)


def test_a_vertex_dragged_in_from_the_grid_outline_leaves_a_gap_there_only(session, world):
    proposal = reshaped(session, west_with(vertex_at_grid_edge=(116.01, 38.45)))
    assert set(proposal.geometries) == {"S1-01"}  # nobody borders the vacated piece
    report = redraw.check(session, proposal)
    assert [f.kind for f in report.errors] == ["gap"]
    assert 116.0 < report.errors[0].lon < 116.01


def test_the_snap_tolerance_is_half_a_metre(session, world):
    # 3e-6° of longitude ≈ 0.26 m at 38.45°N: snapped away; 3e-5° ≈ 2.6 m: an edit.
    assert outline.SNAP_TOLERANCE_M == 0.5
    near = reshaped(session, west_with(vertex_at_shared_edge=(116.050003, 38.45)))
    assert set(near.geometries) == {"S1-01"}
    assert shapely.equals_exact(near.geometries["S1-01"], stored(session, "S1-01"), 0)
    far = reshaped(session, west_with(vertex_at_shared_edge=(116.05003, 38.45)))
    assert set(far.geometries) == {"S1-01", "S1-02"}
    assert redraw.check(session, far).findings == []


def test_a_file_is_snapped_but_its_neighbours_do_not_follow_it(session, world):
    body = {"moves": None, "new_cells": None, "retire": None, "expected_versions": None,
            "outlines": None}
    rounded = {"S1-01": json.loads(shapely.to_geojson(west_with(noise=-4e-7)))}
    proposal = redraw.proposal_from_json(session, "S1", {**body, "geometries": rounded},
                                         Limits())
    assert shapely.equals_exact(proposal.geometries["S1-01"], stored(session, "S1-01"), 0)
    wider = {"S1-01": json.loads(shapely.to_geojson(
        west_with(vertex_at_shared_edge=(116.06, 38.45), noise=4e-7)))}
    proposal = redraw.proposal_from_json(session, "S1", {**body, "geometries": wider},
                                         Limits())
    assert set(proposal.geometries) == {"S1-01"}
    overlaps = [f for f in redraw.check(session, proposal).errors]
    assert [f.kind for f in overlaps] == ["overlap"]  # one, near the vertex, not a ring
    assert overlaps[0].area_m2 == pytest.approx(0.5 * 872.0 * 11_100, rel=0.01)


def test_the_editor_sends_outlines_that_the_preview_and_commit_reshape(client, session,
                                                                        world):
    from tests.factories import login

    login(client, "s1-manager")
    versions = {c: v["version_id"] for c, v in redraw.current_children(session, "S1").items()}
    unchanged = {"outlines": {"S1-01": json.loads(shapely.to_geojson(west_with(noise=4e-7)))},
                 "expected_versions": versions}
    preview = client.post("/api/v1/grid/S1/preview", json=unchanged).get_json()
    assert preview["validation"] == {"ok": True, "errors": [], "warnings": []}
    assert preview["effect"]["moves"] == []
    nothing = client.post("/api/v1/grid/S1/commit", json={**unchanged, "comment": "不变"})
    assert nothing.status_code == 400
    drag = {"outlines": {"S1-01": json.loads(shapely.to_geojson(
        west_with(vertex_at_shared_edge=(116.06, 38.45))))}, "expected_versions": versions}
    preview = client.post("/api/v1/grid/S1/preview", json=drag).get_json()
    assert preview["validation"]["ok"] and set(preview["geometries"]) == {"S1-01", "S1-02"}
    done = client.post("/api/v1/grid/S1/commit", json={**drag, "comment": "拖动一个顶点"})
    assert done.status_code == 201, done.get_json()
    assert cell_of(session, "IN_EAST")[0] == "S1-01"


def test_two_outline_edits_apply_in_turn(session, world):
    # S1-01 takes a triangle from S1-02; then S1-02's own edit (sent from its stored outline,
    # which still holds the triangle) moves its east side and leaves the triangle taken.
    east = shapely.MultiPolygon([shapely.Polygon([(116.05, 38.4), (116.1, 38.4),
                                                  (116.1, 38.45), (116.09, 38.47),
                                                  (116.1, 38.5), (116.05, 38.5)])])
    proposal = redraw.Proposal("S1")
    outline.reshape(session, proposal, {
        "S1-01": west_with(vertex_at_shared_edge=(116.06, 38.45)), "S1-02": east})
    report = redraw.check(session, proposal)
    assert [f.kind for f in report.errors] == ["gap"]  # S1-02's dent: the grid's outline
    assert report.errors[0].lon > 116.09
    assert shapely.covers(proposal.geometries["S1-01"], shapely.Point(116.055, 38.45))
    assert not shapely.covers(proposal.geometries["S1-02"], shapely.Point(116.055, 38.45))


def test_an_invalid_outline_goes_to_validation_as_drawn(session, world):
    bowtie = shapely.MultiPolygon([shapely.Polygon(
        [(116.0, 38.4), (116.05, 38.5), (116.05, 38.4), (116.0, 38.5)])])
    proposal = reshaped(session, bowtie)
    assert proposal.geometries["S1-01"].equals(bowtie)
    assert ("error", "invalid") in {(f.level, f.kind) for f in
                                    redraw.check(session, proposal).findings}


def test_an_outline_of_a_cell_outside_the_grid_is_refused(session, world):
    body = {"moves": None, "new_cells": None, "retire": None, "expected_versions": None,
            "geometries": None,
            "outlines": {"S2-01": json.loads(shapely.to_geojson(shapely.box(116.1, 38.4,
                                                                             116.2, 38.5)))}}
    with pytest.raises(ValidationError, match="not a cell of grid S1"):
        redraw.proposal_from_json(session, "S1", body, Limits())


def upload(client, name, content, lang="en", **form):
    import io

    return client.post(f"/api/v1/grid/S1/boundaries?lang={lang}", data={
        **form, "file": (io.BytesIO(content if isinstance(content, bytes) else
                                    content.encode()), name)},
        content_type="multipart/form-data")


def collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}
        for props, g in features]})


def refusal(response):
    assert response.status_code == 400, response.get_json()
    return response.get_json()["error"]["message"]


def test_an_upload_gives_the_boundaries_of_its_cells(client, world):
    from tests.factories import login

    login(client, "s1-manager")
    good = upload(client, "new.geojson", collection(({"code": "S1-01"}, west_with())))
    assert good.status_code == 200
    assert set(good.get_json()["geometries"]) == {"S1-01"}


def test_a_csv_in_the_boundary_upload_is_said_to_be_a_table(client, world):
    from tests.factories import login

    login(client, "s1-manager")
    table = "企业管理编码,企业名称,经度,纬度\nE9,某厂,116.02,38.45\n"
    message = refusal(upload(client, "enterprises.csv", table))
    assert message.startswith("enterprises.csv is a CSV table, not a boundary file.")
    assert ".geojson" in message
    assert "CSV 表格，不是边界文件" in refusal(upload(client, "enterprises.csv", table, "zh_Hans_CN"))
    # The same table renamed .geojson is still said to be a table.
    assert "CSV" in refusal(upload(client, "enterprises.geojson", table))
    assert "line 1, column 2" in refusal(upload(client, "broken.geojson", "{oops"))
    assert "not GeoJSON features" in refusal(upload(client, "x.json", '{"a": 1}'))


def test_features_without_codes_are_named_with_the_field_expected(client, world):
    from tests.factories import login

    login(client, "s1-manager")
    nameless = collection(({"name": "西"}, west_with()), ({"name": "东", "id": 2},
                                                         shapely.box(116.05, 38.4, 116.1, 38.5)))
    message = refusal(upload(client, "cells.geojson", nameless))
    assert "no “code” property" in message and "name, id" in message and "S1-01" in message
    assert "没有“code”属性" in refusal(upload(client, "cells.geojson", nameless, "zh_Hans_CN"))
    some = collection(({"code": "S1-01"}, west_with()),
                      ({"code": ""}, shapely.box(116.05, 38.4, 116.1, 38.5)))
    message = refusal(upload(client, "cells.geojson", some))
    assert message.startswith("Features 2 (of 2) have no “code” property")


def test_swapped_coordinates_are_said_to_be_swapped(client, world):
    from tests.factories import login

    login(client, "s1-manager")
    swapped = collection(({"code": "S1-01"}, shapely.transform(west_with(),
                                                                lambda xy: xy[:, ::-1])))
    message = refusal(upload(client, "swapped.geojson", swapped))
    assert message.startswith("The coordinates are outside cell C, but inside it with "
                              "longitude and latitude swapped")
    assert "m²" not in message and "\n" not in message
    assert "经纬度" in refusal(upload(client, "swapped.geojson", swapped, "zh_Hans_CN"))


def test_another_grids_boundaries_and_points_are_refused_once(client, world):
    from tests.factories import login

    login(client, "s1-manager")
    other = collection(({"code": "S1-01"}, shapely.box(116.11, 38.4, 116.19, 38.5)))
    assert "lie mostly outside grid S1" in refusal(upload(client, "other.geojson", other))
    stranger = collection(({"code": "S2-01"}, shapely.box(116.1, 38.4, 116.2, 38.5)))
    assert "S2-01: not cells of grid S1" in refusal(upload(client, "s2.geojson", stranger))
    points = collection(({"code": "S1-01"}, shapely.Point(116.02, 38.45)))
    assert "are not polygons (Point)" in refusal(upload(client, "p.geojson", points))
    far = collection(({"code": "S1-01"}, shapely.box(100.0, 30.0, 100.1, 30.1)))
    assert "lie outside cell C" in refusal(upload(client, "far.geojson", far))


def test_a_boundary_upload_needs_the_editors_permission(client, world):
    from tests.factories import login

    login(client, "s2-manager")
    refused = upload(client, "new.geojson", collection(({"code": "S1-01"}, west_with())))
    assert refused.status_code == 403


def test_a_file_rounded_to_six_decimals_redraws_nothing(session, world, tmp_path):
    import geopandas as gpd

    path = tmp_path / "rounded.geojson"
    gpd.GeoDataFrame({"code": ["S1-01"]}, geometry=[west_with(noise=4e-7)],
                     crs=4326).to_file(path)
    [proposal] = redraw.proposals_from_file(session, path)
    assert shapely.equals_exact(proposal.geometries["S1-01"], stored(session, "S1-01"), 0)
    with pytest.raises(redraw.NothingChanges):
        redraw.commit(session, proposal, username="u", comment="same")


def test_a_vertex_dropped_onto_another_is_repaired_not_refused(session, world):
    # A new vertex dragged from the middle of an edge and snapped onto a corner: the ring runs
    # out to (116.05, 38.4) and back (a spike, no area), then straight up to (116.05, 38.45).
    ring = [(116.0, 38.4), (116.05, 38.4), (116.0, 38.4), (116.05, 38.45), (116.05, 38.5),
            (116.0, 38.5), (116.0, 38.45)]
    spike = shapely.MultiPolygon([shapely.Polygon(ring)])
    assert not spike.is_valid
    proposal = reshaped(session, spike)
    assert proposal.geometries["S1-01"].is_valid
    assert redraw.check(session, proposal).findings == []
    # The triangle the outline no longer holds goes to the neighbour along that edge.
    assert shapely.covers(proposal.geometries["S1-02"], shapely.Point(116.04, 38.405))


@pytest.fixture
def kathmandu(connection, database_url):
    """The app as a bureau in Kathmandu (UTC+05:45) runs it: dates typed there mean its day."""
    from contextlib import nullcontext

    from sqlalchemy.orm import sessionmaker

    from app import create_app
    from tests.conftest import TEST_SECRET_KEY

    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "WTF_CSRF_ENABLED": False,
                      "BABEL_DEFAULT_TIMEZONE": "Asia/Kathmandu"})
    app.extensions["gridwatch.sessions"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    app.extensions["gridwatch.reader"] = lambda: nullcontext(
        connection.connection.driver_connection)
    yield app
    app.extensions["gridwatch.engine"].dispose()


def test_the_editor_dates_a_change_in_the_bureaus_zone(kathmandu, session, world):
    from zoneinfo import ZoneInfo

    from tests.factories import login

    client = kathmandu.test_client()
    login(client, "s1-manager")
    assert "Asia/Kathmandu, UTC+05:45" in client.get("/grid/S1/edit?lang=en").get_data(
        as_text=True)
    tomorrow = dt.datetime.now(ZoneInfo("Asia/Kathmandu")).date() + dt.timedelta(days=1)
    done = client.post("/api/v1/grid/S1/commit?lang=en", json={
        "outlines": {"S1-01": json.loads(shapely.to_geojson(
            west_with(vertex_at_shared_edge=(116.06, 38.45))))},
        "comment": "from tomorrow", "valid_from": tomorrow.isoformat()})
    assert done.status_code == 201, done.get_json()
    midnight = dt.datetime.combine(tomorrow, dt.time(0), ZoneInfo("Asia/Kathmandu"))
    assert session.execute(text("SELECT valid_from FROM grid_change WHERE id = :i"),
                           {"i": done.get_json()["change"]}).scalar() == midnight
    assert done.get_json()["valid_from"] == midnight.isoformat()
    assert "(Asia/Kathmandu, UTC+05:45)" in done.get_json()["message"]


def test_gcj02_coordinates_are_recognised_and_converted_when_chosen(client, world):
    from gis.crs import wgs84_to_gcj02
    from tests.factories import login

    login(client, "s1-manager")

    def to_gcj02(xy):
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    shifted = collection(({"code": "S1-01"}, shapely.transform(west_with(), to_gcj02)))
    message = refusal(upload(client, "amap.geojson", shifted))
    assert "m off the cells' boundaries" in message and "GCJ-02" in message
    read = upload(client, "amap.geojson", shifted, crs="gcj02")
    assert read.status_code == 200
    body = {"geometries": read.get_json()["geometries"]}
    preview = client.post("/api/v1/grid/S1/preview", json=body).get_json()
    assert preview["validation"]["ok"] and preview["changed_area"] is None


def test_a_zipped_shapefile_and_a_geopackage_are_read(client, world, tmp_path):
    import zipfile

    import geopandas as gpd

    from tests.factories import login

    login(client, "s1-manager")
    frame = gpd.GeoDataFrame({"code": ["S1-01"]}, geometry=[west_with()], crs=4326)
    frame.to_file(tmp_path / "cells.gpkg")
    frame.to_file(tmp_path / "cells.shp")
    with zipfile.ZipFile(tmp_path / "cells.zip", "w") as zf:
        for part in tmp_path.glob("cells.*"):
            if part.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zf.write(part, part.name)
    for name in ("cells.gpkg", "cells.zip"):
        read = upload(client, name, (tmp_path / name).read_bytes())
        assert read.status_code == 200, read.get_json()
        assert set(read.get_json()["geometries"]) == {"S1-01"}
    assert "not a zip archive" in refusal(upload(client, "cells.zip", b"PK? no"))

"""Property tests (hypothesis) of the boundary checks and of the assignment rule.

- ``polygon_problem`` / ``boundary`` (gis/files.py, gis/redraw.py), ``records_from_file`` (the
  importer) and ``boundaries_from_json`` (the editor's API) on random valid and invalid shapes:
  self-intersections (bow-ties), spikes, zero-area rings, holes touching or crossing their
  shell, huge vertex counts, mixed dimensions (2D and 3D, collections with points and lines),
  null and malformed GeoJSON. They never crash (only the domain's own refusals), never accept
  what GEOS calls invalid unless told to repair it (``--make-valid``), and what they accept is
  a valid MultiPolygon.
- Assignment (gis/sql/assignment.sql) agrees with a shapely oracle of docs/assignment.md's rule
  for points inside, near (1e-7°) and exactly on shared edges and corners: the deepest
  territorial cell that covers the point, the lowest code on a shared edge (``on_edge``), no
  cell outside every cell.

Fixed seeds (``derandomize``), bounded examples, no deadline: docs/reliability.md.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.errors import GridWatchError
from gis.files import polygon_problem
from gis.redraw import boundaries_from_json, boundary
from tests.factories import add_cells, add_enterprises, cell_of

UTC = dt.timezone.utc
SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Hejian, lon/lat: coordinates on a grid of 1e-4° so that vertices repeat and lines cross.
LON0, LAT0, STEP = 116.0, 38.4, 1e-4
coordinate = st.tuples(st.integers(0, 40), st.integers(0, 40)).map(
    lambda ij: (LON0 + ij[0] * STEP * 25, LAT0 + ij[1] * STEP * 25))


@st.composite
def rings(draw, min_size=3, max_size=12):
    points = draw(st.lists(coordinate, min_size=min_size, max_size=max_size))
    return points + points[:1]


@st.composite
def shapes(draw):
    """A geometry someone might send as a boundary: valid or not, of any kind."""
    kind = draw(st.sampled_from([
        "random", "box", "bowtie", "spike", "zero_area", "hole_touching", "hole_crossing",
        "huge", "multi", "collection", "line", "point", "3d", "empty"]))
    x, y = draw(coordinate)
    w, h = draw(st.integers(1, 10)) * 0.0025, draw(st.integers(1, 10)) * 0.0025
    box = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    if kind == "random":
        return shapely.Polygon(draw(rings()))
    if kind == "box":
        return shapely.Polygon(box)
    if kind == "bowtie":
        return shapely.Polygon([(x, y), (x + w, y + h), (x + w, y), (x, y + h), (x, y)])
    if kind == "spike":
        # An edge that goes out and straight back.
        return shapely.Polygon(box[:2] + [(x + w * 2, y), (x + w, y)] + box[2:])
    if kind == "zero_area":
        return shapely.Polygon([(x, y), (x + w, y), (x + 2 * w, y), (x, y)])
    if kind == "hole_touching":
        # A hole touching its shell along an edge (GEOS: self-intersection) or at a point
        # (valid).
        at_point = draw(st.booleans())
        hole = ([(x, y + h / 4), (x + w / 2, y + h / 2), (x + w / 4, y + h / 4), (x, y + h / 4)]
                if at_point else
                [(x, y), (x + w / 2, y), (x + w / 2, y + h / 2), (x, y + h / 2), (x, y)])
        return shapely.Polygon(box, [hole])
    if kind == "hole_crossing":
        return shapely.Polygon(box, [[(x - w, y + h / 4), (x + w / 2, y + h / 4),
                                      (x + w / 2, y + h / 2), (x - w, y + h / 2)]])
    if kind == "huge":
        n = draw(st.integers(1_000, 20_000))
        circle = shapely.Point(x, y).buffer(w, quad_segs=max(1, n // 4))
        return circle if draw(st.booleans()) else shapely.Polygon(
            list(circle.exterior.coords)[: n // 2] + [(x + 2 * w, y), circle.exterior.coords[0]])
    if kind == "multi":
        return shapely.MultiPolygon([shapely.Polygon(box), shapely.Polygon(draw(rings()))])
    if kind == "collection":
        return shapely.GeometryCollection([shapely.Polygon(box), shapely.Point(x, y),
                                           shapely.LineString([(x, y), (x + w, y + h)])])
    if kind == "line":
        return shapely.LineString(box)
    if kind == "point":
        return shapely.Point(x, y)
    if kind == "3d":
        # Mixed dimensions: a ring whose vertices have z, and a 2D hole.
        return shapely.Polygon([(a, b, 5.0) for a, b in box],
                               [[(x + w / 4, y + h / 4), (x + w / 2, y + h / 4),
                                 (x + w / 2, y + h / 2), (x + w / 4, y + h / 4)]])
    return shapely.Polygon()


def _valid(geom) -> bool:
    return isinstance(geom, shapely.Geometry) and not geom.is_empty and geom.is_valid


@settings(max_examples=150, **SETTINGS)
@given(geom=shapes(), make_valid=st.booleans())
def test_the_validator_never_accepts_what_geos_calls_invalid(geom, make_valid):
    used, problem, note = polygon_problem(geom, make_valid)
    assert (used is None) == (problem is not None)
    if used is None:
        return
    assert used.geom_type == "MultiPolygon" and used.is_valid
    if not make_valid:
        assert _valid(geom), f"accepted an invalid geometry: {shapely.is_valid_reason(geom)}"
    elif not geom.is_valid:
        assert note and "repaired" in note
    # The editor's check is the same one, plus "in China".
    checked, why = boundary(geom, make_valid=make_valid)
    assert (checked is None) == (why is not None)


@settings(max_examples=60, **SETTINGS)
@given(geom=shapes(), junk=st.sampled_from([None, 5, "x", [], {}, {"type": "Polygon"},
                                            {"type": "Polygon", "coordinates": [[[1, 2]]]},
                                            {"type": "Nope", "coordinates": []}]),
       use_junk=st.booleans())
def test_the_editors_geometries_are_checked_or_refused_never_crash(geom, junk, use_junk):
    payload = junk if use_junk else json.loads(shapely.to_geojson(geom))
    try:
        out = boundaries_from_json("geometries", {"S1-01": payload})
    except GridWatchError as exc:  # a ValidationError naming the field
        assert getattr(exc, "field", None) == "geometries"
        return
    # The editor keeps invalid shapes to draw where they cross themselves; its commit checks
    # them again (gis/redraw.py's check), so only polygons come out.
    assert out["S1-01"].geom_type == "MultiPolygon"


@settings(max_examples=25, **SETTINGS)
@given(geoms=st.lists(shapes(), min_size=1, max_size=4), make_valid=st.booleans())
def test_the_importer_refuses_or_repairs_never_crashes(tmp_path_factory, geoms, make_valid):
    from gis.cells import records_from_file
    from gis.errors import ImportRefused

    path = tmp_path_factory.mktemp("cells") / "cells.geojson"
    features = [{"type": "Feature", "properties": {"code": f"Z{i}", "name": f"z{i}"},
                 "geometry": json.loads(shapely.to_geojson(g)) if not g.is_empty else None}
                for i, g in enumerate(geoms)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    try:
        records, problems, notes, _crs = records_from_file(path, level=3, parent="S1",
                                                           make_valid=make_valid)
    except (ImportRefused, GridWatchError):
        return
    by_code = {f"Z{i}": g for i, g in enumerate(geoms)}
    for record in records:
        assert record.geom.geom_type == "MultiPolygon" and record.geom.is_valid
        if not make_valid:
            # As read back from the file (GeoJSON keeps the coordinates as written).
            assert _valid(by_code[record.code]), shapely.is_valid_reason(by_code[record.code])
    assert len(records) + len(problems) == len(geoms)


# --- assignment against a shapely oracle ----------------------------------------------------

@st.composite
def staircase_city(draw):
    """A city box cut into level-3 cells along an axis-aligned staircase (so points on its
    edges are exactly on them in floating point), the right part cut again at a height:
    three cells sharing edges and a corner, under one level-2 grid."""
    xs = sorted(set(draw(st.lists(st.integers(2, 38), min_size=1, max_size=4))))
    steps = draw(st.lists(st.integers(1, 38), min_size=len(xs) - 1, max_size=len(xs) - 1))
    cut_y = draw(st.integers(5, 35))
    g = 0.0025
    ys = [0] + sorted(set(steps))[: len(xs) - 1] + [40]
    xs = xs[: len(ys) - 1]
    # The staircase from the bottom to the top: x = xs[k] between ys[k] and ys[k+1].
    line = []
    for k, x in enumerate(xs):
        line += [(LON0 + x * g, LAT0 + ys[k] * g), (LON0 + x * g, LAT0 + ys[k + 1] * g)]
    city = shapely.box(LON0, LAT0, LON0 + 40 * g, LAT0 + 40 * g)
    left = shapely.Polygon([(LON0, LAT0)] + line + [(LON0, LAT0 + 40 * g)])
    right = city.difference(left)
    low = right.intersection(shapely.box(LON0, LAT0, LON0 + 40 * g, LAT0 + cut_y * g))
    high = right.difference(low)
    cells = {"C-S-01": left, "C-S-02": high, "C-S-03": low}
    cells = {k: shapely.normalize(v) for k, v in cells.items()
             if v.geom_type == "Polygon" and v.area > 0}
    return city, cells, line, cut_y * g


@st.composite
def probes(draw, city, cells, line, cut):
    """Points inside, on shared edges and corners (exactly), and 1e-7° off them."""
    kind = draw(st.sampled_from(["vertex", "on_vertical", "on_cut", "near", "inside",
                                 "outside", "city_edge"]))
    g = 0.0025
    if kind == "vertex":
        return draw(st.sampled_from(line))
    if kind == "on_vertical":
        k = draw(st.integers(0, len(line) // 2 - 1))
        (x, y0), y1 = line[2 * k], line[2 * k + 1][1]
        return (x, y0 + (y1 - y0) * draw(st.integers(0, 4)) / 4)
    if kind == "on_cut":
        return (LON0 + draw(st.integers(0, 40)) * g, LAT0 + cut)
    if kind == "near":
        x, y = draw(st.sampled_from(line))
        dx, dy = draw(st.sampled_from([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)]))
        return (x + dx * 1e-7, y + dy * 1e-7)
    if kind == "outside":
        return (LON0 - 0.001, LAT0 + draw(st.integers(0, 40)) * g)
    if kind == "city_edge":
        return (LON0, LAT0 + draw(st.integers(1, 39)) * g)
    return (LON0 + draw(st.integers(1, 399)) * g / 10, LAT0 + draw(st.integers(1, 399)) * g / 10)


def oracle(cells: dict, city, point) -> tuple[str | None, bool]:
    """docs/assignment.md: the deepest cell covering the point, the lowest code on a shared
    edge (on_edge), the level-2 grid where no level-3 cell covers it, else no cell."""
    p = shapely.Point(point)
    covering = sorted(code for code, geom in cells.items() if geom.covers(p))
    if covering:
        return covering[0], len(covering) > 1
    return ("C-S", False) if city.covers(p) else (None, False)


@pytest.mark.slow
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_assignment_agrees_with_a_shapely_oracle(session, data):
    city, cells, line, cut = data.draw(staircase_city())
    points = data.draw(st.lists(probes(city, cells, line, cut), min_size=1, max_size=12))
    valid_from = dt.datetime(2026, 1, 1, tzinfo=UTC)
    savepoint = session.begin_nested()
    try:
        add_cells(session, ("C", 1, city, None), ("C-S", 2, city, "C"),
                  *[(code, 3, geom, "C-S") for code, geom in cells.items()],
                  valid_from=valid_from)
        add_enterprises(session, *[(f"P{i}", x, y) for i, (x, y) in enumerate(points)],
                        valid_from=valid_from)
        for i, point in enumerate(points):
            expected = oracle(cells, city, point)
            got = cell_of(session, f"P{i}")
            assert got is not None, f"P{i} at {point} has no assignment row"
            assert (got[0], bool(got[1])) == expected, f"{point}: {got} != {expected}"
    finally:
        savepoint.rollback()

"""Tests for the Hejian demo geography (gis.demo.synth) and its data files."""

import csv
import json
import re

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon

from gis.demo import synth
from gis.demo.synth import (
    COUNTY_CODE,
    DATA_DIR,
    build_geography,
    load_outline,
    load_townships,
    load_villages,
)

# Tolerance on areas in deg² (1e-10 deg² is about 1 m² at this latitude).
AREA_TOL = 1e-10
CODE_RE = re.compile(r"^\d{12}$")


@pytest.fixture(scope="module")
def geo():
    return build_geography()


def _csv_rows(name):
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _pairwise_overlap(geoms):
    """Total area shared by any two of ``geoms``."""
    arr = np.array(geoms, dtype=object)
    a, b = shapely.STRtree(arr).query(arr, predicate="intersects")
    keep = a < b
    return float(shapely.area(shapely.intersection(arr[a[keep]], arr[b[keep]])).sum())


def _assert_partition(parts, whole):
    union = shapely.union_all(parts)
    assert shapely.symmetric_difference(union, whole).area < AREA_TOL
    assert _pairwise_overlap(parts) < AREA_TOL


# -- data files --------------------------------------------------------------


def test_township_file():
    rows = _csv_rows("townships.csv")
    assert list(rows[0]) == ["code", "name"]
    assert len(rows) == 20
    codes = [r["code"] for r in rows]
    assert codes == sorted(set(codes))
    for r in rows:
        assert CODE_RE.match(r["code"]), r
        assert r["code"].startswith("130984") and r["code"].endswith("000")
        assert r["name"].strip()
    assert load_townships()[0] == ("130984001000", "瀛州路街道")


def test_village_file():
    rows = _csv_rows("villages.csv")
    assert list(rows[0]) == ["code", "name", "township_code"]
    townships = {t.code for t in load_townships()}
    codes = [r["code"] for r in rows]
    assert codes == sorted(set(codes))
    # Pinned so that an accidental re-extraction with other filters is noticed.
    assert len(rows) == 639
    for r in rows:
        assert CODE_RE.match(r["code"]), r
        assert r["township_code"] in townships
        assert r["code"][:9] == r["township_code"][:9]
        assert r["name"].strip()
    assert {r["township_code"] for r in rows} == townships
    assert len(load_villages()) == len(rows)


def test_outline_file():
    doc = json.loads((DATA_DIR / "outline.geojson").read_text(encoding="utf-8"))
    features = doc["features"]
    assert len(features) == 1
    assert features[0]["properties"]["code"] == COUNTY_CODE
    assert features[0]["properties"]["name"] == "河间市"
    outline = load_outline()
    assert isinstance(outline, MultiPolygon) and outline.is_valid
    # Real Hejian: roughly 115.9-116.7 E, 38.3-38.7 N.
    minx, miny, maxx, maxy = outline.bounds
    assert 115.8 < minx < maxx < 116.8 and 38.2 < miny < maxy < 38.8
    assert shapely.get_num_coordinates(outline) <= 500


def test_data_files_are_small():
    assert sum(p.stat().st_size for p in DATA_DIR.iterdir()) < 1_000_000


# -- synthetic geography -----------------------------------------------------


def test_counts_and_codes_match_data(geo):
    townships = load_townships()
    villages = load_villages()
    assert len(geo.townships) == len(townships) == 20
    assert len(geo.villages) == len(villages)
    assert [(a.code, a.name) for a in geo.townships] == [tuple(t) for t in townships]
    assert [(a.code, a.name, a.parent_code) for a in geo.villages] == [tuple(v) for v in villages]
    assert all(a.parent_code == COUNTY_CODE for a in geo.townships)
    for v in geo.villages:
        assert CODE_RE.match(v.code) and v.code[:9] == v.parent_code[:9]


def test_geometries_valid(geo):
    for area in geo.townships + geo.villages:
        g = area.geometry
        assert isinstance(g, MultiPolygon), area.code
        assert g.is_valid and not g.is_empty and g.area > 0, area.code
    assert isinstance(geo.outline, MultiPolygon) and geo.outline.is_valid


def test_townships_partition_outline(geo):
    _assert_partition([t.geometry for t in geo.townships], geo.outline)


def test_villages_partition_townships(geo):
    by_township = {t.code: [] for t in geo.townships}
    for v in geo.villages:
        by_township[v.parent_code].append(v.geometry)
    for t in geo.townships:
        _assert_partition(by_township[t.code], t.geometry)


def test_outline_matches_data_file(geo):
    real = load_outline()
    # Only grid snapping (1e-7 deg) separates the two.
    assert shapely.symmetric_difference(geo.outline, real).area < 1e-6 * real.area
    assert geo.outline.hausdorff_distance(real) < 1e-6


def test_areas_are_connected(geo):
    # The fragment repair makes every area one piece for the default seed.
    assert all(len(a.geometry.geoms) == 1 for a in geo.townships + geo.villages)


def test_coordinates_on_grid(geo):
    xy = shapely.get_coordinates([a.geometry for a in geo.villages])
    scaled = xy / synth.GRID_SIZE
    assert np.abs(scaled - np.round(scaled)).max() < 1e-3


def test_deterministic(geo):
    again = build_geography(synth.DEFAULT_SEED)
    assert again == geo
    assert [a.geometry.wkb for a in again.villages] == [a.geometry.wkb for a in geo.villages]


def test_seed_changes_polygons(geo):
    other = build_geography(1)
    assert other.townships[0].geometry != geo.townships[0].geometry
    assert [a.code for a in other.villages] == [a.code for a in geo.villages]


def test_rejects_negative_seed():
    with pytest.raises(ValueError):
        build_geography(-1)

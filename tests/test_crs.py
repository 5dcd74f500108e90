import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gis.crs import (
    CHINA_BBOX,
    GCJ02_BBOX,
    CrsError,
    CrsSpec,
    check_lonlat,
    check_lonlat_array,
    finite_floats,
    gcj02_to_wgs84,
    in_china,
    parse_crs,
    transform_geometry_gcj02_to_wgs84,
    wgs84_to_gcj02,
)

# (name, wgs_lon, wgs_lat, gcj_lon, gcj_lat). Published pairs, reordered to
# (lon, lat); each matches the standard Krasovsky formula to < 1e-12 deg.
PUBLISHED_PAIRS = [
    # googollee/eviltransform, python/test.py (TESTS, "shanghai").
    ("Shanghai", 121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    # googollee/eviltransform, python/test.py (TESTS, "shenzhen").
    ("Shenzhen", 113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    # googollee/eviltransform, python/test.py (TESTS, "beijing").
    ("Beijing", 116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915),
    # a point by Tiananmen / the Forbidden City.
    ("Tiananmen", 116.404, 39.915, 116.41024449916938, 39.91640428150164),
]

# wandergis/coordtransform, test/app.js: its one-step gcj02towgs84(116.404, 39.915).
ONE_STEP_INVERSE = (116.39775550083061, 39.91359571849836)

OUTSIDE_CHINA = [
    (-0.1276, 51.5072),  # London
    (139.6917, 35.6895),  # Tokyo: east of the box
    (103.8198, 1.3521),  # Singapore: south of the box
    (-74.006, 40.7128),  # New York
    (151.2093, -33.8688),  # Sydney
    (0.0, 0.0),
    (180.0, 90.0),
]


def _china_grid(n=60):
    # Stay strictly inside the box: on its edges the transform is the identity.
    min_lon, min_lat, max_lon, max_lat = GCJ02_BBOX
    lon = np.linspace(min_lon + 1e-6, max_lon - 1e-6, n)
    lat = np.linspace(min_lat + 1e-6, max_lat - 1e-6, n)
    return np.meshgrid(lon, lat)


@pytest.mark.parametrize("name, wlon, wlat, glon, glat", PUBLISHED_PAIRS)
def test_forward_matches_published_pairs(name, wlon, wlat, glon, glat):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize("name, wlon, wlat, glon, glat", PUBLISHED_PAIRS)
def test_inverse_recovers_published_wgs84(name, wlon, wlat, glon, glat):
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert lon == pytest.approx(wlon, abs=1e-9)
    assert lat == pytest.approx(wlat, abs=1e-9)


def test_inverse_beats_one_step_approximation():
    glon, glat = 116.404, 39.915
    exact = gcj02_to_wgs84(glon, glat)
    # Same neighbourhood as the published one-step result...
    assert exact[0] == pytest.approx(ONE_STEP_INVERSE[0], abs=1e-4)
    assert exact[1] == pytest.approx(ONE_STEP_INVERSE[1], abs=1e-4)
    # ...but only the iterated one maps forward onto the input again.
    exact_err = np.hypot(*np.subtract(wgs84_to_gcj02(*exact), (glon, glat)))
    one_step_err = np.hypot(*np.subtract(wgs84_to_gcj02(*ONE_STEP_INVERSE), (glon, glat)))
    assert exact_err < 1e-9
    assert one_step_err > 1e-7  # ~6 cm here; metres in parts of China


def test_round_trip_over_china_grid():
    lon, lat = _china_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    # Sanity: the grid really was offset, so the round trip is not trivial.
    assert np.all(np.hypot(glon - lon, glat - lat) > 1e-4)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert np.max(np.abs(back_lon - lon)) < 1e-7
    assert np.max(np.abs(back_lat - lat)) < 1e-7


def test_round_trip_just_inside_box_edges():
    # Points whose GCJ-02 image may leave the box; the inverse must still
    # recover them rather than treating the image as "outside China".
    min_lon, min_lat, max_lon, max_lat = GCJ02_BBOX
    eps = 1e-4
    lon = np.array([min_lon + eps, max_lon - eps, 100.0, 100.0, max_lon - eps, min_lon + eps])
    lat = np.array([30.0, 45.0, min_lat + eps, max_lat - eps, max_lat - eps, min_lat + eps])
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    np.testing.assert_allclose(back_lon, lon, rtol=0, atol=1e-7)
    np.testing.assert_allclose(back_lat, lat, rtol=0, atol=1e-7)


@pytest.mark.parametrize("lon, lat", OUTSIDE_CHINA)
def test_identity_outside_china(lon, lat):
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_non_finite_values_pass_through():
    lon = np.array([np.nan, 116.4, np.inf])
    lat = np.array([39.9, np.nan, 39.9])
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_vectorised_equals_scalar():
    points = [(p[1], p[2]) for p in PUBLISHED_PAIRS] + OUTSIDE_CHINA + [(87.6, 43.8), (91.1, 29.6)]
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])

    fwd_lon, fwd_lat = wgs84_to_gcj02(lon, lat)
    inv_lon, inv_lat = gcj02_to_wgs84(fwd_lon, fwd_lat)
    for i, (plon, plat) in enumerate(points):
        assert (fwd_lon[i], fwd_lat[i]) == wgs84_to_gcj02(plon, plat)
        # Each point stops on its own step, so a batch equals lone calls bit for bit.
        assert (inv_lon[i], inv_lat[i]) == gcj02_to_wgs84(fwd_lon[i], fwd_lat[i])


def test_shapes_and_types():
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert type(lon) is float and type(lat) is float
    lon, lat = gcj02_to_wgs84(np.float64(116.4), 39.9)
    assert type(lon) is float and type(lat) is float

    grid_lon, grid_lat = _china_grid(7)
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = func(grid_lon, grid_lat)
        assert out_lon.shape == out_lat.shape == (7, 7)
        # A scalar latitude broadcasts against an array of longitudes.
        out_lon, out_lat = func([110.0, 115.0, 120.0], 30.0)
        assert out_lon.shape == out_lat.shape == (3,)
        out_lon, out_lat = func(np.array([]), np.array([]))
        assert out_lon.shape == (0,)


def test_inputs_are_not_mutated():
    lon = np.array([116.4, 121.5])
    lat = np.array([39.9, 31.2])
    lon_copy, lat_copy = lon.copy(), lat.copy()
    gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, lon_copy)
    np.testing.assert_array_equal(lat, lat_copy)


def _gcj(lon, lat):
    return wgs84_to_gcj02(lon, lat)


def test_geometry_transform_keeps_type_and_converts_coords():
    shell = [_gcj(116.30, 39.80), _gcj(116.50, 39.80), _gcj(116.50, 40.00), _gcj(116.30, 40.00)]
    hole = [_gcj(116.38, 39.88), _gcj(116.42, 39.88), _gcj(116.42, 39.92)]
    geoms = [
        Point(_gcj(121.5272106, 31.1774276)),
        LineString([_gcj(113.9, 22.5), _gcj(114.1, 22.6)]),
        Polygon(shell, [hole]),
        MultiPolygon([Polygon(shell), Polygon([_gcj(121.4, 31.1), _gcj(121.6, 31.1),
                                               _gcj(121.6, 31.3)])]),
    ]
    for geom in geoms:
        out = transform_geometry_gcj02_to_wgs84(geom)
        assert out.geom_type == geom.geom_type
        src = shapely.get_coordinates(geom)
        dst = shapely.get_coordinates(out)
        assert dst.shape == src.shape
        exp_lon, exp_lat = gcj02_to_wgs84(src[:, 0], src[:, 1])
        np.testing.assert_allclose(dst[:, 0], exp_lon, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dst[:, 1], exp_lat, rtol=0, atol=1e-12)

    point = transform_geometry_gcj02_to_wgs84(geoms[0])
    assert point.x == pytest.approx(121.5272106, abs=1e-9)
    assert point.y == pytest.approx(31.1774276, abs=1e-9)

    polygon = transform_geometry_gcj02_to_wgs84(geoms[2])
    assert len(polygon.interiors) == 1
    assert polygon.is_valid


def test_geometry_transform_keeps_z_and_handles_empty_and_arrays():
    glon, glat = _gcj(116.4, 39.9)
    out = transform_geometry_gcj02_to_wgs84(Point(glon, glat, 42.5))
    assert out.has_z
    assert (out.x, out.y, out.z) == pytest.approx((116.4, 39.9, 42.5), abs=1e-9)

    empty = transform_geometry_gcj02_to_wgs84(Polygon())
    assert empty.is_empty and empty.geom_type == "Polygon"

    arr = transform_geometry_gcj02_to_wgs84(np.array([Point(glon, glat), None, Point(0, 0)]))
    assert arr[0].x == pytest.approx(116.4, abs=1e-9)
    assert arr[1] is None
    assert (arr[2].x, arr[2].y) == (0.0, 0.0)


def test_in_china():
    assert in_china(116.4, 39.9) is True
    assert in_china(87.6, 43.8) is True  # Urumqi
    assert in_china(CHINA_BBOX[0], CHINA_BBOX[1]) is True  # inclusive corner
    assert in_china(39.9, 116.4) is False
    assert in_china(-0.13, 51.5) is False
    assert in_china(float("nan"), 39.9) is False
    np.testing.assert_array_equal(in_china(np.array([116.4, 0.0]), 39.9), [True, False])


@pytest.mark.parametrize(
    "lon, lat, expected",
    [
        (116.4, 39.9, None),
        ("116.4", " 39.9 ", None),  # CSV cells arrive as strings
        (np.float64(121.47), np.float32(31.23), None),
        (None, 39.9, "not a number"),
        (116.4, "abc", "not a number"),
        (float("nan"), 39.9, "not a number"),
        (116.4, math.inf, "not a number"),
        (True, 39.9, "not a number"),
        ([116.4], 39.9, "not a number"),
        (0, 0, "lon/lat (0, 0) is not a location"),
        (0.0, 0.0, "lon/lat (0, 0) is not a location"),
        (39.9, 116.4, "latitude and longitude look swapped"),
        (31.23, 121.47, "latitude and longitude look swapped"),
        (200.0, 39.9, "longitude out of range [-180, 180]"),
        (100.0, 95.0, "latitude out of range [-90, 90]"),
        (-0.1276, 51.5072, "outside China"),
        (139.69, 35.69, "outside China"),
        (0.0, 39.9, "outside China"),
    ],
)
def test_check_lonlat(lon, lat, expected):
    assert check_lonlat(lon, lat) == expected
    # The array version gives the same reason, alone or among plain CSV numbers.
    column = np.array([lon, "116.4", 116.4], dtype=object)
    assert check_lonlat_array(column, np.array([lat, "39.9", 39.9], dtype=object)).tolist() \
        == [expected, None, None]


def test_check_lonlat_array_equals_the_scalar_check():
    values = [116.4, "116.4", " 39.9 ", None, "abc", float("nan"), "inf", True, 0, 0.0, 39.9,
              200.0, 95.0, -0.1276, 139.69, "１１６.４", "３８．４４", "38°26′", "1_0", "",
              np.float32(31.23), "-0"]
    pairs = [(a, b) for a in values for b in values]
    lon = np.array([a for a, _ in pairs], dtype=object)
    lat = np.array([b for _, b in pairs], dtype=object)
    assert check_lonlat_array(lon, lat).tolist() == [check_lonlat(a, b) for a, b in pairs]
    floats = finite_floats(np.array(["1.5", "x", "nan", "1e400", "１２"], dtype=object))
    np.testing.assert_array_equal(floats, [1.5, np.nan, np.nan, np.nan, 12.0])
    np.testing.assert_array_equal(finite_floats(np.array([1, 2])), [1.0, 2.0])


@pytest.mark.parametrize(
    "value, kind, epsg",
    [
        ("EPSG:4326", "epsg", 4326),
        ("epsg:4490", "epsg", 4490),
        ("Epsg:3857", "epsg", 3857),
        ("4326", "epsg", 4326),
        (" 4547 ", "epsg", 4547),
        (4326, "epsg", 4326),
        ("wgs84", "epsg", 4326),
        ("WGS84", "epsg", 4326),
        ("WGS-84", "epsg", 4326),
        ("CGCS2000", "epsg", 4490),
        ("gcj02", "gcj02", None),
        ("GCJ02", "gcj02", None),
        ("gcj-02", "gcj02", None),
    ],
)
def test_parse_crs_good(value, kind, epsg):
    spec = parse_crs(value)
    assert spec == CrsSpec(kind, epsg)
    assert spec.is_gcj02 == (kind == "gcj02")
    assert spec.is_epsg == (kind == "epsg")


def test_crs_spec_str_and_pyproj():
    assert str(parse_crs("wgs84")) == "EPSG:4326"
    assert str(parse_crs("gcj02")) == "GCJ02"
    assert parse_crs("epsg:4490").to_pyproj().to_epsg() == 4490
    with pytest.raises(CrsError):
        parse_crs("gcj02").to_pyproj()
    spec = parse_crs("4326")
    assert parse_crs(spec) is spec


@pytest.mark.parametrize(
    "value",
    ["", "   ", "EPSG:", "EPSG:abc", "epsg:4326x", "EPSG:99999", "123456789", "bd09",
     "mars", "EPSG:-4326", "4326.0", None, 4326.0, True, ["EPSG:4326"]],
)
def test_parse_crs_bad(value):
    with pytest.raises(CrsError) as excinfo:
        parse_crs(value)
    assert repr(value) in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("typed, expected", [
    ("38.4424", 38.4424), ("３８．４４２４", 38.4424), ("38,4424", 38.4424),
    ("38°26'32.64\"N", 38.4424), ("38°26′32.64″", 38.4424), ("N38 26 32.64", 38.4424),
    ("38度26分32.64秒", 38.4424), ("116°05'15\"E", 116.0875), ("33°30'S", -33.5),
    ("－12.5", -12.5), (116, 116.0),
])
def test_coordinates_as_people_type_them(typed, expected):
    from gis.crs import parse_coordinate

    assert parse_coordinate(typed) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("typed", ["", "abc", "38°75'", "N38°S", "1,2,3", "38.4.4"])
def test_what_is_not_a_coordinate_is_refused(typed):
    from gis.crs import parse_coordinate

    with pytest.raises(ValueError):
        parse_coordinate(typed)

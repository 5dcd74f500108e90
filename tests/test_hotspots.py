"""Getis-Ord Gi* hot spots (gis.hotspots): synthetic grids around Hejian, no database."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.hotspots import (
    CLASSES,
    REASON_ISLAND,
    REASON_NO_COMPLAINTS,
    REASON_NO_VARIATION,
    REASON_TOO_FEW_AREAS,
    count_points,
    fdr_threshold,
    gi_star,
    hex_grid,
    method_note,
)

LON0, LAT0, STEP, N = 116.0, 38.3, 0.02, 10  # 10 x 10 squares over lon 116.0-116.2, lat 38.3-38.5


def code(row: int, col: int) -> str:
    return f"C{row}{col}"


def grid(n: int = N, **columns) -> gpd.GeoDataFrame:
    """n x n squares, row 0 in the south, col 0 in the west; code C{row}{col}."""
    cells = [(r, c) for r in range(n) for c in range(n)]
    geoms = [
        shapely.box(LON0 + c * STEP, LAT0 + r * STEP, LON0 + (c + 1) * STEP, LAT0 + (r + 1) * STEP)
        for r, c in cells
    ]
    return gpd.GeoDataFrame(
        {"code": [code(r, c) for r, c in cells], **columns}, geometry=geoms, crs="EPSG:4326"
    )


def in_cell(rng, row: int, col: int, k: int) -> np.ndarray:
    """k lon/lat points strictly inside cell (row, col)."""
    u = rng.uniform(0.05, 0.95, size=(k, 2))
    return np.column_stack([LON0 + (col + u[:, 0]) * STEP, LAT0 + (row + u[:, 1]) * STEP])


def per_cell(rng, counts: dict[tuple[int, int], int]) -> np.ndarray:
    parts = [in_cell(rng, r, c, k) for (r, c), k in counts.items() if k]
    return np.vstack(parts) if parts else np.empty((0, 2))


BLOCK = [(r, c) for r in (3, 4, 5) for c in (3, 4, 5)]  # 3 x 3 block, centre (4, 4)


def by_code(results):
    return {r.code: r for r in results}


@pytest.fixture(scope="module")
def cluster_points():
    rng = np.random.default_rng(7)
    noise = np.column_stack(
        [rng.uniform(LON0, LON0 + N * STEP, 300), rng.uniform(LAT0, LAT0 + N * STEP, 300)]
    )
    dense = per_cell(rng, {rc: 60 for rc in BLOCK})
    return np.vstack([noise, dense])


def test_cluster_centre_is_hot_and_far_areas_are_not(cluster_points):
    results = gi_star(grid(), cluster_points)
    res = by_code(results)
    assert [r.code for r in results] == grid()["code"].tolist()  # input order kept
    assert sum(r.count for r in results) == len(cluster_points)
    assert res[code(4, 4)].klass in ("hot-99", "hot-95")
    assert res[code(4, 4)].z > 3 and res[code(4, 4)].p <= 0.01
    for r in range(N):
        for c in range(N):
            if max(abs(r - 4), abs(c - 4)) >= 3:  # at least two cells away from the block
                assert not res[code(r, c)].klass.startswith("hot"), code(r, c)
    for item in results:
        assert item.klass in CLASSES
        assert item.significant == (item.klass != "none")
        assert isinstance(item.count, int) and isinstance(item.value, float)


def test_distance_band_finds_the_cluster_too(cluster_points):
    res = by_code(gi_star(grid(), cluster_points, weights="distance", band_m=3000))
    assert res[code(4, 4)].klass in ("hot-99", "hot-95")
    assert not res[code(9, 9)].klass.startswith("hot")


def test_deterministic_for_a_seed_and_leaves_global_rng_alone(cluster_points):
    areas = grid()
    np.random.seed(123)
    expected_draw = np.random.random()
    np.random.seed(123)
    first = gi_star(areas, cluster_points, seed=42)
    assert np.random.random() == expected_draw
    assert gi_star(areas, cluster_points, seed=42) == first
    other = gi_star(areas, cluster_points, seed=43)
    assert [r.z for r in other] == [r.z for r in first]  # z is analytical, p is simulated


def test_uniform_pattern_has_almost_no_significant_areas():
    rng = np.random.default_rng(11)
    for _ in range(2):
        pts = np.column_stack(
            [rng.uniform(LON0, LON0 + N * STEP, 2000), rng.uniform(LAT0, LAT0 + N * STEP, 2000)]
        )
        results = gi_star(grid(), pts)
        assert sum(r.significant for r in results) <= 2


def test_identical_counts_everywhere_are_not_analysed():
    rng = np.random.default_rng(3)
    pts = per_cell(rng, {(r, c): 5 for r in range(N) for c in range(N)})
    results = gi_star(grid(), pts)
    assert {r.reason for r in results} == {REASON_NO_VARIATION}
    assert {r.klass for r in results} == {"none"}
    assert all(r.z is None and r.p is None and r.count == 5 for r in results)


def test_cold_spot_by_count():
    rng = np.random.default_rng(5)
    counts = {(r, c): int(rng.integers(15, 26)) for r in range(N) for c in range(N)}
    for rc in BLOCK:
        counts[rc] = 0
    res = by_code(gi_star(grid(), per_cell(rng, counts)))
    centre = res[code(4, 4)]
    assert centre.klass in ("cold-99", "cold-95") and centre.z < 0 and centre.count == 0
    assert not res[code(9, 9)].klass.startswith("cold")


def test_cold_spot_by_rate_only():
    """Complaints even everywhere, but the block has 20x the enterprises: a rate cold spot."""
    rng = np.random.default_rng(9)
    counts = {(r, c): int(rng.integers(15, 26)) for r in range(N) for c in range(N)}
    enterprises = [200 if (r, c) in BLOCK else 10 for r in range(N) for c in range(N)]
    areas = grid(enterprises=enterprises)
    pts = per_cell(rng, counts)
    by_rate = by_code(gi_star(areas, pts, variable="rate"))
    assert by_rate[code(4, 4)].klass in ("cold-99", "cold-95")
    assert by_rate[code(4, 4)].value == pytest.approx(counts[(4, 4)] / 200)
    by_count = by_code(gi_star(areas, pts, variable="count"))
    assert not by_count[code(4, 4)].klass.startswith("cold")


def test_rate_is_zero_without_enterprises(cluster_points):
    enterprises = [0 if (r, c) == (4, 4) else 5 for r in range(N) for c in range(N)]
    res = by_code(gi_star(grid(enterprises=enterprises), cluster_points, variable="rate"))
    assert res[code(4, 4)].count > 0
    assert res[code(4, 4)].value == 0.0
    assert res[code(0, 0)].value == pytest.approx(res[code(0, 0)].count / 5)


def test_rate_needs_enterprises(cluster_points):
    with pytest.raises(ValueError, match="enterprises"):
        gi_star(grid(), cluster_points, variable="rate")


def test_island_is_none(cluster_points):
    areas = grid()
    island = gpd.GeoDataFrame(
        {"code": ["ZISLAND"]}, geometry=[shapely.box(116.5, 38.6, 116.52, 38.62)], crs="EPSG:4326"
    )
    areas = gpd.GeoDataFrame(
        pd.concat([areas, island], ignore_index=True), crs="EPSG:4326"
    )
    pts = np.vstack([cluster_points, [[116.51, 38.61]] * 200])  # a busy island still is none
    res = by_code(gi_star(areas, pts))
    assert res["ZISLAND"].count == 200
    assert res["ZISLAND"].klass == "none" and not res["ZISLAND"].significant
    assert res["ZISLAND"].z is None and res["ZISLAND"].p is None
    assert res["ZISLAND"].reason == REASON_ISLAND
    assert res[code(4, 4)].reason is None and res[code(4, 4)].z is not None


def test_too_few_areas_returns_all_none_with_reason():
    rng = np.random.default_rng(1)
    areas = grid(n=2)  # 4 areas
    pts = per_cell(rng, {(0, 0): 50, (1, 1): 2})
    results = gi_star(areas, pts)
    assert len(results) == 4
    assert {r.klass for r in results} == {"none"}
    assert {r.reason for r in results} == {REASON_TOO_FEW_AREAS}
    assert by_code(results)[code(0, 0)].count == 50


def test_no_complaints_returns_all_none_with_reason():
    for pts in (np.empty((0, 2)), np.array([[120.0, 30.0]])):  # none, or none inside any area
        results = gi_star(grid(), pts)
        assert {r.klass for r in results} == {"none"}
        assert {r.reason for r in results} == {REASON_NO_COMPLAINTS}
    assert {r.reason for r in gi_star(grid().iloc[:0], np.empty((0, 2)))} == set()


def test_points_on_shared_edges_counted_once():
    areas = grid(n=3)
    x_edge = LON0 + 1 * STEP  # edge between col 0 and col 1 (same float as the boxes use)
    y_edge = LAT0 + 1 * STEP  # edge between row 0 and row 1
    pts = np.array(
        [
            [x_edge, LAT0 + 0.5 * STEP],  # on C00 | C01
            [LON0 + 1.5 * STEP, y_edge],  # on C01 / C11
            [x_edge, y_edge],  # corner of C00, C01, C10, C11
            [LON0 + 2.5 * STEP, LAT0 + 2.5 * STEP],  # inside C22
            [LON0 - 1.0, LAT0],  # outside everything
        ]
    )
    counts = dict(zip(areas["code"], count_points(areas, pts)))
    assert sum(counts.values()) == 4
    assert counts == {
        "C00": 2, "C01": 1, "C02": 0, "C10": 0, "C11": 0, "C12": 0, "C20": 0, "C21": 0, "C22": 1,
    }
    # The same through a GeoDataFrame in another CRS.
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs="EPSG:4326")
    assert list(count_points(areas, gdf)) == list(count_points(areas, pts))
    assert sum(r.count for r in gi_star(areas, pts)) == 4


def test_fdr_rule():
    p = np.array([0.001, 0.002, 0.003, 0.2, 0.5, 0.9, 0.04, 0.03, 0.8, 0.7])
    # BH at 10 %: sorted 0.001 .002 .003 .03 .04 ...; steps 0.01 .02 .03 .04 .05; k = 5.
    assert fdr_threshold(p, 0.10) == pytest.approx(0.05)
    assert fdr_threshold([0.5, 0.9], 0.10) == 0.0
    assert fdr_threshold([], 0.10) == 0.0
    # A p-value exactly on a step (permutation grid) passes despite floating-point rounding.
    assert fdr_threshold(np.full(100, 0.9).tolist()[:-1] + [1 / 1000], 0.10) >= 1 / 1000


def test_fdr_and_classes_consistent(cluster_points):
    results = gi_star(grid(), cluster_points)
    tested = [r for r in results if r.p is not None]
    threshold = fdr_threshold([r.p for r in tested], 0.10)
    for r in tested:
        expect = r.p <= threshold and r.p <= 0.10
        assert r.significant == expect
        if r.significant:
            side = "hot" if r.z > 0 else "cold"
            level = "99" if r.p <= 0.01 else "95" if r.p <= 0.05 else "90"
            assert r.klass == f"{side}-{level}"
    # A stricter FDR never adds significant areas.
    strict = gi_star(grid(), cluster_points, alpha=0.01)
    assert {r.code for r in strict if r.significant} <= {r.code for r in results if r.significant}


def test_hex_grid_covers_polygon():
    outline = shapely.Polygon(
        [(116.02, 38.32), (116.18, 38.34), (116.16, 38.47), (116.08, 38.49), (116.03, 38.42)]
    )
    hexes = hex_grid(outline, 500)
    assert hexes.crs.to_epsg() == 4326
    assert hexes["code"].is_unique and hexes["code"].iloc[0] == "H0001"
    assert hexes["code"].str.fullmatch(r"H\d{4}").all()
    assert hexes.union_all().buffer(1e-9).covers(outline)
    assert hexes.intersects(outline).all()
    metric = hexes.to_crs("EPSG:32650")
    edge = metric.length / 6
    assert edge.between(495, 505).all()
    area = 1.5 * math.sqrt(3) * 500**2
    assert metric.area.between(0.98 * area, 1.02 * area).all()
    # A proper coverage: interior hexagons have six queen neighbours (shared corners identical).
    from libpysal.graph import Graph

    cards = Graph.build_contiguity(hexes, rook=False).cardinalities
    assert cards.max() == 6 and (cards == 6).sum() > len(hexes) // 3
    clipped = hex_grid(outline, 500, clip=True)
    assert len(clipped) == len(hexes)
    assert clipped.union_all().symmetric_difference(outline).area < 1e-9 * outline.area + 1e-12
    by_bounds = hex_grid((116.0, 38.3, 116.2, 38.5), 1000)
    assert by_bounds.union_all().buffer(1e-9).covers(shapely.box(116.0, 38.3, 116.2, 38.5))


def test_gi_star_on_hex_grid(cluster_points):
    hexes = hex_grid((116.0, 38.3, 116.2, 38.5), 800)
    results = gi_star(hexes, cluster_points)
    assert sum(r.count for r in results) == len(cluster_points)
    centre = shapely.Point(LON0 + 4.5 * STEP, LAT0 + 4.5 * STEP)
    home = hexes.loc[hexes.contains(centre), "code"].iloc[0]
    assert by_code(results)[home].klass.startswith("hot")


def test_method_note():
    assert method_note("en") == (
        "Getis-Ord Gi* hot spots of complaint counts (queen contiguity; 999 permutations; "
        "FDR 10 %)"
    )
    zh = method_note("zh_Hans_CN", variable="rate", weights="distance", band_m=1500)
    assert zh.startswith("Getis-Ord Gi* 热点分析") and "999 次置换检验" in zh
    assert "FDR 10%" in zh and "距离带 1500 米" in zh and "每家企业" in zh


def test_degenerate_distance_bands_never_crash(cluster_points):
    # A band so wide that every area neighbours every other: Gi* z is undefined (0 / 0).
    wide = gi_star(grid(), cluster_points, weights="distance", band_m=100_000)
    assert {r.klass for r in wide} == {"none"}
    assert all(r.z is None and r.reason for r in wide)
    # A band so narrow that every area is an island.
    narrow = gi_star(grid(), cluster_points, weights="distance", band_m=10)
    assert {r.klass for r in narrow} == {"none"}
    assert {r.reason for r in narrow} == {REASON_ISLAND}

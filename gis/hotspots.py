"""Hot and cold spots of complaints: Getis-Ord Gi* with permutation inference and an FDR cut.

A pure module: no Flask, no database. The caller passes the areas (level-3 cells, or a hexagon
grid from :func:`hex_grid`) and the complaint points in; :func:`gi_star` returns one
:class:`HotspotResult` per area, in the order of the areas given.

Conventions
-----------
* Geometry in and out is lon/lat, **EPSG:4326**, axis order (lon, lat) as everywhere in GridWatch
  (see :mod:`gis.crs`). Inputs with another CRS set are reprojected; inputs without a CRS are
  taken to be EPSG:4326.
* Anything measured in metres (the distance band, hexagon sizes) is computed in a metric CRS,
  by default **EPSG:32650** (WGS 84 / UTM zone 50N, lon 114..120 E, which covers Hejian);
  pass ``metric_crs=`` for data elsewhere.

Method (what :func:`gi_star` does)
----------------------------------
1. **Counting.** Each complaint point is assigned to the areas it *intersects* (shapely STRtree,
   predicate ``"intersects"``, i.e. boundary included). A point on an edge or corner shared by
   several areas is counted **once**, in the area whose ``code`` sorts first (Python string
   order). Points in no area, and points with missing or non-finite coordinates, are ignored.
2. **Variable.** ``"count"``: complaints per area. ``"rate"``: complaints per enterprise,
   ``count / enterprises``, from the areas' ``enterprises`` column; an area with 0 (or missing)
   enterprises gets rate **0** (its complaints still show in ``count``).
3. **Weights.** Binary (``transform="B"``) spatial weights with the self-weight 1 that makes the
   statistic Gi* rather than Gi: ``"queen"`` = areas sharing at least one boundary point
   (``libpysal.graph.Graph.build_contiguity(rook=False, strict=True)``, the geometric,
   tolerance-free test, so a sliver gap means "not neighbours"); ``"distance"`` = areas whose
   centroids (taken in the metric CRS) lie within ``band_m`` metres. The default band is the
   smallest one that gives every area at least one neighbour (the largest nearest-neighbour
   centroid distance, plus 1 ppm against rounding). An area with no neighbour (an *island*) is
   never tested: it gets ``z``/``p`` None, klass ``"none"`` and :data:`REASON_ISLAND`; its value
   still enters the global mean and variance of the other areas' statistics.
4. **Statistic.** ``esda.G_Local(y, w, transform="B", star=True, permutations=..., seed=...)``.
   ``z`` is esda's analytical Gi* z-score (``Zs``): positive = more complaints around the area
   than the global average would put there (hot), negative = fewer (cold).
5. **Pseudo p-value.** One-sided, in the direction of ``z``, from esda's conditional permutations
   (the area's own value is kept, the others are shuffled): ``p = (M + 1) / (P + 1)`` with ``P``
   the number of permutations and ``M`` the number of permuted statistics at least as extreme as
   the observed one (``>=`` for z > 0, ``<=`` for z < 0; ties count as extreme). This is what
   esda reports as ``p_sim`` (its "directed" alternative) except that esda picks the tail from
   the permutation distribution rather than from the sign of z and does not count ties in the
   lower tail; we recompute it from esda's simulations so the tail always matches ``z`` and a
   block of zeros is not made to look more significant than it is. The smallest possible p is
   ``1 / (P + 1)``, i.e. 0.001 with 999 permutations.
6. **FDR cut, then classes.** Among the tested areas (not islands, finite z), the
   Benjamini-Hochberg step-up threshold at ``alpha`` (default 0.10) is computed by
   :func:`fdr_threshold`: sort the ``n`` p-values ascending, take the largest rank ``k`` with
   ``p_(k) <= k * alpha / n``; the threshold is ``k * alpha / n`` (0 if there is no such k).
   An area is ``significant`` iff ``p <= threshold`` **and** ``p <= 0.10`` (the second test only
   bites when ``alpha > 0.10``). A significant area is ``"hot-…"`` if z > 0 and ``"cold-…"`` if
   z < 0, at the strictest level its p also meets: ``p <= 0.01`` -> ``99``, ``p <= 0.05`` ->
   ``95``, otherwise ``90``. Every other area is ``"none"``.
   Compared with ``esda.fdr``: same step-up rule, but esda compares ``p_(k) < k * alpha / n``
   strictly and, when nothing passes, returns the Bonferroni bound ``alpha / n`` instead of 0.
   With 999 permutations the p-values sit on a 1/1000 grid that often coincides exactly with
   the ``k * alpha / n`` steps, so the strict test would drop areas on floating-point luck; we
   use ``<=`` with a 1e-9 relative tolerance. (Falling back to ``alpha / n`` changes nothing
   under ``<=``: any p that low already passes at rank 1.)
7. **Degenerate input** never raises: fewer than :data:`MIN_AREAS` (8) areas, or fewer than 8
   areas that have a neighbour (:data:`REASON_TOO_FEW_AREAS`; the islands among them keep
   :data:`REASON_ISLAND`), no complaint in any area
   (:data:`REASON_NO_COMPLAINTS`) or the same value everywhere (:data:`REASON_NO_VARIATION`)
   give every area klass ``"none"``, ``z``/``p`` None and that reason. An area whose z-score
   is undefined (its neighbourhood is every area, e.g. a very wide distance band) is untested
   with :data:`REASON_UNDEFINED` and left out of the FDR family. (Invalid *arguments*,
   e.g. an unknown ``variable``, duplicate codes, a missing ``enterprises`` column for
   ``"rate"``, raise :class:`ValueError`.)

Determinism: for a given ``seed`` the result is identical run to run (esda draws all
permutations once from ``numpy.random.seed(seed)``; the global numpy random state is restored
afterwards, so the caller's own random stream is not disturbed). ``seed=None`` is random.

Warnings: esda 2.x announces on every permutation test that its default alternative will change
in its next major release (a ``DeprecationWarning`` that ``G_Local`` gives no way to silence,
as it does not accept ``alternative=``); that one warning is filtered, by message, around the
``G_Local`` call only. numpy's divide/invalid floating-point warnings are silenced there too
(``numpy.errstate``), because esda divides by a zero variance for islands and for an area whose
neighbourhood is every area; such areas are reported untested instead. (``catch_warnings``
swaps the process-wide warning filters while it runs; harmless here, but worth knowing if this is
ever called from many threads at once.)
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis.warnings_ import ignoring

__all__ = [
    "CLASSES",
    "DEFAULT_METRIC_CRS",
    "MIN_AREAS",
    "REASON_ISLAND",
    "REASON_NO_COMPLAINTS",
    "REASON_NO_VARIATION",
    "REASON_TOO_FEW_AREAS",
    "REASON_UNDEFINED",
    "HotspotResult",
    "count_points",
    "fdr_threshold",
    "gi_star",
    "hex_grid",
    "method_note",
]

DEFAULT_METRIC_CRS = "EPSG:32650"
"""WGS 84 / UTM zone 50N: metres, covers lon 114..120 E (Hejian is at about 116.1 E)."""

MIN_AREAS = 8
"""Below this many (tested) areas no area is classified."""

CLASSES = ("hot-99", "hot-95", "hot-90", "cold-99", "cold-95", "cold-90", "none")
_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))

REASON_TOO_FEW_AREAS = f"too few areas for a hot-spot analysis (fewer than {MIN_AREAS})"
REASON_NO_COMPLAINTS = "no complaint falls in any area"
REASON_NO_VARIATION = "the analysed value is the same in every area"
REASON_ISLAND = "area has no neighbour, so it cannot be tested"
REASON_UNDEFINED = "Gi* z-score undefined (the neighbourhood is every area)"

_ESDA_ALTERNATIVE_WARNING = r"The alternative hypothesis for conditional randomization"
_FDR_RTOL = 1e-9
_MAX_HEXAGONS = 200_000
_MAX_CANDIDATES = 2_000_000


@dataclass
class HotspotResult:
    """The Gi* outcome for one area.

    ``code``: the area's code. ``count``: complaints counted in it. ``value``: the analysed
    variable (the count, or complaints per enterprise). ``z``: Gi* z-score, None when the area was
    not tested. ``p``: one-sided permutation pseudo p-value in the direction of ``z``, None when
    not tested. ``significant``: survives the FDR cut (and p <= 0.10). ``klass``: one of
    :data:`CLASSES`. ``reason``: why the area was not tested (one of the ``REASON_*``
    constants), None when it was.
    """

    code: str
    count: int
    value: float
    z: float | None
    p: float | None
    significant: bool
    klass: str
    reason: str | None = None


# --------------------------------------------------------------------------- counting


def _to_lonlat(frame: gpd.GeoDataFrame | gpd.GeoSeries):
    if frame.crs is not None and not frame.crs.equals(pyproj.CRS.from_epsg(4326)):
        return frame.to_crs(4326)
    return frame


def _point_coords(points: Any) -> np.ndarray:
    """(n, 2) lon/lat float array of the usable points (missing / non-finite ones dropped)."""
    if isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = _to_lonlat(points)
        geoms = geoms.geometry.values if isinstance(geoms, gpd.GeoDataFrame) else geoms.values
        geoms = np.asarray(geoms, dtype=object)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        geoms = geoms[keep]
        if len(geoms) and not (shapely.get_type_id(geoms) == 0).all():
            raise ValueError("complaint geometries must be points")
        xy = shapely.get_coordinates(geoms)
    else:
        xy = np.asarray(points, dtype=float)
        if xy.size == 0:
            xy = xy.reshape(0, 2)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError("points must be a GeoDataFrame/GeoSeries or an (N, 2) lon/lat array")
    return xy[np.isfinite(xy).all(axis=1)]


def count_points(areas: gpd.GeoDataFrame, points: Any) -> np.ndarray:
    """Complaints per area (int array, in the order of ``areas``).

    ``areas``: GeoDataFrame with ``code`` and polygon ``geometry`` (EPSG:4326, or any CRS set on
    it). ``points``: GeoDataFrame/GeoSeries of points, or an (N, 2) array of lon/lat degrees.
    A point on a boundary shared by several areas counts once, for the area whose ``code`` sorts
    first; points outside every area are ignored.
    """
    areas = _to_lonlat(areas)
    xy = _point_coords(points)
    n = len(areas)
    counts = np.zeros(n, dtype=np.int64)
    if n == 0 or len(xy) == 0:
        return counts
    tree = shapely.STRtree(np.asarray(areas.geometry.values, dtype=object))
    pt_idx, area_idx = tree.query(shapely.points(xy), predicate="intersects")
    if len(pt_idx) == 0:
        return counts
    # Rank of each area's code; for every point keep the matching area with the lowest rank.
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(areas["code"].astype(str).to_numpy(), kind="stable")] = np.arange(n)
    order = np.lexsort((rank[area_idx], pt_idx))
    pt_sorted, area_sorted = pt_idx[order], area_idx[order]
    first = np.ones(len(pt_sorted), dtype=bool)
    first[1:] = pt_sorted[1:] != pt_sorted[:-1]
    np.add.at(counts, area_sorted[first], 1)
    return counts


# --------------------------------------------------------------------------- FDR


def fdr_threshold(pvalues: Sequence[float] | np.ndarray, alpha: float = 0.10) -> float:
    """Benjamini-Hochberg step-up threshold: the largest ``k * alpha / n`` with
    ``p_(k) <= k * alpha / n`` (ascending p-values, ranks from 1), or 0.0 when no rank qualifies.

    An area is FDR-significant iff its p <= this threshold. Comparisons allow a 1e-9 relative
    tolerance so permutation p-values that equal a step exactly are not lost to rounding.
    """
    p = np.sort(np.asarray(pvalues, dtype=float))
    n = len(p)
    if n == 0:
        return 0.0
    steps = np.arange(1, n + 1) * alpha / n
    ok = np.nonzero(p <= steps * (1 + _FDR_RTOL))[0]
    if len(ok) == 0:
        return 0.0
    return float(steps[ok[-1]] * (1 + _FDR_RTOL))


def _klass(z: float, p: float) -> str:
    side = "hot" if z > 0 else "cold"
    for cut, level in _LEVELS:
        if p <= cut * (1 + _FDR_RTOL):
            return f"{side}-{level}"
    return "none"


# --------------------------------------------------------------------------- weights


def _metric_centroids(areas: gpd.GeoDataFrame, metric_crs: str) -> np.ndarray:
    metric = areas.geometry.to_crs(metric_crs)
    return shapely.get_coordinates(np.asarray(metric.centroid.values, dtype=object))


def _graph(areas: gpd.GeoDataFrame, weights: str, band_m: float | None, metric_crs: str):
    from libpysal.graph import Graph

    geoms = gpd.GeoSeries(areas.geometry.values, crs=areas.crs)  # RangeIndex 0..n-1
    if weights == "queen":
        return Graph.build_contiguity(geoms, rook=False, strict=True)
    xy = _metric_centroids(areas, metric_crs)
    if band_m is None:
        from scipy.spatial import KDTree

        dist, _ = KDTree(xy).query(xy, k=2)
        band_m = float(dist[:, 1].max()) * (1 + 1e-6)
    pts = gpd.GeoSeries(shapely.points(xy))
    return Graph.build_distance_band(pts, float(band_m), binary=True)


# --------------------------------------------------------------------------- Gi*


def _untested(codes, counts, values, reason) -> list[HotspotResult]:
    return [
        HotspotResult(str(c), int(k), float(v), None, None, False, "none", reason)
        for c, k, v in zip(codes, counts, values)
    ]


def gi_star(
    areas: gpd.GeoDataFrame,
    points: Any,
    *,
    variable: Literal["count", "rate"] = "count",
    weights: Literal["queen", "distance"] = "queen",
    band_m: float | None = None,
    permutations: int = 999,
    seed: int | None = 2009,
    alpha: float = 0.10,
    metric_crs: str = DEFAULT_METRIC_CRS,
) -> list[HotspotResult]:
    """Getis-Ord Gi* hot and cold spots of complaints, one :class:`HotspotResult` per area.

    ``areas``: GeoDataFrame with columns ``code`` (unique) and ``geometry`` (polygons, lon/lat
    EPSG:4326), plus ``enterprises`` (enterprise count per area) when ``variable="rate"``.
    ``points``: the complaints, a GeoDataFrame/GeoSeries of points or an (N, 2) array of
    lon/lat degrees (EPSG:4326).

    ``variable``: ``"count"`` (complaints per area) or ``"rate"`` (complaints per enterprise;
    areas with 0 enterprises get rate 0). ``weights``: ``"queen"`` contiguity or ``"distance"``,
    a band of ``band_m`` metres between area centroids measured in ``metric_crs`` (default
    EPSG:32650; default band: the smallest giving every area a neighbour). ``permutations``:
    conditional permutations for the pseudo p-values. ``seed``: makes the result reproducible.
    ``alpha``: false discovery rate for the Benjamini-Hochberg cut.

    The method, the exact significance and classification rule, and what happens with islands
    and degenerate input are in the module docstring.
    """
    if variable not in ("count", "rate"):
        raise ValueError(f"variable must be 'count' or 'rate', not {variable!r}")
    if weights not in ("queen", "distance"):
        raise ValueError(f"weights must be 'queen' or 'distance', not {weights!r}")
    if not (isinstance(permutations, (int, np.integer)) and permutations >= 1):
        raise ValueError("permutations must be a positive integer")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if band_m is not None and not band_m > 0:
        raise ValueError("band_m must be a positive distance in metres")
    if "code" not in areas.columns:
        raise ValueError("areas need a 'code' column")
    if variable == "rate" and "enterprises" not in areas.columns:
        raise ValueError("variable='rate' needs an 'enterprises' column on the areas")

    areas = _to_lonlat(areas).reset_index(drop=True)
    codes = areas["code"].astype(str).tolist()
    if len(set(codes)) != len(codes):
        raise ValueError("area codes must be unique")
    geoms = np.asarray(areas.geometry.values, dtype=object)
    if len(geoms) and (shapely.is_missing(geoms) | shapely.is_empty(geoms)).any():
        raise ValueError("every area needs a non-empty geometry")

    counts = count_points(areas, points)
    if variable == "rate":
        ent = pd.to_numeric(areas["enterprises"], errors="coerce").fillna(0).to_numpy(float)
        values = np.divide(counts, ent, out=np.zeros(len(counts)), where=ent > 0)
    else:
        values = counts.astype(float)

    n = len(areas)
    if n < MIN_AREAS:
        return _untested(codes, counts, values, REASON_TOO_FEW_AREAS)
    if counts.sum() == 0:
        return _untested(codes, counts, values, REASON_NO_COMPLAINTS)
    if np.ptp(values) == 0:
        return _untested(codes, counts, values, REASON_NO_VARIATION)

    graph = _graph(areas, weights, band_m, metric_crs)
    cardinality = graph.cardinalities.reindex(range(n), fill_value=0).to_numpy()
    island = cardinality == 0
    if (~island).sum() < MIN_AREAS:
        results = _untested(codes, counts, values, REASON_TOO_FEW_AREAS)
        for i in np.nonzero(island)[0]:
            results[i].reason = REASON_ISLAND
        return results

    z, sims, observed = _run_g_local(values, graph, permutations, seed)

    # One-sided pseudo p-values in the direction of z, ties counted as extreme.
    tol = 1e-12 * np.maximum(np.abs(observed), 1e-300)[:, None]
    upper = (sims >= observed[:, None] - tol).sum(axis=1)
    lower = (sims <= observed[:, None] + tol).sum(axis=1)
    extreme = np.where(z >= 0, upper, lower)
    p = (extreme + 1) / (permutations + 1)

    tested = ~island & np.isfinite(z) & np.isfinite(observed)
    threshold = fdr_threshold(p[tested], alpha)

    results = []
    for i in range(n):
        if not tested[i]:
            reason = REASON_ISLAND if island[i] else REASON_UNDEFINED
            results.append(HotspotResult(codes[i], int(counts[i]), float(values[i]),
                                         None, None, False, "none", reason))
            continue
        zi, pi = float(z[i]), float(p[i])
        significant = bool(zi != 0 and pi <= threshold and pi <= 0.10 * (1 + _FDR_RTOL))
        klass = _klass(zi, pi) if significant else "none"
        results.append(HotspotResult(codes[i], int(counts[i]), float(values[i]),
                                     zi, pi, significant, klass, None))
    return results


_ESDA_LOCK = threading.Lock()


def _run_g_local(values: np.ndarray, graph, permutations: int, seed: int | None):
    """esda's Gi* (binary weights, self-weight 1): (z-scores, simulations (n, P), observed G)."""
    # One analysis at a time per process: warnings.catch_warnings and numpy's global random
    # state are process-wide, so two threads of a threaded server would undo each other's
    # settings (seen: the suppressed esda warning escaping in another request's thread).
    with _ESDA_LOCK:
        return _run_g_local_locked(values, graph, permutations, seed)


def _run_g_local_locked(values, graph, permutations, seed):
    import esda

    state = np.random.get_state()
    try:
        with ignoring(DeprecationWarning, _ESDA_ALTERNATIVE_WARNING), \
                np.errstate(divide="ignore", invalid="ignore"):
            g = esda.G_Local(
                values,
                graph,
                transform="B",
                star=True,
                permutations=permutations,
                keep_simulations=True,
                n_jobs=1,
                seed=seed,
            )
    finally:
        np.random.set_state(state)
    return (np.asarray(g.Zs, dtype=float), np.asarray(g.rGs, dtype=float),
            np.asarray(g.Gs, dtype=float))


# --------------------------------------------------------------------------- hexagons


def _polygon_lonlat(bounds_or_geometry: Any):
    obj = bounds_or_geometry
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return _to_lonlat(obj).geometry.union_all() if isinstance(obj, gpd.GeoDataFrame) \
            else _to_lonlat(obj).union_all()
    if isinstance(obj, shapely.Geometry):
        return obj
    vals = tuple(float(v) for v in obj)
    if len(vals) != 4:
        raise ValueError("bounds must be (min_lon, min_lat, max_lon, max_lat)")
    return shapely.box(*vals)


def _polygonal(geom):
    """The polygonal part of an intersection (drops stray lines and points)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    polys = [q for g in parts for q in shapely.get_parts(g)]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def hex_grid(
    bounds_or_geometry: Any,
    size_m: float,
    *,
    clip: bool = False,
    metric_crs: str = DEFAULT_METRIC_CRS,
) -> gpd.GeoDataFrame:
    """A flat-top hexagon tessellation covering a polygon, as a GeoDataFrame (``code``,
    ``geometry``) in lon/lat EPSG:4326.

    ``bounds_or_geometry``: a (min_lon, min_lat, max_lon, max_lat) tuple, a shapely geometry in
    lon/lat, or a GeoSeries/GeoDataFrame (unioned; reprojected to EPSG:4326 if another CRS is set).
    ``size_m``: the hexagon **edge length in metres**, which is also its centre-to-corner radius;
    the centre-to-centre spacing is ``sqrt(3) * size_m``, the width corner to corner
    ``2 * size_m`` (east-west), the height edge to edge ``sqrt(3) * size_m`` (north-south), the
    area ``3 * sqrt(3) / 2 * size_m**2``.

    The lattice is laid out in ``metric_crs`` (default EPSG:32650, UTM 50N), so the hexagons are
    regular there, then every corner is reprojected to lon/lat; corners shared by neighbouring
    hexagons are computed from the same lattice point, so they stay bit-identical and queen
    contiguity sees the grid as a proper coverage. Only hexagons that share interior with the
    polygon are kept (those merely touching its boundary are dropped), so their union covers it.
Hexagon edges are straight in lon/lat between corners that are exact in the metric CRS (a
straight line in one is a slightly curved one in the other: about a millimetre over 500 m).
    With ``clip=False`` (default) they are whole hexagons, all of the same area, which is what a
    Gi* analysis wants; ``clip=True`` cuts them to the polygon. Codes are ``"H0001"``, ``"H0002"``,
    ... (zero-padded to at least 4 digits) in reading order: north to south, then west to east,
    by hexagon centre.
    """
    if not (isinstance(size_m, (int, float, np.integer, np.floating)) and size_m > 0
            and math.isfinite(size_m)):
        raise ValueError("size_m must be a positive number of metres")
    poly_ll = _polygon_lonlat(bounds_or_geometry)
    if poly_ll is None or poly_ll.is_empty or poly_ll.area == 0:
        raise ValueError("hex_grid needs a polygon with an area")

    to_metric = pyproj.Transformer.from_crs(4326, metric_crs, always_xy=True)
    to_lonlat = pyproj.Transformer.from_crs(metric_crs, 4326, always_xy=True)
    # Densified (~1 km steps) before projecting, so the metric outline follows the lon/lat one
    # to within millimetres; it is only used to lay out the lattice and pre-select candidates.
    dense = shapely.segmentize(poly_ll, 0.01)
    poly_m = shapely.transform(
        dense, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1]))
    )
    minx, miny, maxx, maxy = poly_m.bounds
    s = float(size_m)
    h = math.sqrt(3) / 2 * s  # half the edge-to-edge height
    # Column c has its centre at x0 + 1.5 s c; row r at y0 + 2 h r, odd columns shifted up by h.
    x0, y0 = minx, miny
    ncols = int(math.ceil((maxx - minx) / (1.5 * s))) + 2
    nrows = int(math.ceil((maxy - miny) / (2 * h))) + 2
    if ncols * nrows > _MAX_CANDIDATES:
        raise ValueError(f"size_m={size_m} would make far too many hexagons for this polygon")
    cols, rows = np.meshgrid(np.arange(-1, ncols), np.arange(-1, nrows))
    cols, rows = cols.ravel(), rows.ravel()
    # Pre-filter on the centres: a hexagon can only meet the polygon within s of its centre
    # (plus a metre of slack for the lon/lat vs UTM difference).
    near = shapely.dwithin(
        shapely.points(x0 + 1.5 * s * cols, y0 + (2 * rows + cols % 2) * h), poly_m, s + 1.0
    )
    cols, rows = cols[near], rows[near]
    if len(cols) > _MAX_HEXAGONS * 2:
        raise ValueError(f"size_m={size_m} would make more than {_MAX_HEXAGONS} hexagons")
    # Corners on an integer lattice: x in units of s/2, y in units of h, so a corner shared by
    # neighbours is computed from identical integers and reprojects to identical lon/lat.
    # Flat-top corner order: E, NE, NW, W, SW, SE, back to E.
    kx = 3 * cols[:, None] + np.array([2, 1, -1, -2, -1, 1, 2])[None, :]
    my = 2 * rows[:, None] + (cols % 2)[:, None] + np.array([0, 1, 1, 0, -1, -1, 0])[None, :]
    lon, lat = to_lonlat.transform((x0 + kx * (s / 2)).ravel(), (y0 + my * h).ravel())
    corners = np.stack([np.asarray(lon), np.asarray(lat)], axis=1).reshape(len(cols), 7, 2)
    hexes = shapely.polygons(corners)
    # Selected in lon/lat against the polygon as given: the candidates tile the plane without
    # gaps there, so the union of the kept ones covers the polygon exactly.
    keep = shapely.intersects(hexes, poly_ll) & ~shapely.touches(hexes, poly_ll)
    if keep.sum() > _MAX_HEXAGONS:
        raise ValueError(f"size_m={size_m} would make more than {_MAX_HEXAGONS} hexagons")
    cols, rows, hexes = cols[keep], rows[keep], hexes[keep]
    order = np.lexsort((cols, -(2 * rows + cols % 2)))  # centre y descending, then x ascending
    geoms = hexes[order]
    if clip:
        geoms = np.array([_polygonal(g) for g in shapely.intersection(geoms, poly_ll)],
                         dtype=object)

    width = max(4, len(str(len(geoms))))
    codes = [f"H{i:0{width}d}" for i in range(1, len(geoms) + 1)]
    return gpd.GeoDataFrame({"code": codes}, geometry=list(geoms), crs="EPSG:4326")


# --------------------------------------------------------------------------- legend text


def _pct(alpha: float) -> str:
    return f"{alpha * 100:g}"


def method_note(
    lang: str = "en",
    *,
    variable: str = "count",
    weights: str = "queen",
    band_m: float | None = None,
    permutations: int = 999,
    alpha: float = 0.10,
) -> str:
    """One line describing the analysis for a map legend; pass the same keyword arguments as to
    :func:`gi_star`. ``lang``: ``"en"``, or anything starting with ``"zh"`` (e.g. ``"zh_Hans_CN"``)
    for Chinese.

    >>> method_note("en")
    'Getis-Ord Gi* hot spots of complaint counts (queen contiguity; 999 permutations; FDR 10 %)'
    >>> method_note("zh_Hans_CN")
    'Getis-Ord Gi* 热点分析：投诉数量（Queen 邻接；999 次置换检验；FDR 10%）'
    """
    zh = str(lang).lower().startswith("zh")
    if zh:
        what = "每家企业投诉数" if variable == "rate" else "投诉数量"
        if weights == "distance":
            how = f"距离带 {band_m:g} 米" if band_m else "距离带"
        else:
            how = "Queen 邻接"
        return (f"Getis-Ord Gi* 热点分析：{what}（{how}；{permutations} 次置换检验；"
                f"FDR {_pct(alpha)}%）")
    what = "complaints per enterprise" if variable == "rate" else "complaint counts"
    if weights == "distance":
        how = f"distance band {band_m:g} m" if band_m else "distance band"
    else:
        how = "queen contiguity"
    return (f"Getis-Ord Gi* hot spots of {what} ({how}; {permutations} permutations; "
            f"FDR {_pct(alpha)} %)")

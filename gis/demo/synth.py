"""Deterministic "demo city" geography for the pilot city Hejian (河间市, Hebei).

What is real and what is not
----------------------------
* Real: the township (乡镇/街道) and village/community (村/社区) names and their
  12-digit statistical codes (``data/townships.csv``, ``data/villages.csv``), and
  the county outline (``data/outline.geojson``). See ``data/README.md``.
* **Synthetic**: every township and village *polygon*. They are generated here
  from random seed points and bear no relation to the real boundaries. Never
  present them as real boundaries.

Coordinates
-----------
Every geometry produced or read by this module is in **lon/lat decimal
degrees, WGS-84 (EPSG:4326)**, axis order (x=lon, y=lat) as in GeoJSON and
shapely. Areas and distances computed directly on these geometries are
therefore in deg² / deg and only meaningful as relative quantities.

Construction
------------
:func:`build_geography` partitions the outline into one cell per township, then
each township into one cell per village, with Voronoi diagrams of seed points
that were spread evenly by Lloyd relaxation. To guarantee that neighbouring
areas share *identical* edges (no slivers, no gaps), all cut lines of the final
level are noded together once on a fixed 1e-7 degree grid (about 1 cm) and
polygonised into elementary faces; every village is a union of faces and
every township is the union of its villages' faces, so both containment and
non-overlap hold exactly by construction rather than up to a tolerance.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

__all__ = [
    "COUNTY_CODE",
    "COUNTY_NAME",
    "DATA_DIR",
    "DEFAULT_SEED",
    "GRID_SIZE",
    "Area",
    "Geography",
    "TownshipRecord",
    "VillageRecord",
    "build_geography",
    "load_outline",
    "load_townships",
    "load_villages",
]

DATA_DIR = Path(__file__).parent / "data"

COUNTY_CODE = "130984000000"
COUNTY_NAME = "河间市"
DEFAULT_SEED = 2009

# 1e-7 deg is ~1 cm on the ground: invisible on any map, yet coarse enough that
# coordinates computed independently for the two sides of an edge round to the
# same grid point, which is what makes the shared edges exact.
GRID_SIZE = 1e-7

# Approximate centre of Hejian's built-up area (lon, lat, WGS-84). The urban
# subdistricts (街道) are placed nearest to it so that the demo map reads like
# a real county: a town in the middle, rural townships around it.
CITY_CENTRE = (116.09, 38.44)

# Lloyd iterations: enough to turn clumpy random seeds into evenly sized,
# compact cells; more gives no visible gain and costs time.
_TOWNSHIP_LLOYD_ITERATIONS = 12
_VILLAGE_LLOYD_ITERATIONS = 6

# Village cut lines are extended this far (deg) past their township before
# noding, so that they cross the township border properly instead of ending a
# rounding error short of it, which would leave two villages merged.
_CUT_OVERSHOOT = 1e-6


# --------------------------------------------------------------------------
# Data records and readers
# --------------------------------------------------------------------------


class TownshipRecord(NamedTuple):
    """One row of ``data/townships.csv``: 12-digit statistical code and name."""

    code: str
    name: str


class VillageRecord(NamedTuple):
    """One row of ``data/villages.csv``: code, name and 12-digit township code."""

    code: str
    name: str
    township_code: str


@dataclass(frozen=True)
class Area:
    """A named administrative area.

    ``geometry`` is a shapely MultiPolygon in lon/lat degrees (EPSG:4326).
    ``parent_code`` is the 12-digit code of the enclosing area: the county
    (:data:`COUNTY_CODE`) for a township, the township for a village, or None
    for a top-level area.
    """

    code: str
    name: str
    parent_code: str | None
    geometry: MultiPolygon


@dataclass(frozen=True)
class Geography:
    """The demo county: its outline and two nested partitions of it.

    All geometries are shapely MultiPolygons in lon/lat degrees (EPSG:4326).
    ``outline`` is exactly the union of ``townships``; each township is exactly
    the union of its ``villages``. Both lists are sorted by code.
    """

    outline: MultiPolygon
    townships: list[Area]
    villages: list[Area]


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_townships() -> list[TownshipRecord]:
    """Return the real townships of Hejian from ``data/townships.csv``, by code."""
    rows = [TownshipRecord(r["code"], r["name"]) for r in _read_csv("townships.csv")]
    return sorted(rows)


def load_villages() -> list[VillageRecord]:
    """Return the real villages/communities from ``data/villages.csv``, by code."""
    rows = [
        VillageRecord(r["code"], r["name"], r["township_code"])
        for r in _read_csv("villages.csv")
    ]
    return sorted(rows)


def load_outline() -> MultiPolygon:
    """Return the real (simplified) county outline as a MultiPolygon.

    Coordinates are lon/lat degrees, WGS-84 (EPSG:4326), as GeoJSON requires;
    the file was converted from a GCJ-02 source (see ``data/README.md``).
    Accepts a FeatureCollection, a Feature or a bare geometry.
    """
    doc = json.loads((DATA_DIR / "outline.geojson").read_text(encoding="utf-8"))
    if doc.get("type") == "FeatureCollection":
        doc = doc["features"][0]
    if doc.get("type") == "Feature":
        doc = doc["geometry"]
    return _as_multipolygon(shape(doc))


# --------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------


def _as_multipolygon(geom) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    # Unions can come back as collections holding stray points or lines where
    # two faces merely touch; only the areal parts matter here.
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    if not polys:
        raise ValueError(f"expected an areal geometry, got {geom.geom_type}")
    return MultiPolygon(polys)


def _sample_points(container, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` uniform random points inside ``container`` (rejection sampling)."""
    minx, miny, maxx, maxy = container.bounds
    shapely.prepare(container)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        batch = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 64), 2))
        inside = batch[shapely.contains_xy(container, batch[:, 0], batch[:, 1])]
        found.append(inside)
        count += len(inside)
    return np.concatenate(found)[:n]


def _voronoi_cells(seeds: np.ndarray, container) -> list:
    """Voronoi cells of ``seeds`` clipped to ``container``, in seed order."""
    if len(seeds) == 1:
        return [container]
    minx, miny, maxx, maxy = container.bounds
    frame = shapely.box(minx, miny, maxx, maxy).buffer(max(maxx - minx, maxy - miny))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)
    )
    # GEOS returns cells in its own order (the `ordered` flag needs GEOS 3.12);
    # match them back to seeds by containment, which is unambiguous because a
    # seed lies strictly inside its own cell.
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(shapely.points(seeds), predicate="within")
    ordered = [None] * len(seeds)
    for s, c in zip(seed_idx, cell_idx):
        ordered[s] = cells[c]
    return list(shapely.intersection(np.array(ordered, dtype=object), container))


def _lloyd(seeds: np.ndarray, container, iterations: int) -> np.ndarray:
    """Move each seed to the centroid of its clipped cell, ``iterations`` times.

    Evenly spaced seeds give cells of similar size and compact shape, which
    look far more like real administrative units than raw random Voronoi cells.
    """
    shapely.prepare(container)
    for _ in range(iterations):
        moved = seeds.copy()
        for i, cell in enumerate(_voronoi_cells(seeds, container)):
            if cell.is_empty:
                continue
            c = cell.centroid
            if not shapely.contains_xy(container, c.x, c.y):
                # A cell clipped by a concave border can have its centroid
                # outside the container; a seed there would have an empty cell.
                largest = max(shapely.get_parts(cell), key=lambda p: p.area)
                c = largest.point_on_surface()
            moved[i] = (c.x, c.y)
        seeds = moved
    return seeds


def _voronoi_edges(seeds: np.ndarray, container):
    """The Voronoi edges of ``seeds`` as lines, long enough to cross ``container``."""
    if len(seeds) < 2:
        return shapely.MultiLineString()
    minx, miny, maxx, maxy = container.bounds
    frame = shapely.box(minx, miny, maxx, maxy).buffer(max(maxx - minx, maxy - miny))
    return shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, only_edges=True)


def _faces(lines: list) -> np.ndarray:
    """Node ``lines`` on the grid and return the faces they enclose.

    Noding everything in a single snap-rounded operation is what makes edges
    shared exactly: each face boundary is built from the same noded segments
    as its neighbour's.
    """
    noded = shapely.union_all(lines, grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return faces[~shapely.is_empty(faces) & (shapely.area(faces) > 0)]


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Index of the nearest seed for each point; this *is* Voronoi membership."""
    d = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def _face_adjacency(faces: np.ndarray) -> list[dict[int, float]]:
    """For each face, the faces it shares an edge with and that edge's length."""
    tree = shapely.STRtree(faces)
    a, b = tree.query(faces, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(faces[a]), shapely.boundary(faces[b]))
    )
    adjacency: list[dict[int, float]] = [{} for _ in range(len(faces))]
    for i, j, length in zip(a.tolist(), b.tolist(), shared.tolist()):
        # Faces meeting at a single point are not neighbours: merging across a
        # point would not make an area connected.
        if length > 0:
            adjacency[i][j] = length
            adjacency[j][i] = length
    return adjacency


def _components(members: list[int], label_of: np.ndarray, adjacency) -> list[list[int]]:
    """Edge-connected groups among ``members`` (faces that all share one label)."""
    label = label_of[members[0]]
    unseen = set(members)
    groups = []
    while unseen:
        start = min(unseen)  # min keeps the traversal order deterministic
        unseen.remove(start)
        stack, group = [start], [start]
        while stack:
            for nb in adjacency[stack.pop()]:
                if nb in unseen and label_of[nb] == label:
                    unseen.remove(nb)
                    stack.append(nb)
                    group.append(nb)
        groups.append(group)
    return groups


def _make_connected(labels: np.ndarray, areas: np.ndarray, group: np.ndarray,
                    adjacency) -> np.ndarray:
    """Reassign detached fragments so that each label forms one connected piece.

    A Voronoi cell clipped by a concave border can fall apart into several
    pieces. Each label keeps its largest piece; every other piece goes to the
    neighbouring label (within the same ``group``, i.e. the same township)
    with which it shares the longest border. Fragments with no such neighbour
    stay where they are, so a few areas may remain multi-part where the
    container itself forces it.
    """
    labels = labels.copy()
    for _ in range(10):  # each pass can only merge; a few passes always suffice
        changed = False
        for label in np.unique(labels).tolist():
            members = np.flatnonzero(labels == label).tolist()
            pieces = _components(members, labels, adjacency)
            if len(pieces) < 2:
                continue
            pieces.sort(key=lambda p: (-areas[p].sum(), min(p)))
            for piece in pieces[1:]:
                border: dict[int, float] = {}
                for f in piece:
                    for nb, length in adjacency[f].items():
                        other = int(labels[nb])
                        if other != label and group[nb] == group[f]:
                            border[other] = border.get(other, 0.0) + length
                if border:
                    best = max(sorted(border), key=lambda k: border[k])
                    labels[piece] = best
                    changed = True
        if not changed:
            break
    return labels


def _union(faces: np.ndarray) -> MultiPolygon:
    # The faces are already on the grid and edge-matched, so a grid-aware union
    # only dissolves shared edges and cannot move any vertex.
    return _as_multipolygon(shapely.union_all(faces, grid_size=GRID_SIZE))


def _order_by_bearing(points: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """Indices of ``points`` sorted clockwise from north around ``centre``.

    Handing out codes in this order makes consecutive codes neighbours on the
    map, as real statistical numbering roughly is.
    """
    bearing = np.arctan2(points[:, 0] - centre[0], points[:, 1] - centre[1]) % (2 * math.pi)
    return np.argsort(bearing, kind="stable")


def _assign_townships(seeds: np.ndarray, townships: list[TownshipRecord],
                      outline_centre: tuple[float, float]) -> np.ndarray:
    """Seed index for each township (in ``townships`` order).

    Urban subdistricts (街道, statistical code digits 7-9 in 001-099) take the
    seeds nearest :data:`CITY_CENTRE`; the rest go clockwise around the county.
    """
    urban = [i for i, t in enumerate(townships) if t.code[6] == "0"]
    rural = [i for i, t in enumerate(townships) if t.code[6] != "0"]
    dist = np.hypot(seeds[:, 0] - CITY_CENTRE[0], seeds[:, 1] - CITY_CENTRE[1])
    by_distance = np.argsort(dist, kind="stable").tolist()
    urban_seeds = by_distance[: len(urban)]
    rest = [i for i in _order_by_bearing(seeds, outline_centre).tolist() if i not in urban_seeds]
    seed_of = np.empty(len(townships), dtype=int)
    seed_of[urban] = urban_seeds
    seed_of[rural] = rest
    return seed_of


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def build_geography(seed: int = DEFAULT_SEED) -> Geography:
    """Build the demo geography of Hejian: the real outline, synthetic polygons.

    The outline, township and village names and codes are real (from the data
    files); the township and village polygons are synthetic. The result is a
    pure function of ``seed`` (a non-negative int) and the data files, so the
    same seed always gives identical coordinates with the same shapely/GEOS.

    All geometries are MultiPolygons in lon/lat degrees, WGS-84 (EPSG:4326),
    with coordinates on a 1e-7 degree grid. Guarantees: every polygon is valid
    and non-empty; villages of a township do not overlap and their union is
    exactly that township; townships likewise partition ``outline``, which
    equals the data file's outline up to the grid snapping (~1e-7 deg).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    township_rows = load_townships()
    village_rows = load_villages()
    outline = shapely.set_precision(load_outline(), GRID_SIZE)
    shapely.prepare(outline)

    # -- level 1: townships ------------------------------------------------
    rng = np.random.default_rng(seed)
    t_seeds = _sample_points(outline, len(township_rows), rng)
    t_seeds = _lloyd(t_seeds, outline, _TOWNSHIP_LLOYD_ITERATIONS)
    faces = _faces([outline.boundary, _voronoi_edges(t_seeds, outline)])
    reps = shapely.get_coordinates(shapely.point_on_surface(faces))
    inside = shapely.contains_xy(outline, reps[:, 0], reps[:, 1])
    faces, reps = faces[inside], reps[inside]
    labels = _nearest(reps, t_seeds)
    labels = _make_connected(labels, shapely.area(faces), np.zeros(len(faces), dtype=int),
                             _face_adjacency(faces))
    centre = outline.centroid
    seed_of = _assign_townships(t_seeds, township_rows, (centre.x, centre.y))
    t_shapes = [_union(faces[labels == seed_of[k]]) for k in range(len(township_rows))]

    # -- level 2: villages -------------------------------------------------
    villages_by_township: dict[str, list[VillageRecord]] = {t.code: [] for t in township_rows}
    for v in village_rows:
        villages_by_township[v.township_code].append(v)
    v_seeds: list[np.ndarray] = []
    cut_lines = [t.boundary for t in t_shapes]
    for t, shape_ in zip(township_rows, t_shapes):
        n = len(villages_by_township[t.code])
        if n == 0:
            raise ValueError(f"township {t.code} has no villages in villages.csv")
        # Per-township streams: the villages of one township do not depend on
        # how many random numbers the others consumed.
        t_rng = np.random.default_rng([seed, int(t.code)])
        pts = _lloyd(_sample_points(shape_, n, t_rng), shape_, _VILLAGE_LLOYD_ITERATIONS)
        rep = shape_.point_on_surface()
        v_seeds.append(pts[_order_by_bearing(pts, (rep.x, rep.y))])
        cut_lines.append(
            shapely.intersection(_voronoi_edges(pts, shape_), shape_.buffer(_CUT_OVERSHOOT))
        )

    faces = _faces(cut_lines)
    reps = shapely.point_on_surface(faces)
    # Faces are attributed to the township containing their interior point. A
    # face whose point misses every township (a sliver along a snapped border,
    # or a scrap between overshooting cut lines outside the county) goes to the
    # township it overlaps most, or is dropped if it overlaps none.
    face_township = np.full(len(faces), -1)
    tree = shapely.STRtree(t_shapes)
    f_idx, t_idx = tree.query(reps, predicate="within")
    face_township[f_idx] = t_idx
    for f in np.flatnonzero(face_township < 0).tolist():
        candidates = tree.query(faces[f], predicate="intersects")
        overlap = [(shapely.intersection(faces[f], t_shapes[c]).area, int(c)) for c in candidates]
        overlap = [o for o in overlap if o[0] > 0.5 * faces[f].area]
        if overlap:
            face_township[f] = max(overlap)[1]
    keep = face_township >= 0
    faces, reps, face_township = faces[keep], reps[keep], face_township[keep]

    rep_xy = shapely.get_coordinates(reps)
    offsets = np.cumsum([0] + [len(s) for s in v_seeds])
    labels = np.empty(len(faces), dtype=int)
    for k, pts in enumerate(v_seeds):
        mine = face_township == k
        labels[mine] = offsets[k] + _nearest(rep_xy[mine], pts)
    labels = _make_connected(labels, shapely.area(faces), face_township, _face_adjacency(faces))

    townships: list[Area] = []
    villages: list[Area] = []
    for k, t in enumerate(township_rows):
        t_faces = []
        for j, v in enumerate(villages_by_township[t.code]):
            v_faces = faces[labels == offsets[k] + j]
            t_faces.append(v_faces)
            villages.append(Area(v.code, v.name, t.code, _union(v_faces)))
        townships.append(Area(t.code, t.name, COUNTY_CODE, _union(np.concatenate(t_faces))))
    villages.sort(key=lambda a: a.code)
    return Geography(
        outline=_union(faces),
        townships=townships,
        villages=villages,
    )


def _summary(geo: Geography) -> str:  # pragma: no cover - manual inspection aid
    multi_t = sum(len(a.geometry.geoms) > 1 for a in geo.townships)
    multi_v = sum(len(a.geometry.geoms) > 1 for a in geo.villages)
    return (f"{len(geo.townships)} townships ({multi_t} multi-part), "
            f"{len(geo.villages)} villages ({multi_v} multi-part), "
            f"outline area {geo.outline.area:.6f} deg2")


if __name__ == "__main__":  # pragma: no cover
    print(_summary(build_geography()))

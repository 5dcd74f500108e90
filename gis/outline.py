"""A redrawn outline means exactly the change its author made: snapping and reshaping.

Coordinates are lon/lat (EPSG:4326); tolerances are metres; the work is PostGIS's.

Two ways a new boundary reaches a proposal, and what each means:

* **A file** (the editor's upload, ``grid redraw``) gives whole boundaries. Each is *snapped*:
  its vertices within ``SNAP_TOLERANCE_M`` of a vertex of its own stored outline, of a
  neighbour or of the parent grid move onto it, the result is rounded to the stored precision
  (1e-7°), and every piece of difference from the stored boundary narrower than twice the
  tolerance is dropped (the stored boundary stays there). A file that rounds coordinates
  (6 decimals is about 0.1 m) therefore changes nothing where it did not mean to, and an
  unchanged boundary stays the stored one, to the bit.
* **An outline edit in the editor** (a person dragging vertices) is snapped the same way and
  then applied as an edit of the grid, as topological editing in a desktop GIS applies it:
  the cell takes what the new outline adds (the neighbours give it up) and gives up what it
  leaves (each vacated piece goes to the neighbour sharing the longest border with it; a piece
  no neighbour borders stays a gap, and validation says so). Only the area near a moved vertex
  changes, and the grid stays without gaps and overlaps, so a drag can be committed.

Why 0.5 m: ten times the largest rounding a browser or file introduces (6 decimals ≈ 0.11 m of
latitude, so ≤ 0.06 m per coordinate) and fifty times the stored precision (1e-7° ≈ 1 cm),
yet half the accuracy of the 1:10,000 village boundaries cells are built from (about 1 m) and
about one screen pixel at the editor's closest zoom (0.47 m at zoom 18 here): nothing a person
moves on purpose is that small. The snap distance is converted to degrees of latitude, so it
is never more than ``SNAP_TOLERANCE_M`` in any direction (a degree of longitude is shorter).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import transform_geometry_gcj02_to_wgs84
from gis.errors import FileFormatError
from gis.files import (BoundaryFileError, VectorRefused, check_codes, check_place,
                       check_polygons, list_briefly, polygon_problem, read_vector,
                       sniff_boundary_file)
from gis.users import cell_path

SNAP_TOLERANCE_M = 0.5
# The precision boundaries are stored at (degrees): the demo, imports and redraws all keep
# 1e-7° (about 1 cm), and snapping rounds to it so that an unchanged vertex is the stored one.
STORED_PRECISION = 1e-7
_METRES_PER_DEGREE_OF_LATITUDE = 111_320.0

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS outline_work (
    code text PRIMARY KEY, geom geometry, old geometry, version_id bigint) ON COMMIT DROP"""

# A piece is noise, not an edit, when a negative buffer of the tolerance leaves nothing of it:
# it is nowhere wider than twice the tolerance.
_THICK = "NOT ST_IsEmpty(ST_Buffer({g}::geography, -:tol)::geometry)"

# The sent outline snapped and rounded, and what it adds to (gained) and removes from (lost)
# the cell's stored outline, without the noise; gained is kept inside the parent but for
# pieces outside it that are real (validation reports those).
_CHANGE = f"""
WITH me AS (SELECT old FROM outline_work WHERE code = :c),
parent AS (SELECT geom FROM cell_current WHERE code = :p),
sent AS (SELECT ST_GeomFromWKB(:g, 4326) AS g),
ref AS (
    SELECT ST_Collect(geom) AS g FROM (
        SELECT old AS geom FROM me
        UNION ALL
        SELECT w.geom FROM outline_work w, sent s
        WHERE w.code <> :c AND w.geom && ST_Expand(s.g, :deg)
        UNION ALL
        SELECT geom FROM parent) r
),
snapped AS (
    SELECT CASE WHEN ST_IsValid(x.g) THEN x.g
                ELSE ST_ReducePrecision(s.g, :grid) END AS g
    FROM sent s, ref, LATERAL (SELECT ST_ReducePrecision(ST_Snap(s.g, ref.g, :deg), :grid) AS g) x
),
pieces AS (
    SELECT 'gained' AS side, d.geom
    FROM snapped s, me, LATERAL ST_Dump(ST_Difference(s.g, me.old, :grid)) d
    UNION ALL
    SELECT 'lost', d.geom
    FROM snapped s, me, LATERAL ST_Dump(ST_Difference(me.old, s.g, :grid)) d
),
kept AS (
    SELECT side, ST_Union(geom, :grid) AS g FROM pieces
    WHERE ST_Dimension(geom) = 2 AND {_THICK.format(g='geom')}
    GROUP BY side
),
gained AS (
    SELECT ST_Union(ST_CollectionExtract(ST_Intersection(k.g, p.geom, :grid), 3), coalesce((
        SELECT ST_Union(d.geom, :grid)
        FROM ST_Dump(ST_Difference(k.g, p.geom, :grid)) d
        WHERE ST_Dimension(d.geom) = 2 AND {_THICK.format(g='d.geom')}),
        'POLYGON EMPTY'::geometry(Polygon, 4326)), :grid) AS g
    FROM kept k, parent p WHERE k.side = 'gained'
)
SELECT ST_AsBinary((SELECT g FROM gained)) AS gained,
       ST_AsBinary((SELECT g FROM kept WHERE side = 'lost')) AS lost
"""


def _degrees(metres: float) -> float:
    return metres / _METRES_PER_DEGREE_OF_LATITUDE


def _stage(session: Session, parent_code: str, geometries: dict) -> None:
    """outline_work: the parent's live children of its kind, ``geom`` as proposed so far,
    ``old`` as stored. (The city's professional grids overlap its stations' grids on purpose:
    they are not their neighbours.)"""
    session.execute(text(_STAGE))
    session.execute(text("TRUNCATE outline_work"))
    session.execute(text("""
        INSERT INTO outline_work (code, geom, old, version_id)
        SELECT c.code, c.geom, c.geom, c.version_id
        FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE p.code = :p AND c.retired_at IS NULL AND c.kind = p.kind"""),
        {"p": parent_code})
    for code, geom in geometries.items():
        session.execute(text("UPDATE outline_work SET geom = ST_GeomFromWKB(:g, 4326) "
                             "WHERE code = :c"), {"c": code, "g": shapely.to_wkb(geom)})


def _change(session: Session, parent_code: str, code: str, geom, tolerance_m: float):
    """(gained, lost) of a snapped outline against the cell's stored one, as WKB or None."""
    row = session.execute(text(_CHANGE), {
        "p": parent_code, "c": code, "g": shapely.to_wkb(geom), "deg": _degrees(tolerance_m),
        "tol": tolerance_m, "grid": STORED_PRECISION}).one()
    return (bytes(row.gained) if row.gained is not None else None,
            bytes(row.lost) if row.lost is not None else None)


def _apply(session: Session, code: str, gained, lost) -> None:
    """The cell loses ``lost`` and takes ``gained`` (WKB or None)."""
    # Overlays of areas that share an edge can answer lines and points along with the area:
    # only the area is a boundary.
    if lost is not None:
        session.execute(text("""
            UPDATE outline_work SET geom = ST_CollectionExtract(
                ST_Difference(geom, ST_GeomFromWKB(:g, 4326), :grid), 3)
            WHERE code = :c"""), {"c": code, "g": lost, "grid": STORED_PRECISION})
    if gained is not None:
        session.execute(text("""
            UPDATE outline_work SET geom = ST_CollectionExtract(
                ST_Union(geom, ST_GeomFromWKB(:g, 4326), :grid), 3)
            WHERE code = :c"""), {"c": code, "g": gained, "grid": STORED_PRECISION})


def _neighbours_follow(session: Session, code: str, gained, lost, tolerance_m: float
                       ) -> set[str]:
    """The neighbours give up what ``code`` gained and take the pieces it left, each piece to
    the neighbour with the longest border along it; returns the neighbours changed."""
    changed: set[str] = set()
    if gained is not None:
        changed |= set(session.execute(text("""
            UPDATE outline_work SET geom = ST_CollectionExtract(
                ST_Difference(geom, ST_GeomFromWKB(:g, 4326), :grid), 3)
            WHERE code <> :c AND geom && ST_GeomFromWKB(:g, 4326)
              AND ST_Intersects(geom, ST_GeomFromWKB(:g, 4326))
            RETURNING code"""), {"c": code, "g": gained, "grid": STORED_PRECISION}).scalars())
    if lost is None:
        return changed
    # What nobody covers any more, piece by piece, and who borders it longest.
    takers = session.execute(text(f"""
        WITH lost AS (SELECT ST_GeomFromWKB(:g, 4326) AS g),
        uncovered AS (
            SELECT d.geom FROM lost l, LATERAL ST_Dump(ST_Difference(l.g, coalesce((
                SELECT ST_Union(w.geom, :grid) FROM outline_work w
                WHERE w.geom && l.g AND ST_Intersects(w.geom, l.g)),
                'POLYGON EMPTY'::geometry(Polygon, 4326)), :grid)) d
            WHERE ST_Dimension(d.geom) = 2 AND {_THICK.format(g='d.geom')}
        )
        SELECT best.code, ST_AsBinary(u.geom) AS piece
        FROM uncovered u
        CROSS JOIN LATERAL (
            SELECT w.code, ST_Length(ST_CollectionExtract(ST_Intersection(
                       ST_Boundary(u.geom), w.geom), 2)::geography) AS border
            FROM outline_work w
            WHERE w.code <> :c AND w.geom && ST_Expand(u.geom, :deg)
            ORDER BY border DESC, w.code LIMIT 1) best
        WHERE best.border > :tol"""),
        {"c": code, "g": lost, "grid": STORED_PRECISION, "tol": tolerance_m,
         "deg": _degrees(tolerance_m)}).all()
    for taker, piece in takers:
        _apply(session, taker, bytes(piece), None)
        changed.add(taker)
    return changed


def _collect(session: Session, proposal, codes: set[str], given: set[str]) -> None:
    """Write the work table's result for ``codes`` back into the proposal; a cell changed here
    needs its version checked at commit. A boundary that comes out as the stored one is the
    stored one, bit for bit: for a cell the person gave (``given``) it stays in the proposal,
    so that the commit still checks its version and then finds nothing to change; a neighbour
    left as it was is not part of the proposal."""
    rows = session.execute(text("""
        SELECT code, ST_AsBinary(ST_Multi(ST_CollectionExtract(
                   CASE WHEN ST_Equals(geom, old) THEN old ELSE geom END, 3))) AS wkb,
               ST_Equals(geom, old) AS same, version_id
        FROM outline_work WHERE code = ANY(:codes)"""), {"codes": sorted(codes)}).all()
    for r in rows:
        if r.same and r.code not in given:
            proposal.geometries.pop(r.code, None)
            continue
        proposal.geometries[r.code] = shapely.from_wkb(bytes(r.wkb))
        if not r.same:
            proposal.expected_versions.setdefault(r.code, r.version_id)


def _editable(geom) -> bool:
    """Only a valid outline can be snapped and overlaid; an invalid one goes to validation as
    sent, which shows where it crosses itself."""
    return geom is not None and geom.is_valid


# Degrees² below which repairing an outline changed no area (about 0.01 m² at 38°N).
_NO_AREA = 1e-12


def repaired(geom):
    """An outline with a flaw that encloses nothing (a vertex dropped onto another, which
    Geoman's snapping does; a spike out and back) repaired; any other invalid outline as it is
    (a ring that crosses itself: which side was meant is the person's to say)."""
    if geom is None or geom.is_valid:
        return geom
    fixed = shapely.make_valid(geom)
    if fixed.geom_type == "GeometryCollection":
        fixed = shapely.union_all([g for g in fixed.geoms
                                   if g.geom_type in ("Polygon", "MultiPolygon")])
    if fixed.geom_type == "Polygon":
        fixed = shapely.MultiPolygon([fixed])
    if fixed.geom_type != "MultiPolygon" or abs(fixed.area - geom.area) > _NO_AREA:
        return geom
    return fixed


def snap(session: Session, proposal, codes, *, tolerance_m: float = SNAP_TOLERANCE_M) -> None:
    """Snap the boundaries a file gave for the existing cells ``codes`` of ``proposal`` (see
    the module's docstring); boundaries of new cells and invalid ones stay as given."""
    codes = [c for c in codes if _editable(proposal.geometries.get(c))]
    if not codes:
        return
    _stage(session, proposal.parent_code, proposal.geometries)
    existing = set(session.execute(text("SELECT code FROM outline_work WHERE code = ANY(:c)"),
                                   {"c": codes}).scalars())
    for code in codes:
        if code not in existing:
            continue
        gained, lost = _change(session, proposal.parent_code, code, proposal.geometries[code],
                               tolerance_m)
        session.execute(text("UPDATE outline_work SET geom = old WHERE code = :c"), {"c": code})
        _apply(session, code, gained, lost)
    _collect(session, proposal, existing, existing)


def reshape(session: Session, proposal, outlines: dict, *,
            tolerance_m: float = SNAP_TOLERANCE_M) -> None:
    """Apply the editor's outline edits (code -> outline as the person left it, lon/lat) to
    ``proposal`` in the order given: each is the change from the cell's stored outline, and
    the neighbours follow it (see the module's docstring). An invalid outline is put in the
    proposal as it is, for validation to show."""
    if not outlines:
        return
    _stage(session, proposal.parent_code, proposal.geometries)
    outlines = {code: repaired(geom) for code, geom in outlines.items()}
    touched: set[str] = set()
    for code, geom in outlines.items():
        if not _editable(geom):
            proposal.geometries[code] = geom
            continue
        gained, lost = _change(session, proposal.parent_code, code, geom, tolerance_m)
        touched.add(code)
        if gained is None and lost is None:
            continue
        _apply(session, code, gained, lost)
        touched |= {code} | _neighbours_follow(session, code, gained, lost, tolerance_m)
    # An invalid outline stays in the proposal as sent, whatever happened around it.
    editable = {c for c, g in outlines.items() if _editable(g)}
    _collect(session, proposal, touched - (set(outlines) - editable), editable)


# A feature more than this share of whose area lies outside the grid is another grid's
# boundary (or a wrong coordinate system), not an edit of this one: said once, not as the
# overlaps, gaps and enterprises-in-no-cell it would otherwise cause.
_OUTSIDE_SHARE = 0.5


def boundaries_from_file(session: Session, parent_code: str, path, *, name: str | None = None,
                         code_field: str = "code", crs: str | None = None, limits=None
                         ) -> dict:
    """The boundaries a file gives for cells of the grid ``parent_code``: code -> MultiPolygon
    (lon/lat; an invalid one kept for validation to show). Anything wrong with the file as a
    whole is one ``gis.files.BoundaryFileError`` saying what: not a boundary file, no cell
    codes, not polygons, coordinates swapped or elsewhere, cells of another grid, GCJ-02
    coordinates read as WGS-84 (``crs="gcj02"`` converts them)."""
    name = name or Path(path).name
    sniff_boundary_file(path, name)
    try:
        frame, _source = read_vector(path, crs, limits)
    except VectorRefused:
        raise
    except FileFormatError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise BoundaryFileError("unreadable", f"{name} cannot be read: {reason}", name=name,
                                reason=reason) from None
    if frame.empty:
        raise BoundaryFileError("no_features", f"{name} holds no features", name=name)
    check_codes(frame, code_field)
    check_polygons(frame)
    path_ids = cell_path(session, code=parent_code) or (None,)
    city = session.execute(text("""
        SELECT name, ST_XMin(geom) AS x0, ST_YMin(geom) AS y0, ST_XMax(geom) AS x1,
               ST_YMax(geom) AS y1
        FROM cell_current WHERE id = ANY(:ids) AND level = 1"""),
        {"ids": [i for i in path_ids if i is not None]}).one_or_none()
    if city is not None:
        check_place(frame, (city.x0, city.y0, city.x1, city.y1), city.name)
    codes = [str(c).strip() for c in frame[code_field]]
    # A city's editor redraws its stations' grids and, in the same change, their cells
    # (gis/redraw_level2.py).
    children = set(session.execute(text("""
        SELECT c.code FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE c.retired_at IS NULL AND (p.code = :p OR (
              c.level = 3 AND c.kind = 'territorial' AND p.parent_id = (
                  SELECT id FROM cell WHERE code = :p AND level = 1)))"""),
        {"p": parent_code}).scalars())
    strangers = [c for c in codes if c not in children]
    if strangers:
        raise BoundaryFileError(
            "not_in_grid", f"cells {list_briefly(strangers)} are not cells of grid {parent_code}",
            codes=list_briefly(strangers), grid=parent_code)
    shares = session.execute(text("""
        SELECT w.n, CASE WHEN ST_Area(f.g) > 0
                         THEN ST_Area(ST_Difference(f.g, p.geom)) / ST_Area(f.g) END AS share
        FROM unnest(CAST(:wkb AS bytea[])) WITH ORDINALITY AS w(b, n)
        CROSS JOIN LATERAL (SELECT ST_MakeValid(ST_GeomFromWKB(w.b, 4326)) AS g) f
        CROSS JOIN (SELECT geom FROM cell_current WHERE code = :p) p
        ORDER BY w.n"""),
        {"p": parent_code, "wkb": [shapely.to_wkb(g) for g in frame.geometry]}).all()
    away = [int(r.n) for r in shares if r.share is not None and r.share > _OUTSIDE_SHARE]
    if away:
        raise BoundaryFileError(
            "outside_grid", f"features {list_briefly(away)} lie mostly outside grid {parent_code}: "
            "boundaries of another grid, or another coordinate system (GCJ-02?)",
            features=list_briefly(away), codes=list_briefly(codes[n - 1] for n in away),
            grid=parent_code)
    if crs is None:
        _check_not_gcj02(session, parent_code, codes, list(frame.geometry))
    out = {}
    for code, geom in zip(codes, frame.geometry):
        out[code], _problem, _note = polygon_problem(geom, make_valid=False, keep_invalid=True)
    return out


# Coordinates from Chinese map apps (Amap, Tencent) are GCJ-02: WGS-84 moved a few hundred
# metres, the same way at every vertex. A file whose vertices lie typically this far from
# the stored boundaries, but on them once converted from GCJ-02, is such a file.
_GCJ02_OFF_M, _GCJ02_ON_M = 50.0, 5.0


def _median_offset_m(geometries: list, outlines: list) -> float:
    """The median distance (metres, about) of the vertices of ``geometries`` from the
    boundaries of ``outlines``, pair by pair."""
    distances = [shapely.distance(shapely.points(shapely.get_coordinates(g)),
                                  shapely.boundary(o))
                 for g, o in zip(geometries, outlines)]
    return float(np.median(np.concatenate(distances))) * _METRES_PER_DEGREE_OF_LATITUDE


def _check_not_gcj02(session: Session, parent_code: str, codes: list, geometries: list):
    stored = dict(session.execute(text("""
        SELECT code, ST_AsBinary(geom) FROM cell_current WHERE code = ANY(:codes)"""),
        {"codes": codes}).all())
    outlines = [shapely.from_wkb(bytes(stored[c])) for c in codes]
    offset = _median_offset_m(geometries, outlines)
    if offset <= _GCJ02_OFF_M:
        return
    converted = [transform_geometry_gcj02_to_wgs84(g) for g in geometries]
    if _median_offset_m(converted, outlines) < _GCJ02_ON_M:
        raise BoundaryFileError(
            "gcj02", f"the coordinates lie about {offset:.0f} m off the cells' boundaries, the "
            "way GCJ-02 coordinates of Chinese map apps do: choose GCJ-02 as the coordinates",
            offset=f"{offset:.0f}")


def changed_area(session: Session, proposal):
    """Where the proposal changes the grid (lon/lat): each changed cell's new boundary against
    its stored one, united; None when nothing changes. The editor shades it, so a person sees
    that a dragged vertex changed only the area near it."""
    pieces = session.execute(text("""
        SELECT ST_AsBinary(ST_Union(ST_SymDifference(n.g, coalesce(c.geom,
                   'POLYGON EMPTY'::geometry(Polygon, 4326)), :grid), :grid))
        FROM unnest(CAST(:codes AS text[]), CAST(:wkb AS bytea[])) AS x(code, wkb)
        CROSS JOIN LATERAL (SELECT ST_GeomFromWKB(x.wkb, 4326) AS g) n
        LEFT JOIN cell_current c ON c.code = x.code
        WHERE ST_IsValid(n.g)"""), {
        "codes": list(proposal.geometries), "grid": STORED_PRECISION,
        "wkb": [shapely.to_wkb(g) for g in proposal.geometries.values()]}).scalar()
    if pieces is None:
        return None
    geom = shapely.from_wkb(bytes(pieces))
    return None if geom.is_empty else geom

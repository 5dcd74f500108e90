"""Redrawing the second-level grids under the city (the stations' boundaries).

Coordinates are lon/lat (EPSG:4326); areas are m² on the spheroid (geography).

A station's grid is the union of level-3 cells, and a level-3 cell is the union of villages,
so a station boundary cannot move on its own: whatever a grid gains or gives up, some level-3
cell gains or gives up with it, and every level-3 cell must stay inside its grid (a cell's
parent is not dated, so a cell never changes grid: the lookup's answer at any date walks up
from the cell to the station of that cell). A change at the city therefore says, for both
levels at once, what each touched cell becomes, and is committed as one dated change:

* **whole villages** (or whole townships, i.e. all their villages) move to a level-3 cell the
  manager picks; the village leaves the cell that holds it now and, when the target cell is in
  another grid, the two grids follow (one loses it, the other takes it);
* **outlines** (the editor, or a file with codes of second-level grids and, optionally, of
  level-3 cells) give new boundaries as they are. A village the new edge hands to another grid
  must still be given its target cell, unless the same change also redraws the cell it is in:
  without one, nobody would know which cell of its new station answers for it.

Validation is that of ``gis.redraw`` at two levels: the grids against each other inside the
city, and the cells of every touched grid against each other inside their grid *as proposed*.
A level-3 cell the change leaves as it is but whose grid's new edge cuts it is an error naming
it (``cut``): redraw it in the same change, or move the edge. Commit, history and revert are
those of ``gis.redraw``: old versions are closed at ``valid_from``, never rewritten, so a
lookup at an earlier date answers the old grid.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import boundary_lock
from gis.dates import require_aware
from gis.limits import check_vertices
from gis.redraw import (Conflict, Finding, LaterVersion, NothingChanges, RedrawError, Report,
                        boundaries_from_json as _boundaries, checked_code as _code)
from gis.validation import Field, ValidationError
from gis.validation import validate as validate_fields


class Level2Error(RedrawError):
    """The change cannot be taken as given; ``code`` and ``params`` let an adapter say why in
    the user's language (``field``: the part of the request at fault)."""

    def __init__(self, message: str, code: str, field: str = "moves", **params):
        super().__init__(message)
        self.code = code
        self.field = field
        self.params = params


class CellConflict(Conflict):
    """Someone committed a change to ``cell`` since the editor loaded it."""

    def __init__(self, cell: str):
        super().__init__(f"cell {cell} was changed by someone else since you started editing; "
                         "reload to see their change, then redo yours")
        self.cell = cell


class NotValid(RedrawError):
    """Validation found errors (or warnings not confirmed): nothing was written."""

    def __init__(self, report: Report, warnings_only: bool = False):
        found = report.warnings if warnings_only else report.errors
        intro = "confirm the warnings first: " if warnings_only else "the change is not valid: "
        super().__init__(intro + "; ".join(f"{f.cell or ''} {f.message}".strip()
                                           for f in found[:10]))
        self.report = report
        self.warnings_only = warnings_only


@dataclass
class Level2Finding(Finding):
    """A finding with what an adapter needs to say it in another language (names, grids)."""

    params: dict = field(default_factory=dict)


@dataclass
class CityProposal:
    """A change of the second-level grids under the city ``city_code`` (and of their cells)."""

    city_code: str
    # code of a second-level grid or level-3 cell -> its new boundary (MultiPolygon)
    geometries: dict[str, object] = field(default_factory=dict)
    villages: dict[str, str] = field(default_factory=dict)  # village code -> level-3 cell
    townships: dict[str, str] = field(default_factory=dict)  # township code -> level-3 cell
    expected_versions: dict[str, int] = field(default_factory=dict)  # code -> version id

    @property
    def parent_code(self) -> str:
        """The grid the change is made in (as ``gis.redraw.Proposal`` names it)."""
        return self.city_code


@dataclass
class VillageMove:
    code: str
    name: str
    township: str
    from_cell: str
    to_cell: str
    from_grid: str
    to_grid: str


@dataclass
class _Meta:
    code: str
    name: str
    level: int
    parent: str
    version_id: int


@dataclass
class Plan:
    """A proposal worked out against the grid as it is now: the new boundary of every cell it
    changes (both levels), the villages that change cell, and the villages that change grid
    without a target cell (findings)."""

    geometries: dict[str, object]
    levels: dict[str, int]
    versions: dict[str, int]  # the versions the plan was worked out from
    parents: dict[str, str]
    villages: list[VillageMove]
    missing: list[Level2Finding]

    @property
    def grids(self) -> list[str]:
        """Second-level grids whose cells are staged: those redrawn, and those of a redrawn
        cell."""
        return sorted({c for c, lvl in self.levels.items() if lvl == 2}
                      | {self.parents[c] for c, lvl in self.levels.items() if lvl == 3})


def city_row(session: Session, code: str):
    row = session.execute(text("""
        SELECT c.id, c.code, c.name, c.level
        FROM cell_current c WHERE c.code = :c AND c.retired_at IS NULL"""),
        {"c": code}).one_or_none()
    if row is None:
        raise Level2Error(f"grid {code!r} does not exist", "no_grid", "grid", grid=code)
    if row.level != 1:
        raise Level2Error(f"grid {code!r} is level {row.level}, not the city", "not_city",
                          "grid", grid=code, level=row.level)
    return row


def is_city(session: Session, code: str) -> bool:
    """Is ``code`` a city (a level-1 grid)? Its editor redraws the stations' grids."""
    return session.execute(text("SELECT level FROM cell WHERE code = :c"),
                           {"c": code}).scalar() == 1


def _tree(session: Session, city_id: int) -> dict[str, _Meta]:
    """The city's live territorial cells of levels 2 and 3 (professional grids overlap the
    stations' on purpose and take no part)."""
    rows = session.execute(text("""
        SELECT c.code, c.name, c.level, p.code AS parent, c.version_id
        FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE c.retired_at IS NULL AND c.kind = 'territorial'
          AND (p.id = :city OR (c.level = 3 AND p.parent_id = :city))"""),
        {"city": city_id}).all()
    return {r.code: _Meta(r.code, r.name, r.level, r.parent, r.version_id) for r in rows}


def _current_geometries(session: Session, codes) -> dict[str, object]:
    rows = session.execute(text("""
        SELECT code, ST_AsBinary(geom) AS wkb FROM cell_current WHERE code = ANY(:codes)"""),
        {"codes": sorted(codes)}).all()
    return {r.code: shapely.from_wkb(bytes(r.wkb)) for r in rows}


def _multi(geom):
    geom = shapely.set_precision(geom, 1e-7)
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    return shapely.MultiPolygon([g for g in getattr(geom, "geoms", [])
                                 if g.geom_type == "Polygon"])


def _villages_of(session: Session, city_id: int, villages: list[str], townships: list[str]):
    """The villages named, and those of the townships named: each with its township, its
    current level-3 cell of the city (by a point inside it) and its boundary."""
    return session.execute(text("""
        SELECT v.code, v.name, t.code AS township, t.name AS township_name, k.code AS cell,
               ST_AsBinary(v.geom) AS wkb,
               ST_X(ST_PointOnSurface(v.geom)) AS lon, ST_Y(ST_PointOnSurface(v.geom)) AS lat
        FROM village v JOIN township t ON t.id = v.township_id
        LEFT JOIN LATERAL (
            SELECT c.code FROM cell_current c JOIN cell g ON g.id = c.parent_id
            WHERE c.level = 3 AND c.kind = 'territorial' AND c.retired_at IS NULL
              AND g.parent_id = :city AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))
            ORDER BY c.code LIMIT 1) k ON true
        WHERE v.code = ANY(:villages) OR t.code = ANY(:townships)
        ORDER BY v.code"""),
        {"city": city_id, "villages": villages, "townships": townships}).all()


def _handed_over(session: Session, city_id: int, outlines: dict[str, object]):
    """Villages the new outlines of second-level grids hand to another grid: (village, from
    grid, to grid), by a point inside each village."""
    if not outlines:
        return []
    codes = sorted(outlines)
    return session.execute(text("""
        WITH new AS (
            SELECT n.code, ST_GeomFromWKB(n.wkb, 4326) AS geom
            FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS bytea[])) n(code, wkb)
        ),
        grids AS MATERIALIZED (
            SELECT c.code, c.geom AS old, coalesce(n.geom, c.geom) AS geom,
                   ST_IsValid(coalesce(n.geom, c.geom)) AS valid
            FROM cell_current c LEFT JOIN new n ON n.code = c.code
            WHERE c.parent_id = :city AND c.kind = 'territorial' AND c.retired_at IS NULL
        ),
        area AS (
            SELECT ST_Union(g.old) AS geom FROM grids g WHERE g.code = ANY(:codes)
        ),
        candidate AS (
            SELECT v.code, v.name, ST_PointOnSurface(v.geom) AS pos
            FROM area a JOIN village v ON v.geom && a.geom
            UNION
            SELECT v.code, v.name, ST_PointOnSurface(v.geom)
            FROM new n JOIN village v ON v.geom && n.geom
        )
        SELECT v.code, v.name, og.code AS from_grid, ng.code AS to_grid,
               ST_X(v.pos) AS lon, ST_Y(v.pos) AS lat
        FROM candidate v
        LEFT JOIN LATERAL (SELECT code FROM grids g WHERE ST_Covers(g.old, v.pos)
                           ORDER BY code LIMIT 1) og ON true
        LEFT JOIN LATERAL (SELECT code FROM grids g
                           WHERE g.valid AND ST_Covers(g.geom, v.pos)
                           ORDER BY code LIMIT 1) ng ON true
        WHERE og.code IS NOT NULL AND ng.code IS NOT NULL AND og.code <> ng.code
        ORDER BY v.code"""),
        {"city": city_id, "codes": codes,
         "wkbs": [shapely.to_wkb(outlines[c]) for c in codes]}).all()


def plan(session: Session, proposal: CityProposal) -> Plan:
    """Work the proposal out against the grid as it is now (see the module's docstring)."""
    city = city_row(session, proposal.city_code)
    tree = _tree(session, city.id)
    explicit = dict(proposal.geometries)
    for code in sorted(explicit):
        if code not in tree:
            raise Level2Error(
                f"{code}: not a live second-level grid or level-3 cell of the stations' grids "
                f"of {proposal.city_code}", "not_in_city", "geometries", cell=code,
                city=proposal.city_code)
    for target in sorted(set(proposal.villages.values()) | set(proposal.townships.values())):
        if target not in tree or tree[target].level != 3:
            raise Level2Error(f"{target}: not a level-3 cell of the stations' grids of "
                              f"{proposal.city_code}; villages move to a level-3 cell",
                              "not_a_target", "moves", cell=target, city=proposal.city_code)
    rows = _villages_of(session, city.id, sorted(proposal.villages),
                        sorted(proposal.townships))
    found = {r.code: r for r in rows}
    for code in sorted(proposal.villages):
        if code not in found:
            raise Level2Error(f"village {code} does not exist", "no_village", "moves",
                              village=code)
    known_townships = {r.township for r in rows}
    for code in sorted(proposal.townships):
        if code not in known_townships:
            raise Level2Error(f"township {code} does not exist or has no villages",
                              "no_township", "townships", township=code)
    # A township's villages go to its target; a village named on its own overrides that.
    moves: dict[str, str] = {}
    for r in rows:
        if r.township in proposal.townships:
            moves[r.code] = proposal.townships[r.township]
    moves.update(proposal.villages)
    for code in sorted(moves):
        if found[code].cell is None:
            raise Level2Error(f"village {code} {found[code].name} is in no level-3 cell of "
                              f"{proposal.city_code}", "village_outside", "moves",
                              village=code, name=found[code].name, city=proposal.city_code)
    # Villages the new outlines hand to another grid need a target cell, unless the change
    # also redraws the cell they are in now (then their new place is what the outlines say).
    missing = []
    outlines2 = {c: g for c, g in explicit.items() if tree[c].level == 2 and g.is_valid}
    handed = _handed_over(session, city.id, outlines2)
    if handed:
        holders = {r.code: r.cell for r in _villages_of(session, city.id,
                                                        [h.code for h in handed], [])}
        for h in handed:
            if h.code in moves or holders.get(h.code) in explicit:
                continue
            missing.append(Level2Finding(
                "error", "village_needs_cell", holders.get(h.code),
                f"village {h.code} {h.name} goes from grid {h.from_grid} to grid {h.to_grid}: "
                "choose the level-3 cell of its new grid it joins", h.lon, h.lat,
                params={"village": h.code, "name": h.name, "from_grid": h.from_grid,
                        "to_grid": h.to_grid}))
    gains: dict[str, list] = defaultdict(list)
    losses: dict[str, list] = defaultdict(list)
    village_moves = []
    for code in sorted(moves):
        r, target = found[code], moves[code]
        if r.cell == target:
            continue
        geom = shapely.from_wkb(bytes(r.wkb))
        losses[r.cell].append(geom)
        gains[target].append(geom)
        from_grid, to_grid = tree[r.cell].parent, tree[target].parent
        if from_grid != to_grid:
            losses[from_grid].append(geom)
            gains[to_grid].append(geom)
        village_moves.append(VillageMove(code, r.name, r.township, r.cell, target, from_grid,
                                         to_grid))
    # An outline given as such wins over what the villages would make of the cell.
    derived = sorted((set(gains) | set(losses)) - set(explicit))
    current = _current_geometries(session, derived)
    geometries = dict(explicit)
    for code in derived:
        geom = current[code]
        if gains.get(code):
            geom = shapely.union(geom, shapely.union_all(gains[code]))
        if losses.get(code):
            geom = shapely.difference(geom, shapely.union_all(losses[code]))
        geometries[code] = _multi(geom)
    return Plan(geometries=geometries, levels={c: tree[c].level for c in geometries},
                versions={c: tree[c].version_id for c in geometries},
                parents={c: tree[c].parent for c in geometries},
                villages=village_moves, missing=missing)


# Checks at both levels, on the staged table {t} (code, level, parent, name, geom, changed,
# valid): the grids inside the city and against each other, the cells of each touched grid
# inside that grid as proposed and against each other. ``other`` names the grid a finding is
# about (a cut cell's, a gap's).
VALIDATE_SQL = """
WITH city AS (
    SELECT geom FROM cell_current WHERE code = :city
),
invalid AS (
    SELECT 'error' AS level, 'invalid' AS kind, code, ST_IsValidReason(geom) AS message,
           (ST_IsValidDetail(geom)).location AS at, NULL::float8 AS area,
           (ST_IsValidDetail(geom)).reason AS detail, parent AS other
    FROM {t} WHERE changed AND NOT valid
),
-- Villages moved out of a cell may leave nothing of it: retiring a cell is a redraw inside
-- its grid, not a side effect of this one.
emptied AS (
    SELECT 'error', 'empty', code, 'nothing of the cell would be left', NULL::geometry,
           NULL::float8, NULL::text, parent
    FROM {t} WHERE changed AND valid
     AND ST_Area(ST_CollectionExtract(geom, 3)::geography) <= :tol
),
outside_city AS (
    SELECT 'error', 'outside_parent', o.code, 'extends outside its parent grid',
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text, o.parent
    FROM {t} o, city p,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(o.geom, p.geom), 3)) d
    WHERE o.level = 2 AND o.changed AND o.valid AND ST_Area(d.geom::geography) > :tol
),
-- A cell beyond its grid as proposed: redrawn by this change (outside_parent), or left as it
-- is while its grid's new edge cuts it (cut).
outside_grid AS (
    SELECT 'error', CASE WHEN o.changed THEN 'outside_parent' ELSE 'cut' END, o.code,
           CASE WHEN o.changed THEN 'extends outside its parent grid'
                ELSE 'cut by the new edge of grid ' || g.code END,
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text, g.code
    FROM {t} o JOIN {t} g ON g.code = o.parent AND g.level = 2 AND g.valid,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(o.geom, g.geom), 3)) d
    WHERE o.level = 3 AND o.valid AND (o.changed OR g.changed)
      AND ST_Area(d.geom::geography) > :tol
),
overlapping AS (
    SELECT 'error', 'overlap', least(a.code, b.code) || ' / ' || greatest(a.code, b.code),
           'cells overlap', ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text,
           a.parent
    FROM {t} a JOIN {t} b ON b.valid AND b.code <> a.code AND b.level = a.level
         AND (a.level = 2 OR b.parent = a.parent)
         AND (NOT b.changed OR a.code < b.code) AND ST_Intersects(a.geom, b.geom),
         LATERAL ST_Dump(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3)) d
    WHERE a.changed AND a.valid AND ST_Area(d.geom::geography) > :tol
),
-- In the city, a gap can only open where a replaced grid was.
gaps_city AS (
    SELECT 'error', 'gap', NULL::text, 'part of the grid belongs to no cell',
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text,
           CAST(:city AS text)
    FROM city p,
         (SELECT ST_Union(geom) AS geom FROM cell_current WHERE code = ANY(:grids_changed)) t,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(
             ST_Intersection(p.geom, t.geom),
             coalesce((SELECT ST_Union(o.geom) FROM {t} o
                       WHERE o.level = 2 AND o.valid AND o.geom && t.geom),
                      ST_GeomFromText('POLYGON EMPTY', 4326))), 3)) d
    WHERE t.geom IS NOT NULL AND ST_Area(d.geom::geography) > :tol
),
-- In a grid, where a replaced cell was or where the grid grew.
concern AS (
    SELECT g.code, g.geom, (
        SELECT ST_Union(x.geom) FROM (
            SELECT c.geom FROM cell_current c JOIN {t} o ON o.code = c.code
            WHERE o.level = 3 AND o.changed AND o.parent = g.code
            UNION ALL
            SELECT ST_Difference(g.geom, c.geom) FROM cell_current c WHERE c.code = g.code
        ) x) AS area
    FROM {t} g WHERE g.level = 2 AND g.valid AND g.code = ANY(:grids)
),
gaps_grid AS (
    SELECT 'error', 'gap', NULL::text, 'part of the grid belongs to no cell',
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text, k.code
    FROM concern k,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(
             ST_Intersection(k.geom, k.area),
             coalesce((SELECT ST_Union(o.geom) FROM {t} o
                       WHERE o.level = 3 AND o.parent = k.code AND o.valid
                         AND o.geom && k.area),
                      ST_GeomFromText('POLYGON EMPTY', 4326))), 3)) d
    WHERE k.area IS NOT NULL AND ST_Area(d.geom::geography) > :tol
),
multipart AS (
    SELECT 'warning', 'multipart', code, 'the cell is in ' || ST_NumGeometries(geom)
           || ' separate pieces', ST_PointOnSurface(geom), NULL::float8,
           ST_NumGeometries(geom)::text, parent
    FROM {t} WHERE changed AND valid
     AND ST_NumGeometries(ST_CollectionExtract(geom, 3)) > 1
)
SELECT * FROM invalid UNION ALL SELECT * FROM emptied UNION ALL SELECT * FROM outside_city
UNION ALL SELECT * FROM outside_grid UNION ALL SELECT * FROM overlapping
UNION ALL SELECT * FROM gaps_city UNION ALL SELECT * FROM gaps_grid
UNION ALL SELECT * FROM multipart
"""

_TABLES = itertools.count(1)


class CityRedraw:
    """One change of the stations' grids in one transaction: worked out (``plan``), staged
    once in a temp table (every second-level grid of the city, and the level-3 cells of the
    touched grids, with the change applied), then ``check``, ``effect`` and ``commit`` read
    that table. ``commit`` locks the city's boundaries, works the change out again against
    them and validates again before it writes."""

    def __init__(self, session: Session, proposal: CityProposal, tolerance_m2: float = 1.0):
        self.session = session
        self.proposal = proposal
        self.tolerance_m2 = tolerance_m2
        self.table = f"proposed_city_{next(_TABLES)}"
        self._plan: Plan | None = None
        self._staged = False
        self._summary: dict = {}  # what the last commit wrote (for its audit entry)

    def _sql(self, sql: str):
        return text(sql.format(t=self.table))

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            self._plan = plan(self.session, self.proposal)
        return self._plan

    def stage(self) -> None:
        """(Re)build the staging table from the live grid and the plan."""
        p = self.plan
        codes = sorted(p.geometries)
        # One round trip, the new boundaries in one statement; DELETE rather than TRUNCATE,
        # which costs more on a table this small (new files).
        self.session.execute(self._sql("""
            CREATE TEMP TABLE IF NOT EXISTS {t} (
                code text PRIMARY KEY, level smallint, parent text, name text, geom geometry,
                changed boolean, valid boolean, version_id bigint) ON COMMIT DROP;
            CREATE INDEX IF NOT EXISTS {t}_geom ON {t} USING gist (geom);
            DELETE FROM {t};
            INSERT INTO {t} (code, level, parent, name, geom, changed, version_id)
            SELECT c.code, c.level, p.code, c.name, c.geom, false, c.version_id
            FROM cell_current c JOIN cell p ON p.id = c.parent_id
            WHERE c.retired_at IS NULL AND c.kind = 'territorial'
              AND ((c.level = 2 AND p.code = :city) OR (c.level = 3 AND p.code = ANY(:grids)));
            UPDATE {t} o SET geom = ST_GeomFromWKB(n.wkb, 4326), changed = true
            FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS bytea[])) AS n(code, wkb)
            WHERE o.code = n.code;
            UPDATE {t} SET valid = ST_IsValid(geom);
            ANALYZE {t}"""),
            {"city": self.proposal.city_code, "grids": p.grids, "codes": codes,
             "wkbs": [shapely.to_wkb(p.geometries[c]) for c in codes]})
        self._staged = True

    def _ensure_staged(self) -> None:
        if not self._staged:
            self.stage()

    def _changed(self, level: int | None = None) -> list[str]:
        return sorted(c for c, lvl in self.plan.levels.items() if level in (None, lvl)) or [""]

    def check(self) -> Report:
        """Every problem the change would cause, each with its place and size. Villages handed
        to another grid without a target cell come alone: until each has its cell, the cells
        the change makes are not known."""
        if self.plan.missing:
            return Report(list(self.plan.missing))
        self._ensure_staged()
        return self._findings()

    def _findings(self) -> Report:
        names = dict(self.session.execute(self._sql("SELECT code, name FROM {t}")).all())
        findings: list[Finding] = []
        for r in self.session.execute(self._sql("""
                SELECT level, kind, code, message, ST_X(at) AS lon, ST_Y(at) AS lat, area,
                       detail, other
                FROM (""" + VALIDATE_SQL + """) f(level, kind, code, message, at, area, detail,
                                                 other)"""),
                {"city": self.proposal.city_code, "tol": self.tolerance_m2,
                 "grids": self.plan.grids or [""], "grids_changed": self._changed(2)}):
            message = r.message
            if r.kind == "cut":
                message = (f"cell {r.code} {names.get(r.code, '')} would be cut by the new edge "
                           f"of grid {r.other}: redraw it in the same change")
            if r.area is not None:
                message = f"{message}: {r.area:,.1f} m²"
            findings.append(Level2Finding(
                r.level, r.kind, r.code, message, r.lon, r.lat, r.area, detail=r.detail,
                params={"name": names.get(r.code), "grid": r.other}))
        # Only an enterprise inside a replaced boundary (either level) can lose its cell.
        uncovered = self.session.execute(self._sql("""
            WITH area AS MATERIALIZED (
                SELECT geom FROM cell_current WHERE code = ANY(:changed)
            )
            SELECT DISTINCT e.management_code, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
            FROM area a JOIN enterprise e ON ST_Covers(a.geom, e.geom)
            WHERE NOT EXISTS (SELECT 1 FROM {t} o WHERE o.level = 3 AND o.valid
                              AND ST_Covers(o.geom, e.geom))
            ORDER BY e.management_code LIMIT 50"""), {"changed": self._changed()}).all()
        for r in uncovered:
            findings.append(Level2Finding("error", "uncovered", None,
                                          f"enterprise {r.management_code} would be in no cell",
                                          r.lon, r.lat, enterprise=r.management_code))
        return Report(findings)

    def effect(self, today: dt.date | None = None) -> dict:
        """What the change does at both levels: per station's grid the villages, enterprises,
        inspections required a year, overdue enterprises and area, before and after, and the
        deviation from the stations' average; per owner of a touched cell their enterprises
        and inspections; the villages that change cell and the enterprises that move."""
        today = today or dt.date.today()
        self._ensure_staged()
        params = {"city": self.proposal.city_code, "changed": self._changed(),
                  "changed3": self._changed(3), "today": today}
        self.session.execute(text("""
            CREATE TEMP TABLE IF NOT EXISTS city_effect_move (
                enterprise_id bigint PRIMARY KEY, from_cell text, to_cell text) ON COMMIT DROP"""))
        self.session.execute(text("DELETE FROM city_effect_move"))
        # Only an enterprise that a changed cell's old and new boundary disagree about (covered
        # by one, not the other) can change cell: the moved area's, not the whole of a redrawn
        # station grid's. Its new cell is the deepest staged one covering it (the assignment
        # rule).
        self.session.execute(self._sql("""
            INSERT INTO city_effect_move (enterprise_id, from_cell, to_cell)
            WITH pair AS MATERIALIZED (
                SELECT c.geom AS old, CASE WHEN o.valid THEN o.geom END AS new
                FROM unnest(CAST(:changed AS text[])) AS k(code)
                JOIN cell_current c ON c.code = k.code
                LEFT JOIN {t} o ON o.code = k.code AND o.changed
            ),
            candidate AS MATERIALIZED (
                SELECT e.id, e.geom FROM enterprise e WHERE e.id IN (
                    SELECT e.id FROM pair a JOIN enterprise e ON ST_Covers(a.old, e.geom)
                    WHERE a.new IS NULL OR NOT ST_Covers(a.new, e.geom)
                    UNION
                    SELECT e.id FROM pair a JOIN enterprise e ON ST_Covers(a.new, e.geom)
                    WHERE NOT ST_Covers(a.old, e.geom))
            )
            SELECT i.id, cur.code, new.code
            FROM candidate i
            LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = i.id
            LEFT JOIN cell cur ON cur.id = ec.cell_id
            LEFT JOIN LATERAL (
                SELECT o.code FROM {t} o WHERE o.valid AND ST_Covers(o.geom, i.geom)
                ORDER BY o.level DESC, o.code LIMIT 1) new ON true
            WHERE cur.code IS DISTINCT FROM new.code"""), params)
        self.session.execute(text("ANALYZE city_effect_move"))
        # Everyone in the city's territorial cells, before and after, once; grouped by grid
        # and by owner below.
        self.session.execute(text("""
            CREATE TEMP TABLE IF NOT EXISTS city_effect_ent (
                enterprise_id bigint, grade text, workload float8, overdue boolean,
                before_cell text, after_cell text) ON COMMIT DROP"""))
        self.session.execute(text("TRUNCATE city_effect_ent"))
        self.session.execute(text("""
            INSERT INTO city_effect_ent
            SELECT e.id, e.grade, 365.0 / gi.interval_days,
                   coalesce(li.last, e.valid_from::date) + gi.interval_days
                       < CAST(:today AS date),
                   c.code, CASE WHEN m.enterprise_id IS NULL THEN c.code ELSE m.to_cell END
            FROM enterprise_cell_current ec
            JOIN enterprise e ON e.id = ec.enterprise_id
            LEFT JOIN cell c ON c.id = ec.cell_id
            LEFT JOIN city_effect_move m ON m.enterprise_id = e.id
            LEFT JOIN grade_interval gi ON gi.grade = e.grade
            LEFT JOIN (SELECT enterprise_id, max(inspected_on) AS last FROM inspection
                       GROUP BY enterprise_id) li ON li.enterprise_id = e.id"""), params)
        grids = [dict(r._mapping) for r in self.session.execute(self._sql("""
            WITH cellgrid AS (
                SELECT c.code, CASE WHEN c.level = 2 THEN c.code ELSE p.code END AS grid
                FROM cell c JOIN cell p ON p.id = c.parent_id
                JOIN cell city ON city.code = :city
                WHERE c.kind = 'territorial'
                  AND (p.id = city.id OR (c.level = 3 AND p.parent_id = city.id))
            ),
            sides AS (
                SELECT v.side, cg.grid, count(*) AS n, sum(x.workload) AS workload,
                       count(*) FILTER (WHERE x.overdue) AS overdue
                FROM city_effect_ent x,
                     LATERAL (VALUES ('before', x.before_cell), ('after', x.after_cell))
                         v(side, cell)
                JOIN cellgrid cg ON cg.code = v.cell
                GROUP BY v.side, cg.grid
            ),
            villages AS MATERIALIZED (
                SELECT ST_PointOnSurface(v.geom) AS pos
                FROM village v, cell_current city WHERE city.code = :city AND v.geom && city.geom
            ),
            villages_before AS (
                SELECT c.code, count(*) AS n FROM villages v JOIN {t} o ON o.level = 2
                     JOIN cell_current c ON c.code = o.code AND ST_Covers(c.geom, v.pos)
                GROUP BY c.code
            ),
            villages_after AS (
                SELECT o.code, count(*) AS n FROM villages v JOIN {t} o
                     ON o.level = 2 AND o.valid AND ST_Covers(o.geom, v.pos)
                GROUP BY o.code
            )
            SELECT g.code, g.name, s.name AS station, g.changed,
                   coalesce(vb.n, 0) AS villages_before, coalesce(va.n, 0) AS villages_after,
                   coalesce(b.n, 0) AS enterprises_before, coalesce(a.n, 0) AS enterprises_after,
                   coalesce(b.workload, 0) AS workload_before,
                   coalesce(a.workload, 0) AS workload_after,
                   coalesce(b.overdue, 0) AS overdue_before,
                   coalesce(a.overdue, 0) AS overdue_after,
                   ST_Area(c.geom::geography) / 1e6 AS area_before_km2,
                   CASE WHEN g.valid THEN ST_Area(g.geom::geography) / 1e6 END
                       AS area_after_km2
            FROM {t} g
            JOIN cell_current c ON c.code = g.code
            LEFT JOIN station s ON s.id = c.station_id
            LEFT JOIN sides b ON b.side = 'before' AND b.grid = g.code
            LEFT JOIN sides a ON a.side = 'after' AND a.grid = g.code
            LEFT JOIN villages_before vb ON vb.code = g.code
            LEFT JOIN villages_after va ON va.code = g.code
            WHERE g.level = 2
            ORDER BY g.code"""), params)]
        average = sum(float(g["workload_after"]) for g in grids) / max(1, len(grids))
        average_before = sum(float(g["workload_before"]) for g in grids) / max(1, len(grids))
        for g in grids:
            for key in ("workload_before", "workload_after"):
                g[key] = round(float(g[key]), 1)
            for key in ("area_before_km2", "area_after_km2"):
                g[key] = round(float(g[key]), 3) if g[key] is not None else None
            g["workload_change"] = round(g["workload_after"] - g["workload_before"], 1)
            g["deviation"] = (round((g["workload_after"] - average) / average, 3)
                              if average else None)
            g["deviation_before"] = (round((g["workload_before"] - average_before)
                                           / average_before, 3) if average_before else None)
        cells = [dict(r._mapping) for r in self.session.execute(self._sql("""
            WITH sides AS (
                SELECT v.side, v.cell, count(*) AS n, sum(x.workload) AS workload
                FROM city_effect_ent x,
                     LATERAL (VALUES ('before', x.before_cell), ('after', x.after_cell))
                         v(side, cell)
                WHERE v.cell = ANY(:changed3)
                GROUP BY v.side, v.cell
            )
            SELECT o.code, o.name, o.parent AS grid,
                   coalesce(b.n, 0) AS enterprises_before, coalesce(a.n, 0) AS enterprises_after,
                   coalesce(b.workload, 0) AS workload_before,
                   coalesce(a.workload, 0) AS workload_after,
                   ST_Area(c.geom::geography) / 1e6 AS area_before_km2,
                   CASE WHEN o.valid THEN ST_Area(o.geom::geography) / 1e6 END
                       AS area_after_km2
            FROM {t} o JOIN cell_current c ON c.code = o.code
            LEFT JOIN sides b ON b.side = 'before' AND b.cell = o.code
            LEFT JOIN sides a ON a.side = 'after' AND a.cell = o.code
            WHERE o.level = 3 AND o.changed
            ORDER BY o.code"""), params)]
        for c in cells:
            for key in ("workload_before", "workload_after"):
                c[key] = round(float(c[key]), 1)
            for key in ("area_before_km2", "area_after_km2"):
                c[key] = round(float(c[key]), 3) if c[key] is not None else None
            c["workload_change"] = round(c["workload_after"] - c["workload_before"], 1)
        # Per owner (网格责任人) of a level-3 cell whose enterprises change: all their cells of
        # the city counted, so the figure is the person's whole workload.
        owners = [dict(r._mapping) for r in self.session.execute(text("""
            WITH owned AS MATERIALIZED (
                SELECT c.code, o.person_id, o.from_cell_id <> c.id AS inherited
                FROM cell c JOIN cell g ON g.id = c.parent_id
                JOIN cell city ON city.id = g.parent_id,
                     LATERAL gw_cell_owner(c.id, now()) o
                WHERE city.code = :city AND c.level = 3 AND c.kind = 'territorial'
                  AND c.retired_at IS NULL AND o.person_id IS NOT NULL
            ),
            sides AS (
                SELECT v.side, w.person_id, count(*) AS n, sum(x.workload) AS workload
                FROM city_effect_ent x,
                     LATERAL (VALUES ('before', x.before_cell), ('after', x.after_cell))
                         v(side, cell)
                JOIN owned w ON w.code = v.cell
                GROUP BY v.side, w.person_id
            ),
            touched AS (
                SELECT DISTINCT w.person_id FROM owned w
                WHERE w.code = ANY(:changed3) OR w.code IN (
                    SELECT from_cell FROM city_effect_move
                    UNION SELECT to_cell FROM city_effect_move)
            )
            SELECT p.name, p.phone,
                   (SELECT array_agg(w.code ORDER BY w.code) FROM owned w
                    WHERE w.person_id = p.id) AS cells,
                   coalesce(b.n, 0) AS enterprises_before, coalesce(a.n, 0) AS enterprises_after,
                   coalesce(b.workload, 0) AS workload_before,
                   coalesce(a.workload, 0) AS workload_after
            FROM touched t JOIN person p ON p.id = t.person_id
            LEFT JOIN sides b ON b.side = 'before' AND b.person_id = p.id
            LEFT JOIN sides a ON a.side = 'after' AND a.person_id = p.id
            ORDER BY p.name, p.id"""), params)]
        for o in owners:
            for key in ("workload_before", "workload_after"):
                o[key] = round(float(o[key]), 1)
            o["workload_change"] = round(o["workload_after"] - o["workload_before"], 1)
        moves = [dict(r._mapping) for r in self.session.execute(self._sql("""
            WITH cellgrid AS (
                SELECT c.code, CASE WHEN c.level = 2 THEN c.code ELSE p.code END AS grid
                FROM cell c JOIN cell p ON p.id = c.parent_id
                WHERE c.kind = 'territorial' AND c.level >= 2
            )
            SELECT e.management_code, e.name, e.grade, m.from_cell, m.to_cell,
                   fg.grid AS from_grid, tg.grid AS to_grid
            FROM city_effect_move m JOIN enterprise e ON e.id = m.enterprise_id
            LEFT JOIN cellgrid fg ON fg.code = m.from_cell
            LEFT JOIN cellgrid tg ON tg.code = m.to_cell
            ORDER BY e.management_code"""))]
        villages = self.villages_changing()
        return {"grids": grids, "cells": cells, "owners": owners, "villages": villages,
                "moves": moves, "average_workload": round(average, 1),
                "between_grids": sum(1 for m in moves if m["from_grid"] != m["to_grid"]),
                "rises": [g["code"] for g in grids if g["workload_change"] > 0],
                "falls": [g["code"] for g in grids if g["workload_change"] < 0]}

    def villages_changing(self) -> list[dict]:
        """Every village whose level-3 cell the change alters (by a point inside it), with
        the cells and grids before and after and the enterprises inside it: the moves the
        manager asked for, and those the outlines make."""
        self._ensure_staged()
        return [dict(r._mapping) for r in self.session.execute(self._sql("""
            WITH area AS (
                SELECT c.geom FROM cell_current c WHERE c.code = ANY(:changed3)
            ),
            candidate AS (
                SELECT DISTINCT v.id, v.code, v.name, v.township_id, v.geom,
                       ST_PointOnSurface(v.geom) AS pos
                FROM area a JOIN village v ON v.geom && a.geom
            )
            SELECT v.code, v.name, t.name AS township, old.code AS from_cell,
                   old.grid AS from_grid, new.code AS to_cell, new.parent AS to_grid,
                   (SELECT count(*) FROM enterprise e WHERE ST_Covers(v.geom, e.geom))
                       AS enterprises
            FROM candidate v JOIN township t ON t.id = v.township_id
            JOIN LATERAL (
                SELECT c.code, g.code AS grid FROM cell_current c JOIN cell g ON g.id = c.parent_id
                WHERE c.code = ANY(:changed3) AND ST_Covers(c.geom, v.pos)
                ORDER BY c.code LIMIT 1) old ON true
            LEFT JOIN LATERAL (
                SELECT o.code, o.parent FROM {t} o
                WHERE o.level = 3 AND o.valid AND ST_Covers(o.geom, v.pos)
                ORDER BY o.code LIMIT 1) new ON true
            WHERE new.code IS DISTINCT FROM old.code
            ORDER BY v.code"""), {"changed3": self._changed(3)})]

    def _lock(self) -> dict:
        """Lock the current versions of the city's stations' grids and their cells (a
        concurrent redraw anywhere in them waits here); returns code -> (version, valid_from)."""
        city = city_row(self.session, self.proposal.city_code)
        return {r.code: r for r in self.session.execute(text("""
            SELECT c.code, cv.id AS version_id, cv.valid_from
            FROM cell c JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL
            JOIN cell p ON p.id = c.parent_id
            WHERE c.retired_at IS NULL AND c.kind = 'territorial'
              AND (p.id = :city OR (c.level = 3 AND p.parent_id = :city))
            ORDER BY cv.id
            FOR UPDATE OF cv"""), {"city": city.id}).all()}

    def commit(self, *, username: str, comment: str, valid_from: dt.datetime | None = None,
               confirm_warnings: bool = False, reverts: int | None = None,
               backdate_reason: str | None = None) -> int:
        """Validate and write the change as one dated change; returns its id. Raises
        ``Conflict`` when a boundary the editor started from has changed since, ``NotValid``
        on errors (and on warnings not confirmed)."""
        if not comment or not comment.strip():
            raise RedrawError("comment: say why (required)")
        require_aware(valid_from)
        # Before any lock or write: a complaint taken in meanwhile is stamped against one
        # consistent boundary (gis/boundary_lock.py).
        at = boundary_lock.for_boundary_change(self.session, valid_from)
        current = self._lock()
        # Worked out again against the boundaries just locked: what is written is what was
        # validated, whatever was committed since the preview.
        self._plan, self._staged = None, False
        p = self.plan
        for code in sorted(p.geometries):
            expected = self.proposal.expected_versions.get(code)
            if expected is not None and current[code].version_id != expected:
                raise CellConflict(code)
        report = self.check()
        if report.errors:
            raise NotValid(report)
        if report.warnings and not confirm_warnings:
            raise NotValid(report, warnings_only=True)
        villages = self.villages_changing()
        # A boundary given exactly as it is now is no change: it gets no new version.
        same = set(self.session.execute(self._sql("""
            UPDATE {t} o SET changed = false FROM cell_current c
            WHERE c.code = o.code AND o.changed AND ST_Equals(o.geom, c.geom)
            RETURNING o.code""")).scalars())
        codes = sorted(set(p.geometries) - same)
        if not codes:
            raise NothingChanges("nothing changes: every boundary given is the current one")
        for code in codes:
            if current[code].valid_from >= at:
                raise LaterVersion(code)
        summary = {"changed": codes,
                   "grids": [c for c in codes if p.levels[c] == 2],
                   "cells": [c for c in codes if p.levels[c] == 3],
                   "created": [], "retired": [],
                   "villages": [{k: v[k] for k in ("code", "name", "from_cell", "to_cell",
                                                   "from_grid", "to_grid")}
                                for v in villages],
                   "townships": sorted(self.proposal.townships)}
        if backdate_reason:
            summary["backdated"] = {"reason": backdate_reason.strip()}
        change_id = self.session.execute(text("""
            INSERT INTO grid_change (valid_from, username, comment, parent_code, reverts, summary)
            VALUES (:at, :u, :c, :p, :r, CAST(:s AS jsonb)) RETURNING id"""), {
            "at": at, "u": username, "c": comment.strip(), "p": self.proposal.city_code,
            "r": reverts, "s": json.dumps(summary)}).scalar()
        self.session.execute(
            text("UPDATE cell_version SET valid_to = :at WHERE id = ANY(:ids)"),
            {"at": at, "ids": [current[c].version_id for c in codes]})
        # One statement for all new versions, so the assignment trigger runs once.
        self.session.execute(self._sql("""
            INSERT INTO cell_version (cell_id, geom, valid_from, comment, created_by, change_id)
            SELECT c.id, ST_Multi(ST_CollectionExtract(o.geom, 3)), :at, :comment, :u, :chg
            FROM {t} o JOIN cell c ON c.code = o.code WHERE o.changed"""),
            {"at": at, "comment": comment.strip(), "u": username, "chg": change_id})
        self._summary = summary
        return change_id

    @property
    def written(self) -> list[str]:
        """The cells (both levels) the last commit gave new boundaries."""
        return list(self._summary.get("changed", []))

    def audit_detail(self, change_id: int, comment: str, valid_from: dt.datetime | None) -> dict:
        """What the audit log keeps of a committed change of the stations' grids."""
        summary = self._summary
        return {"change": change_id, "cells": summary.get("changed", []),
                "grids": summary.get("grids", []),
                "villages": [v["code"] for v in summary.get("villages", [])],
                "townships": summary.get("townships", []), "comment": comment,
                "valid_from": valid_from}


def revert(session: Session, change, *, username: str, comment: str,
           valid_from: dt.datetime | None = None) -> int:
    """Undo a committed change of the stations' grids (``change``: its grid_change row) by a
    new change restoring every boundary it replaced, at both levels."""
    rows = session.execute(text("""
        SELECT c.code, ST_AsBinary(old.geom) AS wkb, now_v.version_id AS current_version
        FROM cell_version v JOIN cell c ON c.id = v.cell_id
        JOIN cell_version old ON old.cell_id = c.id AND old.valid_to = v.valid_from
        LEFT JOIN cell_current now_v ON now_v.id = c.id
        WHERE v.change_id = :i"""), {"i": change.id}).all()
    proposal = CityProposal(change.parent_code)
    for r in rows:
        proposal.geometries[r.code] = shapely.from_wkb(bytes(r.wkb))
        if r.current_version is not None:
            proposal.expected_versions[r.code] = r.current_version
    return CityRedraw(session, proposal).commit(
        username=username, comment=comment, valid_from=valid_from, confirm_warnings=True,
        reverts=change.id)


VERSION = Field(kind="int", min=1)


def _place_code(field_name: str, code) -> str:
    """A village's or township's 12-digit statistical code."""
    code = str(code)
    if not (len(code) == 12 and code.isascii() and code.isdigit()):
        raise ValidationError(field_name, f"{code[:40]}: a 12-digit village or township code",
                              "pattern")
    return code


def snap_to_villages(session: Session, geometries: dict, codes) -> None:
    """Snap the new outlines of the second-level grids ``codes`` (in ``geometries``, changed in
    place) to the villages' vertices within ``gis.outline.SNAP_TOLERANCE_M`` (a snapped vertex
    takes the village's coordinates to the bit; the others stay as they are). A station's edge
    follows villages, and the cells it is compared with are made of them: an edge drawn on the
    map or exported from a GIS with rounded coordinates would otherwise leave slivers against
    every cell along it. An outline that is invalid, or that snapping would make invalid,
    stays as given."""
    from gis import outline

    degrees = outline.SNAP_TOLERANCE_M / 111_320.0
    for code in sorted(codes):
        geom = geometries.get(code)
        if geom is None or not geom.is_valid:
            continue
        wkb = session.execute(text("""
            WITH g AS (SELECT ST_GeomFromWKB(:g, 4326) AS g),
            ref AS (
                SELECT ST_Collect(v.geom) AS r FROM village v, g
                WHERE v.geom && ST_Expand(g.g, :deg)
            ),
            snapped AS (
                SELECT ST_Snap(g.g, ref.r, :deg) AS s FROM g, ref
                WHERE ref.r IS NOT NULL
            )
            SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(s, 3))) FROM snapped
            WHERE ST_IsValid(s) AND NOT ST_IsEmpty(s)"""),
            {"g": shapely.to_wkb(geom), "deg": degrees}).scalar()
        if wkb is not None:
            geometries[code] = shapely.from_wkb(bytes(wkb))


def proposal_from_json(session: Session, city_code: str, body: dict, limits) -> CityProposal:
    """The city editor's change (``moves``: village -> level-3 cell, ``townships``: township ->
    level-3 cell, GeoJSON ``geometries`` from a file and ``outlines`` reshaped on the map, of
    second-level grids or level-3 cells, ``expected_versions``; types already checked). As in
    a grid's editor (gis/outline.py), what a file gives is snapped to the stored outlines and
    a reshaped outline takes its neighbours along. Raises ValidationError naming the field;
    geometries within ``limits`` (gis/limits.py: vertices)."""
    from gis import outline, redraw

    proposal = CityProposal(city_code)
    for village, target in (body.get("moves") or {}).items():
        proposal.villages[_place_code("moves", village)] = _code("moves", target)
    for township, target in (body.get("townships") or {}).items():
        proposal.townships[_place_code("townships", township)] = _code("townships", target)
    given = _boundaries("geometries", body.get("geometries"))
    drawn = _boundaries("outlines", body.get("outlines"))
    check_vertices(itertools.chain(given.items(), drawn.items()), limits)
    for version_code, version in (body.get("expected_versions") or {}).items():
        proposal.expected_versions[_code("expected_versions", version_code)] = validate_fields(
            {"expected_versions": version}, {"expected_versions": VERSION})["expected_versions"]
    city = city_row(session, city_code)
    tree = _tree(session, city.id)
    for field_name, geometries in (("geometries", given), ("outlines", drawn)):
        for code in sorted(geometries):
            if code not in tree:
                raise Level2Error(
                    f"{code}: not a live second-level grid or level-3 cell of the stations' "
                    f"grids of {city_code}", "not_in_city", field_name, cell=code,
                    city=city_code)
    # Snapped and reshaped among their siblings: the grids in the city, a grid's cells in it.
    for parent in sorted({tree[c].parent for c in (*given, *drawn)}):
        part = redraw.Proposal(parent, {c: g for c, g in given.items()
                                        if tree[c].parent == parent})
        outline.snap(session, part, list(part.geometries))
        outline.reshape(session, part, {c: g for c, g in drawn.items()
                                        if tree[c].parent == parent})
        proposal.geometries.update(part.geometries)
        for code, version in part.expected_versions.items():
            proposal.expected_versions.setdefault(code, version)
    snap_to_villages(session, proposal.geometries,
                     [c for c in proposal.geometries if tree[c].level == 2])
    return proposal


def jobs_for(session: Session, proposals: list, *, villages: dict[str, str] | None = None,
             townships: dict[str, str] | None = None, tolerance_m2: float = 1.0) -> list:
    """The jobs ``grid redraw`` runs: ``proposals`` (from ``gis.redraw.proposals_from_file``,
    one per parent grid) and village/township moves (code -> level-3 cell). Boundaries of
    second-level grids, and moves that take villages to another grid, make one change of the
    city (``CityRedraw``), which also takes the file's level-3 cells of the grids it touches;
    everything else stays a redraw inside one second-level grid (``gis.redraw.Redraw``), as
    that grid's manager makes it."""
    from gis import redraw

    villages, townships = dict(villages or {}), dict(townships or {})
    levels = dict(session.execute(text("SELECT code, level FROM cell WHERE code = ANY(:c)"),
                                  {"c": [p.parent_code for p in proposals]}).all())
    at_city = [p for p in proposals if levels.get(p.parent_code) == 1]
    inside = [p for p in proposals if levels.get(p.parent_code) != 1]
    moves = _move_grids(session, villages, townships)
    if not at_city and not moves:
        return [redraw.Redraw(session, p, tolerance_m2) for p in inside]
    if not at_city and not inside and all(now == to for now, to in moves.values()):
        by_grid: dict[str, dict[str, str]] = defaultdict(dict)
        for village, target in _expand(session, villages, townships).items():
            by_grid[moves[village][1]][village] = target
        return [redraw.Redraw(session, redraw.village_moves(session, grid, grid_moves),
                              tolerance_m2) for grid, grid_moves in sorted(by_grid.items())]
    cities = {p.parent_code for p in at_city} | set(_cities_of(session, moves))
    if len(cities) != 1:
        raise Level2Error("a change of second-level grids is made in one city at a time",
                          "one_city", "file")
    proposal = CityProposal(cities.pop(), villages=villages, townships=townships)
    for p in at_city:
        snap_to_villages(session, p.geometries, list(p.geometries))
        proposal.geometries.update(p.geometries)
        proposal.expected_versions.update(p.expected_versions)
    touched = set(proposal.geometries) | {g for pair in moves.values() for g in pair}
    rest = []
    for p in inside:
        if p.parent_code in touched:
            proposal.geometries.update(p.geometries)
            proposal.expected_versions.update(p.expected_versions)
        else:
            rest.append(redraw.Redraw(session, p, tolerance_m2))
    return [CityRedraw(session, proposal, tolerance_m2), *rest]


def _cities_of(session: Session, moves: dict) -> list[str]:
    """The cities of the moves' target grids; a target that is no level-3 cell is refused."""
    grids = sorted({to for _now, to in moves.values() if to is not None})
    found = dict(session.execute(text("""
        SELECT g.code, city.code FROM cell g JOIN cell city ON city.id = g.parent_id
        WHERE g.code = ANY(:g) AND g.level = 2 AND city.level = 1"""), {"g": grids}).all())
    if any(to is None or to not in found for _now, to in moves.values()):
        return []
    return sorted(set(found.values()))


def _expand(session: Session, villages: dict[str, str], townships: dict[str, str]
            ) -> dict[str, str]:
    """village -> target: the townships' villages, then the villages named on their own."""
    moves = {}
    if townships:
        for code, township in session.execute(text("""
                SELECT v.code, t.code FROM village v JOIN township t ON t.id = v.township_id
                WHERE t.code = ANY(:t)"""), {"t": sorted(townships)}).all():
            moves[code] = townships[township]
    moves.update(villages)
    return moves


def _move_grids(session: Session, villages: dict[str, str], townships: dict[str, str]
                ) -> dict[str, tuple[str | None, str | None]]:
    """village -> (grid it is in now, grid of its target cell), by a point inside it."""
    moves = _expand(session, villages, townships)
    if not moves:
        return {}
    rows = session.execute(text("""
        SELECT v.code, (
                   SELECT g.code FROM cell_current c JOIN cell g ON g.id = c.parent_id
                   WHERE c.level = 3 AND c.kind = 'territorial' AND c.retired_at IS NULL
                     AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))
                   ORDER BY c.code LIMIT 1) AS now_grid
        FROM village v WHERE v.code = ANY(:v)"""), {"v": sorted(moves)}).all()
    now = dict(rows)
    targets = dict(session.execute(text("""
        SELECT c.code, p.code FROM cell c JOIN cell p ON p.id = c.parent_id
        WHERE c.code = ANY(:t) AND c.level = 3 AND c.kind = 'territorial'"""),
        {"t": sorted(set(moves.values()))}).all())
    return {v: (now.get(v), targets.get(t)) for v, t in moves.items()}

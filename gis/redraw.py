"""Redrawing cells safely: propose, check, see the effect, commit with history, revert.

Coordinates are lon/lat (EPSG:4326); areas are m² on the spheroid (geography). A proposal
changes cells inside one parent grid (a station's grid, or a professional grid): new
geometries for some children, new children, retired children. Everything is computed in
PostGIS against a temporary table holding the parent's children *as proposed* around the change
(the cells it gives or retires and their neighbours), so validation and effect see exactly what
a commit would write, and their work is the change's size, not the grid's.

Committing is one transaction: optimistic version check (the versions the editor started
from must still be current; rows are locked so two commits serialise), old versions closed at
``valid_from``, new ones inserted — the assignment triggers then move exactly the enterprises
inside the touched cells — and a ``grid_change`` row saying who, when and why.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gis import boundary_lock, outline
from gis.codes import CELL_CODE_RULE, is_cell_code
from gis.dates import require_aware
from gis.errors import GridWatchError
from gis.history import cell_history
from gis.limits import check_vertices
from gis.validation import Field, ValidationError
from gis.validation import validate as validate_fields


class RedrawError(GridWatchError):
    """The proposal cannot be validated or committed as asked."""


class Conflict(RedrawError):
    """Someone committed a change to the same cells since the editor loaded them."""


class NothingChanges(RedrawError):
    """Every boundary the proposal gives is the current one: a commit would only leave an
    empty change in the history."""


class LaterVersion(RedrawError):
    """A cell's current boundary starts on or after the change's date: history is added to at
    its end, never inserted before a later version."""

    def __init__(self, code: str):
        super().__init__(f"cell {code}: its current boundary starts on or after the change; "
                         "choose a later valid_from")
        self.code = code


class TooSlow(RedrawError):
    """PostgreSQL cancelled the work at the statement timeout."""


# Advisory-lock namespace of preview slots (pg_try_advisory_xact_lock(namespace, key)).
_PREVIEW_LOCKS = 0x6777  # "gw"


def claim_preview_slot(session: Session, user_id: int, slots: int) -> bool:
    """Take one of the user's ``slots`` preview slots until the transaction ends; False when
    all are taken (by the user's other previews, in other connections)."""
    for slot in range(max(slots, 1)):
        if session.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :key)"),
                           {"ns": _PREVIEW_LOCKS, "key": (user_id * 64 + slot) % 2**31}
                           ).scalar():
            return True
    return False


@contextmanager
def statement_timeout(session: Session, milliseconds: int):
    """Each statement inside is cancelled after ``milliseconds`` (until the transaction
    ends); a cancellation raises TooSlow, and the caller must roll back."""
    session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                    {"ms": str(int(milliseconds))})
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == "57014":  # query_canceled
            raise TooSlow(f"cancelled after {milliseconds} ms") from None
        raise


@dataclass
class Proposal:
    parent_code: str
    geometries: dict[str, object] = field(default_factory=dict)  # code -> MultiPolygon
    new_cells: dict[str, str] = field(default_factory=dict)  # code -> name
    retire: set[str] = field(default_factory=set)
    expected_versions: dict[str, int] = field(default_factory=dict)  # code -> version id


@dataclass
class Finding:
    level: str  # error | warning
    kind: str  # invalid | outside_parent | overlap | gap | multipart | uncovered | no_owner
    cell: str | None
    message: str
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None
    enterprise: str | None = None
    detail: str | None = None  # GEOS's reason for invalid geometry; pieces for multipart

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Report:
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def as_dict(self) -> dict:
        return {"ok": not self.errors, "errors": [f.as_dict() for f in self.errors],
                "warnings": [f.as_dict() for f in self.warnings]}


def _multi(geom):
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def parent_row(session: Session, code: str):
    row = session.execute(text("""
        SELECT c.id, c.code, c.level, c.kind, c.version_id
        FROM cell_current c WHERE c.code = :c AND c.retired_at IS NULL"""),
        {"c": code}).one_or_none()
    if row is None:
        raise RedrawError(f"grid {code!r} does not exist")
    if row.level != 2:
        raise RedrawError(f"grid {code!r} is level {row.level}; redraw works inside a "
                          "second-level grid")
    return row


def current_children(session: Session, parent_code: str) -> dict[str, dict]:
    """code -> {version_id, name, geometry (shapely)} of the parent's live children."""
    rows = session.execute(text("""
        SELECT c.code, c.name, c.version_id, ST_AsBinary(c.geom) AS wkb
        FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE p.code = :p AND c.retired_at IS NULL ORDER BY c.code"""),
        {"p": parent_code}).all()
    return {r.code: {"version_id": r.version_id, "name": r.name,
                     "geometry": shapely.from_wkb(bytes(r.wkb))} for r in rows}


def village_moves(session: Session, parent_code: str, moves: dict[str, str]) -> Proposal:
    """Move whole villages between the parent's cells: each touched cell becomes the union
    of the villages it holds afterwards, so the cells stay gap- and overlap-free."""
    children = current_children(session, parent_code)
    unknown = sorted(set(moves.values()) - set(children))
    if unknown:
        raise RedrawError(f"cell {unknown[0]!r} is not a cell of grid {parent_code}")
    rows = session.execute(text("""
        SELECT v.code, ST_AsBinary(v.geom) AS wkb,
               (SELECT c.code FROM cell_current c JOIN cell p ON p.id = c.parent_id
                WHERE p.code = :p AND c.retired_at IS NULL
                  AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))
                ORDER BY c.code LIMIT 1) AS cell_code
        FROM village v WHERE v.code = ANY(:codes)"""),
        {"p": parent_code, "codes": list(moves)}).all()
    found = {r.code: r for r in rows}
    missing = sorted(set(moves) - set(found))
    if missing:
        raise RedrawError(f"village {missing[0]!r} does not exist")
    outside = sorted(code for code, r in found.items() if r.cell_code is None)
    if outside:
        raise RedrawError(f"village {outside[0]!r} is not inside grid {parent_code}")
    geometries = {code: child["geometry"] for code, child in children.items()}
    touched = set()
    for code, target in moves.items():
        village = shapely.from_wkb(bytes(found[code].wkb))
        source = found[code].cell_code
        if source == target:
            continue
        geometries[source] = shapely.set_precision(
            shapely.difference(geometries[source], village), 1e-7)
        geometries[target] = shapely.set_precision(
            shapely.union(geometries[target], village), 1e-7)
        touched |= {source, target}
    return Proposal(parent_code, {c: _multi(geometries[c]) for c in sorted(touched)},
                    expected_versions={c: children[c]["version_id"] for c in touched})


def _touched(proposal: Proposal) -> list[str]:
    """Codes whose current boundary the proposal replaces or removes: only inside them can a
    gap open or an enterprise lose its cell (the rest of the grid is as it is now)."""
    return sorted(set(proposal.geometries) | proposal.retire) or [""]


VALIDATE_SQL = """
WITH parent AS MATERIALIZED (
    SELECT geom FROM cell_current WHERE code = :p
),
changed AS (SELECT * FROM {t} WHERE changed),
touched AS (
    SELECT ST_Union(geom) AS geom FROM cell_current WHERE code = ANY(:touched)
),
invalid AS (
    SELECT 'error' AS level, 'invalid' AS kind, code, ST_IsValidReason(geom) AS message,
           (ST_IsValidDetail(geom)).location AS at, NULL::float8 AS area,
           (ST_IsValidDetail(geom)).reason AS detail
    FROM changed WHERE NOT ST_IsValid(geom)
),
outside AS (
    SELECT 'error', 'outside_parent', o.code, 'extends outside its parent grid',
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text
    FROM {t} o, parent p,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(o.geom, p.geom), 3)) d
    WHERE o.changed AND o.valid AND ST_Area(d.geom::geography) > :tol
),
-- Each changed cell against its neighbours, found through {t}'s GiST index.
overlapping AS (
    SELECT 'error', 'overlap', least(a.code, b.code) || ' / ' || greatest(a.code, b.code),
           'cells overlap', ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text
    FROM {t} a JOIN {t} b ON b.valid AND b.code <> a.code
         AND (NOT b.changed OR a.code < b.code) AND ST_Intersects(a.geom, b.geom),
         LATERAL ST_Dump(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3)) d
    WHERE a.changed AND a.valid AND ST_Area(d.geom::geography) > :tol
),
-- A gap can only open where a replaced or retired boundary was.
gaps AS (
    SELECT 'error', 'gap', NULL::text, 'part of the grid belongs to no cell',
           ST_PointOnSurface(d.geom), ST_Area(d.geom::geography), NULL::text
    FROM parent p, touched t,
         LATERAL ST_Dump(ST_CollectionExtract(ST_Difference(
             ST_Intersection(p.geom, t.geom),
             coalesce((SELECT ST_Union(o.geom) FROM {t} o
                       WHERE o.valid AND o.geom && t.geom),
                      ST_GeomFromText('POLYGON EMPTY', 4326))), 3)) d
    WHERE ST_Area(d.geom::geography) > :tol
),
multipart AS (
    SELECT 'warning', 'multipart', code, 'the cell is in ' || ST_NumGeometries(geom)
           || ' separate pieces', ST_PointOnSurface(geom), NULL::float8,
           ST_NumGeometries(geom)::text
    FROM {t} WHERE changed AND valid
     AND ST_NumGeometries(ST_CollectionExtract(geom, 3)) > 1
)
SELECT * FROM invalid UNION ALL SELECT * FROM outside UNION ALL SELECT * FROM overlapping
UNION ALL SELECT * FROM gaps UNION ALL SELECT * FROM multipart
"""


# The grid's current boundary, as a CTE. MATERIALIZED, so that it is planned on its own (two
# index lookups): inlined, the planner has joined cell and cell_version by scanning both.
_PARENT = """parent AS MATERIALIZED (
    SELECT geom FROM cell_current WHERE code = :p)"""
# The live cells of the grid (not replaced or retired by the proposal) whose box meets the
# box of a boundary the proposal gives or of the current boundary of a cell it replaces or
# retires: both probe cell_version's GiST index. (The new boundaries come as the array
# parameter rather than from {t}, so the planner knows how few they are: it scanned every cell
# of the grid otherwise.)
_NEIGHBOURS = """
    SELECT DISTINCT ON (c.code) c.code, cv.id AS version_id, cv.geom
    FROM (SELECT ST_GeomFromWKB(w, 4326) AS geom FROM unnest(CAST(:wkbs AS bytea[])) w
          UNION ALL
          SELECT v.geom FROM cell k
          JOIN cell_version v ON v.cell_id = k.id AND v.valid_to IS NULL
          WHERE k.code = ANY(:touched)) a
    JOIN cell_version cv ON cv.geom && a.geom AND cv.valid_to IS NULL
    JOIN cell c ON c.id = cv.cell_id
    WHERE c.parent_id = :pid AND c.retired_at IS NULL AND NOT c.code = ANY(:touched)
    ORDER BY c.code"""
# Above this many live cells in a grid, the effect lists only the cells a change touches and
# gives no average workload (Redraw.effect says why). A station's grid has tens of cells.
WHOLE_GRID_CELLS = 200
# A staging table gets a GiST index when the proposal gives or retires more cells than this.
INDEXED_ABOVE = 16
# Names of staging tables: one per Redraw, so that several grids (a file's) stay staged at once.
_TABLES = itertools.count(1)


class Redraw:
    """One proposal's job in one transaction: the grid as proposed is staged once, in a temp
    table (the cells the proposal gives and, as they are, their neighbours; their validity
    computed once), and ``check``, ``effect`` and ``commit`` all read that table.

    ``commit`` keeps its own safety check: it locks the versions it replaces and checks the
    ones the editor started from, stages again when the rest of the grid has changed since
    (someone else's commit in the meantime), and validates again before it writes. Give it the
    proposal it was made with: change a proposal, make a new Redraw."""

    def __init__(self, session: Session, proposal: Proposal, tolerance_m2: float = 1.0):
        self.session = session
        self.proposal = proposal
        self.tolerance_m2 = tolerance_m2
        self.table = f"proposed_{next(_TABLES)}"
        self._staged_as = None  # what the proposal was when staged (see _content)
        self._parent_id = None
        self._whole_grid = None  # the grid has at most WHOLE_GRID_CELLS cells (see effect)

    def _sql(self, sql: str):
        return text(sql.format(t=self.table, parent=_PARENT))

    def _content(self) -> tuple:
        p = self.proposal
        return (p.parent_code, tuple(sorted(p.retire)),
                tuple((c, shapely.to_wkb(g)) for c, g in sorted(p.geometries.items())))

    def stage(self) -> None:
        """(Re)build the staging table from the live grid and the proposal: the proposal's
        boundaries and, as they are now, the cells whose box meets an old or a new boundary of
        a cell it touches. Nothing else can overlap, fill a gap, or take in an enterprise the
        change may move, so the rest of the grid (10,000 cells at the bench's largest size) is
        neither copied nor checked."""
        parent = parent_row(self.session, self.proposal.parent_code)
        content = self._content()
        # One round trip: at the bench's sizes each statement's own is a good part of the time.
        # DELETE, not TRUNCATE: on a table this small TRUNCATE costs more (new files). A GiST
        # index only for a change of many cells (a file's): a few dozen rows are read faster
        # than the index is made.
        index = ("CREATE INDEX IF NOT EXISTS {t}_geom ON {t} USING gist (geom);"
                 if len(content[1]) + len(content[2]) > INDEXED_ABOVE else "")
        result = self.session.execute(self._sql("""
            CREATE TEMP TABLE IF NOT EXISTS {t} (code text PRIMARY KEY, geom geometry,
                                                 changed boolean, valid boolean,
                                                 version_id bigint)
            ON COMMIT DROP;""" + index + """
            DELETE FROM {t};
            INSERT INTO {t} (code, geom, changed, valid)
            SELECT x.code, n.geom, true, ST_IsValid(n.geom)
            FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS bytea[])) AS x(code, wkb),
                 LATERAL (SELECT ST_GeomFromWKB(x.wkb, 4326) AS geom) n;
            INSERT INTO {t} (code, geom, changed, valid, version_id)
            SELECT n.code, n.geom, false, ST_IsValid(n.geom), n.version_id
            FROM (""" + _NEIGHBOURS + """) n;
            ANALYZE {t};
            SELECT count(*) FROM (SELECT FROM cell WHERE parent_id = :pid AND retired_at IS NULL
                                  LIMIT :most + 1) c"""),
            {**self._neighbour_params(parent.id), "most": WHOLE_GRID_CELLS})
        self._whole_grid = result.scalar() <= WHOLE_GRID_CELLS
        self._staged_as = content
        self._parent_id = parent.id

    def _neighbour_params(self, parent_id: int) -> dict:
        geometries = self._content()[2]
        return {"pid": parent_id, "touched": _touched(self.proposal),
                "codes": [c for c, _ in geometries], "wkbs": [w for _, w in geometries]}

    def _ensure_staged(self) -> None:
        if self._staged_as is None or self._staged_as != self._content():
            self.stage()

    def _still_current(self) -> bool:
        """Is the staged table still the live grid around the change with the proposal
        applied? The cells staged as they were must be the same versions, none gone and none
        added near the change."""
        if self._staged_as is None or self._staged_as != self._content():
            return False
        if self.session.execute(text("SELECT to_regclass(:t) IS NULL"),
                                {"t": f"pg_temp.{self.table}"}).scalar():
            return False  # the transaction it was staged in has ended
        return bool(self.session.execute(self._sql("""
            WITH live AS (SELECT n.code, n.version_id FROM (""" + _NEIGHBOURS + """) n),
            kept AS (SELECT code, version_id FROM {t} WHERE NOT changed)
            SELECT NOT EXISTS (SELECT * FROM live EXCEPT SELECT * FROM kept)
               AND NOT EXISTS (SELECT * FROM kept EXCEPT SELECT * FROM live)"""),
            self._neighbour_params(self._parent_id)).scalar())

    def check(self) -> Report:
        """Every problem the proposal would cause, each with its place and size."""
        self._ensure_staged()
        return self._findings()

    def _findings(self) -> Report:
        """The checks, on the staged table as it is."""
        findings = []
        for r in self.session.execute(self._sql("""
                SELECT level, kind, code, message, ST_X(at) AS lon, ST_Y(at) AS lat, area,
                       detail
                FROM (""" + VALIDATE_SQL + """) f(level, kind, code, message, at, area, detail)"""),
                {"p": self.proposal.parent_code, "tol": self.tolerance_m2,
                 "touched": _touched(self.proposal)}):
            message = r.message
            if r.area is not None:
                message = f"{message}: {r.area:,.1f} m²"
            findings.append(Finding(r.level, r.kind, r.code, message, r.lon, r.lat, r.area,
                                    detail=r.detail))
        # Only an enterprise inside a replaced or retired boundary can lose its cell.
        uncovered = self.session.execute(self._sql("""
            WITH {parent},
            touched AS MATERIALIZED (
                SELECT geom FROM cell_current WHERE code = ANY(:touched)
            ),
            -- MATERIALIZED: the grid's boundary is then a test of these, never a scan of the
            -- grid's enterprises by its index.
            inside AS MATERIALIZED (
                SELECT DISTINCT e.management_code, e.geom
                FROM touched t JOIN enterprise e ON ST_Covers(t.geom, e.geom)
            )
            SELECT e.management_code, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
            FROM inside e, parent p
            WHERE ST_Covers(p.geom, e.geom)
              AND NOT EXISTS (SELECT 1 FROM {t} o WHERE o.valid
                              AND ST_Covers(o.geom, e.geom))
            ORDER BY e.management_code LIMIT 50"""),
            {"p": self.proposal.parent_code, "touched": _touched(self.proposal)}).all()
        for r in uncovered:
            findings.append(Finding("error", "uncovered", None,
                                    f"enterprise {r.management_code} would be in no cell",
                                    r.lon, r.lat, enterprise=r.management_code))
        taken = set(self.session.execute(
            text("SELECT code FROM cell WHERE code = ANY(:codes)"),
            {"codes": sorted(self.proposal.new_cells)}).scalars()) \
            if self.proposal.new_cells else set()
        for code in sorted(self.proposal.new_cells):
            # The preview says what the commit would refuse, so neither surprises the other.
            if code in taken:
                findings.append(Finding(
                    "error", "code_taken", code,
                    f"code {code} exists or existed; codes are never reused"))
            if code not in self.proposal.geometries:
                findings.append(Finding("error", "no_boundary", code,
                                        "new cell has no boundary"))
            findings.append(Finding("warning", "no_owner", code,
                                    "new cell has no owner of its own: it falls to the grid's "
                                    "owner until one is named"))
        return Report(findings)

    def effect(self, today: dt.date | None = None) -> dict:
        """What the proposal changes, cell by cell: enterprises by grade, inspections required a
        year, overdue, complaints in the last 90 days, area; before and after; and the list of
        enterprises that move.

        The work is the change's, not the grid's: only an enterprise in the symmetric
        difference of a touched cell's old and new boundary can change cell, and only the cells
        the change touches (a boundary given or retired, an enterprise moving in or out) can
        differ before and after. The others, the same before and after, are listed too when the
        grid has at most WHOLE_GRID_CELLS cells, and each cell's deviation from the grid's
        average workload with them. In a larger grid that average alone would read every
        enterprise of the grid (seconds at 1,000,000): the table lists the touched cells, and
        the average and deviations are None."""
        today = today or dt.date.today()
        self._ensure_staged()
        proposal = self.proposal
        whole = self._whole_grid
        params = {"p": proposal.parent_code, "pid": self._parent_id, "today": today,
                  "touched": _touched(proposal), "retire": sorted(proposal.retire) or [""],
                  "whole": whole}
        # An enterprise changes cell only where a touched cell's old and new boundary disagree
        # about it: covered by one and not the other (ST_Covers, the assignment's own test, so
        # the edges are exact; each side probes the enterprises' GiST index). One round trip.
        moves = self.session.execute(self._sql("""
            CREATE TEMP TABLE IF NOT EXISTS effect_move (
                enterprise_id bigint PRIMARY KEY, from_cell text, to_cell text) ON COMMIT DROP;
            DELETE FROM effect_move;
            INSERT INTO effect_move (enterprise_id, from_cell, to_cell)
            WITH {parent},
            pair AS MATERIALIZED (
                SELECT c.geom AS old, o.geom AS new
                FROM unnest(CAST(:touched AS text[])) AS k(code)
                LEFT JOIN cell_current c ON c.code = k.code
                LEFT JOIN {t} o ON o.code = k.code AND o.changed
            ),
            -- MATERIALIZED: the grid's boundary below is a test of these few, never a scan
            -- of the grid's enterprises by its index.
            candidate AS MATERIALIZED (
                SELECT e.id, e.geom FROM enterprise e WHERE e.id IN (
                    SELECT e.id FROM pair a JOIN enterprise e ON ST_Covers(a.old, e.geom)
                    WHERE a.new IS NULL OR NOT ST_Covers(a.new, e.geom)
                    UNION
                    SELECT e.id FROM pair a JOIN enterprise e ON ST_Covers(a.new, e.geom)
                    WHERE a.old IS NULL OR NOT ST_Covers(a.old, e.geom))
            )
            SELECT i.id, cur.code, new.code
            FROM candidate i JOIN parent p ON ST_Covers(p.geom, i.geom)
            LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = i.id
            LEFT JOIN cell cur ON cur.id = ec.cell_id
            LEFT JOIN LATERAL (
                SELECT o.code FROM {t} o WHERE o.valid AND ST_Covers(o.geom, i.geom)
                ORDER BY o.code LIMIT 1) new ON true
            WHERE cur.code IS DISTINCT FROM new.code;
            -- Its size, so that the joins below look the movers up by key instead of scanning.
            ANALYZE effect_move;
            SELECT e.management_code, e.name, e.grade, m.from_cell, m.to_cell
            FROM effect_move m JOIN enterprise e ON e.id = m.enterprise_id
            ORDER BY e.management_code"""), params).all()
        params["codes"] = sorted(set(params["touched"]) - {""} | {
            c for m in moves for c in (m.from_cell, m.to_cell) if c is not None}) or [""]
        # Per cell: who is recorded in it now (enterprise_cell, through its cell_id index), with
        # the movers' cells replaced; grouped once per side.
        cells = self.session.execute(self._sql("""
            WITH {parent},
            codes AS (
                SELECT c.id, c.code FROM cell c
                WHERE c.parent_id = :pid AND c.retired_at IS NULL
                  AND (:whole OR c.code = ANY(:codes))
                UNION ALL
                SELECT NULL, o.code FROM {t} o
                WHERE o.changed AND NOT EXISTS (SELECT 1 FROM cell c WHERE c.code = o.code
                                                AND c.parent_id = :pid
                                                AND c.retired_at IS NULL)
            ),
            ent AS MATERIALIZED (
                SELECT s.before_cell, s.after_cell, e.grade, 365.0 / gi.interval_days AS workload,
                       coalesce(li.last, e.valid_from::date) + gi.interval_days
                           < CAST(:today AS date) AS overdue
                FROM (
                    SELECT ec.enterprise_id AS id, k.code AS before_cell, k.code AS after_cell
                    FROM codes k JOIN enterprise_cell_current ec ON ec.cell_id = k.id
                    WHERE NOT EXISTS (SELECT 1 FROM effect_move m
                                      WHERE m.enterprise_id = ec.enterprise_id)
                    UNION ALL
                    SELECT enterprise_id, from_cell, to_cell FROM effect_move
                ) s
                JOIN enterprise e ON e.id = s.id
                LEFT JOIN grade_interval gi ON gi.grade = e.grade
                LEFT JOIN LATERAL (SELECT max(i.inspected_on) AS last FROM inspection i
                                   WHERE i.enterprise_id = e.id) li ON true
            ),
            by_grade AS (
                SELECT side, code, grade, count(*) AS n, sum(workload) AS workload,
                       count(*) FILTER (WHERE overdue) AS overdue
                FROM ent,
                     LATERAL (VALUES ('before', before_cell), ('after', after_cell)) v(side, code)
                WHERE code IS NOT NULL
                GROUP BY side, code, grade
            ),
            by_cell AS (
                SELECT side, code, jsonb_object_agg(grade, n) AS grades, sum(n)::bigint AS n,
                       sum(workload) AS workload, sum(overdue)::bigint AS overdue
                FROM by_grade GROUP BY side, code
            ),
            shapes AS (
                SELECT k.code, cur.geom AS before,
                       CASE WHEN o.code IS NOT NULL THEN o.geom
                            WHEN NOT k.code = ANY(:retire) THEN cur.geom END AS after,
                       CASE WHEN o.code IS NOT NULL THEN o.changed
                            WHEN NOT k.code = ANY(:retire) THEN false END AS changed
                FROM codes k
                LEFT JOIN cell_current cur ON cur.code = k.code
                LEFT JOIN {t} o ON o.code = k.code
            )
            SELECT k.code, b.grades AS grades_before, a.grades AS grades_after,
                   coalesce(b.n, 0) AS enterprises_before, coalesce(a.n, 0) AS enterprises_after,
                   coalesce(b.workload, 0) AS workload_before,
                   coalesce(a.workload, 0) AS workload_after,
                   coalesce(b.overdue, 0) AS overdue_before,
                   coalesce(a.overdue, 0) AS overdue_after,
                   (SELECT count(*) FROM complaint m, parent p
                    WHERE ST_Covers(k.before, m.geom) AND ST_Covers(p.geom, m.geom)
                      AND m.received_at > CAST(:today AS date) - 90) AS complaints_before,
                   (SELECT count(*) FROM complaint m, parent p
                    WHERE ST_Covers(k.after, m.geom) AND ST_Covers(p.geom, m.geom)
                      AND m.received_at > CAST(:today AS date) - 90) AS complaints_after,
                   ST_Area(k.before::geography) / 1e6 AS area_before_km2,
                   ST_Area(k.after::geography) / 1e6 AS area_after_km2,
                   k.changed
            FROM shapes k
            LEFT JOIN by_cell b ON b.side = 'before' AND b.code = k.code
            LEFT JOIN by_cell a ON a.side = 'after' AND a.code = k.code
            ORDER BY k.code"""), params).all()
        rows = [dict(r._mapping) for r in cells]
        for r in rows:
            for key in ("workload_before", "workload_after", "area_before_km2", "area_after_km2"):
                if r[key] is not None:
                    r[key] = float(r[key])
        live = [r for r in rows if r["area_after_km2"] is not None]
        average = (sum(r["workload_after"] for r in live) / len(live)) if live else 0.0
        average_before = (sum(r["workload_before"] for r in rows if r["area_before_km2"])
                          / max(1, sum(1 for r in rows if r["area_before_km2"])))
        if not whole:  # the rows are the touched cells, not the grid: no average of theirs
            average = average_before = None
        for r in rows:
            for key in ("workload_before", "workload_after"):
                r[key] = round(float(r[key]), 1)
            r["grades_before"] = r["grades_before"] or {}
            r["grades_after"] = r["grades_after"] or {}
            r["workload_change"] = round(r["workload_after"] - r["workload_before"], 1)
            r["deviation"] = (round((r["workload_after"] - average) / average, 3)
                              if average and r["area_after_km2"] is not None else None)
            r["deviation_before"] = (
                round((r["workload_before"] - average_before) / average_before, 3)
                if average_before and r["area_before_km2"] else None)
        return {"cells": rows,
                "average_workload": round(average, 1) if average is not None else None,
                "moves": [dict(m._mapping) for m in moves],
                "rises": [r["code"] for r in rows if r["workload_change"] > 0],
                "falls": [r["code"] for r in rows if r["workload_change"] < 0]}

    def commit(self, *, username: str, comment: str, valid_from: dt.datetime | None = None,
               confirm_warnings: bool = False, reverts: int | None = None,
               backdate_reason: str | None = None) -> int:
        """Validate and write the proposal as one change; returns the change id.
        ``backdate_reason``: why a change dated in the past was allowed (kept with the
        change)."""
        proposal = self.proposal
        if not comment or not comment.strip():
            raise RedrawError("comment: say why (required)")
        bad = sorted(c for c in set(proposal.geometries) | set(proposal.new_cells) | proposal.retire
                     if not is_cell_code(c))
        if bad:
            raise RedrawError(f"cell code {bad[0][:40]!r}: {CELL_CODE_RULE}")
        require_aware(valid_from)
        # Before any lock or write: a complaint taken in meanwhile is stamped against one
        # consistent boundary (gis/boundary_lock.py).
        at = boundary_lock.for_boundary_change(self.session, valid_from)
        codes = sorted(set(proposal.geometries) | proposal.retire)
        # Lock the versions being replaced, and those the editor says it started from: a
        # concurrent commit waits here, then fails the check. A cell the editor started from
        # counts even when this proposal no longer changes it (a village moved by someone else
        # meanwhile to where this one moves it): that is a conflict, not "nothing changes".
        checked = sorted(set(codes) | set(proposal.expected_versions))
        current = {r.code: r for r in self.session.execute(text("""
            SELECT c.code, c.id AS cell_id, cv.id AS version_id, cv.valid_from
            FROM cell c JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL
            WHERE c.code = ANY(:codes) FOR UPDATE OF cv"""), {"codes": checked}).all()}
        for code in checked:
            expected = proposal.expected_versions.get(code)
            have = current.get(code)
            if expected is not None and (have is None or have.version_id != expected):
                raise Conflict(f"cell {code} was changed by someone else since you started "
                               "editing; reload to see their change, then redo yours")
        for code in codes:
            if code not in current and code not in proposal.new_cells:
                raise RedrawError(f"cell {code!r} is not a live cell")
        # Validate again, after the lock: on the table staged for the preview when the rest of
        # the grid is as it was then, on a fresh one otherwise.
        if not self._still_current():
            self.stage()
        self._staged_as = None  # the table is about to become the change as written
        report = self._findings()
        if report.errors:
            raise RedrawError("the change is not valid: " + "; ".join(
                f"{f.cell or ''} {f.message}".strip() for f in report.errors[:10]))
        if report.warnings and not confirm_warnings:
            raise RedrawError("confirm the warnings first: " + "; ".join(
                f"{f.cell or ''} {f.message}".strip() for f in report.warnings[:10]))
        # A boundary given exactly as it is now is no change: it gets no new version.
        same = set(self.session.execute(self._sql("""
            UPDATE {t} o SET changed = false FROM cell_current c
            WHERE c.code = o.code AND o.changed AND ST_Equals(o.geom, c.geom)
            RETURNING o.code""")).scalars())
        for code in same:
            proposal.geometries.pop(code, None)
        codes = [c for c in codes if c not in same]
        if not (proposal.geometries or proposal.new_cells or proposal.retire):
            raise NothingChanges("nothing changes: every boundary given is the current one")
        for code in codes:
            if code in current and current[code].valid_from >= at:
                raise LaterVersion(code)
        summary = {"changed": sorted(proposal.geometries),
                   "created": sorted(proposal.new_cells), "retired": sorted(proposal.retire)}
        if backdate_reason:
            summary["backdated"] = {"reason": backdate_reason.strip()}
        change_id = self.session.execute(text("""
            INSERT INTO grid_change (valid_from, username, comment, parent_code, reverts, summary)
            VALUES (:at, :u, :c, :p, :r, CAST(:s AS jsonb)) RETURNING id"""), {
            "at": at, "u": username, "c": comment.strip(), "p": proposal.parent_code,
            "r": reverts, "s": json.dumps(summary)}).scalar()
        parent = parent_row(self.session, proposal.parent_code) if proposal.new_cells else None
        for code, name in proposal.new_cells.items():
            if self.session.execute(text("SELECT 1 FROM cell WHERE code = :c"),
                                    {"c": code}).scalar():
                raise RedrawError(f"code {code!r} exists or existed; codes are never reused")
            self.session.execute(text("""
                INSERT INTO cell (code, name, level, kind, specialty, parent_id, station_id)
                SELECT :c, :n, 3, p.kind, p.specialty, p.id, p.station_id FROM cell p
                WHERE p.id = :pid"""), {"c": code, "n": name, "pid": parent.id})
        closing = [current[c].version_id for c in codes if c in current]
        if proposal.retire:
            self.session.execute(
                text("UPDATE cell SET retired_at = :at WHERE code = ANY(:codes)"),
                {"at": at, "codes": sorted(proposal.retire)})
            # A retired cell answers for nothing from then on: its people's periods end with it.
            self.session.execute(text("""
                UPDATE responsibility r SET valid_to = :at FROM cell c
                WHERE r.cell_id = c.id AND c.code = ANY(:codes)
                  AND r.valid @> CAST(:at AS timestamptz)
                  AND r.valid_from < :at"""), {"at": at, "codes": sorted(proposal.retire)})
        # One statement closes the old versions and adds the new ones, so the enterprises of
        # the cells are assigned once, from the new boundaries (gw_sync_pieces). The INSERT
        # reads the closing's count, which makes the closing run first: the versions of one
        # cell may not overlap.
        self.session.execute(self._sql("""
            WITH closed AS (
                UPDATE cell_version SET valid_to = :at WHERE id = ANY(:ids) RETURNING id
            )
            INSERT INTO cell_version (cell_id, geom, valid_from, comment, created_by, change_id)
            SELECT c.id, ST_Multi(ST_CollectionExtract(o.geom, 3)), :at, :comment, :u, :chg
            FROM {t} o JOIN cell c ON c.code = o.code
            WHERE o.changed AND (SELECT count(*) FROM closed) >= 0"""),
            {"at": at, "comment": comment.strip(), "u": username, "chg": change_id,
             "ids": closing})
        return change_id


def check(session: Session, proposal: Proposal, tolerance_m2: float = 1.0) -> Report:
    """Every problem the proposal would cause, each with its place and size."""
    return Redraw(session, proposal, tolerance_m2).check()


def effect(session: Session, proposal: Proposal, today: dt.date | None = None) -> dict:
    """``Redraw.effect`` of a proposal staged for this call alone."""
    return Redraw(session, proposal).effect(today)


def commit(session: Session, proposal: Proposal, *, username: str, comment: str,
           valid_from: dt.datetime | None = None, confirm_warnings: bool = False,
           tolerance_m2: float = 1.0, reverts: int | None = None,
           backdate_reason: str | None = None) -> int:
    """``Redraw.commit`` of a proposal staged for this call alone."""
    return Redraw(session, proposal, tolerance_m2).commit(
        username=username, comment=comment, valid_from=valid_from,
        confirm_warnings=confirm_warnings, reverts=reverts, backdate_reason=backdate_reason)


def revert(session: Session, change_id: int, *, username: str, comment: str,
           valid_from: dt.datetime | None = None) -> int:
    """Undo a committed change by a new change restoring the boundaries it replaced."""
    change = session.execute(text("SELECT * FROM grid_change WHERE id = :i"),
                             {"i": change_id}).one_or_none()
    if change is None:
        raise RedrawError(f"change {change_id} does not exist")
    from gis import redraw_level2  # imports this module

    if redraw_level2.is_city(session, change.parent_code):  # the stations' grids, both levels
        return redraw_level2.revert(session, change, username=username, comment=comment,
                                    valid_from=valid_from)
    rows = session.execute(text("""
        SELECT c.code, ST_AsBinary(old.geom) AS wkb, now_v.version_id AS current_version,
               c.created_at >= :at AS created_by_change
        FROM cell_version v JOIN cell c ON c.id = v.cell_id
        LEFT JOIN cell_version old ON old.cell_id = c.id AND old.valid_to = v.valid_from
        LEFT JOIN cell_current now_v ON now_v.id = c.id
        WHERE v.change_id = :i"""), {"i": change_id, "at": change.at}).all()
    proposal = Proposal(change.parent_code)
    for r in rows:
        if r.wkb is None:
            proposal.retire.add(r.code)
        else:
            proposal.geometries[r.code] = shapely.from_wkb(bytes(r.wkb))
        if r.current_version is not None:
            proposal.expected_versions[r.code] = r.current_version
    return commit(session, proposal, username=username, comment=comment,
                  valid_from=valid_from, confirm_warnings=True, reverts=change_id)


def history(session: Session, code: str) -> dict:
    """A cell's timeline: boundary versions with who and why and the villages each moved, and
    its owners (``gis.history.cell_history``)."""
    return cell_history(session, code)


CELL_NAME = Field(max_length=100, min_length=1)
VERSION = Field(kind="int", min=1)


def boundary(geom, *, make_valid: bool = False, keep_invalid: bool = False):
    """The one check of a boundary someone sends, from the editor or in a file: (MultiPolygon
    to use or None, problem or None). Only polygons, and only in China (lon/lat); an invalid
    one is refused, repaired (``make_valid``) or kept for ``check`` to place on the map
    (``keep_invalid``, the editor's preview)."""
    from gis.files import plausible_in_china, polygon_problem

    geom, problem, _note = polygon_problem(geom, make_valid, keep_invalid)
    return geom, problem or (plausible_in_china(geom) if geom is not None else None)


def checked_code(field_name: str, code) -> str:
    """``code`` if it is a cell code, else a ValidationError naming ``field_name``."""
    if not is_cell_code(code):
        raise ValidationError(field_name, "a cell code is 1-32 ASCII letters, digits, '-' or "
                              "'_'", "cell_code")
    return code


def proposal_from_json(session: Session, parent_code: str, body: dict, limits) -> Proposal:
    """The grid editor's proposal (``moves`` of villages, GeoJSON ``geometries`` from a file,
    ``outlines`` drawn in the editor, ``new_cells``, ``retire``, ``expected_versions``, already
    checked for their types) for the grid ``parent_code``. Raises ValidationError naming the
    field; geometries within ``limits`` (gis/limits.py: vertices)."""
    if body["moves"]:
        proposal = village_moves(session, parent_code, {str(k): str(v)
                                                        for k, v in body["moves"].items()})
    else:
        proposal = Proposal(parent_code)
    given = boundaries_from_json("geometries", body["geometries"])
    outlines = boundaries_from_json("outlines", body.get("outlines"))
    proposal.geometries.update(given)
    check_vertices(itertools.chain(proposal.geometries.items(), outlines.items()), limits)
    for new_code, name in (body["new_cells"] or {}).items():
        proposal.new_cells[checked_code("new_cells", new_code)] = validate_fields({"name": name},
                                                       {"name": CELL_NAME})["name"]
    proposal.retire.update(checked_code("retire", code) for code in body["retire"] or [])
    for version_code, version in (body["expected_versions"] or {}).items():
        proposal.expected_versions[str(version_code)] = validate_fields(
            {"expected_versions": version}, {"expected_versions": VERSION})["expected_versions"]
    children = current_children(session, parent_code)
    for cell_code in set(proposal.geometries) | proposal.retire:
        if cell_code not in children and cell_code not in proposal.new_cells:
            raise ValidationError("geometries", f"{cell_code}: not a cell of grid "
                                  f"{parent_code}", "not_in_grid", cell=cell_code,
                                  grid=parent_code)
    for cell_code in proposal.expected_versions:
        if cell_code not in children:
            raise ValidationError("expected_versions", f"{cell_code[:40]}: not a cell of grid "
                                  f"{parent_code}", "not_in_grid", cell=cell_code[:40],
                                  grid=parent_code)
    for cell_code in outlines:
        if cell_code not in children:
            raise ValidationError("outlines", f"{cell_code}: not a cell of grid "
                                  f"{parent_code}", "not_in_grid", cell=cell_code,
                                  grid=parent_code)
    # What a file gives is snapped; what a person drew moves the neighbours along (gis/outline).
    outline.snap(session, proposal, [c for c in given if c in children])
    outline.reshape(session, proposal, outlines)
    return proposal


def boundaries_from_json(field_name: str, items) -> dict:
    """code -> MultiPolygon from a JSON object of GeoJSON geometries (``geometries``: whole
    boundaries from a file; ``outlines``: outlines edited in the editor)."""
    out = {}
    for code, geojson in (items or {}).items():
        checked_code(field_name, code)
        try:
            geom = shapely.from_geojson(json.dumps(geojson))
        except Exception:  # noqa: BLE001 - GEOS/JSON parse errors come in several kinds
            raise ValidationError(field_name, f"{code}: not a GeoJSON geometry",
                                  "not_geojson", cell=code) from None
        geom, problem = boundary(geom, keep_invalid=True)
        if problem:
            raise ValidationError(field_name, f"{code}: {problem}", "invalid")
        out[code] = geom
    return out


def audit_detail(change_id: int, proposal: Proposal, comment: str,
                 valid_from: dt.datetime | None) -> dict:
    """What the audit log keeps of a committed redraw (the reason for a past date is added
    under the name it was given by: the API's backdate_reason, the CLI's --reason)."""
    return {"change": change_id, "cells": sorted(proposal.geometries), "comment": comment,
            "valid_from": valid_from}


def proposals_from_file(session: Session, path, *, code_field: str = "code",
                        crs: str | None = None, make_valid: bool = False,
                        limits=None) -> list[Proposal]:
    """New boundaries for existing cells, from a file, grouped by parent grid (one proposal
    each). Every feature must name a live cell; problems are refused like an import's. The
    file is read within ``limits`` (gis/limits.py: features, vertices)."""
    from gis.errors import ImportRefused, Problem
    from gis.files import read_vector

    frame, _source = read_vector(path, crs, limits)
    if code_field not in frame.columns:
        raise ImportRefused(str(path), [Problem("file", f"no code field {code_field!r}")])
    parents = dict(session.execute(text("""
        SELECT c.code, p.code FROM cell c JOIN cell p ON p.id = c.parent_id
        WHERE c.retired_at IS NULL AND c.code = ANY(:codes)"""),
        {"codes": [str(v) for v in frame[code_field]]}).all())
    problems, grouped = [], {}
    for i, row in frame.iterrows():
        code = str(row[code_field]).strip()
        where = f"feature {i + 1} (code {code})"
        geom, problem = boundary(row.geometry, make_valid=make_valid)
        if code not in parents:
            problem = f"no live cell {code!r} with a parent grid"
        if problem:
            problems.append(Problem(where, problem))
            continue
        grouped.setdefault(parents[code], {})[code] = geom
    if problems:
        raise ImportRefused(str(path), problems)
    proposals = []
    for parent, geometries in sorted(grouped.items()):
        versions = {c: v["version_id"] for c, v in current_children(session, parent).items()}
        proposal = Proposal(parent, geometries,
                            expected_versions={c: versions[c] for c in geometries})
        outline.snap(session, proposal, list(geometries))
        proposals.append(proposal)
    return proposals

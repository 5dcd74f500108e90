"""Cells: import (upsert by code, versioned), export, and the shared write path the demo uses.

All geometry is lon/lat, EPSG:4326. A changed boundary never overwrites the old one: the
current version is closed at ``valid_from`` and a new version starts there. Inserting versions
fires the assignment triggers (migration 0002), so enterprises follow without a manual step;
versions are written with one statement per batch so the trigger runs once, not once per cell.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import boundary_lock
from gis.codes import CELL_CODE_RULE, is_cell_code
from gis.dates import isoformat, require_aware
from gis.errors import ImportRefused, Problem
from gis.files import plausible_in_china, polygon_problem, read_vector, write_vector
from gis.limits import Limits
from gis.models import KINDS, SPECIALTIES

Progress = Callable[[int, int], None]


@dataclass
class CellRecord:
    """One cell as a file or the demo describes it (geometry: MultiPolygon, lon/lat)."""

    code: str
    name: str
    level: int
    geom: object
    kind: str = "territorial"
    specialty: str | None = None
    parent_code: str | None = None
    station_code: str | None = None
    where: str = ""


@dataclass
class ImportSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # The earliest date the import states its rows take effect (enterprises: 纳入监管日期);
    # None: now. A date in the past marks the import as history brought in.
    dated_from: dt.datetime | None = None

    def line(self) -> str:
        return (f"inserted {self.inserted}, updated {self.updated}, "
                f"unchanged {self.unchanged}, refused {self.refused}")


def _field(row: pd.Series, name: str | None):
    if not name or name not in row.index:
        return None
    value = row[name]
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def records_from_file(
    path: str | Path,
    *,
    level: int,
    parent: str | None = None,
    kind: str = "territorial",
    specialty: str | None = None,
    code_field: str = "code",
    name_field: str = "name",
    crs: str | None = None,
    make_valid: bool = False,
    limits: Limits | None = None,
) -> tuple[list[CellRecord], list[Problem], list[str], str]:
    """Read a boundary file into cell records. Returns (records, problems, notes, source CRS)."""
    frame, source_crs = read_vector(path, crs, limits)
    problems: list[Problem] = []
    notes: list[str] = []
    records: list[CellRecord] = []
    if code_field not in frame.columns:
        raise ImportRefused(str(path), [Problem(
            "file", f"no code field {code_field!r} (fields: {', '.join(map(str, frame.columns))}); "
                    "name it with --code-field")])
    seen: dict[str, str] = {}
    for i, row in frame.iterrows():
        code = _field(row, code_field)
        where = f"feature {i + 1}" + (f" (code {code})" if code else "")
        if not code:
            problems.append(Problem(where, f"empty code field {code_field!r}"))
            continue
        if not is_cell_code(code):
            problems.append(Problem(f"feature {i + 1}",
                                    f"code {code[:40]!r} is not {CELL_CODE_RULE}"))
            continue
        if code in seen:
            problems.append(Problem(where, f"code {code} appears twice (also {seen[code]})"))
            continue
        seen[code] = where
        geom, problem, note = polygon_problem(row.geometry, make_valid)
        if problem:
            problems.append(Problem(where, problem))
            continue
        if note:
            notes.append(f"{where}: {note}")
        problem = plausible_in_china(geom)
        if problem:
            problems.append(Problem(where, problem))
            continue
        rec_kind = _field(row, "kind") or kind
        rec_specialty = _field(row, "specialty") or specialty
        records.append(CellRecord(
            code=code,
            name=_field(row, name_field) or code,
            level=level,
            geom=geom,
            kind=rec_kind,
            specialty=rec_specialty,
            parent_code=_field(row, "parent_code") or parent,
            station_code=_field(row, "station_code"),
            where=where,
        ))
    return records, problems, notes, source_crs


def _check_records(session: Session, records: list[CellRecord]) -> list[Problem]:
    problems = []
    codes = [r.code for r in records] + [r.parent_code for r in records if r.parent_code]
    known = {
        row.code: row for row in session.execute(
            text("SELECT id, code, level, kind, retired_at FROM cell WHERE code = ANY(:codes)"),
            {"codes": codes},
        )
    }
    stations = set(session.execute(text("SELECT code FROM station")).scalars())
    # A parent may arrive in the same batch (the demo writes all levels in one call).
    batch = {r.code: r for r in records}
    province = _province(session, records)
    for r in records:
        if r.level not in (0, 1, 2, 3):
            problems.append(Problem(r.where, f"level {r.level} is not 0, 1, 2 or 3"))
        if r.kind not in KINDS:
            problems.append(Problem(r.where, f"kind {r.kind!r} is not one of {', '.join(KINDS)}"))
        if r.kind == "professional" and r.specialty not in SPECIALTIES:
            problems.append(Problem(
                r.where, f"a professional cell needs a specialty ({', '.join(SPECIALTIES)})"))
        if r.kind == "territorial" and r.specialty:
            problems.append(Problem(r.where, "a territorial cell has no specialty"))
        existing = known.get(r.code)
        if existing is not None and existing.retired_at is not None:
            problems.append(Problem(
                r.where, f"code {r.code} was retired on {existing.retired_at:%Y-%m-%d}; "
                         "codes are never reused"))
        if existing is not None and existing.level != r.level:
            problems.append(Problem(
                r.where, f"cell {r.code} exists at level {existing.level}, not {r.level}"))
        if r.level == 0:
            # The province above several cities (docs/province.md): one a deployment.
            if r.parent_code:
                problems.append(Problem(r.where, "a level-0 cell (the province) has no parent"))
            if r.kind != "territorial":
                problems.append(Problem(r.where, "the province is a territorial cell"))
            if province is not None and province != r.code:
                problems.append(Problem(
                    r.where, f"the deployment's province is {province}: one province only"))
            continue
        if r.level == 1 and not r.parent_code:
            # A city is the root, or lies in the province (upsert_cells puts it there).
            continue
        if not r.parent_code:
            problems.append(Problem(
                r.where, f"a level-{r.level} cell needs a parent: pass --parent CODE "
                         "or give the file a parent_code field"))
            continue
        parent = known.get(r.parent_code)
        if parent is None and r.parent_code in batch:
            parent = batch[r.parent_code]
            parent = type("Pending", (), {"level": parent.level, "kind": parent.kind,
                                          "retired_at": None})
        if parent is None:
            problems.append(Problem(r.where, f"parent cell {r.parent_code} does not exist"))
        elif parent.retired_at is not None:
            problems.append(Problem(r.where, f"parent cell {r.parent_code} is retired"))
        elif parent.level != r.level - 1:
            problems.append(Problem(
                r.where, f"parent {r.parent_code} is level {parent.level}; "
                         f"a level-{r.level} cell needs a level-{r.level - 1} parent"))
        elif r.level == 3 and parent.kind != r.kind:
            problems.append(Problem(
                r.where, f"parent {r.parent_code} is {parent.kind}, this cell is {r.kind}"))
        if r.station_code and r.station_code not in stations:
            problems.append(Problem(r.where, f"station {r.station_code} does not exist"))
    return problems


def _province(session: Session, records: list[CellRecord]) -> str | None:
    """The code of the deployment's live province (level 0), in the database or arriving in
    ``records``; None for a deployment of one city."""
    arriving = sorted(r.code for r in records if r.level == 0)
    existing = session.execute(text(
        "SELECT code FROM cell WHERE level = 0 AND retired_at IS NULL")).scalar()
    return existing or (arriving[0] if arriving else None)


def upsert_cells(
    session: Session,
    records: list[CellRecord],
    *,
    valid_from: dt.datetime | None = None,
    comment: str | None = None,
    user: str | None = None,
    summary: ImportSummary | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Insert new cells, version changed boundaries, leave equal ones alone (idempotent).

    Runs inside the caller's transaction. Raises ImportRefused, writing nothing, when any
    record is wrong. Records are processed parents first, so one call may hold several levels.
    """
    summary = summary or ImportSummary()
    problems = _check_records(session, records)
    if problems:
        raise ImportRefused("cells", problems)
    require_aware(valid_from)
    # Before any lock or write: a complaint taken in meanwhile is stamped against one
    # consistent boundary (gis/boundary_lock.py).
    at = boundary_lock.for_boundary_change(session, valid_from)
    # One tree: with a province, every city lies in it (a city given no parent, and a city
    # that was the root before the province came).
    province = _province(session, records)
    if province is not None:
        for r in records:
            if r.level == 1 and not r.parent_code:
                r.parent_code = province
    by_level = sorted(records, key=lambda r: r.level)
    # Stage every boundary first, then write versions in one statement each way.
    session.execute(text(
        "CREATE TEMP TABLE IF NOT EXISTS stage_cell "
        "(code text PRIMARY KEY, wkb bytea, cell_id bigint) ON COMMIT DROP"))
    session.execute(text("TRUNCATE stage_cell"))
    done = 0
    for r in by_level:
        row = session.execute(text("""
            INSERT INTO cell (code, name, level, kind, specialty, parent_id, station_id)
            VALUES (:code, :name, :level, :kind, :specialty,
                    (SELECT id FROM cell WHERE code = :parent),
                    (SELECT id FROM station WHERE code = :station))
            ON CONFLICT (code) DO UPDATE SET
                name = EXCLUDED.name, kind = EXCLUDED.kind, specialty = EXCLUDED.specialty,
                parent_id = EXCLUDED.parent_id,
                station_id = coalesce(EXCLUDED.station_id, cell.station_id)
            RETURNING id, (xmax = 0) AS inserted
        """), {
            "code": r.code, "name": r.name, "level": r.level, "kind": r.kind,
            "specialty": r.specialty if r.kind == "professional" else None,
            "parent": r.parent_code, "station": r.station_code,
        }).one()
        session.execute(
            text("INSERT INTO stage_cell (code, wkb, cell_id) VALUES (:code, :wkb, :id)"),
            {"code": r.code, "wkb": shapely.to_wkb(r.geom), "id": row.id},
        )
        done += 1
        if progress:
            progress(done, len(records))
    changes = session.execute(text("""
        SELECT s.code, cv.version_id, cv.valid_from,
               cv.version_id IS NULL AS is_new,
               cv.version_id IS NOT NULL
                   AND NOT ST_Equals(cv.geom, ST_GeomFromWKB(s.wkb, 4326)) AS moved
        FROM stage_cell s
        LEFT JOIN cell_current cv ON cv.id = s.cell_id
    """)).all()
    early = [c.code for c in changes if c.moved and c.valid_from >= at]
    if early:
        raise ImportRefused("cells", [Problem(
            f"cell {code}", f"its current boundary starts on or after {at:%Y-%m-%d %H:%M}; "
                            "pass a later --valid-from") for code in early])
    moved = [c.version_id for c in changes if c.moved]
    summary.inserted += sum(1 for c in changes if c.is_new)
    summary.updated += len(moved)
    summary.unchanged += sum(1 for c in changes if not c.is_new and not c.moved)
    if moved:
        session.execute(
            text("UPDATE cell_version SET valid_to = :at WHERE id = ANY(:ids)"),
            {"at": at, "ids": moved},
        )
    session.execute(text("""
        INSERT INTO cell_version (cell_id, geom, valid_from, comment, created_by)
        SELECT s.cell_id, ST_Multi(ST_GeomFromWKB(s.wkb, 4326)), :at, :comment, :user
        FROM stage_cell s
        WHERE NOT EXISTS (
            SELECT 1 FROM cell_current cv WHERE cv.id = s.cell_id)
    """), {"at": at, "comment": comment, "user": user})
    if province is not None:
        session.execute(text("""
            UPDATE cell SET parent_id = (SELECT id FROM cell WHERE code = :p)
            WHERE level = 1 AND parent_id IS NULL"""), {"p": province})
    return summary


def import_cells(
    session: Session,
    path: str | Path,
    *,
    level: int,
    parent: str | None = None,
    kind: str = "territorial",
    specialty: str | None = None,
    code_field: str = "code",
    name_field: str = "name",
    crs: str | None = None,
    make_valid: bool = False,
    skip_invalid: bool = False,
    valid_from: dt.datetime | None = None,
    comment: str | None = None,
    user: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    confirm: bool = False,
    tolerance_m2: float = 1.0,
) -> ImportSummary:
    """``flask grid import``: read, check every feature, then upsert in the caller's transaction.

    A changed boundary of an existing level-3 cell is validated as the grid editor validates
    a redraw (gis/redraw.py): a gap it opens in its grid, or an enterprise it leaves without a
    level-3 cell, refuses the import (``NeedsConfirmation``, nothing written) unless
    ``confirm``; confirmed, they are listed in the summary's notes."""
    records, problems, notes, source_crs = records_from_file(
        path, level=level, parent=parent, kind=kind, specialty=specialty,
        code_field=code_field, name_field=name_field, crs=crs, make_valid=make_valid,
        limits=limits,
    )
    summary = ImportSummary(notes=[f"source CRS: {source_crs}", *notes])
    if not skip_invalid:
        problems += _check_records(session, records)
    else:
        bad = _check_records(session, records)
        bad_where = {p.where for p in bad}
        records = [r for r in records if r.where not in bad_where]
        problems += bad
    if problems and not skip_invalid:
        raise ImportRefused(str(path), problems)
    summary.refused = len(problems)
    summary.problems = problems
    warnings = redraw_warnings(session, records, tolerance_m2)
    if warnings and not confirm:
        raise NeedsConfirmation(str(path), warnings)
    summary.notes += [f"confirmed warning: {w}" for w in warnings]
    return upsert_cells(session, records, valid_from=valid_from, comment=comment, user=user,
                        summary=summary, progress=progress)


class NeedsConfirmation(ImportRefused):
    """The import would open gaps or leave enterprises without a level-3 cell; nothing was
    written. Importing again with ``confirm`` (``--confirm``) writes it."""

    def __str__(self) -> str:
        return (super().__str__().replace("problem(s)", "warning(s)")
                + "\ncheck them, then import again with --confirm to write it anyway")


# Of the redraw findings, those an import must not cause unnoticed.
CONFIRM_KINDS = ("gap", "uncovered")


def redraw_warnings(session: Session, records: list[CellRecord],
                    tolerance_m2: float = 1.0) -> list[Problem]:
    """Gaps and enterprises without a level-3 cell that the changed boundaries of existing
    level-3 cells would cause, grid by grid, found by gis/redraw.py's validation."""
    from gis import redraw

    rows = session.execute(text("""
        SELECT c.code, p.code AS parent_code, c.version_id, ST_AsBinary(c.geom) AS wkb
        FROM cell_current c JOIN cell p ON p.id = c.parent_id AND p.level = 2
        WHERE c.level = 3 AND c.retired_at IS NULL AND c.code = ANY(:codes)"""),
        {"codes": [r.code for r in records if r.level == 3]}).all()
    current = {r.code: r for r in rows}
    grouped: dict[str, redraw.Proposal] = {}
    for r in records:
        now = current.get(r.code)
        if now is None or shapely.equals(shapely.from_wkb(bytes(now.wkb)), r.geom):
            continue
        proposal = grouped.setdefault(now.parent_code, redraw.Proposal(now.parent_code))
        proposal.geometries[r.code] = r.geom
        proposal.expected_versions[r.code] = now.version_id
    warnings = []
    for parent_code, proposal in sorted(grouped.items()):
        for f in redraw.check(session, proposal, tolerance_m2).findings:
            if f.kind not in CONFIRM_KINDS:
                continue
            place = f" at ({f.lon:.6f}, {f.lat:.6f})" if f.lon is not None else ""
            where = f"grid {parent_code}" + (f" cell {f.cell}" if f.cell else "")
            warnings.append(Problem(where, f"{f.message}{place}"))
    return warnings


CURRENT_CELLS_SQL = """
    SELECT c.code, c.name, c.level, c.kind, c.specialty, p.code AS parent_code,
           s.code AS station_code, cv.id AS version_id, cv.valid_from, cv.geom
    FROM cell c
    JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid @> CAST(:at AS timestamptz)
    LEFT JOIN cell p ON p.id = c.parent_id
    LEFT JOIN station s ON s.id = c.station_id
    ORDER BY c.level, c.code
"""


def cells_frame(session: Session, at: dt.datetime | None = None,
                zone: str = "UTC") -> gpd.GeoDataFrame:
    """Cells with the boundary valid at ``at`` (default now), as a GeoDataFrame (EPSG:4326);
    ``valid_from`` as ISO-8601 text in ``zone`` (the bureau's: a reader sees the local day)."""
    require_aware(at, "at")
    at = at or session.execute(text("SELECT now()")).scalar()
    frame = gpd.read_postgis(
        text(CURRENT_CELLS_SQL), session.connection(), geom_col="geom", params={"at": at},
        crs=4326,
    )
    frame["valid_from"] = [isoformat(t.to_pydatetime(), zone) for t in frame["valid_from"]]
    return frame


def export_cells(session: Session, path: str | Path, at: dt.datetime | None = None,
                 zone: str = "UTC") -> int:
    frame = cells_frame(session, at, zone)
    write_vector(frame, path)
    return len(frame)

"""The field work of supervision: inspections, complaint handling, cell owners; and the
targets (enterprise, cell, complaint) permissions are judged at. Each write
runs in the caller's transaction; history is closed and added to, never rewritten. Reference
data (intervals, the checklist) is gis/reference.py."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import rectification
from gis.crs import check_lonlat, gcj02_to_wgs84, parse_coordinate
from gis.errors import GridWatchError, ValidationError
from gis.users import cell_path


class NotFound(GridWatchError):
    """The named enterprise, cell, complaint or person does not exist. ``kind`` and ``name``
    let the web layer say it in the user's language."""

    def __init__(self, kind: str, name):
        super().__init__(f"{kind} {name!r} does not exist")
        self.kind = kind
        self.name = str(name)


def enterprise_target(session: Session, management_code: str) -> tuple[int, tuple[int, ...]]:
    """(enterprise id, path of its current cell) — the place permissions are judged at."""
    row = session.execute(text("""
        SELECT e.id, ec.cell_id FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE e.management_code = :c"""), {"c": management_code}).one_or_none()
    if row is None:
        raise NotFound("enterprise", management_code)
    return row.id, cell_path(session, row.cell_id)


def cell_target(session: Session, code: str) -> tuple[int, tuple[int, ...]]:
    cell_id = session.execute(text("SELECT id FROM cell WHERE code = :c AND retired_at IS NULL"),
                              {"c": code}).scalar()
    if cell_id is None:
        raise NotFound("cell", code)
    return cell_id, cell_path(session, cell_id)


def checklist_codes(session: Session) -> set[str]:
    return set(session.execute(text(
        "SELECT code FROM checklist_item WHERE active")).scalars())


# What an item's result may be; "n/a" is how rows before the phone form said "na".
RESULTS = {"pass": "pass", "fail": "fail", "na": "na", "n/a": "na"}


@dataclass(frozen=True)
class Location:
    """Where the device stood, as it sent it: ``crs`` "wgs84" (GPS) or "gcj02" (a Chinese map
    app's coordinates, converted here)."""

    lon: float
    lat: float
    crs: str = "wgs84"

    def wgs84(self) -> tuple[float, float]:
        if self.crs == "gcj02":
            lon, lat = gcj02_to_wgs84(self.lon, self.lat)
            return float(lon), float(lat)
        return self.lon, self.lat


def parse_location(value) -> Location | None:
    """{"lon", "lat", "crs"} from a request body; errors name the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("location", "expected an object with lon, lat and crs",
                              "expected_object")
    unknown = sorted(set(value) - {"lon", "lat", "crs", "accuracy"})
    if unknown:
        raise ValidationError(f"location.{unknown[0]}", "unknown field", "unknown_field")
    crs = value.get("crs") or "wgs84"
    if crs not in ("wgs84", "gcj02"):
        raise ValidationError("location.crs", "must be wgs84 or gcj02", "choices",
                              choices="wgs84, gcj02")
    try:
        lon, lat = parse_coordinate(value.get("lon")), parse_coordinate(value.get("lat"))
    except ValueError:
        raise ValidationError("location", "lon and lat must be numbers",
                              "expected_float") from None
    problem = check_lonlat(lon, lat)
    if problem:
        from gis.lookup import REASON_CODES

        code, blame = REASON_CODES.get(problem, ("out_of_range", "lon"))
        raise ValidationError(f"location.{blame}", problem, code)
    return Location(lon, lat, crs)


@dataclass(frozen=True)
class Recorded:
    id: int
    created: bool
    distance_m: float | None
    far_from_site: bool | None
    rectifications: tuple[int, ...] = ()


class ClientIdReused(GridWatchError):
    """The phone's id names an inspection of another enterprise: a bug on the phone, never
    the same inspection sent twice."""

    def __init__(self, client_id):
        super().__init__(f"client_id {client_id} belongs to another inspection")
        self.client_id = str(client_id)


def _existing(session: Session, client_id, enterprise_id: int) -> Recorded | None:
    row = session.execute(text("""
        SELECT id, enterprise_id, distance_m, far_from_site FROM inspection
        WHERE client_id = :c"""), {"c": client_id}).one_or_none()
    if row is None:
        return None
    if row.enterprise_id != enterprise_id:
        raise ClientIdReused(client_id)
    rects = tuple(session.execute(text(
        "SELECT id FROM rectification WHERE inspection_id = :i ORDER BY id"),
        {"i": row.id}).scalars())
    return Recorded(row.id, False, row.distance_m, row.far_from_site, rects)


def record_inspection(session: Session, enterprise_id: int, *, inspector_person_id: int | None,
                      inspected_on: dt.date, results: dict[str, str], problems: str | None,
                      rectification_deadline: dt.date | None, client_id=None,
                      location: Location | None = None, notes: dict[str, str] | None = None,
                      second_inspector_id: int | None = None, username: str | None = None,
                      far_metres: float = 300.0) -> Recorded:
    """Record one checklist inspection; each failed item opens a rectification with the
    deadline. With ``client_id`` (the phone's UUID) a second send of the same inspection
    returns the first one and writes nothing."""
    if client_id is not None:
        found = _existing(session, client_id, enterprise_id)
        if found is not None:
            return found
    codes = checklist_codes(session)
    unknown = sorted(set(results) - codes)
    if unknown:
        raise ValidationError("results", f"unknown checklist item {unknown[0]!r}",
                              "unknown_item", item=unknown[0])
    bad = sorted(k for k, v in results.items() if v not in RESULTS)
    if bad:
        raise ValidationError("results", f"item {bad[0]!r} must be pass, fail or na",
                              "item_result", item=bad[0])
    results = {k: RESULTS[v] for k, v in results.items()}
    notes = {k: v.strip() for k, v in (notes or {}).items() if isinstance(v, str) and v.strip()}
    stray = sorted(set(notes) - set(results))
    if stray:
        raise ValidationError("notes", f"a note for item {stray[0]!r}, which has no result",
                              "note_without_result", item=stray[0])
    failed = sorted(k for k, v in results.items() if v == "fail")
    if failed and rectification_deadline is None:
        raise ValidationError("rectification_deadline", "required when an item fails",
                              "deadline_required")
    if rectification_deadline is not None and rectification_deadline < inspected_on:
        raise ValidationError("rectification_deadline", "before the inspection date",
                              "before", other="inspected_on")
    if second_inspector_id is not None and second_inspector_id == inspector_person_id:
        raise ValidationError("second_inspector", "the same person as the inspector",
                              "same_inspector")
    lon = lat = None
    if location is not None:
        lon, lat = location.wgs84()
    row = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, second_inspector_id, inspected_on,
                                results, notes, problems_found, problems,
                                rectification_deadline, rectification_status, client_id,
                                username, location, location_crs, distance_m, far_from_site)
        SELECT :e, :i, :i2, :d, CAST(:r AS jsonb), CAST(:notes AS jsonb), :n, :p, :dl, :st,
               :cid, :u, loc, :crs,
               ST_Distance(loc::geography, e.geom::geography),
               ST_Distance(loc::geography, e.geom::geography) >= :far
        FROM enterprise e,
             LATERAL (SELECT CASE WHEN CAST(:lon AS float8) IS NOT NULL THEN
                 ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END AS loc) l
        WHERE e.id = :e
        ON CONFLICT (client_id) DO NOTHING
        RETURNING id, distance_m, far_from_site"""), {
        "e": enterprise_id, "i": inspector_person_id, "i2": second_inspector_id,
        "d": inspected_on, "r": json.dumps(results), "notes": json.dumps(notes, ensure_ascii=False),
        "n": len(failed), "p": problems, "dl": rectification_deadline,
        "st": "open" if failed else "none", "cid": client_id, "u": username,
        "lon": lon, "lat": lat, "crs": location.crs if location else None,
        "far": far_metres}).one_or_none()
    if row is None:  # the same client_id committed by a concurrent send
        return _existing(session, client_id, enterprise_id)
    titles = dict(session.execute(text(
        "SELECT code, title FROM checklist_item WHERE code = ANY(:c)"), {"c": failed}).all())
    rects = tuple(
        rectification.open_rectification(
            session, enterprise_id=enterprise_id, inspection_id=row.id, item_code=code,
            problem=titles[code] + ("：" + notes[code] if code in notes else ""),
            deadline=rectification_deadline, username=username, person_id=inspector_person_id)
        for code in failed)
    return Recorded(row.id, True, row.distance_m, row.far_from_site, rects)


def person_of(session: Session, who: str) -> int:
    """The roster person named by an account's username or a person code."""
    pid = session.execute(text("""
        SELECT coalesce((SELECT person_id FROM app_user WHERE username = :w),
                        (SELECT id FROM person WHERE code = :w))"""), {"w": who}).scalar()
    if pid is None:
        raise NotFound("person", who)
    return pid


def set_cell_owner(session: Session, cell_id: int, person_id: int,
                   valid_from: dt.datetime | None = None) -> bool:
    """Hand a cell to a new owner from ``valid_from`` (default now): the current owner's
    period is closed there, the new one opens. Past answers stay answerable. False when that
    person already owns the cell then (nothing is written). The general form, for every kind
    of responsibility, is gis.people.assign."""
    from gis import people

    code = session.execute(text("SELECT code FROM cell WHERE id = :c"), {"c": cell_id}).scalar()
    if code is None:
        raise NotFound("cell", cell_id)
    return people.assign(session, people.target(session, "owner", code), person_id, valid_from)

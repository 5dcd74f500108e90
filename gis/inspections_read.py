"""Inspections read back: an enterprise's, or a cell's, with their results, the problems they
opened (rectifications) and their photos.

A cell's inspections are those of the enterprises that were in it (or in a cell inside it) on
the day of the inspection, as that day closed in the bureau's zone (the "as of" rule of
gis/dates.py): an enterprise that has since moved, or whose cell was retired, stays in the
history of the cell it was in then, so a retired cell's inspections remain answerable.

Permissions are the caller's (``view`` at the enterprise's or the cell's path). Results speak
the API's words: an item not applicable is "na" (older rows store "n/a"). Dates are ISO
strings; distances metres on the spheroid; locations (lon, lat) WGS 84.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.fieldwork import NotFound
from gis.rectification import LATE_SQL
from gis.users import cell_path

# The inspections asked for: an enterprise's (:e), or those of the enterprises in the subtree
# of cell :cell on their day; between :start and :end (either may be NULL).
_MATCHED = """
    WITH RECURSIVE sub(id) AS (
        SELECT id FROM cell WHERE id = CAST(:cell AS bigint)
        UNION
        SELECT c.id FROM cell c JOIN sub ON c.parent_id = sub.id
    )
    SELECT i.* FROM inspection i
    WHERE (CAST(:e AS bigint) IS NULL OR i.enterprise_id = :e)
      AND (CAST(:cell AS bigint) IS NULL OR EXISTS (
            SELECT 1 FROM enterprise_cell ec
            WHERE ec.enterprise_id = i.enterprise_id
              AND ec.cell_id IN (SELECT id FROM sub)
              AND ec.valid @> (((i.inspected_on + 1)::timestamp - interval '1 microsecond')
                               AT TIME ZONE :zone)))
      AND (CAST(:start AS date) IS NULL OR i.inspected_on >= :start)
      AND (CAST(:end AS date) IS NULL OR i.inspected_on <= :end)
"""


def cell_id(session: Session, code: str) -> tuple[int, tuple[int, ...]]:
    """(id, path) of the cell ``code``, retired or not (its history is still read)."""
    found = session.execute(text("SELECT id FROM cell WHERE code = :c"), {"c": code}).scalar()
    if found is None:
        raise NotFound("cell", code)
    return found, cell_path(session, found)


def inspections(session: Session, *, zone: str, today: dt.date,
                enterprise_id: int | None = None, cell_id: int | None = None,
                start: dt.date | None = None, end: dt.date | None = None,
                limit: int = 50, offset: int = 0) -> dict:
    """{"total", "inspections"}: a page of the enterprise's or the cell's inspections, newest
    first. ``today`` (the bureau's date) decides which open rectifications are late."""
    if (enterprise_id is None) == (cell_id is None):
        raise ValueError("an enterprise or a cell")
    params = {"e": enterprise_id, "cell": cell_id, "zone": zone, "start": start, "end": end}
    total = session.execute(text(f"SELECT count(*) FROM ({_MATCHED}) m"), params).scalar()
    rows = session.execute(text(f"""
        WITH page AS ({_MATCHED} ORDER BY i.inspected_on DESC, i.id DESC
                      LIMIT :limit OFFSET :offset)
        SELECT page.id, page.client_id, page.inspected_on, page.results, page.notes,
               page.distance_m, page.far_from_site, ST_X(page.location) AS lon,
               ST_Y(page.location) AS lat, e.management_code, e.name AS enterprise_name,
               p1.code AS inspector_code, p1.name AS inspector_name,
               p2.code AS second_code, p2.name AS second_name
        FROM page JOIN enterprise e ON e.id = page.enterprise_id
        LEFT JOIN person p1 ON p1.id = page.inspector_id
        LEFT JOIN person p2 ON p2.id = page.second_inspector_id
        ORDER BY page.inspected_on DESC, page.id DESC"""),
        {**params, "limit": limit, "offset": offset}).all()
    ids = [r.id for r in rows]
    problems = _problems(session, ids, zone, today)
    photos = _photos(session, ids, [p["id"] for ps in problems.values() for p in ps])
    for ps in problems.values():
        for p in ps:
            p["photos"] = photos["rectification"].get(p["id"], [])
    return {"total": total, "inspections": [
        _inspection(r, problems.get(r.id, []), photos["inspection"].get(r.id, []))
        for r in rows]}


def _person(code, name) -> dict | None:
    return None if code is None and name is None else {"code": code, "name": name}


def _inspection(r, problems: list[dict], photos: list[dict]) -> dict:
    return {
        "id": r.id,
        "client_id": None if r.client_id is None else str(r.client_id),
        "enterprise": r.management_code,
        "enterprise_name": r.enterprise_name,
        "inspected_on": r.inspected_on.isoformat(),
        "inspector": _person(r.inspector_code, r.inspector_name),
        "second_inspector": _person(r.second_code, r.second_name),
        "results": {k: normalise_result(v) for k, v in (r.results or {}).items()},
        "notes": r.notes or {},
        "problems": problems,
        "location": None if r.lon is None else {"lon": r.lon, "lat": r.lat},
        "distance_m": None if r.distance_m is None else round(r.distance_m, 1),
        "far_from_site": r.far_from_site,
        "photos": photos,
    }


def normalise_result(value: str) -> str:
    """A checklist result as the API says it: pass, fail or na (stored "n/a" is "na")."""
    return "na" if value == "n/a" else value


def _problems(session: Session, ids: list[int], zone: str, today: dt.date) -> dict:
    """{inspection id: [its rectifications]}, late as gis.rectification says it."""
    out: dict[int, list[dict]] = {}
    for r in session.execute(text(f"""
        SELECT r.id, r.inspection_id, r.item_code, r.problem, r.deadline, r.status,
               ({LATE_SQL}) > 0 AS late
        FROM rectification r WHERE r.inspection_id = ANY(CAST(:ids AS bigint[]))
        ORDER BY r.inspection_id, r.item_code NULLS LAST, r.id"""),
            {"ids": ids, "zone": zone, "today": today}):
        out.setdefault(r.inspection_id, []).append({
            "id": r.id, "item_code": r.item_code, "problem": r.problem,
            "deadline": r.deadline.isoformat(), "status": r.status, "late": bool(r.late)})
    return out


def _photos(session: Session, inspection_ids: list[int], rectification_ids: list[int]) -> dict:
    """{"inspection": {id: [photos]}, "rectification": {id: [photos]}}, each photo id,
    media_type, distance_m, far_from_site (the caller adds where to fetch it)."""
    out: dict[str, dict[int, list[dict]]] = {"inspection": {}, "rectification": {}}
    rows = session.execute(text("""
        SELECT id, inspection_id, rectification_id, media_type, distance_m, far_from_site
        FROM photo
        WHERE inspection_id = ANY(CAST(:i AS bigint[]))
           OR rectification_id = ANY(CAST(:r AS bigint[]))
        ORDER BY id"""), {"i": inspection_ids, "r": rectification_ids})
    for p in rows:
        kind, key = (("inspection", p.inspection_id) if p.inspection_id is not None
                     else ("rectification", p.rectification_id))
        out[kind].setdefault(key, []).append({
            "id": p.id, "media_type": p.media_type,
            "distance_m": None if p.distance_m is None else round(p.distance_m, 1),
            "far_from_site": p.far_from_site})
    return out

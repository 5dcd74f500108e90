"""What the boundaries' history says to a person: a cell's versions and owners, one change with
the villages it moved, a grid's changes in order.

Areas are km² on the spheroid; dates are as stored (aware), for the adapters to show in the
bureau's zone. People are named by their display name (the username when they have none).
A village belongs to the cell that covers a point inside it (``ST_PointOnSurface``), as the
editor's village layer and ``gis.redraw.village_moves`` decide it.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# The name a username stands for.
_WHO = """coalesce((SELECT nullif(trim(u.display_name), '') FROM app_user u
                    WHERE u.username = {col}), {col})"""


def grid_changes(session: Session, parent_code: str, limit: int = 20) -> list[dict]:
    """The grid's latest changes, newest first: id, valid_from, who, comment, reverts and how
    many cells each changed."""
    return [dict(r._mapping) for r in session.execute(text(f"""
        SELECT g.id, g.valid_from, g.at, {_WHO.format(col='g.username')} AS who, g.comment,
               g.reverts,
               (SELECT count(*) FROM cell_version cv WHERE cv.change_id = g.id) AS cells
        FROM grid_change g WHERE g.parent_code = :p
        ORDER BY g.id DESC LIMIT :n"""), {"p": parent_code, "n": limit})]


_MOVED_VILLAGES = """
WITH chg AS (SELECT id, valid_from FROM grid_change WHERE id = :i),
after AS (
    SELECT c.code, c.name, c.level, cv.geom FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE cv.change_id = :i
),
-- The versions the change closed: those of its cells (new, or retired by it) that ended as it
-- began.
before AS (
    SELECT c.code, c.name, c.level, cv.geom FROM cell_version cv
    JOIN cell c ON c.id = cv.cell_id, chg
    WHERE cv.valid_to = chg.valid_from
      AND (c.code IN (SELECT code FROM after)
           OR c.code IN (SELECT jsonb_array_elements_text(g.summary -> 'retired')
                         FROM grid_change g WHERE g.id = :i))
),
area AS (SELECT ST_Collect(geom) AS g FROM (SELECT geom FROM before UNION ALL
                                             SELECT geom FROM after) x),
-- A change of the stations' grids redraws two levels (gis/redraw_level2.py): a village moves
-- between grids and between cells, each level on its own.
levels AS (SELECT DISTINCT level FROM after)
SELECT v.code, v.name, o.code AS from_code, o.name AS from_name, n.code AS to_code,
       n.name AS to_name, l.level
FROM village v, area, levels l
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(v.geom) AS pt) p
LEFT JOIN LATERAL (SELECT code, name FROM before WHERE level = l.level
                   AND ST_Covers(geom, p.pt) ORDER BY code LIMIT 1) o ON true
LEFT JOIN LATERAL (SELECT code, name FROM after WHERE level = l.level
                   AND ST_Covers(geom, p.pt) ORDER BY code LIMIT 1) n ON true
WHERE v.geom && area.g AND o.code IS NOT NULL AND n.code IS NOT NULL AND o.code <> n.code
ORDER BY l.level, o.code, n.code, v.code
"""


def moved_villages(session: Session, change_id: int) -> list[dict]:
    """The villages a change moved from one cell to another: code, name, from_code/from_name,
    to_code/to_name, and the level of those cells (a change of the stations' grids moves a
    village at levels 2 and 3)."""
    return [dict(r._mapping) for r in session.execute(text(_MOVED_VILLAGES),
                                                      {"i": change_id})]


def change_record(session: Session, change_id: int) -> dict | None:
    """One change as its page shows it, or None: who, when, why, its grid, the cells it
    changed (area before and after), created and retired, the villages it moved, what it
    reverts and what reverted it, and the grid's previous and next change."""
    row = session.execute(text(f"""
        SELECT g.id, g.at, g.valid_from, g.username, {_WHO.format(col='g.username')} AS who,
               g.comment, g.parent_code, g.reverts, g.summary,
               (SELECT name FROM cell WHERE code = g.parent_code) AS parent_name,
               (SELECT min(id) FROM grid_change r WHERE r.reverts = g.id) AS reverted_by,
               (SELECT max(id) FROM grid_change o
                WHERE o.parent_code = g.parent_code AND o.id < g.id) AS previous,
               (SELECT min(id) FROM grid_change o
                WHERE o.parent_code = g.parent_code AND o.id > g.id) AS next
        FROM grid_change g WHERE g.id = :i"""), {"i": change_id}).one_or_none()
    if row is None:
        return None
    out = dict(row._mapping)
    out["cells"] = [dict(r._mapping) for r in session.execute(text("""
        SELECT c.code, c.name,
               round((ST_Area(old.geom::geography) / 1e6)::numeric, 3) AS area_before_km2,
               round((ST_Area(cv.geom::geography) / 1e6)::numeric, 3) AS area_after_km2
        FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        JOIN grid_change g ON g.id = cv.change_id
        LEFT JOIN cell_version old ON old.cell_id = c.id AND old.valid_to = g.valid_from
        WHERE cv.change_id = :i ORDER BY c.code"""), {"i": change_id})]
    summary = out.pop("summary") or {}
    names = dict(session.execute(text("SELECT code, name FROM cell WHERE code = ANY(:c)"), {
        "c": list(summary.get("created", [])) + list(summary.get("retired", []))}).all())
    out["created"] = [{"code": c, "name": names.get(c)} for c in summary.get("created", [])]
    out["retired"] = [{"code": c, "name": names.get(c)} for c in summary.get("retired", [])]
    out["backdate_reason"] = (summary.get("backdated") or {}).get("reason")
    moved = moved_villages(session, change_id)
    # The deepest level: the cells a village left and joined (their codes name the grid).
    out["villages"] = [v for v in moved if v["level"] == max(m["level"] for m in moved)]
    return out


def cell_history(session: Session, code: str) -> dict:
    """A cell's timeline: its name and grid, boundary versions with who (display name) and
    why, and for each version made by a change the villages it brought in or sent away; its
    owners."""
    cell = session.execute(text("""
        SELECT c.code, c.name, c.retired_at, p.code AS parent_code, p.name AS parent_name
        FROM cell c LEFT JOIN cell p ON p.id = c.parent_id WHERE c.code = :c"""),
        {"c": code}).one_or_none()
    versions = [dict(r._mapping) for r in session.execute(text(f"""
        SELECT cv.id, cv.valid_from, cv.valid_to, cv.created_by,
               {_WHO.format(col='cv.created_by')} AS who, cv.comment, cv.change_id,
               g.reverts, g.summary -> 'backdated' ->> 'reason' AS backdate_reason,
               round((ST_Area(cv.geom::geography) / 1e6)::numeric, 3) AS area_km2
        FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        LEFT JOIN grid_change g ON g.id = cv.change_id
        WHERE c.code = :c ORDER BY cv.valid_from DESC"""), {"c": code})]
    for version in versions:
        moved = moved_villages(session, version["change_id"]) if version["change_id"] else []
        version["villages_in"] = [v for v in moved if v["to_code"] == code]
        version["villages_out"] = [v for v in moved if v["from_code"] == code]
    owners = [dict(r._mapping) for r in session.execute(text("""
        SELECT p.name, p.phone, r.valid_from, r.valid_to FROM responsibility r
        JOIN cell c ON c.id = r.cell_id JOIN person p ON p.id = r.person_id
        WHERE c.code = :c AND r.role = 'owner' ORDER BY r.valid_from DESC"""), {"c": code})]
    out = {"code": code, "versions": versions, "owners": owners}
    if cell is not None:
        out.update(name=cell.name, retired_at=cell.retired_at, parent_code=cell.parent_code,
                   parent_name=cell.parent_name)
    return out

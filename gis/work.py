"""An inspector's day (我的工作): the enterprises of their cells due this month or overdue, the
rectifications and complaints open there, the checklist and the cells' outlines, in one answer
the phone keeps for when there is no signal.

"Their cells" are the places where the user may record inspections (gis.policy: the inspector
role's cells and everything inside them), not the rest of the station's grid they may read.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.policy import cells_within
from gis.wall import ENTERPRISES_CTE

# A phone keeps this many at most (a cell has a few hundred): every enterprise of the cells,
# so the form opens for any of them without signal, not only those due.
MAX_ENTERPRISES = 3000


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def field_cells(session: Session, places: list[int]) -> list[int]:
    """The live cells at or inside ``places``."""
    return cells_within(session, places, live=True)


def my_work(session: Session, cells: list[int], today: dt.date, zone: str) -> dict:
    """What the work page shows and the phone caches, for the cells ``cells``: every
    enterprise, soonest due first (those due by ``month_end`` are the work list)."""
    end = month_end(today)
    due = session.execute(text(f"""
        WITH {ENTERPRISES_CTE}
        SELECT management_code AS code, name, grade, address, contact_name, contact_phone,
               cell_code AS cell, last_inspected, due_on, overdue,
               ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM enterprise_status
        ORDER BY due_on, management_code LIMIT :n"""), {
        "cells": cells, "today": today, "bbox": None, "n": MAX_ENTERPRISES}).all()
    rects = session.execute(text("""
        SELECT r.id, e.management_code AS enterprise, e.name, r.item_code, r.problem,
               r.deadline, r.status, c.code AS cell,
               (r.deadline < :today) AS late, greatest(:today - r.deadline, 0) AS days_late
        FROM rectification r
        JOIN enterprise e ON e.id = r.enterprise_id
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id
        WHERE r.status <> 'verified' AND ec.cell_id = ANY(CAST(:cells AS bigint[]))
        ORDER BY r.deadline, r.id"""), {"cells": cells, "today": today}).all()
    # Where they are handled now (a complaint handed to another cell goes with it); overdue
    # (逾期) ones first: past the time their matter allows (gis/complaints.py).
    complaints = session.execute(text("""
        SELECT k.number, k.received_at, k.text, k.category, k.status, c.code AS cell,
               ST_X(k.geom) AS lon, ST_Y(k.geom) AS lat, k.due_at,
               coalesce(k.due_at < now(), false) AS overdue
        FROM complaint k JOIN cell c ON c.id = coalesce(k.assigned_cell_id, k.cell_id)
        WHERE k.status <> 'closed'
          AND coalesce(k.assigned_cell_id, k.cell_id) = ANY(CAST(:cells AS bigint[]))
        ORDER BY coalesce(k.due_at < now(), false) DESC, k.due_at, k.received_at"""),
        {"cells": cells}).all()
    outlines = session.execute(text("""
        SELECT coalesce(json_agg(json_build_object(
            'type', 'Feature',
            'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.00005), 6)::json,
            'properties', json_build_object('code', code, 'name', name))), '[]')
        FROM cell_current WHERE id = ANY(CAST(:cells AS bigint[])) AND level = 3"""),
        {"cells": cells}).scalar()
    # Quality warnings of their cells (gis/quality_warnings.py): the web layer words them.
    from gis.quality_warnings import warnings as quality_warnings

    found = quality_warnings(session, cells=cells, today=today, zone=zone)
    checklist = session.execute(text("""
        SELECT code, title, coalesce(category, '') AS category FROM checklist_item
        WHERE active ORDER BY sort_order, code""")).all()

    def day(value):
        return value.isoformat() if value else None

    return {
        "today": today.isoformat(),
        "month_end": end.isoformat(),
        "enterprises": [{**r._mapping, "last_inspected": day(r.last_inspected),
                 "due_on": day(r.due_on)} for r in due],
        "rectifications": [{**r._mapping, "deadline": day(r.deadline)} for r in rects],
        "complaints": [{**r._mapping, "received_at": day(
            r.received_at.astimezone(_zone(zone)).date()), "due_at": day(
            r.due_at.astimezone(_zone(zone)).date() if r.due_at else None)}
            for r in complaints],
        "cells": {"type": "FeatureCollection",
                  "features": outlines if isinstance(outlines, list) else json.loads(outlines)},
        "checklist": [dict(r._mapping) for r in checklist],
        "warnings": found,
    }


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)

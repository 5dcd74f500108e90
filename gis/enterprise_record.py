"""An enterprise's record (企业档案): what an inspector needs in front of its gate.

Basic data, products, staff, key equipment, the grade and its dated history, inspections with
their results and rectification, and the chain of responsibility: the cell it is in now with
the three responsibilities (enterprise / department / government, as the lookup answers
them), and every cell it was in with the owner answering for it at each date (falling back to
the parent's owner where a cell had none: gw_cell_owner, gis/sql/owners.sql).

Permissions are the caller's: the web layer asks ``gis.policy.can(grants, "view", path)`` of
the enterprise's current cell before calling (an enterprise outside one's area is answered as
one that does not exist). Dates come back as stored (aware datetimes, dates); the caller shows
them in the bureau's zone.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.lookup import enterprise_responsible
from gis.wall import ENTERPRISES_CTE

BASIC_SQL = """
    SELECT e.id, e.management_code, e.name, e.credit_code, e.address, e.industry, e.specialty,
           e.grade, e.contact_name, e.contact_phone, e.products AS products_summary,
           e.staff_count, e.key_equipment AS equipment_summary, e.valid_from AS supervised_from,
           e.source_crs, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
    FROM enterprise e WHERE e.management_code = :code"""

# Each period the enterprise spent in a cell, cut wherever the owner answering for that cell
# (its own or, lacking one, an ancestor's) may have changed; gw_cell_owner answers at each cut.
OWNERS_SQL = """
    WITH periods AS (
        SELECT ec.cell_id, ec.valid_from, ec.valid_to, ec.on_edge
        FROM enterprise_cell ec WHERE ec.enterprise_id = :e
    ), cuts AS (
        SELECT p.*, p.valid_from AS at FROM periods p
        UNION
        SELECT p.*, m.at FROM periods p
        JOIN LATERAL (
            SELECT unnest(ARRAY[r.valid_from, r.valid_to]) AS at FROM responsibility r
            WHERE r.role = 'owner' AND r.cell_id = ANY(gw_cell_path(p.cell_id))
        ) m ON m.at > p.valid_from AND (p.valid_to IS NULL OR m.at < p.valid_to)
    )
    SELECT cuts.cell_id, cuts.valid_from AS period_from, cuts.valid_to AS period_to,
           cuts.on_edge, cuts.at, c.code AS cell_code, c.name AS cell_name,
           g.code AS grid_code, g.name AS grid_name, s.name AS station_name,
           s.phone AS station_phone, o.person_id, p.name AS owner_name,
           p.phone AS owner_phone, oc.code AS owner_cell_code
    FROM cuts
    LEFT JOIN cell c ON c.id = cuts.cell_id
    LEFT JOIN cell g ON g.id = c.parent_id
    LEFT JOIN station s ON s.id = coalesce(c.station_id, g.station_id)
    LEFT JOIN LATERAL gw_cell_owner(cuts.cell_id, cuts.at) o ON cuts.cell_id IS NOT NULL
    LEFT JOIN person p ON p.id = o.person_id
    LEFT JOIN cell oc ON oc.id = o.from_cell_id
    ORDER BY cuts.valid_from, cuts.at"""


def owner_history(session: Session, enterprise_id: int) -> list[dict]:
    """Who answered for the enterprise's place, period by period, newest first: the cell
    (None: outside every cell), its second-level grid and station, and the owner over
    ``[valid_from, valid_to)`` with the cell the ownership came from (``inherited`` when it
    fell to a parent)."""
    rows = [dict(r._mapping) for r in session.execute(text(OWNERS_SQL), {"e": enterprise_id})]
    history: list[dict] = []
    for i, r in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        same_period = following is not None and following["period_from"] == r["period_from"]
        until = following["at"] if same_period else r["period_to"]
        last = history[-1] if history else None
        if (last is not None and last["period_from"] == r["period_from"]
                and last["person_id"] == r["person_id"]
                and last["owner_cell_code"] == r["owner_cell_code"]):
            last["valid_to"] = until
            continue
        history.append(dict(r, valid_from=r["at"], valid_to=until,
                            inherited=r["owner_cell_code"] not in (None, r["cell_code"])))
    for entry in history:
        for key in ("at", "period_to"):
            entry.pop(key)
    return history[::-1]


def enterprise_record(session: Session, management_code: str, *,
                      today: dt.date) -> dict | None:
    """Everything the enterprise page shows; None when there is no such enterprise.
    ``today``: the bureau's date, for what is overdue (inspections, rectification, equipment
    due for its periodic inspection)."""
    basic = session.execute(text(BASIC_SQL), {"code": management_code}).one_or_none()
    if basic is None:
        return None
    record = dict(basic._mapping)
    e = record["id"]
    status = session.execute(text(f"""
        WITH {ENTERPRISES_CTE}
        SELECT last_inspected, interval_days, due_on, overdue, cell_code, cell_name, on_edge
        FROM enterprise_status WHERE id = :e"""),
        {"e": e, "cells": None, "today": today, "bbox": None}).one()
    record["status"] = dict(status._mapping)
    record["chain"] = enterprise_responsible(session, management_code)
    record["owners"] = owner_history(session, e)
    record["products"] = _rows(session, """
        SELECT name, standard, licence FROM enterprise_product WHERE enterprise_id = :e
        ORDER BY id""", e)
    record["staff"] = _rows(session, """
        SELECT name, position, phone, certificate FROM enterprise_staff WHERE enterprise_id = :e
        ORDER BY id""", e)
    record["equipment"] = _rows(session, """
        SELECT name, model, quantity, registration, next_due,
               next_due < CAST(:today AS date) AS lapsed
        FROM enterprise_equipment WHERE enterprise_id = :e ORDER BY id""", e, today=today)
    record["grades"] = _rows(session, """
        SELECT g.grade, g.reason, g.valid_from, g.valid_to, gi.interval_days
        FROM enterprise_grade g LEFT JOIN grade_interval gi ON gi.grade = g.grade
        WHERE g.enterprise_id = :e ORDER BY g.valid_from DESC""", e)
    record["inspections"] = _rows(session, """
        SELECT i.inspected_on, p.name AS inspector, p.phone AS inspector_phone,
               i.problems_found, i.problems, i.rectification_deadline,
               i.rectification_status, i.rectified_on,
               (SELECT count(*) FROM jsonb_each_text(i.results)) AS checked,
               (SELECT count(*) FROM jsonb_each_text(i.results) r
                WHERE r.value = 'fail') AS failed,
               (i.rectification_status = 'open'
                AND i.rectification_deadline < CAST(:today AS date)) AS rectification_overdue
        FROM inspection i LEFT JOIN person p ON p.id = i.inspector_id
        WHERE i.enterprise_id = :e ORDER BY i.inspected_on DESC, i.id DESC""", e, today=today)
    return record


def _rows(session: Session, sql: str, enterprise_id: int, **params) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text(sql),
                                                      {"e": enterprise_id, **params})]

"""A grid unbalanced on purpose, for the rebalance bench and tests (docs/rebalance.md): a new
industrial park fills one cell with enterprises of the strictest grade, as the issue's story
goes ("a park fills with new enterprises, some inspectors carry twice the visits of their
neighbours"). Written through the project's own enterprise import (upsert_enterprises), in the
caller's transaction; deterministic."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.enterprises import EnterpriseRow, upsert_enterprises


def add_park(session: Session, cell_code: str, enterprises: int = 30, villages: int = 2,
             grade: str = "D", prefix: str = "PARK", seed: float = 0.42,
             valid_from: dt.datetime | None = None) -> list[str]:
    """``enterprises`` new enterprises of ``grade`` at points inside the ``villages`` villages
    of the cell ``cell_code`` farthest from its edge (the park lies inside the cell, so the
    rebalance has to move other villages); returns their management codes (lon/lat points,
    EPSG:4326)."""
    session.execute(text("SELECT setseed(:s)"), {"s": seed})
    points = session.execute(text("""
        WITH c AS (SELECT geom FROM cell_current WHERE code = :c),
        v AS (
            SELECT v.code, v.geom FROM village v, c
            WHERE ST_Covers(c.geom, ST_PointOnSurface(v.geom))
            ORDER BY ST_Distance(ST_PointOnSurface(v.geom), ST_Boundary(c.geom)) DESC, v.code
            LIMIT :k
        )
        SELECT ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat
        FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(v.geom, -0.0005), :n, 7))).geom
              FROM v) d
        ORDER BY 1, 2"""),
        {"c": cell_code, "k": villages, "n": max(1, -(-enterprises // villages))}).all()
    rows = []
    for i, p in enumerate(points[:enterprises], start=1):
        code = f"{prefix}{i:04d}"
        rows.append(EnterpriseRow(code, {
            "name": f"园区企业{i:03d}", "credit_code": None, "address": "新建工业园区",
            "industry": None, "specialty": None, "grade": grade, "contact_name": None,
            "contact_phone": None, "products": None, "staff_count": None,
            "key_equipment": None}, p.lon, p.lat, {}))
    upsert_enterprises(session, rows, valid_from=valid_from)
    return [r.management_code for r in rows]

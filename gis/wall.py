"""What the map wall and lists show: enterprises with their cell, owner and inspection status,
per-cell figures, complaint windows. All in SQL; lon/lat EPSG:4326, areas in km².

"Overdue" (逾期): no inspection within the grade's interval (reference table
``grade_interval``; A is the lowest risk and has the longest interval). An enterprise never
inspected is overdue once its interval has passed since it came under supervision.

Every query takes ``cells``: the ids of the cells the user may see (None = all), from
``gis.policy.visible_cells``. Leaders and inspectors see their own area only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geojson import feature_collection_sql


@dataclass(frozen=True)
class Window:
    """A closed date range [start, end] for complaints and inspections."""

    start: dt.date
    end: dt.date

    @classmethod
    def last(cls, days: int, today: dt.date | None = None) -> "Window":
        today = today or dt.date.today()
        return cls(today - dt.timedelta(days=days - 1), today)


ENTERPRISES_CTE = """
enterprise_status AS (
    SELECT e.id, e.management_code, e.name, e.credit_code, e.grade, e.industry, e.specialty,
           e.contact_name, e.contact_phone, e.address, e.geom,
           ec.cell_id, ec.on_edge, c.code AS cell_code, c.name AS cell_name,
           li.last_inspected, gi.interval_days,
           coalesce(li.last_inspected, e.valid_from::date) + gi.interval_days AS due_on,
           (coalesce(li.last_inspected, e.valid_from::date) + gi.interval_days
               < CAST(:today AS date)) AS overdue
    FROM enterprise e
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
    LEFT JOIN cell c ON c.id = ec.cell_id
    LEFT JOIN grade_interval gi ON gi.grade = e.grade
    LEFT JOIN LATERAL (
        SELECT max(i.inspected_on) AS last_inspected FROM inspection i
        WHERE i.enterprise_id = e.id AND i.inspected_on <= CAST(:today AS date)
    ) li ON true
    WHERE (CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[])))
      AND (CAST(:bbox AS text) IS NULL OR e.geom && ST_GeomFromText(:bbox, 4326))
)
"""


def enterprise_rows(session: Session, *, cells: list[int] | None, today: dt.date,
                    grade: str | None = None, overdue: bool | None = None,
                    cell_code: str | None = None, query: str | None = None,
                    limit: int = 100, offset: int = 0) -> tuple[int, list[dict]]:
    """(total, page) of enterprises with status, filtered; for lists behind the figures."""
    pattern = None
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(text(f"""
        WITH {ENTERPRISES_CTE}
        SELECT count(*) OVER () AS total, management_code, name, grade, industry, cell_code,
               cell_name, last_inspected, due_on, overdue, contact_name, contact_phone
        FROM enterprise_status
        WHERE (CAST(:grade AS text) IS NULL OR grade = :grade)
          AND (CAST(:overdue AS boolean) IS NULL OR overdue = :overdue)
          AND (CAST(:cell AS text) IS NULL OR cell_code = :cell)
          AND (CAST(:pattern AS text) IS NULL OR name ILIKE :pattern
               OR management_code ILIKE :pattern)
        ORDER BY overdue DESC, due_on, management_code
        LIMIT :limit OFFSET :offset"""), {
        "cells": cells, "today": today, "grade": grade, "overdue": overdue, "bbox": None,
        "cell": cell_code, "pattern": pattern, "limit": limit, "offset": offset}).all()
    total = rows[0].total if rows else 0
    return total, [{k: v for k, v in r._mapping.items() if k != "total"} for r in rows]


def map_figures(session: Session, *, cells: list[int] | None, window: Window,
                today: dt.date) -> dict:
    """The pilot city's reported figures, for the user's area and the time window."""
    params = {"cells": cells, "today": today, "start": window.start, "end": window.end,
              "bbox": None,
              "prev_start": window.start - (window.end - window.start) - dt.timedelta(days=1),
              "prev_end": window.start - dt.timedelta(days=1)}
    row = session.execute(text(f"""
        WITH {CELL_STATUS_CTE}
        SELECT
          (SELECT count(*) FROM enterprise_status) AS enterprises,
          (SELECT count(*) FROM enterprise_status WHERE overdue) AS overdue,
          (SELECT count(*) FROM inspection i JOIN enterprise_status s ON s.id = i.enterprise_id
              WHERE i.inspected_on BETWEEN :start AND :end) AS inspections,
          (SELECT coalesce(sum(i.problems_found), 0) FROM inspection i
              JOIN enterprise_status s ON s.id = i.enterprise_id
              WHERE i.inspected_on BETWEEN :start AND :end) AS problems_found,
          (SELECT coalesce(sum(i.problems_found), 0) FROM inspection i
              JOIN enterprise_status s ON s.id = i.enterprise_id
              WHERE i.inspected_on BETWEEN :start AND :end
                AND i.rectification_status = 'done') AS problems_rectified,
          (SELECT coalesce(sum(k.batches), 0) FROM spot_check k
              JOIN enterprise_status s ON s.id = k.enterprise_id
              WHERE k.checked_on BETWEEN :start AND :end) AS spot_check_batches,
          (SELECT coalesce(sum(k.passed), 0) FROM spot_check k
              JOIN enterprise_status s ON s.id = k.enterprise_id
              WHERE k.checked_on BETWEEN :start AND :end) AS spot_check_passed,
          (SELECT count(*) FROM enforcement_case k JOIN enterprise_status s
              ON s.id = k.enterprise_id WHERE k.opened_on BETWEEN :start AND :end) AS cases,
          (SELECT count(*) FROM enforcement_case k JOIN enterprise_status s
              ON s.id = k.enterprise_id
              WHERE k.opened_on BETWEEN :prev_start AND :prev_end) AS cases_before,
          (SELECT count(*) FROM complaint k
              WHERE k.status <> 'closed'
                AND (CAST(:cells AS bigint[]) IS NULL
                     OR k.cell_id = ANY(CAST(:cells AS bigint[])))) AS open_complaints,
          (SELECT count(*) FROM complaint k
              WHERE k.received_at::date BETWEEN :start AND :end
                AND (CAST(:cells AS bigint[]) IS NULL
                     OR k.cell_id = ANY(CAST(:cells AS bigint[])))) AS complaints
    """), params).one()
    figures = dict(row._mapping)
    figures["grades"] = dict(session.execute(text(f"""
        WITH {CELL_STATUS_CTE}
        SELECT grade, count(*) FROM enterprise_status GROUP BY grade ORDER BY grade"""),
        params).all())
    batches = figures["spot_check_batches"]
    figures["spot_check_pass_rate"] = figures["spot_check_passed"] / batches if batches else None
    before = figures["cases_before"]
    figures["cases_change"] = (figures["cases"] - before) / before if before else None
    figures["window"] = {"start": window.start.isoformat(), "end": window.end.isoformat()}
    return figures


# What the per-cell figures need of each enterprise, and no more: ENTERPRISES_CTE's names,
# contacts and addresses, materialised for 100k enterprises, cost more than the figures, and
# inspections are aggregated once rather than probed once per enterprise.
CELL_STATUS_CTE = """
enterprise_status AS (
    SELECT e.id, ec.cell_id, e.grade, gi.interval_days,
           (coalesce(li.last_inspected, e.valid_from::date) + gi.interval_days
               < CAST(:today AS date)) AS overdue
    FROM enterprise e
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
    LEFT JOIN grade_interval gi ON gi.grade = e.grade
    LEFT JOIN (
        SELECT i.enterprise_id, max(i.inspected_on) AS last_inspected FROM inspection i
        WHERE i.inspected_on <= CAST(:today AS date) GROUP BY i.enterprise_id
    ) li ON li.enterprise_id = e.id
    WHERE (CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[])))
)
"""

CELL_FIGURES_SQL = f"""
WITH {CELL_STATUS_CTE},
per_cell AS (
    SELECT cell_id, count(*) AS enterprises, count(*) FILTER (WHERE overdue) AS overdue,
           sum(365.0 / nullif(interval_days, 0)) AS inspections_required
    FROM enterprise_status GROUP BY cell_id
),
complaints AS (
    SELECT cell_id, count(*) AS complaints FROM complaint
    WHERE received_at::date BETWEEN :start AND :end GROUP BY cell_id
),
spot AS (
    SELECT s.cell_id, sum(k.batches) AS batches, sum(k.passed) AS passed
    FROM spot_check k JOIN enterprise_status s ON s.id = k.enterprise_id
    WHERE k.checked_on BETWEEN :start AND :end GROUP BY s.cell_id
)
SELECT c.id, c.code, c.name, c.level, c.kind, p.code AS parent_code, st.name AS station,
       st.phone AS station_phone, o.person_id AS owner_id, op.name AS owner_name,
       op.phone AS owner_phone, o.from_cell_id <> c.id AS owner_inherited,
       coalesce(pc.enterprises, 0) AS enterprises, coalesce(pc.overdue, 0) AS overdue,
       round(coalesce(pc.inspections_required, 0)) AS inspections_required,
       coalesce(k.complaints, 0) AS complaints,
       sp.batches AS spot_check_batches, sp.passed AS spot_check_passed,
       ST_Area(cv.geom::geography) / 1e6 AS area_km2,
       cv.id AS version_id, cv.valid_from,
       ST_AsGeoJSON(cv.geom, 6) AS geometry
FROM cell c
JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid @> CAST(:at AS timestamptz)
LEFT JOIN cell p ON p.id = c.parent_id
LEFT JOIN station st ON st.id = coalesce(c.station_id, p.station_id)
LEFT JOIN LATERAL gw_cell_owner(c.id, CAST(:at AS timestamptz)) o ON true
LEFT JOIN person op ON op.id = o.person_id
LEFT JOIN per_cell pc ON pc.cell_id = c.id
LEFT JOIN complaints k ON k.cell_id = c.id
LEFT JOIN spot sp ON sp.cell_id = c.id
WHERE c.kind = :kind AND c.level = ANY(CAST(:levels AS int[]))
  AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
  AND (CAST(:code AS text) IS NULL OR c.code = :code)
ORDER BY c.level, c.code
"""


def cell_rows(session: Session, *, cells: list[int] | None, window: Window, today: dt.date,
              at: dt.datetime | None = None, levels: tuple[int, ...] = (3,),
              kind: str = "territorial", code: str | None = None) -> list[dict]:
    """Cells with their current figures (owner falls back to the parent's, 属地兜底)."""
    at = at or dt.datetime.now(dt.timezone.utc)
    rows = session.execute(text(CELL_FIGURES_SQL), {
        "cells": cells, "today": today, "start": window.start, "end": window.end,
        "at": at, "levels": list(levels), "kind": kind, "code": code, "bbox": None}).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        n = d["enterprises"]
        d["overdue_rate"] = d["overdue"] / n if n else None
        d["complaints_per_enterprise"] = d["complaints"] / n if n else None
        b = d["spot_check_batches"]
        d["pass_rate"] = d["spot_check_passed"] / b if b else None
        out.append(d)
    return out


OWNERS_CTE = """
owners AS (
    SELECT c.id AS cell_id, p.name AS owner_name, p.phone AS owner_phone
    FROM cell c
    LEFT JOIN LATERAL gw_cell_owner(c.id, now()) o ON true
    LEFT JOIN person p ON p.id = o.person_id
    WHERE c.retired_at IS NULL
      AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
)
"""


def enterprise_geojson(session: Session, *, cells: list[int] | None, today: dt.date,
                       overdue_only: bool = False) -> str:
    """A FeatureCollection of enterprises with grade, status, cell and owner, serialised by
    PostGIS (json_agg): at 100k points that is several times faster than building it in
    Python."""
    return session.execute(text(f"WITH {ENTERPRISES_CTE}, {OWNERS_CTE}"
                                + feature_collection_sql("""
        SELECT s.geom, s.management_code AS sort,
               json_build_object(
                    'code', s.management_code, 'name', s.name, 'credit_code', s.credit_code,
                    'grade', s.grade, 'industry', s.industry, 'contact_name', s.contact_name,
                    'contact_phone', s.contact_phone, 'last_inspected', s.last_inspected,
                    'due_on', s.due_on, 'overdue', s.overdue,
                    'days_overdue', CASE WHEN s.overdue THEN CAST(:today AS date) - s.due_on END,
                    'cell_code', s.cell_code, 'cell_name', s.cell_name,
                    'owner_name', o.owner_name, 'owner_phone', o.owner_phone) AS props
        FROM enterprise_status s LEFT JOIN owners o ON o.cell_id = s.cell_id
        WHERE NOT CAST(:overdue_only AS boolean) OR s.overdue
    """)), {"cells": cells, "today": today, "bbox": None,
           "overdue_only": overdue_only}).scalar()


def enterprise_count(session: Session, *, cells: list[int] | None,
                     overdue_only: bool = False, today: dt.date | None = None) -> int:
    if not overdue_only:
        return session.execute(text("""
            SELECT count(*) FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            WHERE CAST(:cells AS bigint[]) IS NULL
               OR ec.cell_id = ANY(CAST(:cells AS bigint[]))"""), {"cells": cells}).scalar()
    return session.execute(text(f"""
        WITH {CELL_STATUS_CTE} SELECT count(*) FROM enterprise_status WHERE overdue"""),
        {"cells": cells, "today": today or dt.date.today(), "bbox": None}).scalar()


def enterprise_tile(session: Session, z: int, x: int, y: int, *, cells: list[int] | None,
                    today: dt.date, overdue_only: bool = False, layer: str = "enterprises"
                    ) -> bytes:
    """One Mapbox vector tile (EPSG:3857 tile z/x/y) of enterprises, by ST_AsMVT.

    Below zoom 14 a tile keeps one enterprise per 4 x 4 screen pixels (the highest-risk grade
    wins): at zoom 11, 100k enterprises would otherwise be ~100k circles per layer on the
    canvas, most of them hidden under their neighbours."""
    # Clipped to the world square: at zoom <= 2 the margin otherwise wraps round the
    # antimeridian and the bbox misses everything.
    envelope = session.execute(text(
        "SELECT ST_AsText(ST_Transform(ST_Intersection(ST_TileEnvelope(:z, :x, :y,"
        " margin => 0.02), ST_TileEnvelope(0, 0, 0)), 4326))"),
        {"z": z, "x": x, "y": y}).scalar()
    # Tiles come many at once: one core each, not a parallel plan each.
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    # One point per 64 x 64 tile units (4096 per 256 px: 4 x 4 px); from zoom 14, every point.
    thin = ("DISTINCT ON (ST_SnapToGrid(geom, 64))", "ORDER BY ST_SnapToGrid(geom, 64), "
            "grade DESC, code") if z < 14 else ("", "")
    tile = session.execute(text(f"""
        WITH {ENTERPRISES_CTE},
        placed AS MATERIALIZED (
            SELECT ST_AsMVTGeom(ST_Transform(s.geom, 3857), ST_TileEnvelope(:z, :x, :y),
                                4096, 64, true) AS geom,
                   s.management_code AS code, s.name, s.grade, s.overdue, s.cell_code
            FROM enterprise_status s
            WHERE NOT CAST(:overdue_only AS boolean) OR s.overdue
        ),
        mvt AS (
            SELECT {thin[0]} * FROM placed WHERE geom IS NOT NULL {thin[1]}
        )
        SELECT ST_AsMVT(mvt, :layer, 4096, 'geom') FROM mvt
    """), {"cells": cells, "today": today, "bbox": envelope, "z": z, "x": x, "y": y,
           "overdue_only": overdue_only, "layer": layer}).scalar()
    return bytes(tile or b"")

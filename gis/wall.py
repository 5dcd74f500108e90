"""What the map wall and lists show: enterprises with their cell, owner and inspection status,
per-cell figures, complaint windows. All in SQL; lon/lat EPSG:4326, areas in km².

"Overdue" (逾期): no inspection within the grade's interval (reference table
``grade_interval``; A is the lowest risk and has the longest interval). An enterprise never
inspected is overdue once its interval has passed since it came under supervision.

Every query takes ``cells``: the ids of the cells the user may see (None = all), from
``gis.policy.visible_cells``. Leaders and inspectors see their own area only.
"""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import datacache, dates
from gis.geojson import feature_collection_sql


@dataclass(frozen=True)
class Window:
    """A closed range of local days [start, end] for complaints and inspections. ``zone``
    is the bureau's time zone: a complaint's timestamp counts on the day it was in the
    bureau (one received at 23:30 in Hejian is that day's, not the next UTC day's)."""

    start: dt.date
    end: dt.date
    zone: str = "UTC"

    @classmethod
    def last(cls, days: int, today: dt.date | None = None, zone: str = "UTC") -> "Window":
        today = today or dates.today(zone)
        return cls(today - dt.timedelta(days=days - 1), today, zone)


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


@dataclass(frozen=True)
class Scope:
    """Whose records a list shows when it is not "the enterprises of ``cells`` now": a
    statistics unit's (gis/statistics.py: its members at a period's end). ``status_cte``
    defines ``enterprise_status`` (id, cell_id, grade, interval_days, overdue) and any CTE it
    needs; ``complaints`` is a condition on the complaint ``r``; ``params`` their parameters;
    ``cells`` the cells counted (None: all)."""

    status_cte: str
    complaints: str
    params: dict
    cells: list[int] | None = None


# Problems and complaints as things stood at a moment (the wall: now; gis/statistics.py: a
# period's end). Parameters :last (the last day counted), :judge_day (the last day whose end
# has passed) and :as_of. On an inspection ``r``: its problems rectified (复查验收) by then,
# due (the deadline passed) or rectified, and rectified within the deadline.
# (A rectification recorded done without its day, from before the day was kept, counts as done
# whenever it is asked, as the wall's figure counts it.)
RECTIFIED = ("r.rectification_status = 'done' "
             "AND coalesce(r.rectified_on, CAST(:last AS date)) <= CAST(:last AS date)")
PROBLEMS_JUDGED = f"(r.rectification_deadline <= CAST(:judge_day AS date) OR ({RECTIFIED}))"
PROBLEMS_ON_TIME = f"({RECTIFIED}) AND r.rectified_on <= r.rectification_deadline"
# On a complaint ``r``: closed (办结) by then, due or closed, closed within its due time (one
# without a due time is on time when closed).
CLOSED = "r.closed_at <= CAST(:as_of AS timestamptz)"
COMPLAINTS_JUDGED = f"(r.due_at <= CAST(:as_of AS timestamptz) OR {CLOSED})"
COMPLAINTS_ON_TIME = f"{CLOSED} AND (r.due_at IS NULL OR r.closed_at <= r.due_at)"
CLOSE_DAYS = "extract(epoch FROM r.closed_at - r.received_at) / 86400.0"

# The records behind the activity figures, each once: the figure counts (or sums) these rows,
# and its list page shows them (``record_rows``), so a tile and the page it links to cannot
# disagree. Each is the FROM and WHERE of a query over ``enterprise_status`` (CELL_STATUS_CTE:
# the enterprises of the place, by their cell now); ``r`` is the record.
RECORD_SOURCES = {
    "inspections": """inspection r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.inspected_on BETWEEN :start AND :end""",
    "problems": """inspection r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.inspected_on BETWEEN :start AND :end AND r.problems_found > 0""",
    # 监督抽查 and 定期监督检验: separate programmes, separate figures, never one pass rate.
    "spot_checks": """spot_check r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.kind = 'spot_check' AND r.checked_on BETWEEN :start AND :end""",
    "periodic_testing": """spot_check r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.kind = 'periodic' AND r.checked_on BETWEEN :start AND :end""",
    # Quality warnings: failed batches of either programme (counted, never a pass rate).
    "failed_batches": """spot_check r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.passed < r.batches AND r.checked_on BETWEEN :start AND :end""",
    "cases": """enforcement_case r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.opened_on BETWEEN :start AND :end""",
    "cases_before": """enforcement_case r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.opened_on BETWEEN :prev_start AND :prev_end""",
    # The statistics' (gis/statistics.py): cases closed (结案) in the period; the enterprises
    # themselves (of one grade with :grade), as their status says.
    "cases_closed": """enforcement_case r JOIN enterprise_status s ON s.id = r.enterprise_id
        WHERE r.closed_on BETWEEN :start AND :end""",
    "enterprises": """enterprise r JOIN enterprise_status s ON s.id = r.id
        WHERE (CAST(:grade AS text) IS NULL OR s.grade = :grade)""",
    # Complaints belong to the cell they were made in, not to an enterprise's cell.
    "complaints": """complaint r
        WHERE (r.received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end
          AND (CAST(:cells AS bigint[]) IS NULL OR r.cell_id = ANY(CAST(:cells AS bigint[])))""",
    # Received in the period and closed by its end (now, on the wall).
    "complaints_closed": f"""complaint r
        WHERE (r.received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end AND {CLOSED}
          AND (CAST(:cells AS bigint[]) IS NULL OR r.cell_id = ANY(CAST(:cells AS bigint[])))""",
    # Open now, whenever received: the period does not apply.
    "open_complaints": """complaint r
        WHERE r.status <> 'closed'
          AND (CAST(:cells AS bigint[]) IS NULL OR r.cell_id = ANY(CAST(:cells AS bigint[])))""",
    # Open and past the time their matter allows (逾期, gis/complaints.py), whenever received.
    "overdue_complaints": """complaint r
        WHERE r.status <> 'closed' AND r.due_at < now()
          AND (CAST(:cells AS bigint[]) IS NULL OR r.cell_id = ANY(CAST(:cells AS bigint[])))""",
}
RECORD_KINDS = tuple(k for k in RECORD_SOURCES if k != "cases_before")


def _params(cells: list[int] | None, window: Window, today: dt.date) -> dict:
    return {"cells": cells, "today": today, "start": window.start, "end": window.end,
            "zone": window.zone, "bbox": None, "grade": None,
            # Problems and complaints as they stand now (a Scope gives a period's end).
            "as_of": dt.datetime.now(dt.timezone.utc), "last": today,
            "judge_day": today - dt.timedelta(days=1),
            "prev_start": window.start - (window.end - window.start) - dt.timedelta(days=1),
            "prev_end": window.start - dt.timedelta(days=1)}


def map_figures(session: Session, *, cells: list[int] | None, window: Window,
                today: dt.date) -> dict:
    """The pilot city's reported figures for the cells ``cells`` (None: everything) and the
    time window; each activity figure is counted over ``RECORD_SOURCES``. Kept while the data
    stays the same (gis/datacache.py)."""
    return copy.deepcopy(datacache.memo(
        session, ("map_figures", _key(cells), window, today),
        lambda: _map_figures(session, cells=cells, window=window, today=today)))


def _map_figures(session: Session, *, cells: list[int] | None, window: Window,
                 today: dt.date) -> dict:
    params = _params(cells, window, today)

    def count(kind: str, what: str = "count(*)") -> str:
        return f"(SELECT coalesce({what}, 0) FROM {RECORD_SOURCES[kind]})"

    row = session.execute(text(f"""
        WITH {CELL_STATUS_CTE}
        SELECT
          (SELECT count(*) FROM enterprise_status) AS enterprises,
          (SELECT count(*) FROM enterprise_status WHERE overdue) AS overdue,
          {count("inspections")} AS inspections,
          {count("problems", "sum(r.problems_found)")} AS problems_found,
          {count("problems", "sum(r.problems_found) FILTER "
                             "(WHERE r.rectification_status = 'done')")} AS problems_rectified,
          {count("spot_checks", "sum(r.batches)")} AS spot_check_batches,
          {count("spot_checks", "sum(r.passed)")} AS spot_check_passed,
          {count("periodic_testing", "sum(r.batches)")} AS periodic_batches,
          {count("periodic_testing", "sum(r.passed)")} AS periodic_passed,
          {count("failed_batches", "sum(r.batches - r.passed)")} AS failed_batches,
          {count("cases")} AS cases,
          {count("cases_before")} AS cases_before,
          {count("open_complaints")} AS open_complaints,
          {count("overdue_complaints")} AS overdue_complaints,
          {count("complaints")} AS complaints
    """), params).one()
    figures = dict(row._mapping)
    figures["grades"] = dict(session.execute(text(f"""
        WITH {CELL_STATUS_CTE}
        SELECT grade, count(*) FROM enterprise_status GROUP BY grade ORDER BY grade"""),
        params).all())
    for kind in ("spot_check", "periodic"):
        batches = figures[f"{kind}_batches"]
        figures[f"{kind}_pass_rate"] = figures[f"{kind}_passed"] / batches if batches else None
    before = figures["cases_before"]
    figures["cases_change"] = (figures["cases"] - before) / before if before else None
    figures["window"] = {"start": window.start.isoformat(), "end": window.end.isoformat()}
    return figures


# What each list behind a figure shows of its records: columns, extra joins, order, and the
# totals its figure reads, over all rows rather than the page (named total_*).
_ENTERPRISE_JOINS = """JOIN enterprise e ON e.id = r.enterprise_id
    LEFT JOIN cell c ON c.id = s.cell_id"""
_INSPECTION_LIST = (
    """r.inspected_on AS day, e.management_code, e.name AS enterprise, e.grade,
       c.code AS cell_code, c.name AS cell_name, p.name AS inspector, r.problems_found,
       r.problems, r.rectification_status, r.rectification_deadline, r.rectified_on""",
    _ENTERPRISE_JOINS + " LEFT JOIN person p ON p.id = r.inspector_id",
    "r.inspected_on DESC, r.id DESC",
    f"""sum(r.problems_found) OVER () AS total_problems_found,
       coalesce(sum(r.problems_found) FILTER (WHERE {RECTIFIED}) OVER (), 0)
           AS total_problems_rectified,
       coalesce(sum(r.problems_found) FILTER (WHERE {PROBLEMS_JUDGED}) OVER (), 0)
           AS total_problems_judged,
       coalesce(sum(r.problems_found) FILTER (WHERE {PROBLEMS_ON_TIME}) OVER (), 0)
           AS total_problems_on_time""")
_TESTING_LIST = (
    """r.checked_on AS day, e.management_code, e.name AS enterprise, e.grade,
       c.code AS cell_code, c.name AS cell_name, r.level, r.product, r.batches, r.passed""",
    _ENTERPRISE_JOINS, "r.checked_on DESC, r.id DESC",
    "sum(r.batches) OVER () AS total_batches, sum(r.passed) OVER () AS total_passed")
_COMPLAINT_LIST = (
    """r.received_at, r.number, r.category, r.text, r.status, r.closed_at,
       e.management_code, e.name AS enterprise, c.code AS cell_code, c.name AS cell_name""",
    """LEFT JOIN enterprise e ON e.id = r.enterprise_id
       LEFT JOIN cell c ON c.id = r.cell_id""",
    "r.received_at DESC, r.id DESC", "")
_CASE_LIST = (
    """r.opened_on AS day, r.number, e.management_code, e.name AS enterprise, e.grade,
       c.code AS cell_code, c.name AS cell_name, r.cause, r.status, r.closed_on""",
    _ENTERPRISE_JOINS, "r.opened_on DESC, r.id DESC", "")
_RECORD_LISTS = {
    "inspections": _INSPECTION_LIST,
    "problems": _INSPECTION_LIST,
    "spot_checks": _TESTING_LIST,
    "periodic_testing": _TESTING_LIST,
    "failed_batches": (
        _TESTING_LIST[0] + """, r.kind, r.report_number, r.failed_items,
            (SELECT min(x.id) FROM rectification x WHERE x.spot_check_id = r.id)
                AS rectification_id""",
        _TESTING_LIST[1], _TESTING_LIST[2],
        "sum(r.batches - r.passed) OVER () AS total_failed"),
    "cases": _CASE_LIST,
    "cases_closed": (_CASE_LIST[0], _CASE_LIST[1], "r.closed_on DESC, r.id DESC", ""),
    "enterprises": (
        """r.management_code, r.name AS enterprise, s.grade, r.industry, c.code AS cell_code,
           c.name AS cell_name, r.address""",
        "LEFT JOIN cell c ON c.id = s.cell_id", "r.management_code", ""),
    "complaints": (_COMPLAINT_LIST[0] + ", r.due_at", _COMPLAINT_LIST[1], _COMPLAINT_LIST[2],
                   f"""count(*) FILTER (WHERE {CLOSED}) OVER () AS total_closed,
                       count(*) FILTER (WHERE {COMPLAINTS_JUDGED}) OVER () AS total_judged,
                       count(*) FILTER (WHERE {COMPLAINTS_ON_TIME}) OVER () AS total_on_time"""),
    "complaints_closed": (
        _COMPLAINT_LIST[0] + f", r.due_at, {CLOSE_DAYS} AS close_days", _COMPLAINT_LIST[1],
        "r.received_at DESC, r.id DESC",
        f"""count(*) FILTER (WHERE {COMPLAINTS_ON_TIME}) OVER () AS total_on_time,
            avg({CLOSE_DAYS}) OVER () AS total_close_days_mean"""),
    "open_complaints": _COMPLAINT_LIST,
    "overdue_complaints": (_COMPLAINT_LIST[0] + ", r.due_at", _COMPLAINT_LIST[1],
                           "r.due_at, r.id", ""),
}


def record_rows(session: Session, kind: str, *, cells: list[int] | None, window: Window,
                today: dt.date, limit: int = 50, offset: int = 0, scope: Scope | None = None,
                grade: str | None = None) -> tuple[dict, list[dict]]:
    """(totals, one page of rows) of the records behind the figure ``kind`` (one of
    ``RECORD_KINDS``) for the cells ``cells`` (None: everything) and the window: the very rows
    ``map_figures`` counts. ``totals["rows"]`` counts the rows of every page; the other totals
    are the sums a figure shows (problems found and rectified, batches, passed, pass rate).
    ``scope``: a statistics unit's records instead (its members and complaints, its cells);
    ``grade``: the enterprises of one grade (kind ``enterprises``)."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    columns, joins, order, totals = _RECORD_LISTS[kind]
    # The extra joins go between the source's FROM and its WHERE.
    table, where = RECORD_SOURCES[kind].split("WHERE", 1)
    params = _params(cells, window, today) | {"grade": grade}
    status_cte = CELL_STATUS_CTE
    if scope is not None:
        status_cte = scope.status_cte
        params |= scope.params | {"cells": scope.cells}
        if table.split()[0] == "complaint":
            where = f"({where}) AND ({scope.complaints})"
    totals_sql = ", ".join(["count(*) OVER () AS total_rows"] + ([totals] if totals else []))
    rows = session.execute(text(f"""
        WITH {status_cte}
        SELECT {totals_sql}, {columns}
        FROM {table} {joins} WHERE {where}
        ORDER BY {order} LIMIT :limit OFFSET :offset"""),
        {**params, "limit": limit, "offset": offset}).all()
    if rows:
        first = rows[0]._mapping
    else:
        # Past the last page: the totals still count every row.
        first = session.execute(text(f"""
            WITH {status_cte} SELECT {totals_sql.replace(" OVER ()", "")}
            FROM {table} {joins} WHERE {where}"""), params).one()._mapping
    out = {key[len("total_"):]: first[key] or 0 for key in first.keys()
           if key.startswith("total_")}
    if out.get("batches"):
        out["pass_rate"] = out["passed"] / out["batches"]
    if out.get("judged"):
        out["on_time_rate"] = out["on_time"] / out["judged"]
    if out.get("problems_judged"):
        out["rectification_rate"] = out["problems_on_time"] / out["problems_judged"]
    return out, [{k: v for k, v in r._mapping.items() if not k.startswith("total_")}
                 for r in rows]


def place_cells(session: Session, visible: list[int] | None, code: str | None
                ) -> list[int] | None:
    """The cells a figure or list covers when it is asked for the place ``code`` (a cell or
    grid code; its subtree): those of them in ``visible`` (None: every cell). Without a place,
    ``visible`` itself. Raises LookupError when no cell has that code."""
    if not code:
        return visible
    ids = session.execute(text("""
        WITH RECURSIVE down(id) AS (
            SELECT id FROM cell WHERE code = :code
            UNION
            SELECT c.id FROM cell c JOIN down ON c.parent_id = down.id
        ) SELECT id FROM down"""), {"code": code}).scalars().all()
    if not ids:
        raise LookupError(code)
    if visible is None:
        return list(ids)
    allowed = set(visible)
    return [i for i in ids if i in allowed]


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
    WHERE (received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end GROUP BY cell_id
),
spot AS (
    SELECT s.cell_id, sum(k.batches) AS batches, sum(k.passed) AS passed
    FROM spot_check k JOIN enterprise_status s ON s.id = k.enterprise_id
    WHERE k.kind = 'spot_check' AND k.checked_on BETWEEN :start AND :end GROUP BY s.cell_id
),
late_complaints AS (
    SELECT cell_id, count(*) AS overdue_complaints FROM complaint
    WHERE status <> 'closed' AND due_at < now() GROUP BY cell_id
)
SELECT c.id, c.code, c.name, c.level, c.kind, c.specialty, p.code AS parent_code,
       p.name AS parent_name, st.name AS station,
       st.phone AS station_phone, o.person_id AS owner_id, op.code AS owner_code,
       op.name AS owner_name, op.phone AS owner_phone, o.from_cell_id <> c.id AS owner_inherited,
       coalesce(pc.enterprises, 0) AS enterprises, coalesce(pc.overdue, 0) AS overdue,
       round(coalesce(pc.inspections_required, 0)) AS inspections_required,
       coalesce(k.complaints, 0) AS complaints,
       coalesce(lk.overdue_complaints, 0) AS overdue_complaints,
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
LEFT JOIN late_complaints lk ON lk.cell_id = c.id
WHERE (CAST(:kind AS text) IS NULL OR c.kind = :kind)
  AND (CAST(:specialty AS text) IS NULL OR c.specialty = :specialty)
  AND (CAST(:levels AS int[]) IS NULL OR c.level = ANY(CAST(:levels AS int[])))
  AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
  AND (CAST(:code AS text) IS NULL OR c.code = :code)
ORDER BY c.level, c.code
"""


def cell_rows(session: Session, *, cells: list[int] | None, window: Window, today: dt.date,
              at: dt.datetime | None = None, levels: tuple[int, ...] = (3,),
              kind: str | None = "territorial", specialty: str | None = None,
              code: str | None = None) -> list[dict]:
    """Cells of ``kind`` (None: both) and ``specialty`` (professional grids) with their
    current figures (owner falls back to the parent's, 属地兜底).

    Every cell's figures cost what one cell's do (the enterprises are counted once for all),
    so they are computed for every level and kind at once and kept while the data stays the
    same (gis/datacache.py): the wall's cell, grid, professional and hot-spot layers and the
    cell card share one computation."""
    every = datacache.memo(
        session, ("cell_rows", _key(cells), window, today, at),
        lambda: _cell_rows(session, cells=cells, window=window, today=today, at=at),
        size=lambda rows: sum(len(r["geometry"] or "") + 600 for r in rows))
    return [dict(r) for r in every
            if r["level"] in levels and (kind is None or r["kind"] == kind)
            and (specialty is None or r["specialty"] == specialty)
            and (code is None or r["code"] == code)]


def _key(cells: list[int] | None) -> tuple[int, ...] | None:
    """A list of cell ids as part of a cache key: the same cells, the same key."""
    return None if cells is None else tuple(sorted(set(cells)))


def _cell_rows(session: Session, *, cells: list[int] | None, window: Window, today: dt.date,
               at: dt.datetime | None) -> list[dict]:
    at = at or dt.datetime.now(dt.timezone.utc)
    rows = session.execute(text(CELL_FIGURES_SQL), {
        "cells": cells, "today": today, "start": window.start, "end": window.end,
        "zone": window.zone, "at": at, "levels": None, "kind": None,
        "specialty": None, "code": None,
        "bbox": None}).all()
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
    today = today or dt.date.today()
    return datacache.memo(
        session, ("enterprise_count", _key(cells), overdue_only, today),
        lambda: _enterprise_count(session, cells=cells, overdue_only=overdue_only, today=today),
        tables=datacache.ENTERPRISE_STATUS, size=lambda n: 100)


def _enterprise_count(session: Session, *, cells: list[int] | None, overdue_only: bool,
                      today: dt.date) -> int:
    if not overdue_only:
        return session.execute(text("""
            SELECT count(*) FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            WHERE CAST(:cells AS bigint[]) IS NULL
               OR ec.cell_id = ANY(CAST(:cells AS bigint[]))"""), {"cells": cells}).scalar()
    return session.execute(text(f"""
        WITH {CELL_STATUS_CTE} SELECT count(*) FROM enterprise_status WHERE overdue"""),
        {"cells": cells, "today": today, "bbox": None}).scalar()


# Below this zoom a tile holds one feature per square of its 4096 units with the number of
# enterprises under it, whatever their number: at zoom 11 a county's 100,000 enterprises would
# otherwise be tens of thousands of circles per layer, most of them hidden under their
# neighbours, in megabytes of tiles. A square is about a marker wide as the wall shows a tile
# (512 px, 8 units a pixel): 12 px for a grade's 10-px mark, 16 px for an overdue ring
# (the layers' radius), so they touch rather than pile up: a tile holds at most about 2,100 or
# 1,200 of them, whatever the number of enterprises.
AGGREGATE_BELOW_ZOOM = 13
CLUSTER_UNITS = 96
OVERDUE_CLUSTER_UNITS = 128
_WORLD = 20037508.342789244  # half the side of the EPSG:3857 square, metres


def enterprise_tile(session: Session, z: int, x: int, y: int, *, cells: list[int] | None,
                    today: dt.date, overdue_only: bool = False, layer: str = "enterprises"
                    ) -> bytes:
    """One Mapbox vector tile (EPSG:3857 tile z/x/y) of enterprises, by ST_AsMVT.

    Below ``AGGREGATE_BELOW_ZOOM``, one feature per 8 x 8 pixels: grade (the highest-risk one
    under it), ``n`` enterprises and ``overdue`` of them (``aggregated_tile``). At zoom 13 a
    tile keeps one enterprise per 4 x 4 pixels (the highest-risk grade wins), from zoom 14
    every enterprise, each with its code, name and cell."""
    if z < AGGREGATE_BELOW_ZOOM:
        return aggregated_tile(session, z, x, y, cells=cells, today=today,
                               overdue_only=overdue_only, layer=layer,
                               square=OVERDUE_CLUSTER_UNITS if overdue_only else CLUSTER_UNITS)
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


def enterprise_extent(session: Session, *, cells: list[int] | None) -> list | None:
    """[[south, west], [north, east]] of the place's enterprises (None: there are none)."""
    def compute():
        row = session.execute(text("""
            SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (
                SELECT ST_Extent(e.geom) AS b FROM enterprise e
                LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
                WHERE CAST(:cells AS bigint[]) IS NULL
                   OR ec.cell_id = ANY(CAST(:cells AS bigint[]))) x"""),
            {"cells": cells}).one()
        return None if row[0] is None else [[row[1], row[0]], [row[3], row[2]]]

    return datacache.memo(session, ("enterprise_extent", _key(cells)), compute,
                          tables=("enterprise", "enterprise_cell"), size=lambda b: 200)


class EnterprisePoints:
    """Every enterprise of a place as low-zoom tiles need it, in management-code order:
    web-mercator metres, grade (0 = A … 3 = D) and whether it is overdue."""

    def __init__(self, x, y, grade, overdue):
        self.x, self.y, self.grade, self.overdue = x, y, grade, overdue
        self.nbytes = x.nbytes + y.nbytes + grade.nbytes + overdue.nbytes + 200


def enterprise_points(session: Session, *, cells: list[int] | None, today: dt.date
                      ) -> EnterprisePoints:
    """The place's enterprises for aggregated tiles, read once while the data stays the
    same (gis/datacache.py): every tile of every low zoom is cut from them."""
    def compute():
        import numpy as np

        rows = session.execute(text(f"""
            WITH {CELL_STATUS_CTE}
            SELECT ST_X(p.geom) AS x, ST_Y(p.geom) AS y, s.grade, s.overdue
            FROM enterprise_status s JOIN enterprise e ON e.id = s.id
            CROSS JOIN LATERAL (SELECT ST_Transform(e.geom, 3857) AS geom) p
            ORDER BY e.management_code"""), {"cells": cells, "today": today}).all()
        return EnterprisePoints(
            np.array([r.x for r in rows], dtype=np.float64),
            np.array([r.y for r in rows], dtype=np.float64),
            np.array([ord(r.grade or "A") - ord("A") for r in rows], dtype=np.int8),
            np.array([bool(r.overdue) for r in rows], dtype=bool))

    return datacache.memo(session, ("enterprise_points", _key(cells), today), compute,
                          tables=datacache.ENTERPRISE_STATUS, size=lambda p: p.nbytes)


def aggregated_tile(session: Session, z: int, x: int, y: int, *, cells: list[int] | None,
                    today: dt.date, overdue_only: bool = False, layer: str = "enterprises",
                    square: int = CLUSTER_UNITS) -> bytes:
    """A tile of one feature per ``square`` x ``square`` units of the tile (on a grid aligned
    to every tile of the zoom, so a square on a tile's edge is the same in both tiles): the
    position and grade of its highest-risk enterprise (the first by management code among
    equals), ``n`` enterprises in the square and ``overdue`` of them. Squares just outside the
    tile are included, so a marker on the edge is drawn whole on both sides."""
    import numpy as np

    points = enterprise_points(session, cells=cells, today=today)
    extent = 4096
    # Units of the whole zoom's grid of tiles, from its top left corner.
    scale = extent * 2 ** z / (2 * _WORLD)
    gx = (points.x + _WORLD) * scale
    gy = (_WORLD - points.y) * scale
    sx, sy = np.floor(gx / square), np.floor(gy / square)
    # The squares that meet the tile, and one more all round.
    lo_x, hi_x = np.floor(x * extent / square) - 1, np.floor(((x + 1) * extent - 1) / square) + 1
    lo_y, hi_y = np.floor(y * extent / square) - 1, np.floor(((y + 1) * extent - 1) / square) + 1
    inside = (sx >= lo_x) & (sx <= hi_x) & (sy >= lo_y) & (sy <= hi_y)
    if overdue_only:
        inside &= points.overdue
    idx = np.nonzero(inside)[0]
    if not len(idx):
        return b""
    tx, ty = gx[idx] - x * extent, gy[idx] - y * extent
    grade, overdue = points.grade[idx], points.overdue[idx]
    cell = (sx[idx] - lo_x).astype(np.int64) * 65536 + (sy[idx] - lo_y).astype(np.int64)
    # By square, then the highest grade, then management-code order: each square's first row
    # is its representative.
    order = np.lexsort((idx, -grade.astype(np.int16), cell))
    starts = np.nonzero(np.r_[True, cell[order][1:] != cell[order][:-1]])[0]
    first = order[starts]
    counts = np.diff(np.r_[starts, len(order)])
    late = np.add.reduceat(overdue[order].astype(np.int64), starts)
    tile = session.execute(text("""
        SELECT ST_AsMVT(t, :layer, 4096, 'geom') FROM (
            SELECT ST_MakePoint(u.x, u.y) AS geom, u.grade, u.n, u.overdue
            FROM unnest(CAST(:xs AS int[]), CAST(:ys AS int[]), CAST(:grades AS text[]),
                        CAST(:ns AS int[]), CAST(:late AS int[])) AS u(x, y, grade, n, overdue)
        ) t"""), {
        "layer": layer, "xs": np.rint(tx[first]).astype(np.int64).tolist(),
        "ys": np.rint(ty[first]).astype(np.int64).tolist(),
        "grades": [chr(ord("A") + int(g)) for g in grade[first]],
        "ns": counts.tolist(), "late": late.tolist()}).scalar()
    return bytes(tile or b"")


def places(session: Session, visible: list[int] | None) -> list[dict]:
    """The places a user may narrow the wall and its lists to: the live territorial cells of
    levels 0-3 they may read, each with its path (cell ids from the root down), in tree order.
    (Professional grids hold no enterprises of their own: enterprises are placed in
    territorial cells.)"""
    rows = session.execute(text("""
        SELECT c.code, c.name, c.level, p.code AS parent_code, gw_cell_path(c.id) AS path
        FROM cell c LEFT JOIN cell p ON p.id = c.parent_id
        WHERE c.retired_at IS NULL AND c.kind = 'territorial'
          AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
        ORDER BY c.code"""), {"cells": visible}).all()
    return [{**r._mapping, "path": tuple(r.path or ())} for r in rows]


def place_name(session: Session, code: str | None, visible: list[int] | None) -> str:
    """What the wall's title calls its place: the cell ``code``; without one, the topmost
    cells the user reads (the root, city or province, for whoever reads it all)."""
    if code:
        return session.execute(text("SELECT name FROM cell WHERE code = :c"),
                               {"c": code}).scalar() or code
    names = session.execute(text("""
        SELECT c.name FROM cell c
        WHERE c.retired_at IS NULL AND c.kind = 'territorial'
          AND (CASE WHEN CAST(:cells AS bigint[]) IS NULL THEN c.parent_id IS NULL
                    ELSE c.id = ANY(CAST(:cells AS bigint[]))
                         AND (c.parent_id IS NULL
                              OR NOT c.parent_id = ANY(CAST(:cells AS bigint[]))) END)
        ORDER BY c.code"""), {"cells": visible}).scalars().all()
    return "、".join(names)

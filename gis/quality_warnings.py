"""Quality warnings (质量预警): rules over the supervision figures that name what needs a
look now, each with a threshold an admin sets (``warning_rule``, reference data).

(Named ``quality_warnings``: ``gis/warnings_.py`` is about Python's warnings.)

| rule               | fires for                                   | threshold (seeded)            |
|--------------------|---------------------------------------------|-------------------------------|
| failed_twice       | an enterprise whose latest 监督抽查 failed  | failures in a row (2): the    |
|                    | this many times in a row (a row fails when  | latest rows of spot_check by  |
|                    | passed < batches; 定期监督检验 is another    | checked_on, back to the last  |
|                    | programme and is not counted)               | batch that passed             |
| cell_overdue_rate  | a level-3 cell whose enterprises overdue    | overdue ÷ enterprises, at or  |
|                    | for inspection (the wall's rule, today)     | above (0.2)                   |
|                    | make up this share or more                  |                               |
| complaint_hotspot  | a level-3 cell touched by an area where     | confidence, at or above (0.9: |
|                    | complaints cluster (the wall's hot spots:   | 90 %, 95 % and 99 % hot spots)|
|                    | Getis-Ord Gi* on 1.5 km hexagons over the   |                               |
|                    | last ``HOTSPOT_DAYS`` days, hotspot_areas) |                               |
| behind_plan        | a cell owner whose cells' month plan        | done ÷ expected, below (0.5)  |
|                    | (gis/plans.py: due in the month or overdue  |                               |
|                    | at its start) is behind: inspections done   |                               |
|                    | in the month ÷ the plan's share due by      |                               |
|                    | today (the plan × days gone ÷ days in the   |                               |
|                    | month), once at least one visit is expected |                               |

"At or above" a threshold fires (the overdue rate, failures in a row, the confidence); for
``behind_plan`` the threshold is the least progress that does not fire. Every warning names
its cells (``cells``; ``cell``: the first), so the wall, a cell's card and an inspector's work
list each show those of their cells. The hot spots are computed for the whole city (a cluster
is a fact about the city, not about who looks) and kept for as long as the complaints and
boundaries they were computed from stay the same.
"""
from __future__ import annotations

import calendar
import copy
import datetime as dt
import json
import math
import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import datacache
from gis.errors import ValidationError
from gis.wall import CELL_STATUS_CTE, ENTERPRISES_CTE, Window

RULES = ("failed_twice", "cell_overdue_rate", "complaint_hotspot", "behind_plan")
# The period the hot spots are computed over (days back from today, today included).
HOTSPOT_DAYS = 90
# Threshold bounds an admin may set, per rule.
BOUNDS = {"failed_twice": (1, 100), "cell_overdue_rate": (0.0, 1.0),
          "complaint_hotspot": (0.9, 0.99), "behind_plan": (0.0, 1.0)}
_EPS = 1e-9


def warning_rules(session: Session, *, active_only: bool = False) -> list[dict]:
    """The rules: code, name, threshold, description, active."""
    rows = session.execute(text("""
        SELECT code, name, threshold, description, active FROM warning_rule
        WHERE active OR NOT CAST(:a AS boolean)"""), {"a": active_only}).all()
    order = {code: n for n, code in enumerate(RULES)}
    return sorted((dict(r._mapping) for r in rows), key=lambda r: (order.get(r["code"], 99),
                                                                   r["code"]))


def set_warning_rule(session: Session, code: str, *, threshold: float | None = None,
                     active: bool | None = None) -> tuple[dict, dict]:
    """Change a rule's threshold (within ``BOUNDS``) or whether it is checked; (before,
    after) as {threshold, active}. LookupError for an unknown code."""
    if threshold is not None and code in BOUNDS:
        low, high = BOUNDS[code]
        if not low <= threshold <= high:
            raise ValidationError("threshold", f"between {low} and {high}", "between",
                                  min=low, max=high)
    before = session.execute(text("""
        SELECT threshold, active FROM warning_rule WHERE code = :c FOR UPDATE"""),
        {"c": code}).one_or_none()
    if before is None:
        raise LookupError(code)
    after = session.execute(text("""
        UPDATE warning_rule SET threshold = coalesce(CAST(:t AS float8), threshold),
               active = coalesce(CAST(:a AS boolean), active)
        WHERE code = :c RETURNING threshold, active"""),
        {"c": code, "t": threshold, "a": active}).one()
    return dict(before._mapping), dict(after._mapping)


# --- the rules -----------------------------------------------------------------------------

def failed_in_a_row(session: Session, threshold: float, *, cells: list[int] | None,
                    today: dt.date) -> list[dict]:
    """Enterprises (now in ``cells``; None: all) whose latest 监督抽查 up to ``today`` failed
    at least ``threshold`` times in a row: enterprise, enterprise_name, cell, cell_name,
    value (failures in a row), day (the latest)."""
    rows = session.execute(text("""
        WITH runs AS (
            SELECT k.enterprise_id, k.checked_on, k.passed < k.batches AS failed,
                   row_number() OVER (PARTITION BY k.enterprise_id
                                      ORDER BY k.checked_on DESC, k.id DESC) AS n
            FROM spot_check k
            JOIN enterprise_cell_current ec ON ec.enterprise_id = k.enterprise_id
            WHERE k.kind = 'spot_check' AND k.checked_on <= CAST(:today AS date)
              AND (CAST(:cells AS bigint[]) IS NULL
                   OR ec.cell_id = ANY(CAST(:cells AS bigint[])))
        ),
        streak AS (
            SELECT enterprise_id,
                   coalesce(min(n) FILTER (WHERE NOT failed) - 1, count(*)) AS failed,
                   max(checked_on) AS day
            FROM runs GROUP BY enterprise_id
        )
        SELECT e.management_code AS enterprise, e.name AS enterprise_name,
               c.code AS cell, c.name AS cell_name, s.failed AS value, s.day
        FROM streak s JOIN enterprise e ON e.id = s.enterprise_id
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        LEFT JOIN cell c ON c.id = ec.cell_id
        WHERE s.failed >= CAST(:n AS int)
        ORDER BY s.failed DESC, s.day DESC, e.management_code"""),
        {"cells": cells, "today": today,
         "n": max(1, math.ceil(threshold - _EPS))}).all()
    return [dict(r._mapping) for r in rows]


def overdue_cells(session: Session, threshold: float, *, cells: list[int] | None,
                  today: dt.date) -> list[dict]:
    """Live level-3 cells (of ``cells``) whose share of enterprises overdue for inspection
    today (gis.wall's rule) is ``threshold`` or more: cell, cell_name, value (the share),
    overdue, enterprises."""
    rows = session.execute(text(f"""
        WITH {CELL_STATUS_CTE}
        SELECT c.code AS cell, c.name AS cell_name, count(*) AS enterprises,
               count(*) FILTER (WHERE s.overdue) AS overdue
        FROM enterprise_status s JOIN cell c ON c.id = s.cell_id
        WHERE c.level = 3 AND c.retired_at IS NULL
        GROUP BY c.code, c.name
        ORDER BY c.code"""), {"cells": cells, "today": today}).all()
    out = []
    for r in rows:
        rate = r.overdue / r.enterprises
        if r.overdue and rate >= threshold - _EPS:
            out.append({**r._mapping, "value": rate})
    return sorted(out, key=lambda w: (-w["value"], w["cell"]))


_hot_cache: dict = {}
_hot_lock = threading.Lock()


def hot_areas(session: Session, today: dt.date, zone: str) -> list[dict]:
    """The wall's hot spots of complaints over the last ``HOTSPOT_DAYS`` days, for the whole
    city (gis/hotspot_areas.py: Gi* on hexagons): code, confidence (0.90, 0.95, 0.99),
    complaints, geometry (GeoJSON). Kept while the complaints and boundaries are the same."""
    window = Window.last(HOTSPOT_DAYS, today, zone)
    stamp = session.execute(text("""
        SELECT (SELECT count(*) FROM complaint
                WHERE geom IS NOT NULL
                  AND (received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end),
               (SELECT max(id) FROM complaint),
               (SELECT max(id) FROM cell_version),
               (SELECT count(*) FROM cell_version WHERE valid_to IS NULL)"""),
        {"zone": zone, "start": window.start, "end": window.end}).one()
    key = (window, tuple(stamp))
    with _hot_lock:
        if key in _hot_cache:
            return _hot_cache[key]
    # The one computation of the hot spots the wall draws (imported here, not at the top:
    # esda and libpysal take a second to load).
    import shapely

    from gis.hotspot_areas import complaint_hotspots

    found = complaint_hotspots(session, cells=None, window=window, today=today)
    areas = [{"code": u["code"],
              "confidence": int(u["result"].klass.split("-")[1]) / 100,
              "complaints": u["result"].count,
              "geometry": shapely.geometry.mapping(u["geometry"])}
             for u in found if u["result"].klass.startswith("hot-")]
    with _hot_lock:
        if len(_hot_cache) > 8:
            _hot_cache.clear()
        _hot_cache[key] = areas
    return areas


def hotspot_cells(session: Session, threshold: float, *, cells: list[int] | None,
                  today: dt.date, zone: str, areas: list[dict] | None = None) -> list[dict]:
    """Live level-3 cells (of ``cells``) that an area of complaints clustering with
    ``threshold`` confidence or more overlaps: cell, cell_name, value (the highest
    confidence), areas (how many), complaints (in those areas), days."""
    areas = hot_areas(session, today, zone) if areas is None else areas
    hot = [a for a in areas if a["confidence"] >= threshold - _EPS]
    if not hot:
        return []
    rows = session.execute(text("""
        SELECT c.code AS cell, c.name AS cell_name, max(h.confidence) AS value,
               count(*) AS areas, sum(h.complaints) AS complaints
        FROM json_to_recordset(CAST(:hot AS json))
             AS h(code text, confidence float8, complaints int, geometry json)
        JOIN cell_current c ON c.level = 3 AND c.kind = 'territorial'
             AND ST_Intersects(c.geom, ST_SetSRID(ST_GeomFromGeoJSON(h.geometry::text), 4326))
             AND ST_Area(ST_Intersection(c.geom, ST_SetSRID(
                     ST_GeomFromGeoJSON(h.geometry::text), 4326))) > 1e-9
        WHERE CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[]))
        GROUP BY c.code, c.name
        ORDER BY max(h.confidence) DESC, c.code"""),
        {"hot": json.dumps(hot), "cells": cells}).all()
    return [{**r._mapping, "days": HOTSPOT_DAYS} for r in rows]


def elapsed_share(today: dt.date) -> float:
    """The share of ``today``'s month gone by its end (1 on the month's last day)."""
    return today.day / calendar.monthrange(today.year, today.month)[1]


def behind_plan(session: Session, threshold: float, *, cells: list[int] | None,
                today: dt.date) -> list[dict]:
    """Cell owners (direct owners now of live level-3 cells of ``cells``) whose month plan is
    behind: person, person_name, cells, cell (the first), due (the plan: enterprises due in
    the month or overdue at its start), done (of those, inspected in the month by today),
    expected (due × the month's share gone), value (done ÷ expected)."""
    month = today.replace(day=1)
    end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    eve = min(month - dt.timedelta(days=1), today)
    rows = session.execute(text(f"""
        WITH owned AS (
            SELECT c.id AS cell_id, c.code, r.person_id
            FROM cell c JOIN responsibility r ON r.cell_id = c.id AND r.role = 'owner'
                 AND r.valid @> now()
            WHERE c.level = 3 AND c.kind = 'territorial' AND c.retired_at IS NULL
              AND (CAST(:scope AS bigint[]) IS NULL OR c.id = ANY(CAST(:scope AS bigint[])))
        ),
        {ENTERPRISES_CTE},
        plan AS (
            SELECT s.cell_id, count(*) AS due,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM inspection i WHERE i.enterprise_id = s.id
                         AND i.inspected_on BETWEEN CAST(:month AS date)
                                                AND CAST(:real_today AS date))) AS done
            FROM enterprise_status s WHERE s.due_on <= CAST(:end AS date)
            GROUP BY s.cell_id
        )
        SELECT p.code AS person, p.name AS person_name,
               array_agg(o.code ORDER BY o.code) AS cells,
               CAST(sum(coalesce(pl.due, 0)) AS int) AS due,
               CAST(sum(coalesce(pl.done, 0)) AS int) AS done
        FROM owned o JOIN person p ON p.id = o.person_id
        LEFT JOIN plan pl ON pl.cell_id = o.cell_id
        GROUP BY p.code, p.name ORDER BY p.code"""), {
        "scope": cells, "cells": _owned_cells(session, cells), "today": eve,
        "real_today": today, "month": month, "end": end, "bbox": None}).all()
    share = elapsed_share(today)
    out = []
    for r in rows:
        expected = r.due * share
        if r.due and expected >= 1 - _EPS and r.done < threshold * expected - _EPS:
            out.append({"person": r.person, "person_name": r.person_name,
                        "cells": list(r.cells), "cell": r.cells[0], "due": int(r.due),
                        "done": int(r.done), "expected": expected,
                        "value": r.done / expected})
    return sorted(out, key=lambda w: (w["value"], w["person"]))


def _owned_cells(session: Session, scope: list[int] | None) -> list[int]:
    # The level-3 cells with an owner of their own now: the month plans to count.
    return list(session.execute(text("""
        SELECT DISTINCT r.cell_id FROM responsibility r JOIN cell c ON c.id = r.cell_id
        WHERE r.role = 'owner' AND r.valid @> now() AND c.level = 3
          AND c.kind = 'territorial' AND c.retired_at IS NULL
          AND (CAST(:scope AS bigint[]) IS NULL OR c.id = ANY(CAST(:scope AS bigint[])))"""),
        {"scope": scope}).scalars())


def warnings(session: Session, *, cells: list[int] | None, today: dt.date, zone: str,
             only: tuple[str, ...] | None = None) -> list[dict]:
    """Every active rule's warnings for the cells ``cells`` (None: the whole city), each:
    rule, name (the rule's), threshold, value, cell, cell_name, cells, and the rule's own
    fields (see each rule's function). ``only``: those rules alone. Kept while the data stays
    the same (gis/datacache.py): the map wall shows them on every load."""
    return copy.deepcopy(datacache.memo(
        session, ("quality_warnings", None if cells is None else tuple(sorted(set(cells))),
                  today, zone, only),
        lambda: _warnings(session, cells=cells, today=today, zone=zone, only=only)))


def _warnings(session: Session, *, cells: list[int] | None, today: dt.date, zone: str,
              only: tuple[str, ...] | None) -> list[dict]:
    found = []
    for rule in warning_rules(session, active_only=True):
        code, threshold = rule["code"], rule["threshold"]
        if only is not None and code not in only:
            continue
        if code == "failed_twice":
            rows = failed_in_a_row(session, threshold, cells=cells, today=today)
        elif code == "cell_overdue_rate":
            rows = overdue_cells(session, threshold, cells=cells, today=today)
        elif code == "complaint_hotspot":
            rows = hotspot_cells(session, threshold, cells=cells, today=today, zone=zone)
        elif code == "behind_plan":
            rows = behind_plan(session, threshold, cells=cells, today=today)
        else:
            continue
        for row in rows:
            row.setdefault("cells", [row["cell"]] if row.get("cell") else [])
            found.append({"rule": code, "name": rule["name"], "threshold": threshold, **row})
    return found


def for_cell(found: list[dict], code: str) -> list[dict]:
    """The warnings of ``found`` that name the cell ``code``."""
    return [w for w in found if code in w["cells"]]

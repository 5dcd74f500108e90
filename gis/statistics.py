"""The figures leaders are judged on (统计), per level and period, with 同比 and 环比.

Levels (``LEVELS``): the city, the stations' grids (level-2 territorial cells), townships,
level-3 cells, and the professional grids (level-2 professional cells). Periods (``Period``):
a month, a quarter, a year or a custom range of the bureau's local days; a period that has not
ended yet counts up to today (至今). 同比 is the same days a year before; 环比 the preceding
period of the same kind (the month, quarter or year before; for a custom range, as many days
just before it), cut to the same part when the period is still running.

Which enterprises a unit holds (docs/statistics.md says it all for people):

* an enterprise belongs to a unit as things stood **at the period's end** (``as_of``: the end
  of its last day in the bureau's zone, or now for a running period): its level-3 cell then
  (``enterprise_cell``), its grade then (``enterprise_grade``), under supervision from the day
  it came under supervision (``enterprise.valid_from``); its inspections, problems, batches
  and cases of the period go with it, wherever it was when they happened;
* territorial units: the cell then, and the cells above it (station grid, city);
* townships: the township of the village whose polygon covers the enterprise's point (the
  lowest village code on a shared edge), whatever the cells;
* professional grids: enterprises of the grid's specialty whose point the grid's boundary at
  the period's end covers;
* complaints: received in the period; territorial units by the cell stamped on arrival (as the
  wall counts them), townships by the village covering the complaint's spot, professional grids
  by the matter's specialty and the grid's boundary at the period's end.

Everything is counted in SQL, grouped by unit (one statement per period, the whole scope as a
grouping set of its own), never by looping over enterprises in Python. The lists behind every
number are the wall's ``/records/<kind>`` with ``record_scope``: the same members, the same
rows.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import ValidationError
from gis.tables import spreadsheet_text
from gis.tree import ancestor_at
from gis.wall import (CLOSE_DAYS, CLOSED, COMPLAINTS_JUDGED, COMPLAINTS_ON_TIME,
                      PROBLEMS_JUDGED, PROBLEMS_ON_TIME, RECTIFIED, Scope, place_cells)

LEVELS = ("city", "station", "township", "cell", "professional")
# The cell level of a territorial level (city = 1).
DEPTH = {"city": 1, "station": 2, "cell": 3}
PERIODS = ("month", "quarter", "year", "custom")


# --- periods ---------------------------------------------------------------------------------

def _shift_year(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def month_end(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _add_months(first: dt.date, months: int) -> dt.date:
    n = first.year * 12 + first.month - 1 + months
    return dt.date(n // 12, n % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """A range of local days [start, end] of ``kind``; ``today`` is the bureau's day the
    figures are asked on. ``last`` is the last day counted: ``end``, or today while the period
    runs (至今)."""

    kind: str
    start: dt.date
    end: dt.date
    today: dt.date

    @classmethod
    def of(cls, kind: str, day: dt.date, today: dt.date, end: dt.date | None = None
           ) -> "Period":
        """The month, quarter or year holding ``day``; for ``custom``, [day, end]."""
        if kind == "month":
            first = day.replace(day=1)
            return cls(kind, first, month_end(first), today)
        if kind == "quarter":
            first = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
            return cls(kind, first, month_end(_add_months(first, 2)), today)
        if kind == "year":
            return cls(kind, dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), today)
        if kind == "custom":
            end = end or today
            if end < day:
                raise ValidationError("to", "before from", "before", other="from")
            return cls(kind, day, end, today)
        raise ValueError(f"unknown period {kind!r}")

    @property
    def running(self) -> bool:
        """Still running (至今): its last day is today or later."""
        return self.end >= self.today

    @property
    def last(self) -> dt.date:
        return min(self.end, self.today)

    @property
    def days(self) -> int:
        """Days counted (up to today for a running period)."""
        return (self.last - self.start).days + 1

    @property
    def judge_day(self) -> dt.date:
        """The last day whose end has passed: a deadline on or before it is due (到期)."""
        return self.end if not self.running else self.today - dt.timedelta(days=1)

    def as_of(self, zone: str, now: dt.datetime) -> dt.datetime:
        """The moment membership is asked at: the end of the last day, or now."""
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(),
                                  tzinfo=ZoneInfo(zone)) - dt.timedelta(microseconds=1)
        return min(end, now)

    def _cut(self, start: dt.date, end: dt.date) -> "Period":
        """[start, end] of the same kind, counted as far into it as this one is."""
        if self.running:
            end = min(end, start + (self.last - self.start))
        return Period(self.kind, start, end, self.today)

    def year_before(self) -> "Period":
        """同比: the same days a year before."""
        if self.kind in ("month", "quarter", "year"):
            start = _shift_year(self.start, -1)
            full = Period.of(self.kind, start, self.today)
            return self._cut(full.start, full.end)
        return Period(self.kind, _shift_year(self.start, -1), _shift_year(self.last, -1),
                      self.today)

    def before(self) -> "Period":
        """环比: the preceding period of the same kind (for a custom range, as many days just
        before it)."""
        if self.kind == "month":
            first = _add_months(self.start, -1)
            return self._cut(first, month_end(first))
        if self.kind == "quarter":
            first = _add_months(self.start, -3)
            return self._cut(first, month_end(_add_months(first, 2)))
        if self.kind == "year":
            first = self.start.replace(year=self.start.year - 1)
            return self._cut(first, first.replace(month=12, day=31))
        return Period(self.kind, self.start - dt.timedelta(days=self.days),
                      self.start - dt.timedelta(days=1), self.today)

    def params(self, zone: str, now: dt.datetime) -> dict:
        return {"start": self.start, "last": self.last, "judge_day": self.judge_day,
                "as_of": self.as_of(zone, now), "zone": zone}


def recent_periods(kind: str, today: dt.date, count: int = 24) -> list[Period]:
    """The ``count`` latest periods of ``kind`` up to the running one, newest first (the
    page's choices)."""
    out, day = [], today
    for _i in range(count):
        period = Period.of(kind, day, today)
        out.append(period)
        day = period.start - dt.timedelta(days=1)
    return out


# --- which unit a record belongs to ---------------------------------------------------------

# Each CTE below is MATERIALIZED: computed once per statement, whatever reads it. Points go
# to polygons with the polygons outer (``OFFSET 0`` keeps the planner from turning it round),
# so PostGIS prepares each polygon once and tests the points inside its box against it.

# Cells and the territorial unit of each at a depth (city 1, station grid 2, cell 3): the
# ancestor at that level, wherever the path starts (a province's is one step higher).
_CELL_UNIT = f"""
cell_unit AS MATERIALIZED (
    SELECT c.id AS cell_id, {ancestor_at("p.path", "c.level", "CAST(:depth AS int)")} AS unit_id
    FROM cell c CROSS JOIN LATERAL (SELECT gw_cell_path(c.id) AS path OFFSET 0) p
    WHERE c.kind = 'territorial' AND c.level >= CAST(:depth AS int)
      AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
)"""

# The township of a point: the village covering it (the lowest code on a shared edge).
_TOWNSHIP_OF = """
    SELECT DISTINCT ON (p.id) p.id, v.township_id AS unit_id
    FROM (SELECT code, township_id, geom FROM village OFFSET 0) v
    JOIN {table} p ON ST_Covers(v.geom, p.geom)
    ORDER BY p.id, v.code"""
# The professional grid of the point's specialty whose boundary at the period's end covers it.
_GRID_OF = """
    SELECT DISTINCT ON (p.id) p.id, g.id AS unit_id
    FROM (SELECT g.id, g.code, g.specialty, gv.geom FROM cell g
          JOIN cell_version gv ON gv.cell_id = g.id AND gv.valid @> CAST(:as_of AS timestamptz)
          WHERE g.kind = 'professional' AND g.level = 2 OFFSET 0) g
    JOIN {table} p ON ST_Covers(g.geom, p.geom) AND {specialty} = g.specialty
    ORDER BY p.id, g.code"""


def _unit_of(level: str, rows: str, table: str, specialty: str) -> str:
    """SELECT (id, unit_id) of the rows of the CTE ``rows`` (an enterprise's or complaint's
    id, with cell_id), placed by ``table``'s points (its GiST index) for the spatial levels."""
    if level in DEPTH:
        return (f"SELECT x.id, cu.unit_id FROM {rows} x "
                "JOIN cell_unit cu ON cu.cell_id = x.cell_id")
    spatial = _TOWNSHIP_OF if level == "township" else _GRID_OF
    return (f"SELECT u.id, u.unit_id FROM ({spatial.format(table=table, specialty=specialty)}"
            f") u WHERE u.id IN (SELECT id FROM {rows})")


def _members(level: str) -> str:
    """The CTEs the figures read (after ``WITH``):

    * ``base``: the enterprises under supervision at ``:as_of`` in the cells ``:cells`` (None:
      all), with their cell, grade and interval then and the first day they count from;
    * ``members``: those of them in the units ``:units``, with their unit;
    * ``received``: the complaints received in [``:start``, ``:last``] in ``:cells``;
    * ``complaint_unit``: the unit of each of those among ``:units``."""
    ctes = [_CELL_UNIT] if level in DEPTH else []
    ctes.append(f"""
base AS MATERIALIZED (
    SELECT e.id, ec.cell_id, coalesce(g.grade, e.grade) AS grade, gi.interval_days,
           greatest(CAST(:start AS date), (e.valid_from AT TIME ZONE :zone)::date)
               AS counted_from
    FROM enterprise e
    JOIN enterprise_cell ec ON ec.enterprise_id = e.id
         AND ec.valid @> CAST(:as_of AS timestamptz)
    LEFT JOIN enterprise_grade g ON g.enterprise_id = e.id
         AND g.valid @> CAST(:as_of AS timestamptz)
    LEFT JOIN grade_interval gi ON gi.grade = coalesce(g.grade, e.grade)
    WHERE ec.cell_id IS NOT NULL AND e.valid_from <= CAST(:as_of AS timestamptz)
      AND (CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[])))
),
enterprise_unit AS MATERIALIZED (
    {_unit_of(level, "base", "enterprise", "p.specialty")}
),
members AS MATERIALIZED (
    SELECT b.*, u.unit_id FROM base b JOIN enterprise_unit u ON u.id = b.id
    WHERE u.unit_id = ANY(CAST(:units AS bigint[]))
),
received AS MATERIALIZED (
    SELECT r.id, r.cell_id, r.received_at, r.closed_at, r.due_at
    FROM complaint r
    WHERE r.received_at >= CAST(:start AS date)::timestamp AT TIME ZONE :zone
      AND r.received_at < (CAST(:last AS date) + 1)::timestamp AT TIME ZONE :zone
      AND (CAST(:cells AS bigint[]) IS NULL OR r.cell_id = ANY(CAST(:cells AS bigint[])))
),
complaint_unit AS MATERIALIZED (
    SELECT * FROM ({_unit_of(level, "received", "complaint",
                            "(SELECT s.specialty FROM complaint_service s "
                            "WHERE s.code = p.service_code)")}) k
    WHERE k.unit_id = ANY(CAST(:units AS bigint[]))
)""")
    return ",".join(ctes)


def _figures_sql(level: str) -> str:
    """One statement: every figure of every unit in ``:units`` for one period, and of them
    all together (unit 0)."""
    by = "GROUP BY GROUPING SETS ((unit_id), ())"
    unit = "CASE WHEN GROUPING(unit_id) = 1 THEN 0 ELSE unit_id END AS unit_id"
    return f"""
WITH {_members(level)},
ent AS (
    SELECT {unit}, count(*) AS enterprises,
           count(*) FILTER (WHERE grade = 'A') AS grade_a,
           count(*) FILTER (WHERE grade = 'B') AS grade_b,
           count(*) FILTER (WHERE grade = 'C') AS grade_c,
           count(*) FILTER (WHERE grade = 'D') AS grade_d,
           coalesce(sum((CAST(:last AS date) - counted_from + 1)::numeric
                        / nullif(interval_days, 0))
                    FILTER (WHERE counted_from <= CAST(:last AS date)), 0)
               AS inspections_required
    FROM members {by}
),
insp AS (
    SELECT {unit}, count(*) AS inspections,
           coalesce(sum(r.problems_found), 0) AS problems_found,
           coalesce(sum(r.problems_found) FILTER (WHERE {RECTIFIED}), 0) AS problems_rectified,
           coalesce(sum(r.problems_found) FILTER (WHERE {PROBLEMS_JUDGED}), 0)
               AS problems_judged,
           coalesce(sum(r.problems_found) FILTER (WHERE {PROBLEMS_ON_TIME}), 0)
               AS problems_on_time
    FROM inspection r JOIN members m ON m.id = r.enterprise_id
    WHERE r.inspected_on BETWEEN CAST(:start AS date) AND CAST(:last AS date)
    {by}
),
testing AS (
    SELECT {unit},
           coalesce(sum(k.batches) FILTER (WHERE k.kind = 'spot_check'), 0)
               AS spot_check_batches,
           coalesce(sum(k.passed) FILTER (WHERE k.kind = 'spot_check'), 0) AS spot_check_passed,
           coalesce(sum(k.batches) FILTER (WHERE k.kind = 'periodic'), 0) AS periodic_batches,
           coalesce(sum(k.passed) FILTER (WHERE k.kind = 'periodic'), 0) AS periodic_passed
    FROM spot_check k JOIN members m ON m.id = k.enterprise_id
    WHERE k.checked_on BETWEEN CAST(:start AS date) AND CAST(:last AS date)
    {by}
),
cases AS (
    SELECT {unit},
           count(*) FILTER (WHERE x.opened_on BETWEEN CAST(:start AS date)
                                                   AND CAST(:last AS date)) AS cases_opened,
           count(*) FILTER (WHERE x.closed_on BETWEEN CAST(:start AS date)
                                                   AND CAST(:last AS date)) AS cases_closed
    FROM enforcement_case x JOIN members m ON m.id = x.enterprise_id
    WHERE x.opened_on BETWEEN CAST(:start AS date) AND CAST(:last AS date)
       OR x.closed_on BETWEEN CAST(:start AS date) AND CAST(:last AS date)
    {by}
),
comp AS (
    SELECT {unit}, count(*) AS complaints,
           count(*) FILTER (WHERE {CLOSED}) AS complaints_closed,
           count(*) FILTER (WHERE {COMPLAINTS_JUDGED}) AS complaints_judged,
           count(*) FILTER (WHERE {COMPLAINTS_ON_TIME}) AS complaints_on_time,
           avg({CLOSE_DAYS}) FILTER (WHERE {CLOSED}) AS close_days_mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY {CLOSE_DAYS})
               FILTER (WHERE {CLOSED}) AS close_days_median
    FROM received r JOIN complaint_unit USING (id) {by}
)
SELECT u.unit_id, ent.enterprises, ent.grade_a, ent.grade_b, ent.grade_c, ent.grade_d,
       ent.inspections_required, insp.inspections, insp.problems_found,
       insp.problems_rectified, insp.problems_judged, insp.problems_on_time,
       testing.spot_check_batches, testing.spot_check_passed, testing.periodic_batches,
       testing.periodic_passed, cases.cases_opened, cases.cases_closed, comp.complaints,
       comp.complaints_closed, comp.complaints_judged, comp.complaints_on_time,
       comp.close_days_mean, comp.close_days_median
FROM unnest(CAST(:units AS bigint[]) || CAST(0 AS bigint)) AS u(unit_id)
LEFT JOIN ent USING (unit_id)
LEFT JOIN insp USING (unit_id)
LEFT JOIN testing USING (unit_id)
LEFT JOIN cases USING (unit_id)
LEFT JOIN comp USING (unit_id)
"""


# --- the figures -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """One column of the statistics: ``key`` in each unit's figures, its Chinese header in
    files (officials' words), its ``kind`` (count, decimal, rate 0–1, days), and the list
    behind it: the ``/records`` kind, filters it adds, and the total on that list that equals
    it (None: the number of rows)."""

    key: str
    header: str
    kind: str = "count"
    records: str | None = None
    filters: tuple = ()
    total: str | None = None


FIGURES = (
    Figure("enterprises", "企业数", records="enterprises"),
    Figure("grade_a", "A级企业", records="enterprises", filters=(("grade", "A"),)),
    Figure("grade_b", "B级企业", records="enterprises", filters=(("grade", "B"),)),
    Figure("grade_c", "C级企业", records="enterprises", filters=(("grade", "C"),)),
    Figure("grade_d", "D级企业", records="enterprises", filters=(("grade", "D"),)),
    Figure("inspections_required", "应巡查（家次）", "decimal", records="enterprises"),
    Figure("inspections", "已巡查（家次）", records="inspections"),
    Figure("inspection_rate", "巡查完成率", "rate"),
    Figure("problems_found", "发现问题", records="problems", total="problems_found"),
    Figure("problems_rectified", "已整改问题", records="problems", total="problems_rectified"),
    Figure("problems_judged", "到期应整改问题", records="problems", total="problems_judged"),
    Figure("problems_on_time", "按期整改问题", records="problems", total="problems_on_time"),
    Figure("rectification_rate", "按期整改率", "rate"),
    Figure("spot_check_batches", "监督抽查批次", records="spot_checks", total="batches"),
    Figure("spot_check_passed", "监督抽查合格批次", records="spot_checks", total="passed"),
    Figure("spot_check_pass_rate", "监督抽查合格率", "rate", records="spot_checks",
           total="pass_rate"),
    Figure("periodic_batches", "定期监督检验批次", records="periodic_testing", total="batches"),
    Figure("periodic_passed", "定期监督检验合格批次", records="periodic_testing",
           total="passed"),
    Figure("periodic_pass_rate", "定期监督检验合格率", "rate", records="periodic_testing",
           total="pass_rate"),
    Figure("cases_opened", "立案", records="cases"),
    Figure("cases_closed", "结案", records="cases_closed"),
    Figure("complaints", "投诉举报受理", records="complaints"),
    Figure("complaints_closed", "投诉举报办结", records="complaints_closed"),
    Figure("complaints_judged", "到期应办结", records="complaints", total="judged"),
    Figure("complaints_on_time", "按期办结", records="complaints_closed", total="on_time"),
    Figure("complaint_rate", "按期办结率", "rate"),
    Figure("close_days_mean", "平均办结天数", "days", records="complaints_closed"),
    Figure("close_days_median", "办结天数中位数", "days", records="complaints_closed"),
)
FIGURE = {f.key: f for f in FIGURES}
# Rates and what they divide.
RATES = {"inspection_rate": ("inspections", "inspections_required"),
         "rectification_rate": ("problems_on_time", "problems_judged"),
         "spot_check_pass_rate": ("spot_check_passed", "spot_check_batches"),
         "periodic_pass_rate": ("periodic_passed", "periodic_batches"),
         "complaint_rate": ("complaints_on_time", "complaints_judged")}


def _clean(row: dict) -> dict:
    out = {}
    for f in FIGURES:
        if f.key in RATES:
            continue
        value = row.get(f.key)
        if f.kind == "count":
            out[f.key] = int(value or 0)
        elif f.kind == "decimal":
            out[f.key] = float(value or 0)
        else:
            out[f.key] = None if value is None else float(value)
    for key, (part, whole) in RATES.items():
        out[key] = out[part] / out[whole] if out[whole] else None
    return out


def change(figure: Figure, now, before):
    """How ``now`` compares with ``before``: rates in points (0.05 = 5 个百分点), the rest
    relative (0.05 = 5 %); None when either is missing or the base is 0."""
    if now is None or before is None:
        return None
    if figure.kind == "rate":
        return now - before
    return (now - before) / before if before else None


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    parent: str | None = None


def units(session: Session, level: str, cells: list[int] | None, visible: list[int] | None,
          as_of: dt.datetime) -> list[Unit]:
    """The units of ``level`` the table shows: territorial cells of its depth among ``cells``
    (None: all) with a boundary at ``as_of``; every township; the professional grids the user
    reads (``visible``) with a boundary then."""
    if level == "township":
        rows = session.execute(text(
            "SELECT id, code, name, NULL AS parent FROM township ORDER BY code")).all()
    elif level == "professional":
        rows = session.execute(text("""
            SELECT c.id, c.code, c.name, NULL AS parent FROM cell c
            WHERE c.kind = 'professional' AND c.level = 2
              AND EXISTS (SELECT 1 FROM cell_version v WHERE v.cell_id = c.id
                          AND v.valid @> CAST(:as_of AS timestamptz))
              AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
            ORDER BY c.code"""), {"as_of": as_of, "cells": visible}).all()
    else:
        rows = session.execute(text("""
            SELECT c.id, c.code, c.name, p.name AS parent FROM cell c
            LEFT JOIN cell p ON p.id = c.parent_id
            WHERE c.kind = 'territorial' AND c.level = :depth
              AND EXISTS (SELECT 1 FROM cell_version v WHERE v.cell_id = c.id
                          AND v.valid @> CAST(:as_of AS timestamptz))
              AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))
            ORDER BY c.code"""), {"depth": DEPTH[level], "as_of": as_of,
                                  "cells": cells}).all()
    return [Unit(r.id, r.code, r.name, r.parent) for r in rows]


def period_figures(session: Session, level: str, periods: list[Period], *,
                   cells: list[int] | None, unit_ids: list[int], zone: str,
                   now: dt.datetime) -> list[dict[int, dict]]:
    """For each of ``periods``, {unit id: figures} of the units ``unit_ids`` and, under 0, of
    them all together; ``cells`` bounds what is counted (the place and what the user reads).
    A statement a period: with each period's dates as constants the planner sees how many
    rows it will meet (one statement over all three, keyed by period, is planned blind and
    runs slower: bench/stats.py)."""
    sql = text(_figures_sql(level))
    out = []
    for period in periods:
        params = period.params(zone, now) | {"cells": cells, "units": unit_ids,
                                             "depth": DEPTH.get(level)}
        out.append({r.unit_id: _clean(dict(r._mapping)) for r in session.execute(sql, params)})
    return out


def scope_cells(session: Session, visible: list[int] | None, place: str | None
                ) -> list[int] | None:
    """The cells counted: the place's subtree (a territorial cell) among those the user reads
    (``visible``, None: all). Raises LookupError for an unknown place and ValidationError for
    a professional one (a place is where enterprises are: a territorial cell)."""
    if place:
        row = session.execute(text("SELECT id, kind FROM cell WHERE code = :c"),
                              {"c": place}).one_or_none()
        # A place outside what the user reads is no place of theirs: as if it did not exist.
        if row is None or (visible is not None and row.id not in set(visible)):
            raise LookupError(place)
        if row.kind != "territorial":
            raise ValidationError("place", "not a territorial cell", "territorial_place")
    return place_cells(session, visible, place)


def statistics(session: Session, *, level: str, period: Period, visible: list[int] | None,
               place: str | None = None, zone: str, now: dt.datetime | None = None,
               progress=None) -> dict:
    """Every figure of every unit of ``level`` in the place (a territorial cell code; None:
    everything the user reads, ``visible``) for ``period``, with the same for 同比
    (``year_before``) and 环比 (``before``) and the changes.

    Answers {"level", "period", "yoy", "pop", "units": [{"id", "code", "name", "parent",
    "figures", "yoy", "pop", "yoy_change", "pop_change"}], "total": {the same for all units
    together}}. ``progress(percent)`` is told how far it has got (background jobs)."""
    if level not in LEVELS:
        raise ValidationError("level", "one of " + ", ".join(LEVELS), "choices",
                              choices=", ".join(LEVELS))
    now = now or dt.datetime.now(dt.timezone.utc)
    cells = scope_cells(session, visible, place)
    shown = units(session, level, cells, visible, period.as_of(zone, now))
    ids = [u.id for u in shown]
    periods = {"figures": period, "yoy": period.year_before(), "pop": period.before()}
    count = functools.partial(period_figures, session, level, cells=cells, unit_ids=ids,
                              zone=zone, now=now)
    values = {}
    for n, (name, p) in enumerate(periods.items()):
        values[name] = count([p])[0]
        if progress:
            progress(int(90 * (n + 1) / len(periods)))

    def entry(unit_id: int) -> dict:
        out = {name: values[name][unit_id] for name in periods}
        for name in ("yoy", "pop"):
            out[f"{name}_change"] = {f.key: change(f, out["figures"][f.key], out[name][f.key])
                                     for f in FIGURES}
        return out

    rows = [{"id": u.id, "code": u.code, "name": u.name, "parent": u.parent, **entry(u.id)}
            for u in shown]
    if cells is not None and level in ("township", "professional"):
        # Outside the whole city, a township or grid with nothing in the user's area is not
        # theirs to list.
        rows = [r for r in rows if any(r["figures"][k] for k in ("enterprises", "complaints"))]
    return {"level": level, "place": place, "period": period, "yoy": periods["yoy"],
            "pop": periods["pop"], "units": rows, "total": entry(0)}


# --- the lists behind the numbers ---------------------------------------------------------------

def record_scope(session: Session, *, level: str, units: list[int], period: Period,
                 cells: list[int] | None, zone: str, now: dt.datetime | None = None) -> Scope:
    """What ``/records/<kind>`` lists behind a number of ``statistics`` (gis.wall.record_rows):
    the members at the period's end and the complaints of the units ``units`` (ids of cells or
    townships of ``level``; one unit, or all of the table's for its total) within ``cells``,
    as ``statistics`` counts them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    status = _members(level) + """,
enterprise_status AS (
    SELECT m.id, m.cell_id, m.grade, m.interval_days, CAST(NULL AS boolean) AS overdue
    FROM members m
)"""
    params = period.params(zone, now) | {"depth": DEPTH.get(level), "units": list(units)}
    return Scope(status_cte=status, complaints="r.id IN (SELECT id FROM complaint_unit)",
                 params=params, cells=cells)


# --- files ---------------------------------------------------------------------------------------

LEVEL_HEADERS = {"city": "城市", "station": "监督所网格", "township": "乡镇",
                 "cell": "三级网格", "professional": "专业网格"}


def period_label_zh(period: Period) -> str:
    """The period as officials write it (files are in Chinese whatever the reader's language)."""
    if period.kind == "month":
        label = f"{period.start.year}年{period.start.month}月"
    elif period.kind == "quarter":
        label = f"{period.start.year}年第{(period.start.month - 1) // 3 + 1}季度"
    elif period.kind == "year":
        label = f"{period.start.year}年"
    else:
        label = f"{period.start:%Y-%m-%d}至{period.end:%Y-%m-%d}"
    if period.running:
        label += f"（{period.start:%Y-%m-%d}至今）"
    elif period.kind != "custom" and period.end != Period.of(
            period.kind, period.start, period.today).end:
        # A period cut to compare with a running one: the days it counts.
        label += f"（{period.start:%Y-%m-%d}至{period.end:%Y-%m-%d}）"
    return label


def _row_values(figures: dict) -> list:
    return [figures[f.key] for f in FIGURES]


def _table_rows(result: dict, which: str) -> list[list]:
    rows = [[spreadsheet_text(u["code"]), spreadsheet_text(u["name"])]
            + _row_values(u[which]) for u in result["units"]]
    rows.append(["", "合计"] + _row_values(result["total"][which]))
    return rows


def csv_bytes(result: dict) -> bytes:
    """The period's figures as CSV (UTF-8 with a BOM, as Excel opens it): Chinese headers, one
    unit a row, then the total; rates as fractions (0.875)."""
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["代码", LEVEL_HEADERS[result["level"]]] + [f.header for f in FIGURES])
    for row in _table_rows(result, "figures"):
        writer.writerow(["" if v is None else (round(v, 4) if isinstance(v, float) else v)
                         for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


SHEETS = (("figures", "本期"), ("yoy", "去年同期"), ("pop", "上期"))
CHANGE_SHEETS = (("yoy_change", "同比"), ("pop_change", "环比"))


def xlsx_bytes(result: dict, *, title: str, progress=None) -> bytes:
    """The figures as an XLSX workbook: 本期, 去年同期 and 上期 (the values of the period, of
    the same days a year before and of the period before), 同比 and 环比 (the changes: counts
    in %, rates in 个百分点), and 说明 (the periods and what each figure counts). Numbers stay
    numbers (rates as fractions shown in %); every text through ``spreadsheet_text``."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook(write_only=True)
    bold = Font(bold=True)
    header = ["代码", LEVEL_HEADERS[result["level"]]] + [f.header for f in FIGURES]
    formats = {f.key: {"rate": "0.0%", "decimal": "0.0", "days": "0.0"}.get(f.kind, "0")
               for f in FIGURES}

    def write(sheet, rows, change_sheet=False):
        from openpyxl.cell import WriteOnlyCell

        sheet.append([WriteOnlyCell(sheet, value=title)])
        sheet.append([WriteOnlyCell(sheet, value=h) for h in header])
        for values in rows:
            out = []
            for i, value in enumerate(values):
                cell = WriteOnlyCell(sheet, value=value)
                if i >= 2 and value is not None:
                    f = FIGURES[i - 2]
                    cell.number_format = (("0.0" if f.kind == "rate" else "0.0%")
                                          if change_sheet else formats[f.key])
                    if change_sheet and f.kind == "rate":
                        cell.value = round(value * 100, 1)  # 个百分点
                if values[1] == "合计":
                    cell.font = bold
                out.append(cell)
            sheet.append(out)

    for n, (which, name) in enumerate(SHEETS + CHANGE_SHEETS):
        sheet = book.create_sheet(name)
        sheet.freeze_panes = "C3"
        write(sheet, _table_rows(result, which), which.endswith("_change"))
        if progress:
            progress(90 + 2 * (n + 1))
    notes = book.create_sheet("说明")
    for line in notes_lines(result):
        notes.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def notes_lines(result: dict) -> list[list]:
    lines = [["本期", period_label_zh(result["period"]),
              f"{result['period'].start:%Y-%m-%d}", f"{result['period'].last:%Y-%m-%d}"],
             ["去年同期（同比）", period_label_zh(result["yoy"]),
              f"{result['yoy'].start:%Y-%m-%d}", f"{result['yoy'].last:%Y-%m-%d}"],
             ["上期（环比）", period_label_zh(result["pop"]),
              f"{result['pop'].start:%Y-%m-%d}", f"{result['pop'].last:%Y-%m-%d}"],
             [],
             ["同比、环比", "数量为增减百分比（%），比率为增减个百分点"]]
    lines += [[f.header, DEFINITIONS[f.key]] for f in FIGURES]
    return lines


# What each figure counts, in the officials' words (files' 说明 sheet; docs/statistics.md says
# the same at length).
DEFINITIONS = {
    "enterprises": "期末在监管的企业（期末所在网格属于本单位）",
    "grade_a": "期末监管等级为A级的企业", "grade_b": "期末监管等级为B级的企业",
    "grade_c": "期末监管等级为C级的企业", "grade_d": "期末监管等级为D级的企业",
    "inspections_required": "各企业本期在监管天数÷其等级巡查周期（天）之和",
    "inspections": "本期巡查次数",
    "inspection_rate": "巡查完成率＝已巡查÷应巡查",
    "problems_found": "本期巡查发现的问题数",
    "problems_rectified": "其中期末前已整改（复查验收）的问题数",
    "problems_judged": "其中整改期限已到或已整改的问题数",
    "problems_on_time": "其中在整改期限内整改的问题数",
    "rectification_rate": "按期整改率＝按期整改÷到期应整改",
    "spot_check_batches": "监督抽查（国家、省、市）抽样批次",
    "spot_check_passed": "监督抽查合格批次",
    "spot_check_pass_rate": "监督抽查合格率＝合格批次÷抽样批次（与定期监督检验分开计算）",
    "periodic_batches": "定期监督检验批次",
    "periodic_passed": "定期监督检验合格批次",
    "periodic_pass_rate": "定期监督检验合格率＝合格批次÷检验批次（与监督抽查分开计算）",
    "cases_opened": "本期立案的案件数", "cases_closed": "本期结案的案件数",
    "complaints": "本期受理的12365投诉举报",
    "complaints_closed": "其中期末前办结的",
    "complaints_judged": "其中办理时限已到或已办结的",
    "complaints_on_time": "其中在办理时限内办结的",
    "complaint_rate": "按期办结率＝按期办结÷到期应办结",
    "close_days_mean": "已办结投诉从受理到办结的平均天数",
    "close_days_median": "已办结投诉从受理到办结天数的中位数",
}

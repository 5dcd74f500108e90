"""The gap report (问责依据): every interval in which something was late, and who answered for
the place during it.

Three kinds of gap, each an interval of time (moments, ``[from, to)``; ``to`` None: still open):

| kind               | from                                   | to                               |
|--------------------|----------------------------------------|----------------------------------|
| overdue_inspection | the start of the day after the visit   | the start of the day of the next |
|                    | fell due (the last inspection, else    | inspection (None: none yet)      |
|                    | the day it came under supervision,     |                                  |
|                    | plus the interval of its grade)        |                                  |
| late_rectification | the start of the day after the         | the moment it was rectified,     |
|                    | deadline                               | once verified (None until then)  |
| late_complaint     | its due time (``due_at``)              | the moment it was closed         |

The overdue rule is the map wall's (gis/wall.py: due = last inspection, else the day it came
under supervision, plus the grade's interval; overdue once due < today) asked for every day in
the past: the grade is the one in force that day (``enterprise_grade``), so a regrade to a
stricter grade can make an enterprise overdue from the day of the regrade. A rectification is
late as gis.rectification says (``LATE_SQL``): until it is verified, and then up to the moment
the correction was recorded. A complaint is late as gis.complaints says: not closed and its
due time passed; one without a due time is never late.

Each gap is cut wherever the answer to "who answered for it" changed: the enterprise's cell
(``enterprise_cell``; a complaint keeps the cell it was stamped with on arrival), the cell's
boundary version (``cell_version``), the cell's owner (``responsibility``, falling back up the
tree as ``gw_cell_owner`` does when the cell had none of its own, 属地兜底), the chief of the
station whose second-level grid holds the cell, the leader of the township the enterprise (or
the complaint) lies in. The cut points are found per place, not per gap: for each (cell,
township) the gaps touch, the ends of every responsibility and boundary version concerned make
a timeline of periods with one answer each; each gap piece is intersected with it (a range
join on ``&&``), and neighbouring pieces with the same answer are joined again. All of it is one
SQL statement; Python only shapes the rows.

The report covers a period of local days ``[start, end]`` in the bureau's zone, and nothing
after now: a piece reaching now is open (``to`` None). ``days``: the local days a piece
touches (a piece from 00:00 to 00:00 counts its days; a change at noon counts that day on both
sides).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates
from gis.tables import spreadsheet_text
from gis.validation import ValidationError
from gis.wall import place_cells

KINDS = ("overdue_inspection", "late_rectification", "late_complaint")
ROLES = ("owner", "station_chief", "township_leader")
# The longest period one request may cover: ten years of a city is still one statement.
MAX_DAYS = 3660

GAPS_SQL = """
WITH
win AS (
    SELECT tstzrange(CAST(:start_at AS timestamptz),
                     greatest(CAST(:start_at AS timestamptz),
                              least(CAST(:end_at AS timestamptz), CAST(:now AS timestamptz))))
           AS w
),
-- The enterprises ever in the cells asked about (all of them without :cells): only their
-- inspections and grades are read.
scope AS MATERIALIZED (
    SELECT e.id, e.valid_from, e.grade FROM enterprise e
    WHERE CAST(:cells AS bigint[]) IS NULL
       OR e.id IN (SELECT ec.enterprise_id FROM enterprise_cell ec
                   WHERE ec.cell_id = ANY(CAST(:cells AS bigint[])))
),
-- Overdue for inspection. An anchor is a day the clock starts again: each inspection's day,
-- and the day it came under supervision when no inspection was on or before it (the wall's
-- coalesce(last inspection, valid_from)).
anchor AS (
    SELECT i.enterprise_id, i.inspected_on AS day, true AS inspected
    FROM inspection i JOIN scope e ON e.id = i.enterprise_id
    WHERE 'overdue_inspection' = ANY(CAST(:kinds AS text[]))
    GROUP BY i.enterprise_id, i.inspected_on
    UNION ALL
    SELECT e.id, (e.valid_from AT TIME ZONE :zone)::date, false
    FROM scope e
    WHERE 'overdue_inspection' = ANY(CAST(:kinds AS text[]))
      AND NOT EXISTS (SELECT 1 FROM inspection i WHERE i.enterprise_id = e.id
                        AND i.inspected_on <= (e.valid_from AT TIME ZONE :zone)::date)
),
span AS (
    SELECT a.enterprise_id, a.day, a.inspected,
           lead(a.day) OVER (PARTITION BY a.enterprise_id ORDER BY a.day) AS next_day
    FROM anchor a
),
grade AS (
    SELECT g.enterprise_id, g.grade, g.valid
    FROM enterprise_grade g JOIN scope e ON e.id = g.enterprise_id
    UNION ALL
    SELECT e.id, e.grade, tstzrange(e.valid_from, NULL) FROM scope e
    WHERE NOT EXISTS (SELECT 1 FROM enterprise_grade g WHERE g.enterprise_id = e.id)
),
-- Per span and grade in force, the days after the day the visit fell due up to the next
-- anchor. The periods of successive grades are joined (range_agg): a regrade alone cuts
-- nothing. ``due``: each period's start and its due day, to name the due day of a gap.
overdue0 AS (
    SELECT s.enterprise_id, s.day, s.inspected, s.day + gi.interval_days AS due_on,
           tstzrange(((s.day + gi.interval_days + 1)::timestamp AT TIME ZONE :zone),
                     (s.next_day::timestamp AT TIME ZONE :zone)) * g.valid AS r
    FROM span s
    JOIN grade g ON g.enterprise_id = s.enterprise_id
    JOIN grade_interval gi ON gi.grade = g.grade
    WHERE s.next_day IS NULL OR s.day + gi.interval_days + 1 < s.next_day
),
overdue AS (
    SELECT o.enterprise_id, o.day, o.inspected, range_agg(o.r) AS m,
           array_agg(lower(o.r) ORDER BY lower(o.r)) AS starts,
           array_agg(o.due_on ORDER BY lower(o.r)) AS dues
    FROM overdue0 o
    WHERE NOT isempty(o.r)
    GROUP BY o.enterprise_id, o.day, o.inspected
),
gap0 AS (
    SELECT 'overdue_inspection' AS kind, o.enterprise_id, NULL::bigint AS rectification_id,
           NULL::bigint AS complaint_id, r AS gap, o.day AS anchor_day, o.inspected,
           o.dues[array_position(o.starts, lower(r))] AS due_on
    FROM overdue o CROSS JOIN LATERAL unnest(o.m) r
    WHERE r && (SELECT w FROM win)
    UNION ALL
    SELECT 'late_rectification', r.enterprise_id, r.id, NULL,
           tstzrange(((r.deadline + 1)::timestamp AT TIME ZONE :zone),
                     CASE WHEN r.status = 'verified'
                          THEN coalesce(r.rectified_at, r.verified_at) END),
           NULL::date, NULL::boolean, NULL::date
    FROM rectification r JOIN scope e ON e.id = r.enterprise_id
    WHERE 'late_rectification' = ANY(CAST(:kinds AS text[]))
      AND (r.status <> 'verified' OR coalesce(r.rectified_at, r.verified_at)
                                     > ((r.deadline + 1)::timestamp AT TIME ZONE :zone))
    UNION ALL
    SELECT 'late_complaint', k.enterprise_id, NULL, k.id,
           tstzrange(k.due_at, CASE WHEN k.status = 'closed' THEN k.closed_at END),
           NULL, NULL, NULL
    FROM complaint k
    WHERE 'late_complaint' = ANY(CAST(:kinds AS text[]))
      AND k.due_at IS NOT NULL
      AND (k.status <> 'closed' OR k.closed_at > k.due_at)
      AND (CAST(:cells AS bigint[]) IS NULL OR k.cell_id = ANY(CAST(:cells AS bigint[])))
),
gap AS MATERIALIZED (
    SELECT row_number() OVER () AS gid, g.*
    FROM gap0 g, win
    WHERE g.gap && win.w
),
-- Where each gap was: an enterprise's cell over time; a complaint's cell as stamped on
-- arrival. ``at_id``: whose point says the township (an enterprise's id; a complaint's, negated).
-- (Read whole and hashed: one index probe per gap costs more at 100,000 enterprises.)
placed AS MATERIALIZED (
    SELECT ec.enterprise_id, ec.cell_id, ec.valid FROM enterprise_cell ec
    WHERE ec.enterprise_id IN (SELECT id FROM scope) AND ec.valid && (SELECT w FROM win)
),
piece0 AS (
    SELECT g.gid, ec.cell_id, g.gap * ec.valid * win.w AS r, g.enterprise_id AS at_id
    FROM gap g CROSS JOIN win
    JOIN placed ec ON ec.enterprise_id = g.enterprise_id
    WHERE g.kind <> 'late_complaint' AND ec.valid && g.gap
    UNION ALL
    SELECT g.gid, k.cell_id, g.gap * win.w, -k.id
    FROM gap g CROSS JOIN win JOIN complaint k ON k.id = g.complaint_id
),
piece1 AS MATERIALIZED (
    SELECT p.* FROM piece0 p
    WHERE NOT isempty(p.r)
      AND (CAST(:cells AS bigint[]) IS NULL OR p.cell_id = ANY(CAST(:cells AS bigint[])))
),
-- The township each piece's enterprise (or complaint) lies in (the lowest code on a shared
-- edge): each township's polygon against the points' index, so it is prepared once.
town AS MATERIALIZED (
    SELECT DISTINCT ON (x.at_id) x.at_id, x.township_id
    FROM (SELECT e.id AS at_id, t.id AS township_id, t.code
          FROM township t JOIN enterprise e ON ST_Covers(t.geom, e.geom)
          WHERE e.id IN (SELECT at_id FROM piece1)
          UNION ALL
          SELECT -k.id, t.id, t.code
          FROM township t JOIN complaint k ON ST_Covers(t.geom, k.geom)
          WHERE -k.id IN (SELECT at_id FROM piece1)) x
    ORDER BY x.at_id, x.code
),
piece AS MATERIALIZED (
    SELECT p.gid, p.cell_id, p.r, t.township_id
    FROM piece1 p
    LEFT JOIN town t ON t.at_id = p.at_id
),
-- Each place the pieces lie in (cell, township), with the cells above it and its
-- second-level grid (the station's).
ctx AS MATERIALIZED (
    SELECT row_number() OVER () AS xid, d.cell_id, d.township_id, d.path,
           (SELECT a.id FROM cell a WHERE a.id = ANY(d.path) AND a.level = 2
            ORDER BY a.id LIMIT 1) AS grid_id
    FROM (SELECT u.cell_id, u.township_id, gw_cell_path(u.cell_id) AS path
          FROM (SELECT DISTINCT cell_id, township_id FROM piece) u) d
),
-- The moments the answer may change at each place: the ends of the owners' periods of the
-- cell and of every cell above it, of the station chief's, of the township leader's and of
-- the cell's boundary versions.
edge AS (
    SELECT x.xid, r.valid FROM ctx x
    JOIN responsibility r ON r.role = 'owner' AND r.cell_id = ANY(x.path)
    UNION ALL
    SELECT x.xid, r.valid FROM ctx x
    JOIN responsibility r ON r.role = 'station_chief' AND r.cell_id = x.grid_id
    UNION ALL
    SELECT x.xid, r.valid FROM ctx x
    JOIN responsibility r ON r.role = 'township_leader' AND r.township_id = x.township_id
    UNION ALL
    SELECT x.xid, v.valid FROM ctx x JOIN cell_version v ON v.cell_id = x.cell_id
),
cut AS (
    SELECT e.xid, b.at FROM edge e
    CROSS JOIN LATERAL (VALUES (lower(e.valid)), (upper(e.valid))) b(at)
    WHERE b.at IS NOT NULL
    UNION
    SELECT xid, '-infinity'::timestamptz FROM ctx
),
timeline AS (
    SELECT c.xid, tstzrange(c.at, lead(c.at) OVER (PARTITION BY c.xid ORDER BY c.at)) AS valid
    FROM cut c
),
-- Who answered in each period of each place's timeline (the owner as gw_cell_owner says:
-- the cell's own, else the nearest above it).
who AS MATERIALIZED (
    SELECT x.xid, coalesce(x.cell_id, 0) AS cell_key, coalesce(x.township_id, 0) AS town_key,
           t.valid, o.person_id AS owner_id, o.from_cell_id AS owner_cell_id,
           (SELECT r.person_id FROM responsibility r
            WHERE r.role = 'station_chief' AND r.cell_id = x.grid_id
              AND r.valid @> lower(t.valid) LIMIT 1) AS chief_id,
           (SELECT r.person_id FROM responsibility r
            WHERE r.role = 'township_leader' AND r.township_id = x.township_id
              AND r.valid @> lower(t.valid) LIMIT 1) AS leader_id,
           (SELECT v.id FROM cell_version v
            WHERE v.cell_id = x.cell_id AND v.valid @> lower(t.valid) LIMIT 1) AS version_id
    FROM timeline t JOIN ctx x ON x.xid = t.xid
    LEFT JOIN LATERAL gw_cell_owner(x.cell_id, lower(t.valid)) o ON true
    WHERE NOT isempty(t.valid)
),
sub AS (
    SELECT p.gid, p.cell_id, p.township_id, p.r * w.valid AS r, w.owner_id, w.owner_cell_id,
           w.chief_id, w.leader_id, w.version_id
    FROM piece p
    JOIN who w ON w.cell_key = coalesce(p.cell_id, 0) AND w.town_key = coalesce(p.township_id, 0)
              AND w.valid && p.r
),
-- Neighbouring pieces of one gap with the same answer are one piece again (a change above
-- a cell that has an owner of its own changes nothing for it).
flag AS (
    SELECT s.*,
           CASE WHEN lag(upper(s.r)) OVER g = lower(s.r)
                 AND lag(s.cell_id) OVER g IS NOT DISTINCT FROM s.cell_id
                 AND lag(s.version_id) OVER g IS NOT DISTINCT FROM s.version_id
                 AND lag(s.owner_id) OVER g IS NOT DISTINCT FROM s.owner_id
                 AND lag(s.owner_cell_id) OVER g IS NOT DISTINCT FROM s.owner_cell_id
                 AND lag(s.chief_id) OVER g IS NOT DISTINCT FROM s.chief_id
                 AND lag(s.leader_id) OVER g IS NOT DISTINCT FROM s.leader_id
                THEN 0 ELSE 1 END AS starts
    FROM sub s
    WINDOW g AS (PARTITION BY s.gid ORDER BY lower(s.r))
),
island AS (
    SELECT f.*, sum(f.starts) OVER (PARTITION BY f.gid ORDER BY lower(f.r)) AS n FROM flag f
),
merged AS MATERIALIZED (
    SELECT i.gid, i.n, i.cell_id, i.township_id, i.version_id, i.owner_id, i.owner_cell_id,
           i.chief_id, i.leader_id, min(lower(i.r)) AS lo, max(upper(i.r)) AS hi
    FROM island i
    GROUP BY i.gid, i.n, i.cell_id, i.township_id, i.version_id, i.owner_id, i.owner_cell_id,
             i.chief_id, i.leader_id
),
-- The few people named, read once (hashed, not probed per row).
named AS MATERIALIZED (
    SELECT p.id, p.code, p.name, p.phone FROM person p
    WHERE p.id IN (SELECT owner_id FROM who UNION SELECT chief_id FROM who
                   UNION SELECT leader_id FROM who)
)
SELECT g.kind, g.gid, m.lo, m.hi,
       lower(g.gap) AS gap_from, upper(g.gap) AS gap_to,
       ((m.hi - interval '1 microsecond') AT TIME ZONE :zone)::date
           - (m.lo AT TIME ZONE :zone)::date + 1 AS days,
       e.management_code, e.name AS enterprise_name,
       c.code AS cell_code, c.name AS cell_name,
       v.id AS version_id, v.valid_from AS version_from,
       o.code AS owner_code, o.name AS owner_name, o.phone AS owner_phone,
       m.owner_cell_id IS NOT NULL AND m.owner_cell_id IS DISTINCT FROM m.cell_id
           AS owner_fallback,
       oc.code AS owner_cell_code, oc.name AS owner_cell_name,
       sc.code AS chief_code, sc.name AS chief_name, sc.phone AS chief_phone,
       tl.code AS leader_code, tl.name AS leader_name, tl.phone AS leader_phone,
       t.code AS township_code, t.name AS township_name,
       CASE WHEN g.inspected THEN g.anchor_day END AS last_inspected, g.due_on,
       g.rectification_id, rf.problem, rf.deadline, rf.status AS rectification_status,
       k.number AS complaint_number, k.due_at, k.status AS complaint_status
FROM merged m
JOIN gap g ON g.gid = m.gid
LEFT JOIN enterprise e ON e.id = g.enterprise_id
LEFT JOIN cell c ON c.id = m.cell_id
LEFT JOIN cell_version v ON v.id = m.version_id
LEFT JOIN named o ON o.id = m.owner_id
LEFT JOIN cell oc ON oc.id = m.owner_cell_id
LEFT JOIN named sc ON sc.id = m.chief_id
LEFT JOIN named tl ON tl.id = m.leader_id
LEFT JOIN township t ON t.id = m.township_id
LEFT JOIN rectification rf ON rf.id = g.rectification_id
LEFT JOIN complaint k ON k.id = g.complaint_id
ORDER BY m.lo, g.kind, e.management_code, k.number, g.gid, m.hi
"""


def period(start: dt.date, end: dt.date, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The moments [start 00:00, the day after end 00:00) of local days ``start``..``end``."""
    tz = ZoneInfo(zone)
    return (dt.datetime.combine(start, dt.time.min, tz),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tz))


def check_kinds(kinds) -> tuple[str, ...]:
    """The kinds asked for (None or empty: all), each one of ``KINDS``; ValidationError
    otherwise. Accepts "a,b" strings as well as lists."""
    if not kinds:
        return KINDS
    if isinstance(kinds, str):
        kinds = [kinds]
    out: list[str] = []
    for value in kinds:
        for kind in str(value).split(","):
            kind = kind.strip()
            if not kind:
                continue
            if kind not in KINDS:
                raise ValidationError("kind", "one of " + ", ".join(KINDS), "choices",
                                      choices=", ".join(KINDS))
            if kind not in out:
                out.append(kind)
    return tuple(out) or KINDS


def check_period(start: dt.date | None, end: dt.date | None) -> None:
    if start is None:
        raise ValidationError("from", "required", "required")
    if end is None:
        raise ValidationError("to", "required", "required")
    if end < start:
        raise ValidationError("to", "before from", "before", other="from")
    if (end - start).days >= MAX_DAYS:
        raise ValidationError("to", f"at most {MAX_DAYS} days after from", "max_days",
                              n=MAX_DAYS)


def _person(code, name, phone) -> dict | None:
    return None if code is None else {"code": code, "name": name, "phone": phone}


def _row(r) -> dict:
    owner = _person(r.owner_code, r.owner_name, r.owner_phone)
    if owner is not None:
        # Fell back (属地兜底): the cell had no owner of its own then; this is the owner of
        # the cell above it (the station's grid, else the city).
        owner["fallback"] = bool(r.owner_fallback)
        owner["from_cell"] = r.owner_cell_code
        owner["from_cell_name"] = r.owner_cell_name
    return {
        "kind": r.kind, "gap": r.gid,
        "enterprise": r.management_code, "enterprise_name": r.enterprise_name,
        "cell": r.cell_code, "cell_name": r.cell_name,
        "from": r.lo, "to": r.hi, "days": r.days,
        "gap_from": r.gap_from, "gap_to": r.gap_to,
        "owner": owner,
        "station_chief": _person(r.chief_code, r.chief_name, r.chief_phone),
        "township_leader": _person(r.leader_code, r.leader_name, r.leader_phone),
        "township": r.township_code, "township_name": r.township_name,
        "boundary_version": (None if r.version_id is None else
                             {"id": r.version_id, "valid_from": r.version_from}),
        "last_inspected": r.last_inspected,
        "due_on": r.due_on if r.kind == "overdue_inspection" else None,
        "rectification": (None if r.rectification_id is None else {
            "id": r.rectification_id, "problem": r.problem, "deadline": r.deadline,
            "status": r.rectification_status}),
        "complaint": (None if r.complaint_number is None else {
            "number": r.complaint_number, "due_at": r.due_at, "status": r.complaint_status}),
    }


def gaps(session: Session, start: dt.date, end: dt.date, *, place: str | None = None,
         kinds=None, zone: str, cells: list[int] | None = None,
         now: dt.datetime | None = None) -> dict:
    """Every gap piece of the local days ``start``..``end`` (inclusive, the bureau's ``zone``)
    among the cells ``cells`` (``gis.policy.visible_cells``; None: everything, what lies
    outside every cell included), narrowed to the cells at or inside the cell ``place``, of
    the ``kinds`` asked for (None: all). ``now`` (default the database's) ends every open
    piece. Returns {"gaps": [...], "from", "to", "now", "kinds", "place"}; each gap as
    ``_row`` shapes it, oldest first; ``to`` None for a piece still open now."""
    check_period(start, end)
    kinds = check_kinds(kinds)
    if place:
        try:
            cells = place_cells(session, cells, place)
        except LookupError:
            raise ValidationError("place", f"there is no cell {place}", "no_such_cell",
                                  cell=place) from None
    if now is None:
        now = session.execute(text("SELECT now()")).scalar()
    dates.require_aware(now, "now")
    start_at, end_at = period(start, end, zone)
    rows = session.execute(text(GAPS_SQL), {
        "start_at": start_at, "end_at": end_at, "now": now, "zone": zone,
        "cells": cells, "kinds": list(kinds)}).all()
    out = []
    for r in rows:
        row = _row(r)
        if row["to"] is not None and row["to"] >= now and (
                row["gap_to"] is None or row["gap_to"] > now):
            row["to"] = None  # still open now
        out.append(row)
    return {"gaps": out, "from": start, "to": end, "now": now, "kinds": list(kinds),
            "place": place}


# --- answers and files -----------------------------------------------------------------------

def _iso(value, zone: str):
    if isinstance(value, dt.datetime):
        return dates.isoformat(value, zone)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def as_json(result: dict, zone: str) -> dict:
    """``gaps``' answer as the API gives it: moments ISO-8601 with the bureau's offset, days
    YYYY-MM-DD."""
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return _iso(value, zone)

    return convert(result)


KIND_LABELS = {"overdue_inspection": "逾期未巡查", "late_rectification": "整改逾期",
               "late_complaint": "投诉逾期未办结"}

# The table's columns (XLSX and CSV): key, Chinese header, how to read it from a gap.
COLUMNS = (
    ("kind", "类型", lambda g: KIND_LABELS[g["kind"]]),
    ("enterprise", "企业管理编码", lambda g: g["enterprise"]),
    ("enterprise_name", "企业名称", lambda g: g["enterprise_name"]),
    ("cell", "网格编码", lambda g: g["cell"]),
    ("cell_name", "网格名称", lambda g: g["cell_name"]),
    ("from", "起", lambda g: g["from"]),
    ("to", "止（空：至今未解决）", lambda g: g["to"]),
    ("days", "天数", lambda g: g["days"]),
    ("owner_code", "网格责任人编号", lambda g: (g["owner"] or {}).get("code")),
    ("owner_name", "网格责任人", lambda g: (g["owner"] or {}).get("name")),
    ("owner_phone", "网格责任人电话", lambda g: (g["owner"] or {}).get("phone")),
    ("owner_from_cell", "属地兜底（责任人所属网格）",
     lambda g: g["owner"]["from_cell"] if g["owner"] and g["owner"]["fallback"] else None),
    ("chief_code", "站长编号", lambda g: (g["station_chief"] or {}).get("code")),
    ("chief_name", "质量监督所所长", lambda g: (g["station_chief"] or {}).get("name")),
    ("chief_phone", "所长电话", lambda g: (g["station_chief"] or {}).get("phone")),
    ("township", "乡镇", lambda g: g["township_name"]),
    ("leader_code", "乡镇领导编号", lambda g: (g["township_leader"] or {}).get("code")),
    ("leader_name", "乡镇领导", lambda g: (g["township_leader"] or {}).get("name")),
    ("leader_phone", "乡镇领导电话", lambda g: (g["township_leader"] or {}).get("phone")),
    ("version", "边界版本", lambda g: (g["boundary_version"] or {}).get("id")),
    ("version_from", "边界版本生效时间", lambda g: (g["boundary_version"] or {}).get("valid_from")),
    ("last_inspected", "上次巡查日期", lambda g: g["last_inspected"]),
    ("due_on", "应巡查日期", lambda g: g["due_on"]),
    ("rectification", "整改编号", lambda g: (g["rectification"] or {}).get("id")),
    ("deadline", "整改期限", lambda g: (g["rectification"] or {}).get("deadline")),
    ("problem", "整改问题", lambda g: (g["rectification"] or {}).get("problem")),
    ("complaint", "投诉编号", lambda g: (g["complaint"] or {}).get("number")),
    ("complaint_due", "投诉办结时限", lambda g: (g["complaint"] or {}).get("due_at")),
)
HEADERS = tuple(header for _key, header, _get in COLUMNS)


def _local(value, zone: str):
    """A moment as the bureau's wall clock shows it (spreadsheets know no time zones)."""
    if isinstance(value, dt.datetime):
        return dates.local(value, zone).replace(tzinfo=None)
    return value


def table_rows(result: dict, zone: str) -> list[list]:
    """The gaps as table rows (``COLUMNS``), moments in the bureau's local time."""
    return [[_local(get(g), zone) for _key, _header, get in COLUMNS] for g in result["gaps"]]


def title(result: dict) -> str:
    return f"问责依据 {result['from']:%Y-%m-%d} 至 {result['to']:%Y-%m-%d}" + (
        f"（{result['place']}）" if result.get("place") else "")


def xlsx(result: dict, zone: str, progress=None) -> bytes:
    """The gaps as an XLSX workbook: one sheet, Chinese headers, one piece a row, moments as
    local date-times; every text through ``spreadsheet_text``. ``progress(n)`` is told every
    ``PROGRESS_ROWS`` rows how many are written (openpyxl writes some 2,000 rows a second:
    100,000 gaps take most of a minute, hence the background job)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("问责依据")
    sheet.freeze_panes = "A2"
    for column, width in {"A": 14, "B": 16, "C": 30, "D": 18, "E": 24, "F": 17, "G": 17,
                          "H": 7}.items():
        sheet.column_dimensions[column].width = width
    header = []
    for value in HEADERS:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    # Plain values (openpyxl gives dates and date-times their formats): a styled cell each
    # costs a third more time.
    for n, row in enumerate(table_rows(result, zone), start=1):
        sheet.append([spreadsheet_text(v) for v in row])
        if progress is not None and n % PROGRESS_ROWS == 0:
            progress(n)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


PROGRESS_ROWS = 2000


def csv_bytes(result: dict, zone: str) -> bytes:
    """The gaps as CSV in UTF-8 with a BOM (Excel opens it as Chinese text), the XLSX's
    columns; moments as local "YYYY-MM-DD HH:MM"."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in table_rows(result, zone):
        writer.writerow(["" if v is None else
                         v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else
                         v.isoformat() if isinstance(v, dt.date) else spreadsheet_text(v)
                         for v in row])
    return out.getvalue().encode("utf-8-sig")


def by_person(result: dict, role: str = "owner") -> list[dict]:
    """The gaps grouped by who held ``role`` (owner, station_chief, township_leader) during
    each piece: [{"person": {...} or None, "gaps": [...], "days": total, "count"}], the most
    days first; pieces with no one in that role last, as one group (person None)."""
    if role not in ROLES:
        raise ValidationError("role", "one of " + ", ".join(ROLES), "choices",
                              choices=", ".join(ROLES))
    groups: dict = {}
    for g in result["gaps"]:
        person = g[role]
        key = person["code"] if person else None
        group = groups.setdefault(key, {"person": person, "gaps": [], "days": 0})
        group["gaps"].append(g)
        group["days"] += g["days"]
    ordered = sorted(groups.values(), key=lambda x: (x["person"] is None, -x["days"],
                                                     (x["person"] or {}).get("code") or ""))
    for group in ordered:
        group["count"] = len(group["gaps"])
    return ordered


# --- the background job ------------------------------------------------------------------------

JOB_KIND = "gap_report"
# Days a workbook made in the background is kept (a PostgreSQL large object) for download.
KEEP_DAYS = 7


def job_payload(start: dt.date, end: dt.date, *, place: str | None, kinds, cells,
                zone: str) -> dict:
    """What the job needs to make the report the user asked for, as they may read it
    (``cells``: gis.policy.report_cells when it was asked)."""
    check_period(start, end)
    return {"from": start.isoformat(), "to": end.isoformat(), "place": place or None,
            "kinds": list(check_kinds(kinds)), "cells": cells, "zone": zone,
            "file_name": file_name(start, end, place, "xlsx")}


def file_name(start: dt.date, end: dt.date, place: str | None, ext: str) -> str:
    return f"gaps{'-' + place if place else ''}-{start:%Y%m%d}-{end:%Y%m%d}.{ext}"


def run_job(session: Session, job: dict, context) -> dict:
    """The job (gis/jobs.py runner): the report, then its workbook, kept as a large object
    whose oid is in the result (written in the job's transaction: a job that fails leaves
    nothing). ``context.progress`` moves the page's bar: 5 % queued, 40 % once the gaps are
    found, then the rows as they are written."""
    progress = context.progress
    payload = job["payload"]
    progress(5)
    result = gaps(session, dt.date.fromisoformat(payload["from"]),
                  dt.date.fromisoformat(payload["to"]), place=payload["place"],
                  kinds=payload["kinds"], zone=payload["zone"], cells=payload["cells"])
    total = max(len(result["gaps"]), 1)
    progress(40)
    data = xlsx(result, payload["zone"], lambda n: progress(40 + int(58 * n / total)))
    oid = session.execute(text("SELECT lo_from_bytea(0, :d)"), {"d": data}).scalar()
    progress(100)
    return {"xlsx": oid, "bytes": len(data), "file_name": payload["file_name"],
            "gaps": len(result["gaps"]), "days": sum(g["days"] for g in result["gaps"])}


def expire_jobs(session: Session) -> None:
    """Drop the workbooks of jobs finished more than ``KEEP_DAYS`` ago (they say "expired")."""
    session.execute(text(f"""
        WITH old AS (
            SELECT id, lo_unlink(CAST(result ->> 'xlsx' AS oid)) FROM job
            WHERE kind = '{JOB_KIND}' AND status = 'done' AND result ? 'xlsx'
              AND finished_at < now() - interval '{KEEP_DAYS} days'
        )
        UPDATE job SET result = (result - 'xlsx') || '{{"expired": true}}'
        WHERE id IN (SELECT id FROM old)"""))


def job_file(session: Session, job: dict) -> bytes | None:
    """The workbook a finished job made; None when it has none (not done, failed, expired)."""
    if job["kind"] != JOB_KIND or job["status"] != "done" or \
            "xlsx" not in (job["result"] or {}):
        return None
    return bytes(session.execute(text("SELECT lo_get(CAST(:o AS oid))"),
                                 {"o": job["result"]["xlsx"]}).scalar())


def scope_size(session: Session, cells: list[int] | None) -> int:
    """How many enterprises the report may cover (those in ``cells`` now; all without): what
    the web decides the background on (a report has about as many rows per year as the
    enterprises it covers; openpyxl writes some 2,000 a second)."""
    return session.execute(text("""
        SELECT count(*) FROM enterprise_cell_current
        WHERE CAST(:cells AS bigint[]) IS NULL OR cell_id = ANY(CAST(:cells AS bigint[]))"""),
        {"cells": cells}).scalar()

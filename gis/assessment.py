"""The quantified assessment (量化考核) and responsibility letters (责任状).

A period is a range of local days ``[start, end]`` in the bureau's zone; a period reaching past
today is assessed up to today (``assessed_to``): nothing that has not happened yet counts. The
units assessed (``KINDS``):

| kind       | a unit is                          | what counts for it                            |
|------------|------------------------------------|-----------------------------------------------|
| person     | a cell owner (网格责任人)           | the cells they answered for, while they did   |
| cell       | a level-3 territorial cell         | its enterprises and complaints                |
| station    | a second-level territorial grid    | every cell inside it                          |
| city       | a city (several side by side in a  | every cell inside it                          |
|            | province, docs/province.md)        |                                               |
| township   | a township (乡镇)                   | the enterprises and complaints inside it      |
| province   | the province (level 0), if any     | every cell                                    |

"Answered for" is the dated responsibilities (``responsibility``, role owner) with the fallback
``gw_cell_owner`` applies (属地兜底): a cell without an owner of its own at a moment is its
grid's owner's then. A person who owned a cell for half the period answers for that half: the
inspections required are prorated by the time, and each record counts for whoever answered for
its place at its moment. An enterprise's cell is the dated ``enterprise_cell`` (a redraw moves
its records only from the day it moved); a complaint's cell is the one stamped on arrival (as
the gap report, gis/gaps.py, reads it).

The measures (``MEASURES``; one SQL statement per kind, grouped by unit):

| rule               | numerator                                 | denominator                     |
|--------------------|-------------------------------------------|---------------------------------|
| inspections_done   | inspections made in the period            | inspections required: for each  |
|                    |                                           | stretch of time an enterprise   |
|                    |                                           | belonged to the unit, its days ÷|
|                    |                                           | the interval of its grade then  |
| rectified_on_time  | problems (rectifications) due in the      | problems due in the period      |
|                    | period, verified and rectified on or      | (deadline in it) whose deadline |
|                    | before the deadline's day                 | has passed, or rectified on time|
| complaints_on_time | complaints due in the period closed by    | complaints due in the period    |
|                    | their due time                            | (``due_at`` in it) that are past|
|                    |                                           | due, or closed on time          |
| spot_check_pass    | passed batches of 监督抽查 in the period    | batches of 监督抽查 in the period |
|                    | (never 定期监督检验: another programme)     |                                 |

A record's moment: an inspection or a batch at the end of its local day (as "as of" dates are
read, gis/dates.py), a problem at the end of its deadline's day, a complaint at its due time.
A problem counts as rectified on time as gis/rectification.py judges lateness: once verified,
by the day the correction was made. A problem or complaint whose deadline has not passed and
that is not done yet is not counted either way.

The score (``score``): each active rule gives ``weight × min(measure ÷ target, 1)`` points
(a rule without a target: ÷ 1). A rule with nothing to measure for a unit (denominator 0: no
complaint was due, no batch sampled) is left out, and the points of the others are scaled up
to the sum of the active weights, so a unit is not rewarded nor punished for what it did not
have; with every rule measured the score is the plain sum. No rule measured: no score.
Ranks are 1, 2, 2, 4 … by score (no score last).

Rules (weights, targets) and letters' files are reference data and records edited through
``set_rule`` and ``record_letter``; the caller authorizes and audits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates, photos
from gis.codes import is_cell_code
from gis.errors import GridWatchError, ValidationError
from gis.tables import spreadsheet_text
from gis.tree import ancestor_at

KINDS = ("person", "cell", "station", "city", "township", "province")
LEVELS = {"province": 0, "city": 1, "station": 2, "cell": 3}
# Rule code -> (numerator column, denominator column) of the statement's rows.
MEASURES = {
    "inspections_done": ("inspections_done", "inspections_required"),
    "rectified_on_time": ("rectified_on_time", "rectifications_due"),
    "complaints_on_time": ("complaints_on_time", "complaints_due"),
    "spot_check_pass": ("spot_check_passed", "spot_check_batches"),
}
# The longest period one request may cover (as the gap report).
MAX_DAYS = 3660
# A responsibility letter's file: a scan as PDF, or a photo of it.
LETTER_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


# --- rules ---------------------------------------------------------------------------------

def rules(session: Session, *, active_only: bool = False) -> list[dict]:
    """The assessment's rules in their order: code, name, weight, target, description,
    active, measured (gis computes a measure of that code)."""
    rows = session.execute(text("""
        SELECT code, name, weight, target, description, active, sort_order FROM assessment_rule
        WHERE active OR NOT CAST(:a AS boolean) ORDER BY sort_order, code"""),
        {"a": active_only}).all()
    return [{**r._mapping, "measured": r.code in MEASURES} for r in rows]


def set_rule(session: Session, code: str, *, weight: float | None = None,
             target: float | None = None, active: bool | None = None) -> tuple[dict, dict]:
    """Change a rule's weight (≥ 0), target (a share in (0, 1]) or whether it counts;
    (before, after) as {weight, rule_target, active}. LookupError for an unknown code."""
    if weight is not None and not (0 <= weight <= 1000):
        raise ValidationError("weight", "between 0 and 1000", "between", min=0, max=1000)
    if target is not None and not (0 < target <= 1):
        raise ValidationError("rule_target", "a share above 0 and at most 1", "between",
                              min=0, max=1)
    before = session.execute(text("""
        SELECT weight, target AS rule_target, active FROM assessment_rule WHERE code = :c
        FOR UPDATE"""), {"c": code}).one_or_none()
    if before is None:
        raise LookupError(code)
    after = session.execute(text("""
        UPDATE assessment_rule SET weight = coalesce(CAST(:w AS float8), weight),
               target = coalesce(CAST(:t AS float8), target),
               active = coalesce(CAST(:a AS boolean), active)
        WHERE code = :c RETURNING weight, target AS rule_target, active"""),
        {"c": code, "w": weight, "t": target, "a": active}).one()
    return dict(before._mapping), dict(after._mapping)


# --- periods -------------------------------------------------------------------------------

def check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ValidationError("to", "before the start date", "before", other="from")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError("to", f"at most {MAX_DAYS} days after the start date",
                              "max_days", n=MAX_DAYS)


def _bounds(start: dt.date, end: dt.date, today: dt.date, zone: str):
    """(first moment, moment after the last assessed day, last assessed day or None)."""
    tz = ZoneInfo(zone)
    last = min(end, today)
    begin = dt.datetime.combine(start, dt.time(), tzinfo=tz)
    if last < start:
        return begin, begin, None
    return begin, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz), last


# --- the statement -------------------------------------------------------------------------

def _end_of(day: str) -> str:
    """The last moment of a local day (a date expression), as a timestamptz."""
    return f"((({day}) + 1)::timestamp AT TIME ZONE :zone - interval '1 microsecond')"


_CELLS = "(CAST(:cells AS bigint[]) IS NULL OR {col} = ANY(CAST(:cells AS bigint[])))"
_UNIT = "(CAST(:unit AS bigint) IS NULL OR {col} = CAST(:unit AS bigint))"


def _level_units(n: int) -> str:
    # Every territorial cell at level n or below belongs to its ancestor at level n for the
    # whole period (a cell's parent is not dated).
    # The ancestor at level n, wherever the path starts (a province's is one step higher).
    unit = ancestor_at("x.path", "x.level", str(n))
    return f"""
unit_cell AS (
    SELECT {unit} AS unit_id, x.id AS cell_id, p.r
    FROM (SELECT c.id, c.level, gw_cell_path(c.id) AS path FROM cell c
          WHERE c.kind = 'territorial' AND c.level >= {n}
            AND {_CELLS.format(col="c.id")} OFFSET 0) x, period p
    WHERE {_CELLS.format(col=unit)} AND {_UNIT.format(col=unit)}
),
{_CELL_FACTS},
unit_list AS (
    SELECT c.id AS unit_id FROM cell c, period p
    WHERE c.kind = 'territorial' AND c.level = {n} AND {_CELLS.format(col="c.id")}
      AND {_UNIT.format(col="c.id")}
      AND EXISTS (SELECT 1 FROM cell_version v WHERE v.cell_id = c.id AND v.valid && p.r)
)"""


# Records of the units made of cells over time (unit_cell: unit, cell, range).
_CELL_FACTS = """
ent_unit AS (
    SELECT uc.unit_id, ec.enterprise_id, ec.valid * uc.r AS r
    FROM unit_cell uc JOIN enterprise_cell ec ON ec.cell_id = uc.cell_id AND ec.valid && uc.r
),
complaint_unit AS (
    SELECT uc.unit_id, k.id AS complaint_id
    FROM complaint k JOIN unit_cell uc ON uc.cell_id = k.cell_id AND uc.r @> k.due_at
    WHERE k.due_at >= CAST(:start AS timestamptz) AND k.due_at < CAST(:stop AS timestamptz)
)"""

# Who answered for each territorial cell when: every owner of the cell or of a cell above it,
# for the part of their period no owner further down covered (gw_cell_owner over time).
_PERSON_UNITS = f"""
own AS (
    SELECT r.cell_id, r.person_id, r.valid * p.r AS valid
    FROM responsibility r, period p
    WHERE r.role = 'owner' AND r.cell_id IS NOT NULL AND r.valid && p.r
),
chain AS (
    SELECT x.id AS cell_id, a.anc, a.depth
    FROM (SELECT c.id FROM cell c
          WHERE c.kind = 'territorial' AND {_CELLS.format(col="c.id")}) x
    CROSS JOIN LATERAL unnest(gw_cell_path(x.id)) WITH ORDINALITY AS a(anc, depth)
),
answers AS (
    SELECT ch.cell_id, o.person_id,
           tstzmultirange(o.valid) - coalesce((
               SELECT range_agg(o2.valid) FROM chain ch2 JOIN own o2 ON o2.cell_id = ch2.anc
               WHERE ch2.cell_id = ch.cell_id AND ch2.depth > ch.depth),
               '{{}}'::tstzmultirange) AS m
    FROM chain ch JOIN own o ON o.cell_id = ch.anc
    WHERE {_UNIT.format(col="o.person_id")}
),
unit_cell AS (
    SELECT a.person_id AS unit_id, a.cell_id, x.r
    FROM answers a CROSS JOIN LATERAL unnest(a.m) AS x(r)
    WHERE NOT isempty(x.r)
),
{_CELL_FACTS},
unit_list AS (SELECT DISTINCT unit_id FROM unit_cell)"""

_TOWNSHIP_UNITS = f"""
ent_unit AS (
    SELECT t.id AS unit_id, ec.enterprise_id, ec.valid * p.r AS r
    FROM enterprise_cell ec JOIN enterprise e ON e.id = ec.enterprise_id
    JOIN township t ON ST_Covers(t.geom, e.geom), period p
    WHERE ec.cell_id IS NOT NULL AND ec.valid && p.r AND {_CELLS.format(col="ec.cell_id")}
      AND {_UNIT.format(col="t.id")}
),
complaint_unit AS (
    SELECT t.id AS unit_id, k.id AS complaint_id
    FROM complaint k JOIN township t ON ST_Covers(t.geom, k.geom)
    WHERE k.due_at >= CAST(:start AS timestamptz) AND k.due_at < CAST(:stop AS timestamptz)
      AND {_CELLS.format(col="k.cell_id")} AND {_UNIT.format(col="t.id")}
),
unit_list AS (
    SELECT t.id AS unit_id FROM township t
    WHERE CAST(:cells AS bigint[]) IS NULL AND {_UNIT.format(col="t.id")}
    UNION SELECT unit_id FROM ent_unit
    UNION SELECT unit_id FROM complaint_unit
)"""

# The grade in force: enterprise_grade, or the enterprise's grade from when it came under
# supervision when it has no history (as gis/gaps.py).
_MEASURES_SQL = f"""
grades AS (
    SELECT g.enterprise_id, g.grade, g.valid FROM enterprise_grade g
    WHERE g.enterprise_id IN (SELECT enterprise_id FROM ent_unit)
    UNION ALL
    SELECT e.id, e.grade, tstzrange(e.valid_from, NULL) FROM enterprise e
    WHERE e.id IN (SELECT enterprise_id FROM ent_unit)
      AND NOT EXISTS (SELECT 1 FROM enterprise_grade g WHERE g.enterprise_id = e.id)
),
required AS (
    SELECT eu.unit_id,
           sum(extract(epoch FROM upper(x.r) - lower(x.r)) / 86400.0 / gi.interval_days)
               AS n
    FROM ent_unit eu
    JOIN grades g ON g.enterprise_id = eu.enterprise_id AND g.valid && eu.r
    CROSS JOIN LATERAL (SELECT eu.r * g.valid AS r) x
    JOIN grade_interval gi ON gi.grade = g.grade
    WHERE NOT isempty(x.r)
    GROUP BY eu.unit_id
),
done AS (
    SELECT eu.unit_id, count(*) AS n
    FROM inspection i
    JOIN ent_unit eu ON eu.enterprise_id = i.enterprise_id
         AND eu.r @> {_end_of("i.inspected_on")}
    WHERE i.inspected_on BETWEEN CAST(:first AS date) AND CAST(:last AS date)
    GROUP BY eu.unit_id
),
rect AS (
    SELECT eu.unit_id, count(*) FILTER (WHERE x.on_time) AS on_time, count(*) AS due
    FROM (SELECT r.enterprise_id, r.deadline,
                 r.status = 'verified' AND (coalesce(r.rectified_at, r.verified_at)
                     AT TIME ZONE :zone)::date <= r.deadline AS on_time
          FROM rectification r
          WHERE r.deadline BETWEEN CAST(:first AS date) AND CAST(:last AS date)) x
    JOIN ent_unit eu ON eu.enterprise_id = x.enterprise_id
         AND eu.r @> {_end_of("x.deadline")}
    WHERE x.deadline < CAST(:today AS date) OR x.on_time
    GROUP BY eu.unit_id
),
compl AS (
    SELECT cu.unit_id,
           count(*) FILTER (WHERE k.status = 'closed' AND k.closed_at <= k.due_at) AS on_time,
           count(*) AS due
    FROM complaint_unit cu JOIN complaint k ON k.id = cu.complaint_id
    WHERE k.due_at < CAST(:now AS timestamptz)
       OR (k.status = 'closed' AND k.closed_at <= k.due_at)
    GROUP BY cu.unit_id
),
spot AS (
    SELECT eu.unit_id, sum(k.passed) AS passed, sum(k.batches) AS batches
    FROM spot_check k
    JOIN ent_unit eu ON eu.enterprise_id = k.enterprise_id
         AND eu.r @> {_end_of("k.checked_on")}
    WHERE k.kind = 'spot_check'
      AND k.checked_on BETWEEN CAST(:first AS date) AND CAST(:last AS date)
    GROUP BY eu.unit_id
)
"""

_NAMES = {
    "person": ("person n ON n.id = u.unit_id", """,
        (SELECT array_agg(DISTINCT c.code ORDER BY c.code) FROM unit_cell uc
         JOIN cell c ON c.id = uc.cell_id WHERE uc.unit_id = u.unit_id) AS cells,
        n.phone"""),
    "township": ("township n ON n.id = u.unit_id", ", NULL::text[] AS cells, NULL AS phone"),
    "level": ("cell n ON n.id = u.unit_id", ", NULL::text[] AS cells, NULL AS phone"),
}


def _statement(kind: str) -> str:
    if kind == "person":
        units, names = _PERSON_UNITS, _NAMES["person"]
    elif kind == "township":
        units, names = _TOWNSHIP_UNITS, _NAMES["township"]
    else:
        units, names = _level_units(LEVELS[kind]), _NAMES["level"]
    return f"""
WITH
period AS (
    SELECT tstzrange(CAST(:start AS timestamptz), CAST(:stop AS timestamptz), '[)') AS r
),
{units},
{_MEASURES_SQL}
SELECT u.unit_id, n.code, n.name {names[1]},
       coalesce(dn.n, 0) AS inspections_done, coalesce(rq.n, 0) AS inspections_required,
       coalesce(rc.on_time, 0) AS rectified_on_time, coalesce(rc.due, 0) AS rectifications_due,
       coalesce(cp.on_time, 0) AS complaints_on_time, coalesce(cp.due, 0) AS complaints_due,
       coalesce(sp.passed, 0) AS spot_check_passed, coalesce(sp.batches, 0)
           AS spot_check_batches
FROM unit_list u
JOIN {names[0]}
LEFT JOIN required rq ON rq.unit_id = u.unit_id
LEFT JOIN done dn ON dn.unit_id = u.unit_id
LEFT JOIN rect rc ON rc.unit_id = u.unit_id
LEFT JOIN compl cp ON cp.unit_id = u.unit_id
LEFT JOIN spot sp ON sp.unit_id = u.unit_id
ORDER BY n.code
"""


def figures(session: Session, kind: str, start: dt.date, end: dt.date, *, zone: str,
            today: dt.date, now: dt.datetime | None = None, cells: list[int] | None = None,
            unit: int | None = None) -> list[dict]:
    """Per unit of ``kind`` (``KINDS``) the numerators and denominators of every measure for
    the local days ``[start, end]`` (up to ``today``), from the records of the cells ``cells``
    (None: all); ``unit``: that unit alone (a cell's, person's or township's id). Rows:
    unit_id, code, name, cells (a person's), phone (a person's), and the columns of
    ``MEASURES``."""
    if kind not in KINDS:
        raise ValidationError("assessment_level", "one of " + ", ".join(KINDS), "choices",
                              choices=", ".join(KINDS))
    check_period(start, end)
    begin, stop, last = _bounds(start, end, today, zone)
    now = now or dt.datetime.now(dt.timezone.utc)
    rows = session.execute(text(_statement(kind)), {
        "start": begin, "stop": stop, "first": start, "last": last or start,
        "today": today, "now": min(now, stop), "zone": zone, "cells": cells,
        "unit": unit}).all()
    return [dict(r._mapping) for r in rows]


# --- the score -----------------------------------------------------------------------------

def terms(row: dict, active_rules: list[dict]) -> list[dict]:
    """The computation of one unit's score, one term per active rule: code, name, weight,
    target, numerator, denominator, measure (None: nothing to measure), ratio (measure ÷
    target, at most 1), points (weight × ratio), applies."""
    out = []
    for rule in active_rules:
        columns = MEASURES.get(rule["code"])
        if columns is None:
            continue
        num, den = (float(row[c]) for c in columns)
        target = rule["target"] or 1.0
        measure = num / den if den > 0 else None
        ratio = None if measure is None else min(measure / target, 1.0)
        out.append({"code": rule["code"], "name": rule["name"], "weight": rule["weight"],
                    "target": rule["target"], "numerator": num, "denominator": den,
                    "measure": measure, "ratio": ratio, "applies": measure is not None,
                    "points": None if ratio is None else rule["weight"] * ratio})
    return out


def score(unit_terms: list[dict]) -> float | None:
    """Σ points of the terms that apply, scaled from their weights to all the weights (see
    the module); None when none applies or their weights are all 0."""
    total = sum(t["weight"] for t in unit_terms)
    applying = [t for t in unit_terms if t["applies"]]
    weight = sum(t["weight"] for t in applying)
    if not applying or weight <= 0:
        return None
    return sum(t["points"] for t in applying) * total / weight


def assess(session: Session, kind: str, start: dt.date, end: dt.date, *, zone: str,
           today: dt.date | None = None, now: dt.datetime | None = None,
           cells: list[int] | None = None, unit: int | None = None) -> dict:
    """The ranked assessment: kind, from, to, assessed_to (the last day counted, None before
    the period begins), rules (the active ones), units (each: rank, unit_id, code, name,
    cells, score, terms and the raw figures), best first."""
    today = today or dates.today(zone)
    active = [r for r in rules(session, active_only=True) if r["measured"]]
    rows = figures(session, kind, start, end, zone=zone, today=today, now=now, cells=cells,
                   unit=unit)
    units = []
    for row in rows:
        unit_terms = terms(row, active)
        units.append({**row, "cells": list(row["cells"] or []), "terms": unit_terms,
                      "score": score(unit_terms)})
    units.sort(key=lambda u: (u["score"] is None, -(u["score"] or 0), u["code"]))
    rank, previous = 0, object()
    for n, u in enumerate(units, start=1):
        key = None if u["score"] is None else round(u["score"], 6)
        if key != previous:
            rank, previous = n, key
        u["rank"] = rank if u["score"] is not None else None
    _b, _s, last = _bounds(start, end, today, zone)
    return {"kind": kind, "from": start, "to": end, "assessed_to": last, "rules": active,
            "units": units}


def as_json(result: dict) -> dict:
    """The assessment as the API gives it (dates ISO, numbers rounded for reading)."""
    def day(d):
        return d.isoformat() if d else None

    def num(x, places=4):
        return None if x is None else round(x, places)

    return {
        "level": result["kind"], "from": day(result["from"]), "to": day(result["to"]),
        "assessed_to": day(result["assessed_to"]),
        "rules": [{"code": r["code"], "name": r["name"], "weight": r["weight"],
                   "target": r["target"]} for r in result["rules"]],
        "units": [{"rank": u["rank"], "code": u["code"], "name": u["name"],
                   **({"cells": u["cells"]} if result["kind"] == "person" else {}),
                   "score": num(u["score"], 2),
                   "terms": [{"rule": t["code"], "numerator": num(t["numerator"]),
                              "denominator": num(t["denominator"]),
                              "measure": num(t["measure"]), "target": t["target"],
                              "weight": t["weight"], "points": num(t["points"], 2),
                              "applies": t["applies"]} for t in u["terms"]]}
                  for u in result["units"]],
    }


KIND_HEADERS = {"person": "责任人", "cell": "网格", "station": "二级网格", "city": "城市",
                "township": "乡镇", "province": "省"}


def xlsx(result: dict) -> bytes:
    """The ranked assessment as a workbook: one row a unit (rank, code, name, score) and, for
    every rule, its numerator, denominator, measure, target, weight and points; Chinese
    headers; a second sheet states the rules and how the score is computed."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "考核"
    who = KIND_HEADERS[result["kind"]]
    header = ["排名", f"{who}编码", f"{who}名称"]
    if result["kind"] == "person":
        header.append("负责网格")
    header.append("得分")
    for rule in result["rules"]:
        header += [f"{rule['name']}·分子", f"{rule['name']}·分母", f"{rule['name']}·完成率",
                   f"{rule['name']}·目标", f"{rule['name']}·权重", f"{rule['name']}·得分"]
    sheet.append([spreadsheet_text(h) for h in header])
    for c in sheet[1]:
        c.font = Font(bold=True)
    percent = set()
    for u in result["units"]:
        row = [u["rank"], spreadsheet_text(u["code"]), spreadsheet_text(u["name"])]
        if result["kind"] == "person":
            row.append(spreadsheet_text("、".join(u["cells"])))
        row.append(None if u["score"] is None else round(u["score"], 2))
        for t in u["terms"]:
            percent |= {len(row) + 3, len(row) + 4}
            row += [round(t["numerator"], 4), round(t["denominator"], 4),
                    None if t["measure"] is None else round(t["measure"], 4), t["target"],
                    t["weight"], None if t["points"] is None else round(t["points"], 2)]
        sheet.append(row)
        for column in percent:
            sheet.cell(row=sheet.max_row, column=column).number_format = "0.0%"
    sheet.freeze_panes = "D2"
    last = result["assessed_to"]
    sheet.oddHeader.center.text = (f"{who}量化考核 {result['from']:%Y-%m-%d} 至 "
                                   f"{result['to']:%Y-%m-%d}")
    method = book.create_sheet("计算方法")
    method.append(["考核期间", f"{result['from']:%Y-%m-%d} 至 {result['to']:%Y-%m-%d}"])
    method.append(["计算截至", f"{last:%Y-%m-%d}" if last else "考核期尚未开始"])
    method.append(["得分", "各项得分 = 权重 × min(完成率 ÷ 目标, 1)；无可考核内容（分母为0）的项目"
                   "不计，其余项目得分按全部权重折算；分母均为0时无得分"])
    method.append([])
    method.append(["规则编码", "规则名称", "权重", "目标", "说明"])
    for rule in result["rules"]:
        method.append([rule["code"], spreadsheet_text(rule["name"]), rule["weight"],
                       rule["target"], spreadsheet_text(rule["description"])])
    method.column_dimensions["A"].width = 20
    method.column_dimensions["B"].width = 24
    method.column_dimensions["E"].width = 60
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- responsibility letters ----------------------------------------------------------------

class LetterFileRefused(GridWatchError):
    """A letter's file we do not keep. ``code``: too_large (``size``, ``limit``), not_letter
    (no PDF, JPEG or PNG by its content), damaged (an image that does not decode)."""

    def __init__(self, code: str, file_name: str | None, **params):
        super().__init__(f"{file_name or 'file'}: refused ({code})")
        self.code = code
        self.file_name = file_name
        self.params = params


def sniff_letter(data: bytes) -> str | None:
    """The media type of a letter's file by its content: a PDF (its ``%PDF-`` header within
    the first kilobyte, as readers allow, and an end-of-file marker in the last two), a JPEG
    or a PNG (gis.photos.sniff); None for anything else."""
    if b"%PDF-" in data[:1024] and b"%%EOF" in data[-2048:]:
        return "application/pdf"
    media_type = photos.sniff(data)
    return media_type if media_type in LETTER_TYPES else None


def check_letter_file(data: bytes, max_bytes: int | None, file_name: str | None) -> str:
    """The media type of an acceptable letter file; LetterFileRefused otherwise. Images are
    decoded (gis.photos.check) so a damaged one is refused."""
    if max_bytes is not None and len(data) > max_bytes:
        raise LetterFileRefused("too_large", file_name, size=len(data), limit=max_bytes)
    media_type = sniff_letter(data)
    if media_type is None:
        raise LetterFileRefused("not_letter", file_name)
    if media_type != "application/pdf":
        try:
            photos.check(data, max_bytes, file_name)
        except photos.PhotoRefused as exc:
            raise LetterFileRefused("damaged", file_name, **exc.params) from None
    return media_type


def parse_targets(values: dict, codes) -> dict[str, float]:
    """A letter's targets: {rule code: share in (0, 1]}; blank values left out."""
    out = {}
    for code, value in (values or {}).items():
        if code not in codes:
            raise ValidationError("targets", f"{code} is no assessment rule", "unknown_rule",
                                  rule=str(code)[:40])
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            share = float(value)
        except (TypeError, ValueError):
            share = math.nan
        if isinstance(value, bool) or not (0 < share <= 1):
            raise ValidationError("targets", f"the target of {code} is a share above 0 and at "
                                  "most 1", "target_share", rule=code)
        out[code] = share
    return out


def record_letter(session: Session, store, *, person: str, place: str, start: dt.date,
                  end: dt.date, signed_on: dt.date | None, targets: dict,
                  data: bytes | None = None, file_name: str | None = None,
                  note: str | None = None, username: str | None = None,
                  max_bytes: int | None = None) -> dict:
    """Keep a responsibility letter: ``person`` (a person code) signed for the cell
    ``place`` (a territorial cell's code) for the days ``[start, end]``, with ``targets``
    ({rule code: share}) and the scanned file (checked by content, kept in ``store`` by its
    SHA-256). The caller has authorized it. Returns the letter (``letter``)."""
    pid = session.execute(text("SELECT id FROM person WHERE code = :c"),
                          {"c": person}).scalar() if person else None
    if pid is None:
        raise ValidationError("person", f"there is no person {person}", "no_such_person",
                              person=str(person)[:40])
    cell = session.execute(text("SELECT id, kind FROM cell WHERE code = :c"),
                           {"c": place}).one_or_none() if is_cell_code(place or "") else None
    if cell is None:
        raise ValidationError("place", f"there is no cell {place}", "no_such_cell",
                              cell=str(place)[:40])
    if cell.kind != "territorial":
        raise ValidationError("place", "a territorial grid or cell", "not_territorial",
                              cell=place)
    if end < start:
        raise ValidationError("to", "before the start date", "before", other="from")
    targets = parse_targets(targets, {r["code"] for r in rules(session)})
    sha256 = media_type = None
    if data:
        media_type = check_letter_file(data, max_bytes, file_name)
        sha256 = hashlib.sha256(data).hexdigest()
        if store.put(data) != sha256:
            raise RuntimeError("the store returned another hash")
    import json

    letter_id = session.execute(text("""
        INSERT INTO responsibility_letter (person_id, cell_id, period_from, period_to,
            signed_on, targets, file_sha256, file_type, file_name, note, username)
        VALUES (:p, :c, :f, :t, :s, CAST(:targets AS jsonb), :h, :mt, :fn, :n, :u)
        RETURNING id"""), {
        "p": pid, "c": cell.id, "f": start, "t": end, "s": signed_on,
        "targets": json.dumps(targets), "h": sha256, "mt": media_type,
        "fn": photos.clean_file_name(file_name) if data else None,
        "n": (note or "").strip() or None, "u": username}).scalar()
    return letter(session, letter_id)


_LETTER_SQL = """
    SELECT l.id, l.period_from, l.period_to, l.signed_on, l.targets, l.file_sha256,
           l.file_type, l.file_name, l.note, l.username, l.created_at,
           p.id AS person_id, p.code AS person_code, p.name AS person_name,
           p.phone AS person_phone, p.unit AS person_unit,
           c.id AS cell_id, c.code AS cell_code, c.name AS cell_name, c.level AS cell_level,
           gw_cell_path(c.id) AS path
    FROM responsibility_letter l
    JOIN person p ON p.id = l.person_id
    JOIN cell c ON c.id = l.cell_id
"""


def letter(session: Session, letter_id: int) -> dict | None:
    row = session.execute(text(_LETTER_SQL + " WHERE l.id = :i"),
                          {"i": letter_id}).one_or_none()
    return None if row is None else {**row._mapping, "path": tuple(row.path or ())}


def letters(session: Session, *, cells: list[int] | None = None, person: str | None = None,
            place: str | None = None, limit: int = 500) -> list[dict]:
    """Letters newest period first, of the cells ``cells`` (None: all), of one person
    (code) or of one place (a cell code: the letters of it and of the cells inside it)."""
    rows = session.execute(text(_LETTER_SQL + f"""
        WHERE {_CELLS.format(col="l.cell_id")}
          AND (CAST(:person AS text) IS NULL OR p.code = :person)
          AND (CAST(:place AS text) IS NULL OR l.cell_id IN (
                WITH RECURSIVE down(id) AS (
                    SELECT id FROM cell WHERE code = :place
                    UNION SELECT x.id FROM cell x JOIN down ON x.parent_id = down.id)
                SELECT id FROM down))
        ORDER BY l.period_from DESC, l.id DESC LIMIT :limit"""),
        {"cells": cells, "person": person, "place": place, "limit": limit}).all()
    return [{**r._mapping, "path": tuple(r.path or ())} for r in rows]


def kind_of_cell(level: int) -> str:
    return {0: "province", 1: "city", 2: "station"}.get(level, "cell")


def compare(session: Session, the_letter: dict, *, zone: str, today: dt.date | None = None,
            now: dt.datetime | None = None) -> dict:
    """The assessment of the letter's place for its period against its targets: unit (the
    place's assessment, or None when it has nothing), assessed_to, and rows (rule code,
    name, target, numerator, denominator, measure, met: True / False / None when there was
    nothing to measure), one per target."""
    kind = kind_of_cell(the_letter["cell_level"])
    result = assess(session, kind, the_letter["period_from"], the_letter["period_to"],
                    zone=zone, today=today, now=now, unit=the_letter["cell_id"])
    unit = result["units"][0] if result["units"] else None
    all_rules = {r["code"]: r for r in rules(session)}
    names = {code: r["name"] for code, r in all_rules.items()}
    # In the rules' order (a JSON object's keys come back in an order of their own).
    order = {code: n for n, code in enumerate(all_rules)}
    rows = []
    for code, target in sorted(the_letter["targets"].items(),
                               key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        term = None
        if unit is not None:
            term = next((t for t in unit["terms"] if t["code"] == code), None)
        if term is None and unit is not None and code in MEASURES and code in all_rules:
            # A rule no longer active still has its measure to compare.
            term = terms(unit, [all_rules[code]])[0]
        measure = term["measure"] if term else None
        rows.append({"code": code, "name": names.get(code, code), "target": target,
                     "numerator": term["numerator"] if term else None,
                     "denominator": term["denominator"] if term else None,
                     "measure": measure,
                     "met": None if measure is None else measure + 1e-9 >= target})
    return {"kind": kind, "unit": unit, "assessed_to": result["assessed_to"], "rows": rows,
            "rules": result["rules"]}

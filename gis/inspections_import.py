"""Inspections brought in from the bureau's previous system (历史巡查记录), so that the figures
and the gap report cover the years before GridWatch.

One row an inspection, XLSX or CSV (UTF-8 or GBK), Chinese or English headers (``COLUMNS``;
full-width forms folded): the previous system's number (原系统编号), the enterprise (企业管理编码,
else 统一社会信用代码, else its exact name), the day (检查日期), who inspected (检查人员: a person
code 人员编号 or a name on the roster; two people separated by 、), and what was found: the
failed checklist items (不符合项: codes or titles, 、-separated) and/or one column per checklist
item (its code or title as the header; 合格 / 不合格 / 不适用), an overall result (检查结果:
合格 / 不合格), the problems in words (发现问题), the deadline (整改期限) and the day the
correction was accepted (整改完成日期).

What is stored is what recording the inspection on the day would have stored: the inspection
(``external_id`` the old number, ``username`` who imported it), one rectification per failed
item (or one for the problems in words when the old system kept no items), opened on the
inspection's day; those with a 整改完成日期 verified on that day (gis/rectification.py
``closed_as_recorded``), the others left open, so the history shows them late or not as they
were. Days are local days in the bureau's zone; a step's moment is the start of its day.

The import is one transaction: every row is checked first and one bad row refuses the file,
each bad row named with its field and reason. The old number keys the row: importing the same
file again changes nothing (a number already stored for another enterprise or day is refused).
An inspection before its enterprise came under supervision (enterprise.valid_from, 纳入监管日期)
is refused: bring the enterprises' dates in first (docs/history-import.md).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates, tables
from gis.errors import ImportRefused, RowProblem
from gis.limits import Limits
from gis.people import ONE_STAFF_SQL
from gis.rectification import closed_as_recorded, open_rectification, sync_inspection
from gis.validation import ValidationError, check_text

# field -> accepted headers (the canonical English one first, then the Chinese one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "original_number": ("original_number", "原系统编号", "检查编号", "原编号", "记录编号",
                        "external_id"),
    "management_code": ("management_code", "企业管理编码", "管理编码"),
    "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
    "enterprise_name": ("enterprise_name", "企业名称", "被检查单位"),
    "inspected_on": ("inspected_on", "检查日期", "巡查日期", "检查时间"),
    "inspector": ("inspector", "检查人员", "检查人", "巡查人员"),
    "result": ("result", "检查结果", "检查结论"),
    "failed_items": ("failed_items", "不符合项", "不合格项", "不符合项目"),
    "problems": ("problems", "发现问题", "存在问题", "问题描述"),
    "deadline": ("deadline", "整改期限", "整改时限"),
    "rectified_on": ("rectified_on", "整改完成日期", "整改完成时间", "复查日期"),
}
ENTERPRISE_FIELDS = ("management_code", "credit_code", "enterprise_name")
REQUIRED = ("original_number", ENTERPRISE_FIELDS, "inspected_on")
# The database's widths (gis/models.py), so a long value is a refusal naming its row.
MAX_LENGTH = {"original_number": 64, "management_code": 40, "credit_code": 18,
              "enterprise_name": 200, "inspector": 200, "problems": 4000, "failed_items": 2000}
# An item's result as old forms write it, folded (NFKC, lower case, no spaces).
ITEM_WORDS = {"合格": "pass", "符合": "pass", "是": "pass", "√": "pass", "✓": "pass",
              "pass": "pass", "不合格": "fail", "不符合": "fail", "否": "fail", "×": "fail",
              "✗": "fail", "fail": "fail", "不适用": "na", "无此项": "na", "/": "na",
              "na": "na", "n/a": "na"}
RESULT_WORDS = {"合格": True, "符合": True, "pass": True, "不合格": False, "不符合": False,
                "fail": False}
# Several items or people in one field: Q05、Q08 (or , ; / and their full-width forms).
SEPARATORS = re.compile(r"\s*[,;、/]\s*")


@dataclass
class Row:
    """One inspection, checked: what ``save`` stores."""

    row: int
    external_id: str
    enterprise_id: int
    management_code: str
    inspected_on: dt.date
    inspector_id: int | None
    second_inspector_id: int | None
    results: dict[str, str]
    failed: list[str | None]  # the failed items' codes; None: the problems in words
    problems: str | None
    deadline: dt.date | None
    rectified_on: dt.date | None
    existing: int | None = None  # the stored inspection of this number (nothing to write)


@dataclass
class HistorySummary:
    inserted: int = 0
    updated: int = 0  # an old number already stored is never changed
    unchanged: int = 0
    refused: int = 0  # one bad row and nothing is written
    rectifications: int = 0
    verified: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The earliest inspection day of the file (the history it reaches back to).
    dated_from: dt.date | None = None

    def line(self) -> str:
        return (f"inserted {self.inserted}, unchanged {self.unchanged}; rectifications "
                f"{self.rectifications} ({self.verified} closed as they were)")


def _fold(value) -> str:
    return unicodedata.normalize("NFKC", str(value if value is not None else "")).strip()


def _word(value) -> str:
    return re.sub(r"\s+", "", _fold(value)).lower()


def _text(name: str, value) -> str | None:
    value = str(value if value is not None else "").strip()
    if not value:
        return None
    check_text(name, value)
    if name in MAX_LENGTH and len(value) > MAX_LENGTH[name]:
        raise ValidationError(name, f"at most {MAX_LENGTH[name]} characters", "max_length",
                              n=MAX_LENGTH[name])
    return value


def _day(name: str, value) -> dt.date | None:
    if value is None or not str(value).strip():
        return None
    return dates.parse_written_date(value, name)


class _Lookups:
    """What rows name, read once per file: the checklist, people, enterprises."""

    def __init__(self, session: Session):
        self.session = session
        items = session.execute(text("SELECT code, title FROM checklist_item")).all()
        self.titles = {i.code: i.title for i in items}
        # An item by its code or its title, as a header or in a list (case and full-width
        # forms folded).
        self.items = {_word(i.code): i.code for i in items}
        self.items.update({_word(i.title): i.code for i in items})
        self.enterprises: dict = {}
        self.people: dict = {}

    def item(self, word: str) -> str:
        code = self.items.get(_word(word))
        if code is None:
            raise ValidationError("failed_items", f"no checklist item {word!r}", "unknown_item",
                                  item=word)
        return code

    def person(self, who: str) -> int:
        """A person by code (人员编号), else by name when exactly one of the staff has it."""
        if who not in self.people:
            by_code = self.session.execute(text("SELECT id FROM person WHERE code = :w"),
                                           {"w": who}).scalar()
            # By name among the staff only: an enterprise's principal of the same name is
            # nobody who inspects.
            found = [by_code] if by_code is not None else list(self.session.execute(text(
                f"""SELECT p.id FROM person p
                    WHERE normalize(p.name, NFKC) = normalize(:w, NFKC) AND {ONE_STAFF_SQL}
                    LIMIT 2"""), {"w": who}).scalars())
            self.people[who] = found
        found = self.people[who]
        if not found:
            raise ValidationError("inspector", f"there is no person {who}", "no_such_target",
                                  kind="person", name=who)
        if len(found) > 1:
            raise ValidationError("inspector", f"several people are named {who}; give the "
                                  "person code", "several_people", name=who)
        return found[0]

    def enterprise(self, values: dict):
        """(id, management code, local day it came under supervision) of the enterprise a row
        names: by management code, else credit code, else exact name; two codes given must
        name the same one."""
        found = []
        for name, sql in (("management_code", "management_code = :v"),
                          ("credit_code", "credit_code = upper(:v)"),
                          ("enterprise_name", "normalize(name, NFKC) = normalize(:v, NFKC)")):
            value = values.get(name)
            if value is None or (found and name == "enterprise_name"):
                continue
            key = (name, value)
            if key not in self.enterprises:
                self.enterprises[key] = self.session.execute(text(f"""
                    SELECT id, management_code, valid_from FROM enterprise WHERE {sql}
                    ORDER BY management_code LIMIT 2"""), {"v": value}).all()
            rows = self.enterprises[key]
            if not rows:
                raise ValidationError(name, f"there is no enterprise {value}", "no_such_target",
                                      kind="enterprise", name=value)
            if len(rows) > 1:
                raise ValidationError(name, f"several enterprises are {value}; give the "
                                      "management code", "several_enterprises", name=value)
            if found and found[0].id != rows[0].id:
                raise ValidationError(name, f"{value} is enterprise {rows[0].management_code}, "
                                      f"not {found[0].management_code}", "other_enterprise",
                                      name=value, enterprise=found[0].management_code)
            found.append(rows[0])
        if not found:
            raise ValidationError("management_code", "required: the management code, credit "
                                  "code or name of the enterprise", "enterprise_required")
        return found[0]


def _check(look: _Lookups, rowno: int, values: dict, items: dict[str, str], *,
           today: dt.date, zone: str) -> tuple[Row | None, list[ValidationError]]:
    """One row: ``values`` by ``COLUMNS``' fields, ``items`` {item code: value as written}
    from the per-item columns."""
    errors: list[ValidationError] = []
    got: dict = {}

    def take(name, reader, value):
        try:
            got[name] = reader(name, value)
        except ValidationError as exc:
            errors.append(exc)
            got[name] = None

    for name in ("original_number", "management_code", "credit_code"):
        take(name, _text, _fold(values.get(name)))
    if got["original_number"] and re.search(r"\s", got["original_number"]):
        errors.append(ValidationError("original_number", "a number has no spaces", "pattern"))
    for name in ("enterprise_name", "problems", "inspector", "failed_items"):
        take(name, _text, values.get(name))
    for name in ("inspected_on", "deadline", "rectified_on"):
        take(name, _day, values.get(name))
    for name in ("original_number", "inspected_on"):
        if got.get(name) is None and not any(e.field == name for e in errors):
            errors.append(ValidationError(name, "required", "required"))

    result = None
    if _word(values.get("result")):
        result = RESULT_WORDS.get(_word(values.get("result")))
        if result is None:
            errors.append(ValidationError("result", "合格 or 不合格", "choices",
                                          choices="合格, 不合格"))
    results: dict[str, str] = {}
    for code, written in items.items():
        word = _word(written)
        if not word:
            continue
        if word not in ITEM_WORDS:
            errors.append(ValidationError("results", f"item {code}: 合格, 不合格 or 不适用",
                                          "item_result", item=code))
            continue
        results[code] = ITEM_WORDS[word]
    for word in SEPARATORS.split(unicodedata.normalize("NFKC", got.get("failed_items") or "")):
        if word:
            try:
                results[look.item(word)] = "fail"
            except ValidationError as exc:
                errors.append(exc)
    failed = sorted(c for c, v in results.items() if v == "fail")
    # No items failed but the old system says something was wrong and set a deadline: one
    # rectification for the problems in words.
    unlisted = not failed and (result is False or (got["deadline"] is not None
                                                   and got["problems"] is not None))
    if result is True and failed:
        errors.append(ValidationError("result", "合格, yet items failed: "
                                      + "、".join(failed), "passed_with_failures",
                                      items="、".join(failed)))
    if unlisted and got["problems"] is None and not any(e.field == "problems" for e in errors):
        errors.append(ValidationError("problems", "required when the inspection found "
                                      "problems but names no checklist item",
                                      "problems_required"))
    something = bool(failed) or unlisted
    day = got["inspected_on"]
    if something and got["deadline"] is None and not any(e.field == "deadline" for e in errors):
        errors.append(ValidationError("deadline", "required when an item fails",
                                      "deadline_required"))
    if got["rectified_on"] is not None and not something:
        errors.append(ValidationError("rectified_on", "nothing failed, nothing to rectify",
                                      "nothing_to_rectify"))
    if day is not None:
        if day > today:
            errors.append(ValidationError("inspected_on", f"after today ({today})",
                                          "after_today", day=today.isoformat()))
        for name in ("deadline", "rectified_on"):
            if got[name] is not None and got[name] < day:
                errors.append(ValidationError(name, "before the inspection date", "before",
                                              other="inspected_on"))
    if got["rectified_on"] is not None and got["rectified_on"] > today:
        errors.append(ValidationError("rectified_on", f"after today ({today})", "after_today",
                                      day=today.isoformat()))

    inspectors: list[int] = []
    for who in SEPARATORS.split(unicodedata.normalize("NFKC", got.get("inspector") or "")):
        if who:
            try:
                inspectors.append(look.person(who))
            except ValidationError as exc:
                errors.append(exc)
    if len(inspectors) > 2:
        errors.append(ValidationError("inspector", "at most two people", "two_inspectors"))
    elif len(inspectors) == 2 and inspectors[0] == inspectors[1]:
        errors.append(ValidationError("inspector", "the same person twice", "same_inspector"))

    enterprise = None
    if not any(e.field in ENTERPRISE_FIELDS for e in errors):
        try:
            enterprise = look.enterprise(got)
        except ValidationError as exc:
            errors.append(exc)
    if enterprise is not None and day is not None:
        since = dates.local(enterprise.valid_from, zone).date()
        if day < since:
            errors.append(ValidationError(
                "inspected_on", f"before enterprise {enterprise.management_code} came under "
                f"supervision ({since}); import its 纳入监管日期 first", "before_supervision",
                enterprise=enterprise.management_code, day=since.isoformat()))
    if errors:
        return None, errors
    return Row(row=rowno, external_id=got["original_number"], enterprise_id=enterprise.id,
               management_code=enterprise.management_code, inspected_on=day,
               inspector_id=inspectors[0] if inspectors else None,
               second_inspector_id=inspectors[1] if len(inspectors) > 1 else None,
               results=results, failed=failed if failed else ([None] if unlisted else []),
               problems=got["problems"], deadline=got["deadline"],
               rectified_on=got["rectified_on"]), []


def _stored(session: Session, row: Row) -> ValidationError | None:
    """None when the number is new (or is this very inspection: ``row.existing`` is set);
    the refusal when it names another enterprise's or another day's inspection."""
    found = session.execute(text("""
        SELECT i.id, i.inspected_on, e.management_code FROM inspection i
        JOIN enterprise e ON e.id = i.enterprise_id WHERE i.external_id = :x"""),
        {"x": row.external_id}).one_or_none()
    if found is None:
        return None
    if (found.management_code, found.inspected_on) != (row.management_code, row.inspected_on):
        return ValidationError("original_number", f"{row.external_id} is already the "
                               f"inspection of {found.management_code} on {found.inspected_on}",
                               "number_taken", number=row.external_id,
                               enterprise=found.management_code,
                               day=found.inspected_on.isoformat())
    row.existing = found.id
    return None


def save(session: Session, row: Row, *, username: str, zone: str) -> tuple[int, int, int]:
    """Store one checked inspection as it was: (inspection id, rectifications opened, of which
    closed as recorded)."""
    opened = dates.parse_datetime(row.inspected_on.isoformat(), zone)
    iid = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, second_inspector_id, inspected_on,
                                results, problems_found, problems, rectification_deadline,
                                rectification_status, username, external_id)
        VALUES (:e, :i, :i2, :d, CAST(:r AS jsonb), :n, :p, :dl, :st, :u, :x)
        RETURNING id"""), {
        "e": row.enterprise_id, "i": row.inspector_id, "i2": row.second_inspector_id,
        "d": row.inspected_on, "r": json.dumps(row.results), "n": len(row.failed),
        "p": row.problems, "dl": row.deadline, "st": "open" if row.failed else "none",
        "u": username, "x": row.external_id}).scalar()
    titles = dict(session.execute(text(
        "SELECT code, title FROM checklist_item WHERE code = ANY(:c)"),
        {"c": [c for c in row.failed if c]}).all())
    closed = 0
    for code in row.failed:
        rid = open_rectification(
            session, enterprise_id=row.enterprise_id, inspection_id=iid, item_code=code,
            problem=titles[code] if code else row.problems, deadline=row.deadline,
            username=username, person_id=row.inspector_id, at=opened)
        if row.rectified_on is not None:
            closed_as_recorded(
                session, rid, at=dates.parse_datetime(row.rectified_on.isoformat(), zone),
                username=username, note=f"原系统 {row.external_id}：整改完成 "
                                        f"{row.rectified_on.isoformat()}")
            closed += 1
    if row.failed:
        sync_inspection(session, iid, zone)
    return iid, len(row.failed), closed


def _records(source, limits: Limits | None) -> tuple[str, list[tuple[int, dict]]]:
    if isinstance(source, (str, Path)):
        frame = tables.read_table(source, limits)
        return str(source), list(zip(frame.index, frame.to_dict("records")))
    return "rows", [(i, dict(r)) for i, r in enumerate(source, start=2)]


def import_inspections(session: Session, source, *, today: dt.date, zone: str,
                       username: str, limits: Limits | None = None) -> HistorySummary:
    """``flask inspections import`` and the admin's upload page: the previous system's
    inspections (a path to XLSX or CSV, or a list of {header: value} rows), checked whole,
    then stored in the caller's transaction. Raises ImportRefused listing every bad row
    (row N (number): field: reason) before anything is written."""
    name, records = _records(source, limits)
    headers = list(dict.fromkeys(h for _row, rec in records for h in rec))
    mapping = tables.map_columns(headers, COLUMNS, REQUIRED, name)
    look = _Lookups(session)
    # The other columns whose header is a checklist item (its code or title).
    item_columns = {h: look.items[_word(h)] for h in headers
                    if h not in mapping and _word(h) in look.items}
    problems: list[RowProblem] = []
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for rowno, rec in records:
        values = {f: rec.get(col) for col, f in mapping.items()}
        number = _fold(values.get("original_number"))[:64]
        where = f"row {rowno}" + (f" ({number})" if number else "")
        row, errors = _check(look, rowno, values,
                             {code: rec.get(h) for h, code in item_columns.items()},
                             today=today, zone=zone)
        if number and number in seen:
            errors.append(ValidationError("original_number", f"{number} repeats row "
                                          f"{seen[number]}", "repeats_row", row=seen[number]))
        elif number:
            seen[number] = rowno
            taken = _stored(session, row) if row is not None else None
            if taken is not None:
                errors.append(taken)
        if errors:
            problems.extend(RowProblem(where, str(e), rowno, e) for e in errors)
            continue
        rows.append(row)
    if problems:
        raise ImportRefused(name, problems)
    if not rows:
        raise ValidationError("file", "no inspections in the file", "no_inspections")
    summary = HistorySummary(dated_from=min(r.inspected_on for r in rows))
    for row in rows:
        if row.existing is not None:
            summary.unchanged += 1
            continue
        _iid, opened, closed = save(session, row, username=username, zone=zone)
        summary.inserted += 1
        summary.rectifications += opened
        summary.verified += closed
        if opened > closed:
            summary.notes.append(f"row {row.row} ({row.external_id}): {opened - closed} "
                                 "rectification(s) open: no 整改完成日期")
    return summary


__all__ = ["COLUMNS", "HistorySummary", "import_inspections"]

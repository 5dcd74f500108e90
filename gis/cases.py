"""Enforcement cases (案件): opened from what supervision found (a rectification: a problem an
inspection found; a failed batch of product testing; a 12365 complaint) or brought in from
elsewhere, against one enterprise, and moved along open (立案) → investigating (调查) →
decided (处罚决定) → closed (结案), one step at a time and never back. Deciding and closing
need the result in words (the decision; how the case ended); closing dates the case
(``closed_on``). Every step is a row of ``case_step`` with who, when, the note and the result;
the case's row says where it is now.

Numbers are the bureau's: given, or the next of the year's ``AJ-2026-0001`` series. The wall
counts cases by ``opened_on`` and compares with the same days a year before (gis/wall.py
``cases``, ``cases_before``).
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridWatchError
from gis.fieldwork import NotFound, enterprise_target
from gis.models import CASE_STATUSES
from gis.users import cell_path
from gis.validation import ValidationError, check_text, clean_text

SOURCES = ("rectification", "spot_check", "complaint")
# A case number as the bureau writes it (冀河市监罚〔2026〕12号, AJ-2026-0001): no spaces and
# nothing that would end a web address's path.
NUMBER = re.compile(r"[^\s/\\?#%]{1,40}")
MAX_TEXT = 4000


class CaseRefused(GridWatchError):
    """A step that does not follow from where the case is (``reason``: not_next, closed)."""

    def __init__(self, reason: str, status: str, wanted: str):
        super().__init__(f"refused ({reason}): the case is {status}, not ready for {wanted}")
        self.reason = reason
        self.status = status
        self.wanted = wanted
        self.next = next_status(status)


def next_status(status: str) -> str | None:
    i = CASE_STATUSES.index(status)
    return CASE_STATUSES[i + 1] if i + 1 < len(CASE_STATUSES) else None


def _text(name: str, value, required: bool = False) -> str | None:
    return clean_text(name, value, MAX_TEXT, required=required)


# --- where a case comes from ------------------------------------------------------------------

_ENTERPRISE_SQL = """
    SELECT e.id, e.management_code, e.name, ec.cell_id FROM enterprise e
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
    WHERE e.management_code = :c"""


def source_of(session: Session, kind: str, ref) -> dict:
    """A case's source: the rectification (id), the failed batch (spot_check id) or the
    complaint (its number), with its enterprise and the cause to suggest. NotFound when there
    is none; a batch that passed is no source."""
    if kind not in SOURCES:
        raise ValidationError("source", "one of " + ", ".join(SOURCES), "choices",
                              choices=", ".join(SOURCES))
    if kind == "complaint":
        row = session.execute(text("""
            SELECT c.id, c.number AS ref, c.text AS cause, c.enterprise_id, e.management_code,
                   e.name AS enterprise, c.cell_id, c.received_at::date AS day
            FROM complaint c LEFT JOIN enterprise e ON e.id = c.enterprise_id
            WHERE c.number = :r"""), {"r": str(ref)}).one_or_none()
    else:
        try:
            ref = int(ref)
        except (TypeError, ValueError):
            raise ValidationError(kind, "expected an integer", "expected_int") from None
        sql = {"rectification": """
            SELECT r.id, r.id::text AS ref, r.problem AS cause, r.enterprise_id,
                   e.management_code, e.name AS enterprise, NULL::bigint AS cell_id,
                   r.opened_at::date AS day
            FROM rectification r JOIN enterprise e ON e.id = r.enterprise_id WHERE r.id = :r""",
               "spot_check": """
            SELECT k.id, coalesce(k.report_number, k.id::text) AS ref,
                   concat_ws(' ', k.product, k.batch_number) || ': ' ||
                       coalesce(k.failed_items, '') AS cause,
                   k.enterprise_id, e.management_code, e.name AS enterprise,
                   NULL::bigint AS cell_id, k.checked_on AS day, k.passed, k.batches
            FROM spot_check k JOIN enterprise e ON e.id = k.enterprise_id WHERE k.id = :r"""}
        row = session.execute(text(sql[kind]), {"r": ref}).one_or_none()
    if row is None:
        raise NotFound(kind, ref)
    out = dict(row._mapping)
    if kind == "spot_check" and out.pop("passed") >= out.pop("batches"):
        raise ValidationError("spot_check", "the batch passed: no case to open from it",
                              "batch_passed")
    out["kind"] = kind
    return out


def resolve(session: Session, *, source: str | None = None, ref=None,
            enterprise: str | None = None) -> dict:
    """The source (or None) and the enterprise of a case about to be opened, with the cell
    path permissions are judged at: {"source", "enterprise_id", "management_code",
    "enterprise", "path"}. The enterprise is the source's; one given must be the same."""
    src = source_of(session, source, ref) if source else None
    enterprise = (enterprise or "").strip() or None
    if src is not None and src["management_code"] is not None:
        if enterprise is not None and enterprise != src["management_code"]:
            raise ValidationError("enterprise", f"the {source} is about enterprise "
                                  f"{src['management_code']}", "source_enterprise",
                                  enterprise=src["management_code"])
        enterprise = src["management_code"]
    if enterprise is None:
        raise ValidationError("enterprise", "required: the enterprise the case is against",
                              "required")
    row = session.execute(text(_ENTERPRISE_SQL), {"c": enterprise}).one_or_none()
    if row is None:
        raise ValidationError("enterprise", f"there is no enterprise {enterprise}",
                              "no_such_target", kind="enterprise", name=enterprise)
    return {"source": src, "enterprise_id": row.id, "management_code": row.management_code,
            "enterprise": row.name, "path": cell_path(session, row.cell_id)}


def _next_number(session: Session, year: int) -> str:
    # One numbering at a time: two cases opened at once must not take the same number.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('enforcement_case_number'))"))
    last = session.execute(text("""
        SELECT max(substring(number FROM '^AJ-[0-9]{4}-([0-9]+)$')::int)
        FROM enforcement_case WHERE number LIKE :p"""), {"p": f"AJ-{year}-%"}).scalar()
    return f"AJ-{year}-{(last or 0) + 1:04d}"


def open_case(session: Session, *, cause: str, today: dt.date, source: str | None = None,
              ref=None, enterprise: str | None = None, number: str | None = None,
              opened_on: dt.date | None = None, username: str | None = None) -> dict:
    """Open (立案) a case against an enterprise, from ``source`` (rectification / spot_check /
    complaint) ``ref`` or from nothing; ``number`` given or the next ``AJ-<year>-NNNN``;
    ``opened_on`` (default ``today``, the bureau's) not after today. One case per source.
    Returns {"id", "number", "management_code"}."""
    cause = _text("cause", cause, required=True)
    opened_on = opened_on or today
    if opened_on > today:
        raise ValidationError("opened_on", f"after today ({today})", "after_today",
                              day=today.isoformat())
    target = resolve(session, source=source, ref=ref, enterprise=enterprise)
    src = target["source"]
    if src is not None:
        column = f"{source}_id"
        other = session.execute(text(
            f"SELECT number FROM enforcement_case WHERE {column} = :s"), {"s": src["id"]}).scalar()
        if other is not None:
            raise ValidationError(source, f"case {other} was opened from it already",
                                  "case_exists", number=other)
    if number is not None and number.strip():
        number = number.strip()
        check_text("number", number)
        if not NUMBER.fullmatch(number):
            raise ValidationError("number", "1–40 characters, no spaces, '/', '?', '#' or '%'",
                                  "case_number")
        if session.execute(text("SELECT 1 FROM enforcement_case WHERE number = :n"),
                           {"n": number}).first():
            raise ValidationError("number", f"case {number} exists already", "case_number_exists",
                                  number=number)
    else:
        number = _next_number(session, opened_on.year)
    ids = {f"{k}_id": (src["id"] if src is not None and k == source else None) for k in SOURCES}
    case_id = session.execute(text("""
        INSERT INTO enforcement_case (number, enterprise_id, opened_on, cause, status,
                                      rectification_id, spot_check_id, complaint_id, username)
        VALUES (:n, :e, :o, :c, 'open', :rectification_id, :spot_check_id, :complaint_id, :u)
        RETURNING id"""), {"n": number, "e": target["enterprise_id"], "o": opened_on,
                           "c": cause, "u": username, **ids}).scalar()
    _step(session, case_id, "open", username, cause, None)
    return {"id": case_id, "number": number, "management_code": target["management_code"]}


def _step(session, case_id, status, username, note, result):
    session.execute(text("""
        INSERT INTO case_step (case_id, status, username, note, result)
        VALUES (:c, :s, :u, :n, :r)"""), {"c": case_id, "s": status, "u": username,
                                         "n": note, "r": result})


# --- moving a case along ----------------------------------------------------------------------

def case_target(session: Session, number: str) -> tuple[int, tuple[int, ...]]:
    """(case id, the cell path of its enterprise now): where permissions are judged."""
    row = session.execute(text("""
        SELECT k.id, e.management_code FROM enforcement_case k
        LEFT JOIN enterprise e ON e.id = k.enterprise_id WHERE k.number = :n"""),
        {"n": number}).one_or_none()
    if row is None:
        raise NotFound("case", number)
    if row.management_code is None:  # no enterprise: only who reaches everything
        return row.id, ()
    return row.id, enterprise_target(session, row.management_code)[1]


def advance(session: Session, number: str, status: str, note: str | None = None, *,
            result: str | None = None, today: dt.date, closed_on: dt.date | None = None,
            username: str | None = None) -> dict:
    """Move the case to ``status``, the one after where it is (CaseRefused otherwise).
    ``result`` is required when deciding (the decision) and closing (how it ended); closing
    sets ``closed_on`` (default ``today``; not before the opening, not after today)."""
    if status not in CASE_STATUSES:
        raise ValidationError("status", "one of " + ", ".join(CASE_STATUSES), "choices",
                              choices=", ".join(CASE_STATUSES))
    note = _text("note", note)
    result = _text("result", result, required=status in ("decided", "closed"))
    row = session.execute(text("""
        SELECT id, status, opened_on FROM enforcement_case WHERE number = :n FOR UPDATE"""),
        {"n": number}).one_or_none()
    if row is None:
        raise NotFound("case", number)
    if next_status(row.status) != status:
        raise CaseRefused("closed" if row.status == "closed" else "not_next", row.status, status)
    if status == "closed":
        closed_on = closed_on or today
        if closed_on > today:
            raise ValidationError("closed_on", f"after today ({today})", "after_today",
                                  day=today.isoformat())
        if closed_on < row.opened_on:
            raise ValidationError("closed_on", "before the case was opened", "before",
                                  other="opened_on")
    else:
        closed_on = None
    session.execute(text("""
        UPDATE enforcement_case SET status = :s, closed_on = :d,
               result = coalesce(:r, result) WHERE id = :i"""),
        {"s": status, "d": closed_on, "r": result, "i": row.id})
    _step(session, row.id, status, username, note, result)
    return {"id": row.id, "number": number, "status": status, "previous": row.status,
            "closed_on": closed_on}


# --- reading ----------------------------------------------------------------------------------

_CASE_SQL = """
    SELECT k.id, k.number, k.opened_on, k.closed_on, k.cause, k.status, k.result, k.username,
           k.rectification_id, k.spot_check_id, k.complaint_id,
           CASE WHEN k.rectification_id IS NOT NULL THEN 'rectification'
                WHEN k.spot_check_id IS NOT NULL THEN 'spot_check'
                WHEN k.complaint_id IS NOT NULL THEN 'complaint' END AS source,
           sc.report_number, sc.kind AS testing_kind, sc.product, cp.number AS complaint_number,
           e.management_code, e.name AS enterprise, ec.cell_id, c.code AS cell_code,
           c.name AS cell_name
    FROM enforcement_case k
    LEFT JOIN enterprise e ON e.id = k.enterprise_id
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = k.enterprise_id
    LEFT JOIN cell c ON c.id = ec.cell_id
    LEFT JOIN spot_check sc ON sc.id = k.spot_check_id
    LEFT JOIN complaint cp ON cp.id = k.complaint_id"""


def get_case(session: Session, number: str) -> dict:
    """A case with its source, enterprise, cell and steps (oldest first)."""
    row = session.execute(text(_CASE_SQL + " WHERE k.number = :n"), {"n": number}).one_or_none()
    if row is None:
        raise NotFound("case", number)
    case = dict(row._mapping)
    case["next"] = next_status(case["status"])
    case["steps"] = [dict(r._mapping) for r in session.execute(text("""
        SELECT s.status, s.at, s.username, coalesce(p.name, u.display_name, s.username) AS who,
               s.note, s.result
        FROM case_step s LEFT JOIN app_user u ON u.username = s.username
        LEFT JOIN person p ON p.id = u.person_id
        WHERE s.case_id = :c ORDER BY s.at, s.id"""), {"c": case["id"]})]
    return case


def search(session: Session, *, cells: list[int] | None, year: int | None = None,
           status: str | None = None, source: str | None = None, query: str | None = None,
           limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    """(total, one page) of the cases of enterprises whose cell now is one of ``cells``
    (None: all), opened in ``year``, with ``status``, from ``source`` ("none": brought in from
    elsewhere), whose number, cause or enterprise contains ``query``; newest first."""
    pattern = None
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(text(f"""
        SELECT count(*) OVER () AS total, x.* FROM ({_CASE_SQL}) x
        WHERE (CAST(:cells AS bigint[]) IS NULL OR x.cell_id = ANY(CAST(:cells AS bigint[])))
          AND (CAST(:year AS int) IS NULL OR extract(year FROM x.opened_on) = :year)
          AND (CAST(:status AS text) IS NULL OR x.status = :status)
          AND (CAST(:source AS text) IS NULL OR coalesce(x.source, 'none') = :source)
          AND (CAST(:pattern AS text) IS NULL OR x.number ILIKE :pattern
               OR x.cause ILIKE :pattern OR x.enterprise ILIKE :pattern
               OR x.management_code ILIKE :pattern)
        ORDER BY x.opened_on DESC, x.id DESC LIMIT :limit OFFSET :offset"""), {
        "cells": cells, "year": year, "status": status, "source": source, "pattern": pattern,
        "limit": limit, "offset": offset}).all()
    total = rows[0].total if rows else 0
    return total, [{k: v for k, v in r._mapping.items() if k != "total"} for r in rows]


def years(session: Session) -> list[int]:
    """The years cases were opened in, newest first (the list's year filter)."""
    return [int(y) for y in session.execute(text("""
        SELECT DISTINCT extract(year FROM opened_on) AS y FROM enforcement_case
        ORDER BY y DESC""")).scalars()]

"""The field work of supervision: inspections, complaint handling, cell owners; and the
targets (enterprise, cell, complaint) permissions are judged at. Each write
runs in the caller's transaction; history is closed and added to, never rewritten. Reference
data (intervals, the checklist) is gis/reference.py."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridWatchError, ValidationError
from gis.users import cell_path


class NotFound(GridWatchError):
    """The named enterprise, cell, complaint or person does not exist. ``kind`` and ``name``
    let the web layer say it in the user's language."""

    def __init__(self, kind: str, name):
        super().__init__(f"{kind} {name!r} does not exist")
        self.kind = kind
        self.name = str(name)


def enterprise_target(session: Session, management_code: str) -> tuple[int, tuple[int, ...]]:
    """(enterprise id, path of its current cell) — the place permissions are judged at."""
    row = session.execute(text("""
        SELECT e.id, ec.cell_id FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE e.management_code = :c"""), {"c": management_code}).one_or_none()
    if row is None:
        raise NotFound("enterprise", management_code)
    return row.id, cell_path(session, row.cell_id)


def cell_target(session: Session, code: str) -> tuple[int, tuple[int, ...]]:
    cell_id = session.execute(text("SELECT id FROM cell WHERE code = :c AND retired_at IS NULL"),
                              {"c": code}).scalar()
    if cell_id is None:
        raise NotFound("cell", code)
    return cell_id, cell_path(session, cell_id)


def complaint_target(session: Session, number: str) -> tuple[int, tuple[int, ...]]:
    row = session.execute(text("SELECT id, cell_id FROM complaint WHERE number = :n"),
                          {"n": number}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    return row.id, cell_path(session, row.cell_id)


def checklist_codes(session: Session) -> set[str]:
    return set(session.execute(text(
        "SELECT code FROM checklist_item WHERE active")).scalars())


def record_inspection(session: Session, enterprise_id: int, *, inspector_person_id: int | None,
                      inspected_on: dt.date, results: dict[str, str], problems: str | None,
                      rectification_deadline: dt.date | None) -> int:
    codes = checklist_codes(session)
    unknown = sorted(set(results) - codes)
    if unknown:
        raise ValidationError("results", f"unknown checklist item {unknown[0]!r}",
                              "unknown_item", item=unknown[0])
    bad = sorted(k for k, v in results.items() if v not in ("pass", "fail", "n/a"))
    if bad:
        raise ValidationError("results", f"item {bad[0]!r} must be pass, fail or n/a",
                              "item_result", item=bad[0])
    found = sum(1 for v in results.values() if v == "fail")
    if found and rectification_deadline is None:
        raise ValidationError("rectification_deadline", "required when an item fails",
                              "deadline_required")
    if rectification_deadline is not None and rectification_deadline < inspected_on:
        raise ValidationError("rectification_deadline", "before the inspection date",
                              "before", other="inspected_on")
    return session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                problems_found, problems, rectification_deadline,
                                rectification_status)
        VALUES (:e, :i, :d, CAST(:r AS jsonb), :n, :p, :dl, :st) RETURNING id"""), {
        "e": enterprise_id, "i": inspector_person_id, "d": inspected_on,
        "r": json.dumps(results), "n": found, "p": problems, "dl": rectification_deadline,
        "st": "open" if found else "none"}).scalar()


COMPLAINT_STATUSES = ("open", "assigned", "closed")


def update_complaint(session: Session, complaint_id: int, status: str) -> None:
    session.execute(text("""
        UPDATE complaint SET status = :s,
               closed_at = CASE WHEN :s = 'closed' THEN coalesce(closed_at, now()) END
        WHERE id = :k"""), {"s": status, "k": complaint_id})


def set_cell_owner(session: Session, cell_id: int, person_id: int,
                   valid_from: dt.datetime | None = None) -> bool:
    """Hand a cell to a new owner from ``valid_from`` (default now): the current owner's
    period is closed there, the new one opens. Past answers stay answerable. False when that
    person already owns the cell then (nothing is written). The general form, for every kind
    of responsibility, is gis.people.assign."""
    from gis import people

    code = session.execute(text("SELECT code FROM cell WHERE id = :c"), {"c": cell_id}).scalar()
    if code is None:
        raise NotFound("cell", cell_id)
    return people.assign(session, people.target(session, "owner", code), person_id, valid_from)

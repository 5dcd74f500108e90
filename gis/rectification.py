"""Rectifications (整改): a problem found at an enterprise, to be corrected by a deadline.

Opened by an inspection (one per failed checklist item) or by a failed batch of product testing
(one per batch). The steps: open → rectified (whoever saw it corrected, with a note and photos)
→ verified by someone else; a verifier who is not satisfied rejects it, which sends it back to
open. Every step is a row of ``rectification_step`` with who and when; the row itself says where
it is now. Late (逾期未整改): still open, or rectified only after, when the deadline has passed.

The inspection's summary columns (``rectification_status``: none/open/done, ``rectified_on``)
follow its rectifications: done when every one of them is verified.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridWatchError, ValidationError


class StepRefused(GridWatchError):
    """A step that does not follow from where the rectification is (``reason`` a code the web
    layer words: not_open, not_rectified, same_person)."""

    def __init__(self, reason: str, status: str):
        super().__init__(f"refused ({reason}); the rectification is {status}")
        self.reason = reason
        self.status = status


def open_rectification(session: Session, *, enterprise_id: int, problem: str,
                       deadline: dt.date, inspection_id: int | None = None,
                       spot_check_id: int | None = None, item_code: str | None = None,
                       username: str | None = None, person_id: int | None = None) -> int:
    if not (problem or "").strip():
        raise ValidationError("problem", "required", "required")
    rid = session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, spot_check_id, item_code,
                                   problem, deadline)
        VALUES (:e, :i, :s, :c, :p, :d) RETURNING id"""), {
        "e": enterprise_id, "i": inspection_id, "s": spot_check_id, "c": item_code,
        "p": problem.strip(), "d": deadline}).scalar()
    _step(session, rid, "opened", username, person_id, None)
    return rid


def _step(session, rid, step, username, person_id, note):
    session.execute(text("""
        INSERT INTO rectification_step (rectification_id, step, username, person_id, note)
        VALUES (:r, :s, :u, :p, :n)"""), {"r": rid, "s": step, "u": username,
                                          "p": person_id, "n": note})


def _current(session, rid: int):
    row = session.execute(text("""
        SELECT id, status, rectified_by, inspection_id FROM rectification WHERE id = :r
        FOR UPDATE"""), {"r": rid}).one_or_none()
    if row is None:
        from gis.fieldwork import NotFound
        raise NotFound("rectification", rid)
    return row


def rectify(session: Session, rid: int, *, username: str, person_id: int | None,
            note: str) -> None:
    """Record that the problem was corrected. A note is required: what was done."""
    if not (note or "").strip():
        raise ValidationError("note", "required: what was corrected", "required")
    row = _current(session, rid)
    if row.status != "open":
        raise StepRefused("not_open", row.status)
    session.execute(text("""
        UPDATE rectification SET status = 'rectified', rectified_at = now(), rectified_by = :u
        WHERE id = :r"""), {"r": rid, "u": username})
    _step(session, rid, "rectified", username, person_id, note.strip())


def verify(session: Session, rid: int, *, username: str, person_id: int | None,
           note: str | None = None, accept: bool = True) -> None:
    """Accept the correction (verified) or reject it (back to open). Never by the person who
    recorded the correction: the check must be someone else's."""
    row = _current(session, rid)
    if row.status != "rectified":
        raise StepRefused("not_rectified", row.status)
    if row.rectified_by == username:
        raise StepRefused("same_person", row.status)
    if accept:
        session.execute(text("""
            UPDATE rectification SET status = 'verified', verified_at = now(), verified_by = :u
            WHERE id = :r"""), {"r": rid, "u": username})
    else:
        if not (note or "").strip():
            raise ValidationError("note", "required: why the correction is not accepted",
                                  "required")
        session.execute(text("""
            UPDATE rectification SET status = 'open', rectified_at = NULL, rectified_by = NULL
            WHERE id = :r"""), {"r": rid})
    _step(session, rid, "verified" if accept else "rejected", username, person_id,
          (note or "").strip() or None)
    if row.inspection_id is not None:
        sync_inspection(session, row.inspection_id)


def sync_inspection(session: Session, inspection_id: int) -> None:
    """The inspection's summary: done (with the day of the last verification) when every
    rectification it opened is verified, open otherwise."""
    session.execute(text("""
        UPDATE inspection i SET
            rectification_status = CASE WHEN s.open > 0 THEN 'open' ELSE 'done' END,
            rectified_on = CASE WHEN s.open > 0 THEN NULL ELSE s.last::date END
        FROM (SELECT count(*) FILTER (WHERE status <> 'verified') AS open,
                     max(verified_at) AS last
              FROM rectification WHERE inspection_id = :i) s
        WHERE i.id = :i AND i.rectification_status <> 'none'"""), {"i": inspection_id})


def steps(session: Session, rid: int) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT s.step, s.at, s.username, p.name AS person, s.note
        FROM rectification_step s LEFT JOIN person p ON p.id = s.person_id
        WHERE s.rectification_id = :r ORDER BY s.at, s.id"""), {"r": rid})]

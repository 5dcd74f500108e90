"""Rectifications (整改): a problem found at an enterprise, to be corrected by a deadline.

Opened by an inspection (one per failed checklist item) or by a failed batch of product testing
(one per batch). The steps: open → rectified (whoever saw it corrected, with a note and photos)
→ verified by someone else; a verifier who is not satisfied rejects it, which sends it back to
open. Every step is a row of ``rectification_step`` with who and when; the row itself says where
it is now.

Late (逾期): the deadline has passed (the bureau's today) and it is not verified yet (the loop is
not closed), or it was rectified only after the deadline. Days late count to today while it is
not verified, and to the local day it was rectified once it is (``LATE_SQL``): a correction
made late stays late for good; one made in time but checked after the deadline is late only
until it is verified.

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
                       username: str | None = None, person_id: int | None = None,
                       at: dt.datetime | None = None) -> int:
    """A new rectification, open, with its first step. ``at``: when it was opened (default
    now; an inspection brought in from the previous system: its day)."""
    if not (problem or "").strip():
        raise ValidationError("problem", "required", "required")
    rid = session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, spot_check_id, item_code,
                                   problem, deadline, opened_at)
        VALUES (:e, :i, :s, :c, :p, :d, coalesce(CAST(:at AS timestamptz), now()))
        RETURNING id"""), {
        "e": enterprise_id, "i": inspection_id, "s": spot_check_id, "c": item_code,
        "p": problem.strip(), "d": deadline, "at": at}).scalar()
    _step(session, rid, "opened", username, person_id, None, at)
    return rid


def _step(session, rid, step, username, person_id, note, at=None):
    session.execute(text("""
        INSERT INTO rectification_step (rectification_id, step, username, person_id, note, at)
        VALUES (:r, :s, :u, :p, :n, coalesce(CAST(:at AS timestamptz), now()))"""),
        {"r": rid, "s": step, "u": username, "p": person_id, "n": note, "at": at})


def closed_as_recorded(session: Session, rid: int, *, at: dt.datetime, username: str,
                       note: str) -> None:
    """History brought in (gis/inspections_import.py): the previous system records the problem
    corrected and accepted at ``at``. The rectification is verified then, both steps dated
    ``at`` with ``note`` saying where that comes from. Who corrected it is not known (no
    one's name on that step); the acceptance is recorded under ``username``, who brought it
    in."""
    row = _current(session, rid)
    if row.status != "open":
        raise StepRefused("not_open", row.status)
    session.execute(text("""
        UPDATE rectification SET status = 'verified', rectified_at = :at, rectified_by = NULL,
               verified_at = :at, verified_by = :u
        WHERE id = :r"""), {"r": rid, "u": username, "at": at})
    _step(session, rid, "rectified", None, None, note, at)
    _step(session, rid, "verified", username, None, note, at)


def _current(session, rid: int):
    # ``rectified_person``: the roster person of the last "rectified" step (one person may
    # have two accounts; neither may check what the other recorded).
    row = session.execute(text("""
        SELECT r.id, r.status, r.rectified_by, r.inspection_id,
               (SELECT s.person_id FROM rectification_step s
                WHERE s.rectification_id = r.id AND s.step = 'rectified'
                ORDER BY s.at DESC, s.id DESC LIMIT 1) AS rectified_person
        FROM rectification r WHERE r.id = :r
        FOR UPDATE OF r"""), {"r": rid}).one_or_none()
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
           note: str | None = None, accept: bool = True, zone: str) -> None:
    """Accept the correction (verified) or reject it (back to open). Never by the person who
    recorded the correction (that account, or another account of the same roster person):
    the check must be someone else's. ``zone``: the bureau's, for the inspection's
    ``rectified_on`` day."""
    row = _current(session, rid)
    if row.status != "rectified":
        raise StepRefused("not_rectified", row.status)
    if row.rectified_by == username or (
            person_id is not None and row.rectified_person == person_id):
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
        sync_inspection(session, row.inspection_id, zone)


def recorded_by(rect: dict, username: str, person_id: int | None) -> bool:
    """Did this user (or another account of the same person) record the correction of
    ``rect`` (a ``get`` answer)? They may not verify it (``verify`` refuses: same_person)."""
    return rect["status"] == "rectified" and (
        rect["rectified_by"] == username
        or (person_id is not None and rect["rectified_person_id"] == person_id))


def sync_inspection(session: Session, inspection_id: int, zone: str) -> None:
    """The inspection's summary: done (with the local day, in ``zone``, of the last
    verification) when every rectification it opened is verified, open otherwise."""
    session.execute(text("""
        UPDATE inspection i SET
            rectification_status = CASE WHEN s.open > 0 THEN 'open' ELSE 'done' END,
            rectified_on = CASE WHEN s.open > 0 THEN NULL
                                ELSE (s.last AT TIME ZONE :zone)::date END
        FROM (SELECT count(*) FILTER (WHERE status <> 'verified') AS open,
                     max(verified_at) AS last
              FROM rectification WHERE inspection_id = :i) s
        WHERE i.id = :i AND i.rectification_status <> 'none'"""), {"i": inspection_id,
                                                                      "zone": zone})


def steps(session: Session, rid: int) -> list[dict]:
    """Every step, oldest first: ``person`` is the roster's name of who took it (else their
    account's display name, else the username; None for steps the migration wrote)."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT s.step, s.at, s.username, s.note, s.person_id,
               coalesce(p.name, u.display_name, s.username) AS person
        FROM rectification_step s LEFT JOIN person p ON p.id = s.person_id
        LEFT JOIN app_user u ON u.username = s.username
        WHERE s.rectification_id = :r ORDER BY s.at, s.id"""), {"r": rid})]


STATUSES = ("open", "rectified", "verified")

# Days late (> 0: late) of the rectification ``r``: to the bureau's today while it is not
# verified, to the local day it was rectified once it is (the rule: the module's docstring).
# Parameters :today (a date) and :zone (the bureau's time zone).
LATE_SQL = """
    ((CASE WHEN r.status = 'verified'
           THEN (coalesce(r.rectified_at, r.verified_at) AT TIME ZONE :zone)::date
           ELSE CAST(:today AS date) END) - r.deadline)"""

# A rectification with its enterprise, that enterprise's cell now, the days late and the last
# step (who, when); ``WHERE`` filters are added by the callers.
_ROWS = f"""
    SELECT r.id, r.enterprise_id, r.inspection_id, r.spot_check_id, r.item_code, r.problem,
           r.deadline, r.status, r.opened_at, r.rectified_at, r.rectified_by, r.verified_at,
           r.verified_by, greatest({LATE_SQL}, 0) AS days_late,
           e.management_code, e.name AS enterprise, e.address, e.contact_name,
           e.contact_phone, ec.cell_id, c.code AS cell_code, c.name AS cell_name,
           ls.step AS last_step, ls.at AS last_at, ls.username AS last_username,
           ls.person AS last_person
    FROM rectification r
    JOIN enterprise e ON e.id = r.enterprise_id
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
    LEFT JOIN cell c ON c.id = ec.cell_id
    LEFT JOIN LATERAL (
        SELECT s.step, s.at, s.username,
               coalesce(p.name, u.display_name, s.username) AS person
        FROM rectification_step s LEFT JOIN person p ON p.id = s.person_id
        LEFT JOIN app_user u ON u.username = s.username
        WHERE s.rectification_id = r.id ORDER BY s.at DESC, s.id DESC LIMIT 1
    ) ls ON true"""

_FILTERS = """
    (CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[])))
    AND (CAST(:start AS date) IS NULL
         OR (r.opened_at AT TIME ZONE :zone)::date >= CAST(:start AS date))
    AND (CAST(:end AS date) IS NULL
         OR (r.opened_at AT TIME ZONE :zone)::date <= CAST(:end AS date))"""


def _row(r) -> dict:
    row = dict(r._mapping)
    row.pop("total", None)
    row["late"] = row["days_late"] > 0
    return row


def search(session: Session, *, cells: list[int] | None, today: dt.date, zone: str,
           status: str | None = None, late: bool | None = None,
           start: dt.date | None = None, end: dt.date | None = None,
           limit: int | None = 50, offset: int = 0) -> tuple[int, list[dict], dict]:
    """(total, page, counts) of the rectifications of enterprises whose cell now is one of
    ``cells`` (None: every one, enterprises outside every cell included), opened between the
    local days ``start`` and ``end`` (either may be None), with ``status`` and ``late``
    (True: late only). ``counts``: per status and late, over the place and period only, so a
    page can show them beside any status filter. Open first, then awaiting verification, each
    by deadline."""
    if status is not None and status not in STATUSES:
        raise ValidationError("status", "one of " + ", ".join(STATUSES), "choices",
                              choices=", ".join(STATUSES))
    params = {"cells": cells, "today": today, "zone": zone, "start": start, "end": end,
              "status": status, "late": bool(late), "limit": limit, "offset": offset}
    # The page first, from the rectifications alone; the enterprises and last steps for it.
    page = session.execute(text(f"""
        SELECT count(*) OVER () AS total, r.id
        FROM rectification r
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = r.enterprise_id
        WHERE {_FILTERS}
          AND (CAST(:status AS text) IS NULL OR r.status = :status)
          AND (NOT :late OR {LATE_SQL} > 0)
        ORDER BY array_position(ARRAY['open', 'rectified', 'verified'], r.status::text),
                 r.deadline, r.id
        LIMIT :limit OFFSET :offset"""), params).all()
    ids = [p.id for p in page]
    found = {r.id: r for r in session.execute(text(f"{_ROWS} WHERE r.id = ANY(:ids)"), {
        "ids": ids, "today": today, "zone": zone})}
    rows = [found[i] for i in ids]
    counts = session.execute(text(f"""
        SELECT count(*) AS total,
               count(*) FILTER (WHERE r.status = 'open') AS open,
               count(*) FILTER (WHERE r.status = 'rectified') AS rectified,
               count(*) FILTER (WHERE r.status = 'verified') AS verified,
               count(*) FILTER (WHERE {LATE_SQL} > 0) AS late
        FROM rectification r
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = r.enterprise_id
        WHERE {_FILTERS}"""), params).one()
    total = page[0].total if page else 0
    return total, [_row(r) for r in rows], dict(counts._mapping)


def get(session: Session, rid: int, *, today: dt.date, zone: str) -> dict:
    """One rectification as ``search`` gives it, with where it came from (``inspection``:
    date, inspector, the checklist item; ``spot_check``: the sampled batch), its ``steps``
    and its ``photos`` (and those of the inspection that found the problem)."""
    row = session.execute(text(f"{_ROWS} WHERE r.id = :r"), {
        "r": rid, "today": today, "zone": zone}).one_or_none()
    if row is None:
        from gis.fieldwork import NotFound
        raise NotFound("rectification", rid)
    out = _row(row)
    out["inspection"] = out["spot_check"] = None
    if out["inspection_id"] is not None:
        out["inspection"] = dict(session.execute(text("""
            SELECT i.id, i.inspected_on, i.username, i.problems,
                   coalesce(p.name, u.display_name, i.username) AS inspector,
                   p2.name AS second_inspector, ci.title AS item_title
            FROM inspection i LEFT JOIN person p ON p.id = i.inspector_id
            LEFT JOIN person p2 ON p2.id = i.second_inspector_id
            LEFT JOIN app_user u ON u.username = i.username
            LEFT JOIN checklist_item ci ON ci.code = :item
            WHERE i.id = :i"""), {"i": out["inspection_id"], "item": out["item_code"]}
        ).one()._mapping)
    if out["spot_check_id"] is not None:
        out["spot_check"] = dict(session.execute(text("""
            SELECT id, checked_on, kind, level, product, batch_number, laboratory,
                   report_number, failed_items
            FROM spot_check WHERE id = :s"""), {"s": out["spot_check_id"]}).one()._mapping)
    out["steps"] = steps(session, rid)
    rectified = [s for s in out["steps"] if s["step"] == "rectified"]
    out["rectified_person_id"] = rectified[-1]["person_id"] if rectified else None
    out["photos"] = [dict(p._mapping) for p in session.execute(text("""
        SELECT id, rectification_id IS NOT NULL AS of_rectification, file_name, uploaded_at,
               username, far_from_site
        FROM photo
        WHERE rectification_id = :r
           OR (CAST(:i AS bigint) IS NOT NULL AND inspection_id = CAST(:i AS bigint))
        ORDER BY uploaded_at, id"""), {"r": rid, "i": out["inspection_id"]})]
    return out


def place(session: Session, rid: int) -> tuple[str, int | None]:
    """(the enterprise's management code, its cell now) of a rectification: where permissions
    are judged. Raises NotFound."""
    row = session.execute(text("""
        SELECT e.management_code, ec.cell_id FROM rectification r
        JOIN enterprise e ON e.id = r.enterprise_id
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE r.id = :r"""), {"r": rid}).one_or_none()
    if row is None:
        from gis.fieldwork import NotFound
        raise NotFound("rectification", rid)
    return row.management_code, row.cell_id

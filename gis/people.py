"""The roster: people, what each answers for over time, handovers, roster files, and the gaps.

Every answer GridWatch gives names people: a cell's owner (网格责任人), a station chief, a
township leader, the owners of professional grids, an enterprise's principal. A person is a row
of ``person`` with the bureau's code for them (人员编号, which roster imports match on); what
they answer for is a dated ``responsibility``, one of the three (docs/people.md):

| role            | kind (三种责任)  | answers for                                   |
|-----------------|-----------------|-----------------------------------------------|
| owner           | department      | a cell (any level; a grid's owner is the one  |
|                 |                 | its cells without an owner fall to, 属地兜底)  |
| station_chief   | department      | a second-level territorial grid (a station's) |
| township_leader | government      | a township                                    |
| principal       | enterprise      | an enterprise                                 |

A responsibility is assigned from a date and never overwritten: the holder before is closed
there (gis/sql/owners.sql refuses any other change to a row), so the lookup, the plates and the
reports answer for any past date as they did then. A handover (交接) passes everything a person
answers for to another from a date, in one transaction, and lists the responsibility plates
(明示牌) that named the old person.

Every function runs in the caller's transaction; the adapters (app/people.py, app/api.py,
app/cli.py) authorize through gis/policy.py and audit. Dates are aware datetimes; a bare date a
person types is read by gis/dates.py in the bureau's zone.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates, policy, tables
from gis.codes import (CELL_CODE_RULE, MANAGEMENT_CODE_RULE, PERSON_CODE_RULE, is_cell_code,
                       is_management_code, is_person_code)
from gis.errors import GridWatchError, ImportRefused, RowProblem
from gis.fieldwork import NotFound
from gis.limits import Limits
from gis.tree import city_path_of_township
from gis.users import USERNAME_RE, cell_path
from gis.validation import ValidationError, check_text

# role -> (responsibility kind, what it is held for)
ROLES = {
    "owner": ("department", "cell"),
    "station_chief": ("department", "cell"),
    "township_leader": ("government", "township"),
    "principal": ("enterprise", "enterprise"),
}
TARGET_COLUMNS = {"cell": "cell_id", "enterprise": "enterprise_id", "township": "township_id"}

# The database's column widths (gis/models.py Person): a longer value is refused by name.
MAX_LENGTH = {"code": 32, "name": 100, "unit": 200, "position": 100, "phone": 40,
              "office_phone": 40}
TEXT_FIELDS = ("name", "unit", "position", "phone", "office_phone")
PERSON_FIELDS = ("code",) + TEXT_FIELDS + ("active_from", "active_to")
# Digits with the separators people write in phone numbers: "0317-3601365", "+86 139…",
# "0317-3601365转802", "139…/0317…" (full-width forms are folded first).
PHONE = re.compile(r"[0-9+()\-\s/,、转]{3,40}")


class PersonError(GridWatchError):
    """A request about people that cannot be done; ``field``, ``code`` and ``params`` let the
    web say it in the user's language (as gis.users.UserError)."""

    def __init__(self, message: str, code: str, field: str | None = None, **params):
        super().__init__(message)
        self.code = code
        self.field = field
        self.params = params


# --- one person ------------------------------------------------------------------------------

def _phone(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        return None
    if not PHONE.fullmatch(value) or sum(ch.isdigit() for ch in value) < 3:
        raise ValidationError(name, "digits with spaces, '-', '+', '(', ')', '/' or 转 only",
                              "phone")
    return value


def _date(name: str, value) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return dates.parse_date(value, name)


def clean_person(values: dict, *, require_code: bool = False) -> dict:
    """A person's fields as typed (a form, JSON, a roster row), checked and normalised; only
    the fields present in ``values``. Raises ValidationError naming the first bad field."""
    out: dict = {}
    for name in PERSON_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name in ("active_from", "active_to"):
            out[name] = _date(name, value)
            continue
        if value is not None and not isinstance(value, str):
            raise ValidationError(name, "expected text", "expected_text")
        value = (value or "").strip()
        check_text(name, value)
        if len(value) > MAX_LENGTH[name]:
            raise ValidationError(name, f"at most {MAX_LENGTH[name]} characters", "max_length",
                                  n=MAX_LENGTH[name])
        if name in ("phone", "office_phone"):
            out[name] = _phone(name, value)
        elif name == "code":
            if value and not is_person_code(value):
                raise ValidationError("code", f"{value!r} is not {PERSON_CODE_RULE}",
                                      "person_code", person=value)
            out[name] = value or None
        else:
            out[name] = value or None
    if "name" in values and not out.get("name"):
        raise ValidationError("name", "required", "required")
    if require_code and not out.get("code"):
        raise ValidationError("code", "required", "required")
    start, end = out.get("active_from"), out.get("active_to")
    if start and end and end < start:
        raise ValidationError("active_to", "before the start date", "before",
                              other="active_from")
    return out


def create_person(session: Session, values: dict) -> dict:
    """Add a person (``values`` cleaned by ``clean_person``); without a code the database
    numbers them P<id>. Returns {"id", "code"}."""
    if values.get("code") and session.execute(text(
            "SELECT 1 FROM person WHERE code = :c"), {"c": values["code"]}).scalar():
        raise ValidationError("code", f"a person with code {values['code']} exists already",
                              "person_exists", person=values["code"])
    row = session.execute(text("""
        INSERT INTO person (code, name, unit, position, phone, office_phone, active_from,
                            active_to)
        VALUES (:code, :name, :unit, :position, :phone, :office_phone, :active_from, :active_to)
        RETURNING id, code"""), {f: values.get(f) for f in PERSON_FIELDS}).one()
    return {"id": row.id, "code": row.code}


def update_person(session: Session, person_id: int, values: dict) -> bool:
    """Change the given fields of a person; False when nothing differs (nothing written)."""
    values = {k: v for k, v in values.items() if k in PERSON_FIELDS}
    if "code" in values and not values["code"]:
        raise ValidationError("code", "required", "required")
    if values.get("code") and session.execute(text(
            "SELECT 1 FROM person WHERE code = :c AND id <> :p"),
            {"c": values["code"], "p": person_id}).scalar():
        raise ValidationError("code", f"a person with code {values['code']} exists already",
                              "person_exists", person=values["code"])
    if not values:
        return False
    sets = ", ".join(f"{k} = :{k}" for k in values)
    differs = " OR ".join(f"{k} IS DISTINCT FROM :{k}" for k in values)
    current = session.execute(text("SELECT active_from, active_to FROM person WHERE id = :id"),
                              {"id": person_id}).one()
    start = values.get("active_from", current.active_from)
    end = values.get("active_to", current.active_to)
    if start and end and end < start:
        raise ValidationError("active_to", "before the start date", "before",
                              other="active_from")
    return session.execute(text(
        f"UPDATE person SET {sets}, updated_at = now() WHERE id = :id AND ({differs})"),
        {**values, "id": person_id}).rowcount == 1


def person_id(session: Session, code: str) -> int:
    """The id of the person whose code is ``code``; NotFound otherwise."""
    pid = session.execute(text("SELECT id FROM person WHERE code = :c"),
                          {"c": code}).scalar() if is_person_code(code) else None
    if pid is None:
        raise NotFound("person", code)
    return pid


# The staff (the bureau's and governments' people): whoever answers or answered for anything
# but an enterprise as its principal, or has never answered for anything (just added). The
# others have only ever been some enterprise's principal: the enterprises' side of the roster.
# Two uncorrelated sets PostgreSQL hashes once per statement, so a city of 100,000
# enterprises' principals is sorted out in tens of milliseconds, not a probe per person.
STAFF_SQL = """
    (p.id IN (SELECT person_id FROM responsibility WHERE role <> 'principal')
     OR p.id NOT IN (SELECT person_id FROM responsibility))"""
PRINCIPAL_ONLY_SQL = f"(NOT {STAFF_SQL})"
# The same two questions about one person (a person's page): a few index probes.
ONE_STAFF_SQL = """
    (EXISTS (SELECT 1 FROM responsibility s WHERE s.person_id = p.id AND s.role <> 'principal')
     OR NOT EXISTS (SELECT 1 FROM responsibility s WHERE s.person_id = p.id))"""
ONE_VISIBLE_SQL = f"""
    (CAST(:cells AS bigint[]) IS NULL
     OR {ONE_STAFF_SQL}
     OR EXISTS (SELECT 1 FROM responsibility v
                JOIN enterprise_cell_current vc ON vc.enterprise_id = v.enterprise_id
                WHERE v.person_id = p.id AND v.role = 'principal'
                  AND vc.cell_id = ANY(CAST(:cells AS bigint[]))))"""
# Who may read a person: the staff (whoever is not only some enterprise's principal) everyone
# may; an enterprise's principal only who may read one of their enterprises (:cells:
# gis.policy.visible_cells, NULL for all).
VISIBLE_SQL = f"""
    (CAST(:cells AS bigint[]) IS NULL
     OR {STAFF_SQL}
     OR p.id IN (SELECT v.person_id FROM responsibility v
                 JOIN enterprise_cell_current vc ON vc.enterprise_id = v.enterprise_id
                 WHERE v.role = 'principal'
                   AND vc.cell_id = ANY(CAST(:cells AS bigint[]))))"""

RESPONSIBILITIES_SQL = """
    SELECT r.id, r.role, r.kind, r.valid_from, r.valid_to, r.comment, r.created_by,
           r.created_at, r.handover_id,
           CASE WHEN r.valid_from > now() THEN 'scheduled'
                WHEN r.valid @> now() THEN 'current' ELSE 'past' END AS status,
           c.code AS cell_code, c.name AS cell_name, c.level AS cell_level, c.kind AS cell_kind,
           c.retired_at IS NOT NULL AS cell_retired,
           e.management_code, e.name AS enterprise_name, t.code AS township_code,
           t.name AS township_name,
           CASE WHEN r.enterprise_id IS NULL OR CAST(:cells AS bigint[]) IS NULL THEN true
                ELSE EXISTS (SELECT 1 FROM enterprise_cell_current ec
                             WHERE ec.enterprise_id = r.enterprise_id
                               AND ec.cell_id = ANY(CAST(:cells AS bigint[]))) END AS readable
    FROM responsibility r
    LEFT JOIN cell c ON c.id = r.cell_id
    LEFT JOIN enterprise e ON e.id = r.enterprise_id
    LEFT JOIN township t ON t.id = r.township_id
    WHERE r.person_id = :p
    ORDER BY r.valid_to IS NOT NULL, r.valid_from DESC, r.id DESC"""


def get_person(session: Session, code: str, cells: list[int] | None = None) -> dict | None:
    """A person with their accounts, their responsibilities (``current``, ``past`` and
    ``scheduled``, newest first; enterprises the reader may not read are left out) and the
    handovers they were part of. None when there is no such person or the reader may not read
    them (the same answer, so codes cannot be probed)."""
    if not is_person_code(code):
        return None
    row = session.execute(text(f"""
        SELECT p.id, p.code, p.name, p.unit, p.position, p.phone, p.office_phone,
               p.active_from, p.active_to, p.created_at, p.updated_at,
               NOT {ONE_STAFF_SQL} AS principal_only
        FROM person p WHERE p.code = :code AND {ONE_VISIBLE_SQL}"""),
        {"code": code, "cells": cells}).one_or_none()
    if row is None:
        return None
    person = dict(row._mapping)
    person["accounts"] = list(session.execute(text(
        "SELECT username FROM app_user WHERE person_id = :p ORDER BY username"),
        {"p": row.id}).scalars())
    duties = [dict(r._mapping) for r in session.execute(text(RESPONSIBILITIES_SQL),
                                                        {"p": row.id, "cells": cells})]
    duties = [d for d in duties if d.pop("readable")]
    for status in ("current", "scheduled", "past"):
        person[status] = [d for d in duties if d["status"] == status]
    person["handovers"] = [dict(r._mapping) for r in session.execute(text("""
        SELECT h.id, h.at, h.valid_from, h.comment, h.username,
               f.code AS from_code, f.name AS from_name, t.code AS to_code, t.name AS to_name,
               jsonb_array_length(coalesce(h.summary -> 'plates', '[]')) AS plates
        FROM handover h JOIN person f ON f.id = h.from_person_id
        JOIN person t ON t.id = h.to_person_id
        WHERE :p IN (h.from_person_id, h.to_person_id)
        ORDER BY h.valid_from DESC, h.id DESC"""), {"p": row.id})]
    return person


def responsibility_places(session: Session, pid: int) -> list[tuple[tuple[int, ...], bool]]:
    """(path, inside) of each responsibility the person holds now, as policy.can_edit_person
    judges them."""
    rows = session.execute(text("""
        SELECT r.role, r.cell_id, r.township_id, ec.cell_id AS enterprise_cell
        FROM responsibility r
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = r.enterprise_id
        WHERE r.person_id = :p AND r.valid @> now()"""), {"p": pid}).all()
    places = []
    for r in rows:
        if r.township_id is not None:
            places.append((city_path_of_township(session, r.township_id), True))
        else:
            places.append((cell_path(session, r.cell_id or r.enterprise_cell), False))
    return places


def city_path(session: Session) -> tuple[int, ...]:
    """The root's path (the city, or the province above several: gis/tree.py), where what
    lies outside every cell is judged."""
    from gis.tree import root_path

    return root_path(session)


SIDES = ("staff", "enterprise", "all")
GAPS = ("no_responsibility", "left_but_responsible")

# The page of people first (ids, codes and the count), then what each row shows: the
# accounts, cells and roles are looked up for the page only.
LIST_SQL = """
    WITH hit AS (
        SELECT p.id, upper(p.code) = upper(:q) AS exact, count(*) OVER () AS total
        FROM person p
        WHERE {where}
        ORDER BY 2 DESC, p.code
        LIMIT :lim OFFSET :off
    )
    SELECT p.id, p.code, p.name, p.unit, p.position, p.phone, p.office_phone, p.active_from,
           p.active_to, coalesce(p.active_to < :today, false) AS has_left,
           array(SELECT u.username FROM app_user u WHERE u.person_id = p.id
                 ORDER BY u.username) AS usernames,
           array(SELECT c.code FROM responsibility r JOIN cell c ON c.id = r.cell_id
                 WHERE r.person_id = p.id AND r.role = 'owner' AND r.valid @> now()
                 ORDER BY c.code) AS cells,
           array(SELECT DISTINCT r.role FROM responsibility r
                 WHERE r.person_id = p.id AND r.valid @> now() ORDER BY r.role) AS roles,
           hit.total
    FROM hit JOIN person p ON p.id = hit.id
    ORDER BY hit.exact DESC, p.code"""


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, query: str | None = None, *, side: str = "staff",
           gap: str | None = None, cells: list[int] | None = None, limit: int | None = 50,
           offset: int = 0, accounts: bool = True, zone: str = "UTC"
           ) -> tuple[int, list[dict]]:
    """(how many match, up to ``limit`` of them from ``offset``): people whose code, name,
    unit, position, phone or account contains ``query``, a typed code first, then by code.
    ``side``: the bureau's and governments' staff, enterprises' principals, or all; ``gap``:
    only people who answer for nothing today ("no_responsibility", active staff) or who left
    but still answer for something ("left_but_responsible"). Each row carries the person's
    accounts, the cells they own now and their roles now. ``cells``: what the reader may
    read (VISIBLE_SQL). Without ``accounts`` (who is not an admin) account names are neither
    searched nor shown."""
    if side not in SIDES:
        raise ValidationError("side", "one of " + ", ".join(SIDES), "choices",
                              choices=", ".join(SIDES))
    if gap is not None and gap not in GAPS:
        raise ValidationError("gap", "one of " + ", ".join(GAPS), "choices",
                              choices=", ".join(GAPS))
    where = [VISIBLE_SQL]
    query = (query or "").strip()
    if query:
        where.append("""(p.code ILIKE :p OR p.name ILIKE :p OR p.unit ILIKE :p
                         OR p.position ILIKE :p OR p.phone ILIKE :p OR p.office_phone ILIKE :p
                         OR (:accounts AND EXISTS (SELECT 1 FROM app_user u
                                                   WHERE u.person_id = p.id
                                                     AND u.username ILIKE :p)))""")
    if side == "staff" or gap is not None:
        where.append(STAFF_SQL)
    elif side == "enterprise":
        where.append(PRINCIPAL_ONLY_SQL)
    if gap == "no_responsibility":
        where.append(NO_RESPONSIBILITY_SQL)
    elif gap == "left_but_responsible":
        where.append(LEFT_BUT_RESPONSIBLE_SQL)
    rows = [dict(r._mapping) for r in session.execute(text(
        LIST_SQL.format(where=" AND ".join(where))), {
        "p": f"%{_like(query)}%", "q": query, "cells": cells, "lim": limit, "off": offset,
        "accounts": accounts, "today": db_today(session, zone)})]
    total = rows[0].pop("total") if rows else 0
    for r in rows[1:]:
        r.pop("total")
    if not accounts:
        for r in rows:
            r["usernames"] = []
    return total, rows


def db_today(session: Session, zone: str = "UTC") -> dt.date:
    """The bureau's date at the database's now (a person who left "on 1 March" has left from
    2 March in the bureau's zone, whatever the server's clock says)."""
    return dates.local(db_now(session), zone).date()


# --- responsibilities ------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What a responsibility is held for, and where permission is judged (``path``, and
    ``inside``: on the cells inside it, as for a township, which lies inside the city)."""

    role: str
    kind: str  # "cell" | "enterprise" | "township"
    id: int
    code: str
    name: str
    path: tuple[int, ...]
    inside: bool = False

    @property
    def column(self) -> str:
        return TARGET_COLUMNS[self.kind]

    def label(self) -> str:
        return f"{self.kind} {self.code}"


def target(session: Session, role: str, code: str) -> Target:
    """The place ``code`` names for ``role``: a live cell (owner), a second-level territorial
    grid (station_chief), a township's 12-digit code (township_leader), an enterprise's
    management code (principal). NotFound or ValidationError otherwise."""
    if role not in ROLES:
        raise ValidationError("role", "one of " + ", ".join(ROLES), "choices",
                              choices=", ".join(ROLES))
    what = ROLES[role][1]
    code = (code or "").strip()
    if what == "cell":
        if not is_cell_code(code):
            raise ValidationError("target", f"{code!r} is not {CELL_CODE_RULE}", "cell_code")
        row = session.execute(text("""
            SELECT id, code, name, level, kind FROM cell WHERE code = :c AND retired_at IS NULL"""),
            {"c": code}).one_or_none()
        if row is None:
            raise NotFound("cell", code)
        if role == "station_chief" and (row.level != 2 or row.kind != "territorial"):
            raise ValidationError("target", "a station chief answers for a second-level "
                                  "territorial grid", "chief_grid", cell=code)
        return Target(role, "cell", row.id, row.code, row.name, cell_path(session, row.id))
    if what == "township":
        row = session.execute(text("SELECT id, code, name FROM township WHERE code = :c"),
                              {"c": code}).one_or_none()
        if row is None:
            raise NotFound("township", code)
        return Target(role, "township", row.id, row.code, row.name,
                      city_path_of_township(session, row.id), True)
    if not is_management_code(code):
        raise ValidationError("target", f"{code!r} is not {MANAGEMENT_CODE_RULE}",
                              "management_code")
    row = session.execute(text("""
        SELECT e.id, e.management_code AS code, e.name, ec.cell_id FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE e.management_code = :c"""), {"c": code}).one_or_none()
    if row is None:
        raise NotFound("enterprise", code)
    return Target(role, "enterprise", row.id, row.code, row.name, cell_path(session, row.cell_id))


def db_now(session: Session) -> dt.datetime:
    """The database's now: the start of the transaction, the moment every write in it takes
    effect (an assignment "from now" and a query "as of now" in one transaction agree)."""
    return session.execute(text("SELECT now()")).scalar()


def _check_active(session: Session, pid: int, at: dt.datetime, zone: str) -> None:
    left = session.execute(text("SELECT code, active_to FROM person WHERE id = :p"),
                           {"p": pid}).one_or_none()
    if left is None:
        raise NotFound("person", pid)
    if left.active_to is not None and dates.local(at, zone).date() > left.active_to:
        raise ValidationError("person", f"{left.code} left on {left.active_to}", "person_left",
                              person=left.code, day=left.active_to.isoformat())


def assign(session: Session, tgt: Target, pid: int, valid_from: dt.datetime | None = None, *,
           comment: str | None = None, created_by: str | None = None,
           handover_id: int | None = None, until: dt.datetime | None = None,
           zone: str = "UTC") -> bool:
    """``pid`` holds ``tgt.role`` for ``tgt`` from ``valid_from`` (default now): whoever held
    it then is closed there, and the new period runs until the next one already planned (or
    ``until``, a handover's end of what it took over). False when that person already holds it
    then (nothing is written). A person who left (``active_to`` before that day) is refused."""
    dates.require_aware(valid_from)
    dates.require_aware(until, "until")
    at = valid_from or db_now(session)
    _check_active(session, pid, at, zone)
    kind = ROLES[tgt.role][0]
    col = tgt.column
    # One assignment of a role to a target at a time: a concurrent one waits here, and its
    # next statement sees what this one wrote (READ COMMITTED). Without it two owner changes
    # of one cell at once both found the same holder and the second broke the no-overlap
    # constraint (bench/faults.py found it under load: a 500). Transaction-scoped, so it
    # works through PgBouncer's transaction pooling too.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gw_responsibility'), "
                         "hashtext(:key))"), {"key": f"{col}:{tgt.role}:{tgt.id}"})
    current = session.execute(text(f"""
        SELECT id, person_id, valid_from FROM responsibility
        WHERE {col} = :t AND role = :role AND valid @> CAST(:at AS timestamptz)
        FOR UPDATE"""), {"t": tgt.id, "role": tgt.role, "at": at}).one_or_none()
    if current is not None and current.person_id == pid:
        return False
    if current is not None:
        if current.valid_from >= at:
            raise ValidationError("valid_from", f"{tgt.label()}: the current holder's period "
                                  "starts at or after it", "owner_period")
        session.execute(text("UPDATE responsibility SET valid_to = :at WHERE id = :r"),
                        {"at": at, "r": current.id})
    session.execute(text(f"""
        INSERT INTO responsibility (person_id, kind, role, {col}, valid_from, valid_to, comment,
                                    created_by, handover_id)
        VALUES (:p, :kind, :role, :t, :at,
                least(CAST(:until AS timestamptz),
                      (SELECT min(valid_from) FROM responsibility
                       WHERE {col} = :t AND role = :role AND valid_from > :at)),
                :comment, :by, :h)"""),
        {"p": pid, "kind": kind, "role": tgt.role, "t": tgt.id, "at": at, "until": until,
         "comment": comment, "by": created_by, "h": handover_id})
    return True


def authorize_dated(grants, tgt: Target, valid_from: dt.datetime | None, now: dt.datetime,
                    grace: dt.timedelta, reason: str | None) -> policy.Dated:
    """gis.policy's answer for assigning ``tgt`` from ``valid_from``."""
    return policy.dated_change(grants, "edit_owner", tgt.path, valid_from, now, grace, reason,
                               inside=tgt.inside)


def cell_owners(session: Session, cell_id: int) -> list[dict]:
    """A cell's owners of its own over time, newest first (the cell's owner page)."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT r.valid_from, r.valid_to, r.comment, r.created_by, r.handover_id,
               p.code, p.name, p.phone, p.unit
        FROM responsibility r JOIN person p ON p.id = r.person_id
        WHERE r.cell_id = :c AND r.role = 'owner'
        ORDER BY r.valid_from DESC"""), {"c": cell_id})]


def grid_owners(session: Session, cell_id: int) -> list[dict]:
    """The grid's own owner and each live cell directly inside it, with who answers for it
    now (``falls_to``: the cell whose owner that is, when it has none of its own)."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT c.id, c.code, c.name, c.level, p.code AS owner_code, p.name AS owner_name,
               p.phone AS owner_phone,
               CASE WHEN o.from_cell_id <> c.id THEN fc.code END AS falls_to,
               (SELECT min(r.valid_from) FROM responsibility r WHERE r.cell_id = c.id
                  AND r.role = 'owner' AND r.valid @> now()) AS since
        FROM cell c
        LEFT JOIN LATERAL gw_cell_owner(c.id, now()) o ON true
        LEFT JOIN person p ON p.id = o.person_id
        LEFT JOIN cell fc ON fc.id = o.from_cell_id
        WHERE (c.id = :c OR c.parent_id = :c) AND c.retired_at IS NULL
        ORDER BY c.level, c.code"""), {"c": cell_id})]


def owner_now(session: Session, cell_id: int, at: dt.datetime | None = None) -> dict | None:
    """Who answers for the cell at ``at`` (default now), falling back up the tree (属地兜底):
    code, name, phone and ``from_cell`` (the cell whose owner it is)."""
    row = session.execute(text("""
        SELECT p.code, p.name, p.phone, p.unit, c.code AS from_cell
        FROM gw_cell_owner(:c, coalesce(CAST(:at AS timestamptz), now())) o
        JOIN person p ON p.id = o.person_id JOIN cell c ON c.id = o.from_cell_id"""),
        {"c": cell_id, "at": at}).one_or_none()
    return dict(row._mapping) if row else None


# --- handover ----------------------------------------------------------------------------------

# The responsibility plates (明示牌) that name person :p at :at: every enterprise assigned then
# to a cell the person owns or that falls to them (属地兜底), in a grid whose station they head,
# in a township they lead, or whose principal they are; with what names them there.
PLATES_SQL = """
    WITH owned AS (
        SELECT c.id FROM cell c
        CROSS JOIN LATERAL gw_cell_owner(c.id, CAST(:at AS timestamptz)) o
        WHERE c.level = 3 AND o.person_id = :p
    ), chief AS (
        SELECT c.id FROM cell c
        JOIN responsibility r ON r.cell_id = c.parent_id AND r.role = 'station_chief'
         AND r.valid @> CAST(:at AS timestamptz) AND r.person_id = :p
        WHERE c.level = 3
    ), towns AS (
        SELECT t.id, t.geom FROM township t
        JOIN responsibility r ON r.township_id = t.id AND r.role = 'township_leader'
         AND r.valid @> CAST(:at AS timestamptz) AND r.person_id = :p
    ), named AS (
        SELECT e.id,
               ec.cell_id IN (SELECT id FROM owned) AS owner,
               ec.cell_id IN (SELECT id FROM chief) AS station_chief,
               EXISTS (SELECT 1 FROM towns t WHERE ST_Covers(t.geom, e.geom)) AS township_leader,
               EXISTS (SELECT 1 FROM responsibility r WHERE r.enterprise_id = e.id
                       AND r.role = 'principal' AND r.person_id = :p
                       AND r.valid @> CAST(:at AS timestamptz)) AS principal
        FROM enterprise e
        JOIN enterprise_cell ec ON ec.enterprise_id = e.id
         AND ec.valid @> CAST(:at AS timestamptz)
    )
    SELECT e.management_code, e.name, e.address, c.code AS cell_code, c.name AS cell_name,
           array_remove(ARRAY[CASE WHEN n.owner THEN 'owner' END,
                              CASE WHEN n.station_chief THEN 'station_chief' END,
                              CASE WHEN n.township_leader THEN 'township_leader' END,
                              CASE WHEN n.principal THEN 'principal' END], NULL) AS roles
    FROM named n JOIN enterprise e ON e.id = n.id
    LEFT JOIN enterprise_cell ec ON ec.enterprise_id = e.id
         AND ec.valid @> CAST(:at AS timestamptz)
    LEFT JOIN cell c ON c.id = ec.cell_id
    WHERE n.owner OR n.station_chief OR n.township_leader OR n.principal
    ORDER BY c.code NULLS LAST, e.management_code"""


def plates_naming(session: Session, pid: int, at: dt.datetime) -> list[dict]:
    """The responsibility plates (明示牌) that name the person at ``at``, by cell."""
    return [dict(r._mapping) for r in session.execute(text(PLATES_SQL), {"p": pid, "at": at})]


@dataclass
class HandoverPlan:
    """What a handover at ``valid_from`` moves: ``targets`` (each with the end of the period it
    takes over) and what it cannot (``later``: responsibilities that begin after the date,
    which stay with the old person: hand them over from their own start)."""

    from_id: int
    to_id: int
    valid_from: dt.datetime
    targets: list[tuple[Target, dt.datetime | None]] = field(default_factory=list)
    later: list[dict] = field(default_factory=list)


def plan_handover(session: Session, from_id: int, to_id: int,
                  valid_from: dt.datetime) -> HandoverPlan:
    """Everything ``from_id`` answers for at ``valid_from`` (to be authorized target by
    target: ``plan.targets``)."""
    dates.require_aware(valid_from)
    if from_id == to_id:
        raise ValidationError("successor", "the same person", "same_person")
    plan = HandoverPlan(from_id, to_id, valid_from)
    rows = session.execute(text("""
        SELECT r.role, r.valid_from, r.valid_to, coalesce(c.code, e.management_code, t.code)
                   AS code,
               r.valid_from > CAST(:at AS timestamptz) AS later
        FROM responsibility r
        LEFT JOIN cell c ON c.id = r.cell_id
        LEFT JOIN enterprise e ON e.id = r.enterprise_id
        LEFT JOIN township t ON t.id = r.township_id
        WHERE r.person_id = :p AND (r.valid @> CAST(:at AS timestamptz)
                                    OR r.valid_from > CAST(:at AS timestamptz))
        ORDER BY r.role, code"""), {"p": from_id, "at": valid_from}).all()
    for r in rows:
        if r.later:
            plan.later.append({"role": r.role, "code": r.code, "valid_from": r.valid_from})
        else:
            plan.targets.append((target(session, r.role, r.code), r.valid_to))
    return plan


def hand_over(session: Session, plan: HandoverPlan, comment: str, *,
              username: str | None = None, zone: str = "UTC") -> dict:
    """Carry out ``plan`` (authorized by the caller): each responsibility is closed at the
    date and opened for the new person until where the old one's ended. Returns the summary
    kept with the handover: ``id``, ``moved`` and ``plates`` (the plates that named the old
    person at the date, to be reprinted)."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("comment", "required", "required")
    check_text("comment", comment)
    if not plan.targets:
        code = session.execute(text("SELECT code FROM person WHERE id = :p"),
                               {"p": plan.from_id}).scalar()
        raise PersonError(f"{code} answers for nothing on that date: nothing to hand over",
                          "nothing_to_hand_over", "valid_from", person=code)
    plates = plates_naming(session, plan.from_id, plan.valid_from)
    handover_id = session.execute(text("""
        INSERT INTO handover (valid_from, from_person_id, to_person_id, comment, username)
        VALUES (:at, :f, :t, :c, :u) RETURNING id"""), {
        "at": plan.valid_from, "f": plan.from_id, "t": plan.to_id, "c": comment,
        "u": username}).scalar()
    moved = []
    for tgt, until in plan.targets:
        assign(session, tgt, plan.to_id, plan.valid_from, comment=comment, created_by=username,
               handover_id=handover_id, until=until, zone=zone)
        moved.append({"role": tgt.role, "kind": tgt.kind, "code": tgt.code, "name": tgt.name})
    summary = {"moved": moved, "plates": plates,
               "later": [dict(x, valid_from=x["valid_from"].isoformat()) for x in plan.later]}
    session.execute(text("UPDATE handover SET summary = CAST(:s AS jsonb) WHERE id = :h"),
                    {"s": json.dumps(summary, ensure_ascii=False, default=str),
                     "h": handover_id})
    return {"id": handover_id, **summary}


def get_handover(session: Session, handover_id: int) -> dict | None:
    row = session.execute(text("""
        SELECT h.id, h.at, h.valid_from, h.comment, h.username, h.summary,
               f.code AS from_code, f.name AS from_name, t.code AS to_code, t.name AS to_name,
               t.phone AS to_phone
        FROM handover h JOIN person f ON f.id = h.from_person_id
        JOIN person t ON t.id = h.to_person_id WHERE h.id = :h"""),
        {"h": handover_id}).one_or_none()
    return dict(row._mapping) if row else None


# --- accounts ----------------------------------------------------------------------------------

def link_account(session: Session, username: str, code: str | None) -> bool:
    """The account ``username`` is the person ``code`` (None: no one); False when it already
    was. An account linked to someone else is moved only by unlinking it first, so a typing
    slip in a roster cannot give one inspector's records another's name."""
    row = session.execute(text("""
        SELECT u.id, p.code FROM app_user u LEFT JOIN person p ON p.id = u.person_id
        WHERE u.username = :u"""), {"u": username}).one_or_none()
    if row is None:
        raise PersonError(f"user {username!r}: no such user", "no_such_user", "username",
                          name=username)
    if code is None:
        return session.execute(text(
            "UPDATE app_user SET person_id = NULL WHERE id = :u AND person_id IS NOT NULL"),
            {"u": row.id}).rowcount == 1
    pid = person_id(session, code)
    if row.code == code:
        return False
    if row.code is not None:
        raise PersonError(f"user {username} is {row.code} already; unlink it first",
                          "account_linked", "username", name=username, person=row.code)
    session.execute(text("UPDATE app_user SET person_id = :p WHERE id = :u"),
                    {"p": pid, "u": row.id})
    return True


def account_person_id(session: Session, code: str | None) -> int | None:
    """The id of the person ``code`` for a new account (None for none), or ValidationError
    naming the field ``person``."""
    if not code:
        return None
    try:
        return person_id(session, code.strip())
    except NotFound:
        raise ValidationError("person", f"there is no person with the code {code}",
                              "no_such_person", person=code) from None


def account_person(session: Session, user_id: int) -> dict | None:
    """The person (code, name) the account is, whose name is on what it records; None."""
    row = session.execute(text("""
        SELECT p.code, p.name FROM app_user u JOIN person p ON p.id = u.person_id
        WHERE u.id = :u"""), {"u": user_id}).one_or_none()
    return dict(row._mapping) if row else None


# --- gaps in the roster ------------------------------------------------------------------------

NO_RESPONSIBILITY_SQL = """
    (p.active_to IS NULL OR p.active_to >= :today)
    AND p.id NOT IN (SELECT g.person_id FROM responsibility g WHERE g.valid @> now())"""
LEFT_BUT_RESPONSIBLE_SQL = """
    (p.active_to < :today
     AND p.id IN (SELECT g.person_id FROM responsibility g WHERE g.valid @> now()))"""

# Live level-3 cells among :cells without an owner of their own now.
UNOWNED_WHERE = """
    c.level = 3 AND c.retired_at IS NULL
    AND c.id NOT IN (SELECT r.cell_id FROM responsibility r
                     WHERE r.role = 'owner' AND r.valid @> now() AND r.cell_id IS NOT NULL)
    AND (CAST(:cells AS bigint[]) IS NULL OR c.id = ANY(CAST(:cells AS bigint[])))"""
UNOWNED_CELLS_SQL = """
    SELECT c.code, c.name, c.kind, c.specialty, parent.code AS parent_code,
           fp.code AS falls_to_code, fp.name AS falls_to_name, fp.phone AS falls_to_phone,
           fc.code AS falls_to_cell
    FROM cell c
    LEFT JOIN cell parent ON parent.id = c.parent_id
    LEFT JOIN LATERAL gw_cell_owner(c.parent_id, now()) o ON true
    LEFT JOIN person fp ON fp.id = o.person_id
    LEFT JOIN cell fc ON fc.id = o.from_cell_id
    WHERE {where}
    ORDER BY c.code""".format(where=UNOWNED_WHERE)
ACCOUNTS_SQL = """
    SELECT u.username, u.display_name, u.last_login_at,
           coalesce(string_agg(r.role || coalesce('@' || c.code, ''), ', '
                               ORDER BY r.role, c.code), '') AS roles
    FROM app_user u
    LEFT JOIN user_role r ON r.user_id = u.id LEFT JOIN cell c ON c.id = r.cell_id
    WHERE u.active AND u.person_id IS NULL
    GROUP BY u.id ORDER BY u.username"""


def gaps(session: Session, cells: list[int] | None = None, *, accounts: bool = True,
         zone: str = "UTC") -> dict:
    """Where the roster has holes today: level-3 cells without an owner of their own (with
    whom they fall to, 属地兜底) among ``cells`` (None: all); active staff who answer for
    nothing; people who left but still answer for something; and (``accounts``, for admins)
    active accounts that are no person, whose inspections would carry no name."""
    today = db_today(session, zone)
    unowned = [dict(r._mapping) for r in session.execute(text(UNOWNED_CELLS_SQL),
                                                         {"cells": cells})]
    idle = search(session, side="staff", gap="no_responsibility", limit=None, zone=zone)[1]
    left = search(session, side="staff", gap="left_but_responsible", limit=None, zone=zone)[1]
    result = {"cells_without_owner": unowned, "people_without_responsibility": idle,
              "left_but_responsible": left, "today": today}
    if accounts:
        result["accounts_without_person"] = [dict(r._mapping)
                                             for r in session.execute(text(ACCOUNTS_SQL))]
    return result


def gap_counts(session: Session, cells: list[int] | None = None, *,
               accounts: bool = True, zone: str = "UTC") -> dict:
    """The counts of ``gaps``, in one statement (the overview's figures)."""
    row = session.execute(text(f"""
        WITH staff AS MATERIALIZED (
            SELECT p.id, p.active_to FROM person p WHERE {STAFF_SQL}
        ), busy AS MATERIALIZED (
            SELECT DISTINCT person_id FROM responsibility
            WHERE valid @> now() AND person_id IN (SELECT id FROM staff)
        )
        SELECT (SELECT count(*) FROM cell c WHERE {UNOWNED_WHERE}) AS cells_without_owner,
               (SELECT count(*) FROM staff s WHERE (s.active_to IS NULL OR s.active_to >= :today)
                  AND s.id NOT IN (SELECT person_id FROM busy))
                   AS people_without_responsibility,
               (SELECT count(*) FROM staff s WHERE s.active_to < :today
                  AND s.id IN (SELECT person_id FROM busy)) AS left_but_responsible,
               (SELECT count(*) FROM app_user u WHERE u.active AND u.person_id IS NULL)
                   AS accounts_without_person"""),
        {"cells": cells, "today": db_today(session, zone)}).one()
    counts = dict(row._mapping)
    if not accounts:
        counts.pop("accounts_without_person")
    return counts


# --- roster files ------------------------------------------------------------------------------

# field -> accepted headers (the canonical English one first, then the Chinese one exports
# write).
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "人员编号", "编号", "工号"),
    "name": ("name", "姓名"),
    "unit": ("unit", "单位", "所在单位", "工作单位"),
    "position": ("position", "职务", "岗位"),
    "phone": ("phone", "电话", "手机", "手机号", "联系电话"),
    "office_phone": ("office_phone", "办公电话"),
    "username": ("username", "用户名", "账号", "登录名"),
    "cell": ("cell", "负责网格", "网格", "网格编码"),
    "from": ("from", "起始日期", "valid_from"),
    "active_from": ("active_from", "在岗日期", "入职日期"),
    "active_to": ("active_to", "离岗日期"),
}
REQUIRED = ("code", "name")
EXPORT_COLUMNS = ("code", "name", "unit", "position", "phone", "office_phone", "username",
                  "cell", "from", "active_from", "active_to")
# Several cells in one field: "130984-Z01-01、130984-Z01-02" (or , ; and spaces).
CELL_SEPARATORS = re.compile(r"[,，;；、\s]+")


@dataclass
class RosterRow:
    row: int
    values: dict  # the person's fields present in the file
    username: str | None
    cells: list[str]
    valid_from: dt.datetime | None


@dataclass
class RosterSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    linked: int = 0
    assigned: int = 0
    flag: str | None = None
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"inserted {self.inserted}, updated {self.updated}, unchanged "
                f"{self.unchanged}, refused {self.refused}; accounts linked {self.linked}, "
                f"cells assigned {self.assigned}")


def _map_columns(columns: list[str], source: str) -> dict[str, str]:
    return tables.map_columns(columns, COLUMNS, REQUIRED, source)


def parse_roster(frame, source: str, zone: str) -> tuple[list[RosterRow], list[RowProblem]]:
    """Check every row of a roster table (gis.tables' frame: strings, indexed by the sheet's
    row numbers); only the columns present are read."""
    mapping = _map_columns(list(frame.columns), source)
    inverse = {v: k for k, v in mapping.items()}
    rows, problems = [], []
    seen_codes: dict[str, int] = {}
    seen_users: dict[str, int] = {}
    seen_cells: dict[str, int] = {}
    numbers = frame.index if frame.index.name == tables.ROW_INDEX else range(2, len(frame) + 2)
    for rowno, rec in zip(numbers, frame.to_dict("records")):
        get = (lambda f: str(rec.get(inverse[f], "") or "").strip() if f in inverse else None)
        code = get("code") or ""
        where = f"row {rowno}" + (f" ({code[:32]})" if code else "")
        errors: list[ValidationError] = []
        try:
            values = clean_person({f: get(f) for f in PERSON_FIELDS if f in inverse},
                                  require_code=True)
        except ValidationError as exc:
            errors.append(exc)
            values = {}
        if values.get("code"):
            if values["code"] in seen_codes:
                errors.append(ValidationError("code", f"{code} repeats row "
                                              f"{seen_codes[values['code']]}", "repeats_row",
                                              row=seen_codes[values["code"]]))
            seen_codes.setdefault(values["code"], rowno)
        username = get("username") or None
        if username is not None:
            username = username.lower()
            if not USERNAME_RE.match(username):
                errors.append(ValidationError("username", f"{username!r} is not a username",
                                              "username_form"))
            elif username in seen_users:
                errors.append(ValidationError("username", f"{username} repeats row "
                                              f"{seen_users[username]}", "repeats_row",
                                              row=seen_users[username]))
            seen_users.setdefault(username, rowno)
        cells = [c for c in CELL_SEPARATORS.split(get("cell") or "") if c]
        for c in cells:
            if not is_cell_code(c):
                errors.append(ValidationError("cell", f"{c!r} is not {CELL_CODE_RULE}",
                                              "place_code", cell=c))
            elif c in seen_cells:
                errors.append(ValidationError("cell", f"{c} repeats row {seen_cells[c]}",
                                              "cell_repeats_row", cell=c, row=seen_cells[c]))
            seen_cells.setdefault(c, rowno)
        when = None
        if get("from"):
            try:
                when = dates.parse_datetime(get("from"), zone, "from")
            except ValidationError as exc:
                errors.append(exc)
            if not cells:
                errors.append(ValidationError("from", "a start date without a cell",
                                              "from_without_cell"))
        if errors:
            problems.extend(RowProblem(where, str(e), rowno, e) for e in errors)
            continue
        rows.append(RosterRow(rowno, values, username, cells, when))
    return rows, problems


def import_roster(session: Session, path: str | Path, *, zone: str, grants, grace: dt.timedelta,
                  reason: str | None = None, skip_invalid: bool = False,
                  username: str | None = None, limits: Limits | None = None) -> RosterSummary:
    """``flask people import`` and the people page's import: check every row, then upsert the
    people by code, link their accounts and make them owners of their cells from ``from``
    (default now), in the caller's transaction. Re-importing the same file changes nothing.

    A column missing from the file leaves that field alone; one present but empty clears it.
    Accounts and cells are only ever added: a cell not listed is not taken from anyone (hand
    it over on the person's page). Each new owner is authorized as the user ``grants`` would
    be in the editor (a date further back than ``grace`` needs an administrator's ``reason``);
    ``summary.flag`` is "backdated" when any was dated in the past."""
    frame = tables.read_table(path, limits)
    rows, problems = parse_roster(frame, str(path), zone)
    now = db_now(session)
    summary = RosterSummary()
    planned: list[tuple[RosterRow, list[Target]]] = []
    existing = dict(session.execute(text("SELECT code, id FROM person")).all())
    for r in rows:
        errors = []
        code = r.values["code"]
        where = f"row {r.row} ({code})"
        if r.username is not None:
            linked = session.execute(text("""
                SELECT p.code FROM app_user u LEFT JOIN person p ON p.id = u.person_id
                WHERE u.username = :u"""), {"u": r.username}).one_or_none()
            if linked is None:
                errors.append(ValidationError("username", f"there is no user {r.username}",
                                              "no_such_user", name=r.username))
            elif linked.code not in (None, code):
                errors.append(ValidationError("username", f"user {r.username} is "
                                              f"{linked.code} already; unlink it first",
                                              "account_linked", name=r.username,
                                              person=linked.code))
        targets = []
        for c in r.cells:
            try:
                tgt = target(session, "owner", c)
            except NotFound:
                errors.append(ValidationError("cell", f"there is no cell {c}", "no_such_cell",
                                              cell=c))
                continue
            pid = existing.get(code)
            at = r.valid_from or now
            holder = session.execute(text("""
                SELECT person_id FROM responsibility WHERE cell_id = :c AND role = 'owner'
                AND valid @> CAST(:at AS timestamptz)"""), {"c": tgt.id, "at": at}).scalar()
            if pid is not None and holder == pid:
                continue  # already theirs: a re-import changes nothing
            decision = authorize_dated(grants, tgt, r.valid_from, now, grace, reason)
            if not decision.allowed:
                errors.append(ValidationError(
                    "cell", f"{c}: not allowed to assign its owner"
                    + (" this far back without a reason" if decision.flag else ""),
                    "backdate_not_allowed" if decision.flag else "not_allowed", cell=c))
                continue
            summary.flag = summary.flag or decision.flag
            targets.append(tgt)
        if errors:
            problems.extend(RowProblem(where, str(e), r.row, e) for e in errors)
            continue
        planned.append((r, targets))
    if problems and not skip_invalid:
        raise ImportRefused(str(path), problems)
    summary.problems = problems
    summary.refused = len({p.row for p in problems})
    for r, targets in planned:
        code = r.values["code"]
        pid = existing.get(code)
        if pid is None:
            pid = create_person(session, r.values)["id"]
            existing[code] = pid
            summary.inserted += 1
        elif update_person(session, pid, r.values):
            summary.updated += 1
        else:
            summary.unchanged += 1
        if r.username is not None and link_account(session, r.username, code):
            summary.linked += 1
        for tgt in targets:
            try:
                done = assign(session, tgt, pid, r.valid_from, comment=f"roster {Path(path).name}",
                              created_by=username, zone=zone)
            except ValidationError as exc:
                raise ImportRefused(str(path), [RowProblem(f"row {r.row} ({code})", str(exc),
                                                           r.row, exc)]) from None
            summary.assigned += int(done)
    return summary


def roster_rows(session: Session, zone: str) -> list[dict]:
    """The staff as a roster file holds them (one row per person, by code): their accounts and
    the cells they own now, ``from`` the earliest start among those (a local date when it is
    a day's start)."""
    rows = session.execute(text(f"""
        SELECT p.code, p.name, p.unit, p.position, p.phone, p.office_phone, p.active_from,
               p.active_to,
               array(SELECT u.username FROM app_user u WHERE u.person_id = p.id
                     ORDER BY u.username) AS usernames,
               array(SELECT c.code FROM responsibility r JOIN cell c ON c.id = r.cell_id
                     WHERE r.person_id = p.id AND r.role = 'owner' AND r.valid @> now()
                     ORDER BY c.code) AS cells,
               (SELECT min(r.valid_from) FROM responsibility r
                WHERE r.person_id = p.id AND r.role = 'owner' AND r.valid @> now()) AS since
        FROM person p WHERE {STAFF_SQL}
        ORDER BY p.code""")).all()
    out = []
    for r in rows:
        since = None
        if r.since is not None:
            local = dates.local(r.since, zone)
            since = local.date().isoformat() if local.time() == dt.time(0) \
                else local.isoformat()
        out.append({"code": r.code, "name": r.name, "unit": r.unit, "position": r.position,
                    "phone": r.phone, "office_phone": r.office_phone,
                    # One account a row: the roster links one; more are linked elsewhere.
                    "username": r.usernames[0] if r.usernames else None,
                    "cell": "、".join(r.cells) or None, "from": since,
                    "active_from": r.active_from.isoformat() if r.active_from else None,
                    "active_to": r.active_to.isoformat() if r.active_to else None})
    return out


def export_roster(session: Session, path_or_format: str | Path, zone: str, *,
                  chinese: bool = True) -> tuple[bytes, int]:
    """The roster as a file: XLSX when ``path_or_format`` ends in .xlsx (or is "xlsx"), else
    CSV in UTF-8 with a BOM (Excel opens it as Chinese text). Headers in Chinese (as the
    import reads them) or English. Returns (the file's bytes, number of people); a path is
    also written."""
    rows = roster_rows(session, zone)
    header = [COLUMNS[c][1] if chinese else COLUMNS[c][0] for c in EXPORT_COLUMNS]
    kind = str(path_or_format).lower()
    if kind.endswith("xlsx"):
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "人员名册" if chinese else "roster"
        sheet.append(header)
        for r in rows:
            sheet.append([tables.spreadsheet_text(r[c] or "") for c in EXPORT_COLUMNS])
        buffer = io.BytesIO()
        book.save(buffer)
        data = buffer.getvalue()
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for r in rows:
            writer.writerow([tables.spreadsheet_text(r[c] or "") for c in EXPORT_COLUMNS])
        data = buffer.getvalue().encode("utf-8-sig")
    if kind not in ("csv", "xlsx"):
        Path(path_or_format).write_bytes(data)
    return data, len(rows)

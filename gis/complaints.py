"""12365 complaints (投诉举报): taken in, routed to whoever answers for the spot, handled to
closure.

Intake: one function, ``receive``, for every way a complaint arrives: Open311 (app/open311.py,
source "open311"), the public page a plate's QR code opens (source "public"), the hotline's
export (``import_hotline``, source "import") and staff typing one in (source "staff").
``check`` validates and resolves what was sent; ``save`` numbers, routes and stores it.

Where: ``lat``/``lon`` (WGS 84 as Open311 says; ``crs="gcj02"`` converts a Chinese map app's),
else the point of the enterprise named (the public page's, or Open311's
``attribute[enterprise]``), else the address: when it is, letter for letter (full-width forms
and spaces folded), the address of exactly one enterprise, that enterprise's point. That is
all the geocoding there is: no gazetteer of streets exists on the intranet, and a guess that
puts a complaint in the wrong cell sends it to the wrong person. An address that matches
nothing keeps the complaint without a point (``location_source`` None): routed to the city
(the root of the tree: the province in a province's deployment, docs/province.md), flagged
``outside_grid``, never lost and never drawn at a made-up place.

Routing, stamped once on arrival and kept when boundaries or owners change later: the deepest
territorial cell whose boundary version in force at ``received_at`` covers the point (a point
on a shared edge goes to the lower code, as enterprises do), that version, and the owner then
(``gw_cell_owner``: the cell's own, else the nearest above, 属地兜底). No level-3 cell covers
it (outside the grid, or no point): the deepest territorial cell that does, else the root,
with ``outside_grid``. ``due_at`` is ``received_at`` plus the service's ``response_hours``.

Numbers are ours, ``TS-<year>-NNNNNN`` (投诉) in the bureau's year, one after another; the
hotline's own number is ``external_id`` (importing its export twice changes nothing). The
complainant is given the *reference* ``<number>-<check code>``: six random characters (30 bits)
make the status page of a complaint unguessable from its neighbours' numbers.

Handling: received → assigned → handled → closed, forward only (a step may be skipped: a
duplicate is closed as it arrives); each step a ``complaint_step`` row with who, when and a
note, and the note becomes the Open311 ``status_notes``. ``reassign`` hands an open complaint
to another cell's owner with a reason (a step "assigned" naming them); the arrival's stamp
stays. Overdue (逾期): not closed and ``due_at`` passed.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import boundary_lock, dates, tables
from gis.errors import GridWatchError, ImportRefused, RowProblem
from gis.fieldwork import NotFound
from gis.limits import Limits
from gis.models import COMPLAINT_SOURCES, COMPLAINT_STATUSES
from gis.users import cell_path
from gis.validation import ValidationError, clean_text

STATUSES = COMPLAINT_STATUSES
# Open311 knows two statuses; ours map onto them.
OPEN311_STATUS = {"received": "open", "assigned": "open", "handled": "open", "closed": "closed"}
MAX_TEXT = 4000  # Open311's limit on a description
NUMBER_PREFIX = "TS"
# Crockford's base 32: no I, L, O or U to misread; the check code is typed from a phone.
CHECK_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_LENGTH = 6
# A moment "now" may be this far behind a received time (clocks, a form filled in slowly).
_SKEW = dt.timedelta(minutes=5)
DEFAULT_ZONE = "Asia/Shanghai"
# What a person's contact looks like; anything else is a typing mistake we would rather say.
_EMAIL = re.compile(r"[^@\s]{1,100}@[^@\s]{1,100}\.[^@\s]{1,50}")
_PHONE = re.compile(r"[0-9+()\- ]{3,40}")
_URL = re.compile(r"https?://[^\s]{1,1990}", re.I)


class ComplaintRefused(GridWatchError):
    """A step that does not follow from where the complaint is. ``reason``: closed (no more
    steps), backwards (an earlier status), same (already there), not_reassignable (handled
    or closed: no one else takes it now), same_handler (already theirs)."""

    def __init__(self, reason: str, status: str, wanted: str | None = None):
        super().__init__(f"refused ({reason}): the complaint is {status}"
                         + (f", not ready for {wanted}" if wanted else ""))
        self.reason = reason
        self.status = status
        self.wanted = wanted


# --- services ---------------------------------------------------------------------------------

def services(session: Session, *, active_only: bool = True) -> list[dict]:
    """The services (what a complaint may be about), in their order: code, name,
    description, group_name, specialty, response_hours, urgent, active, attributes."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT code, name, description, group_name, specialty, response_hours, urgent, active,
               attributes
        FROM complaint_service WHERE active OR NOT :only ORDER BY sort_order, code"""),
        {"only": active_only})]


def service(session: Session, code: str) -> dict | None:
    row = session.execute(text("""
        SELECT code, name, description, group_name, specialty, response_hours, urgent, active,
               attributes
        FROM complaint_service WHERE code = :c"""), {"c": code}).one_or_none()
    return None if row is None else dict(row._mapping)


# --- checking what arrived --------------------------------------------------------------------

@dataclass
class Intake:
    """A complaint checked and resolved, ready for ``save``."""

    service: dict
    description: str
    received_at: dt.datetime
    lon: float | None = None
    lat: float | None = None
    location_source: str | None = None
    address: str | None = None
    enterprise_id: int | None = None
    management_code: str | None = None
    attributes: dict = field(default_factory=dict)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    media_url: str | None = None
    external_id: str | None = None
    category: str | None = None
    urgent: bool = False
    notes: list[str] = field(default_factory=list)


def _fold(value) -> str:
    return unicodedata.normalize("NFKC", str(value if value is not None else "")).strip()


def _text(name: str, value, limit: int, *, required: bool = False) -> str | None:
    return clean_text(name, value, limit, required=required)


def _enterprise_by_code(session: Session, code: str):
    return session.execute(text("""
        SELECT id, management_code, name, address, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM enterprise WHERE management_code = :c"""), {"c": code}).one_or_none()


def _enterprise_named(session: Session, words: str):
    """The enterprise an attribute names: its management code, else its exact name (one
    enterprise only); None when nothing matches."""
    row = _enterprise_by_code(session, _fold(words))
    if row is not None:
        return row
    rows = session.execute(text("""
        SELECT id, management_code, name, address, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM enterprise WHERE normalize(name, NFKC) = normalize(:n, NFKC) LIMIT 2"""),
        {"n": words.strip()}).all()
    return rows[0] if len(rows) == 1 else None


def _enterprise_at(session: Session, address: str):
    """The one enterprise whose address is ``address`` (full-width forms and white space
    folded), else None: the only geocoding we do (module docstring)."""
    key = re.sub(r"\s+", "", _fold(address))
    if not key:
        return None
    rows = session.execute(text("""
        SELECT id, management_code, name, address, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM enterprise
        WHERE regexp_replace(normalize(coalesce(address, ''), NFKC), '\\s+', '', 'g') = :a
        LIMIT 2"""), {"a": key}).all()
    return rows[0] if len(rows) == 1 else None


def _attributes(definitions: list[dict], given: dict | None) -> dict:
    """The attribute values sent, checked against the service's definitions (Open311: unknown
    codes, a missing required one and a value outside a list are refused)."""
    given = {str(k): v for k, v in (given or {}).items() if v not in (None, "", [])}
    known = {d["code"]: d for d in definitions}
    for code in sorted(given):
        if code not in known:
            raise ValidationError("attribute", f"{code}: not an attribute of this service",
                                  "unknown_attribute", attribute=code)
    out = {}
    for code, d in known.items():
        value = given.get(code)
        if value is None:
            if d.get("required"):
                raise ValidationError("attribute", f"{code}: required", "attribute_required",
                                      attribute=code)
            continue
        kind = d.get("datatype", "string")
        keys = [str(v["key"]) for v in d.get("values") or []]
        values = value if isinstance(value, list) else [value]
        if kind != "multivaluelist" and len(values) > 1:
            raise ValidationError("attribute", f"{code}: one value", "attribute_one_value",
                                  attribute=code)
        cleaned = []
        for v in values:
            v = _text("attribute", v, MAX_TEXT if kind == "text" else 200)
            if kind in ("singlevaluelist", "multivaluelist") and v not in keys:
                raise ValidationError("attribute", f"{code}: one of {', '.join(keys)}",
                                      "attribute_choices", attribute=code,
                                      choices=", ".join(keys))
            if kind == "number":
                try:
                    float(v)
                except ValueError:
                    raise ValidationError("attribute", f"{code}: expected a number",
                                          "attribute_number", attribute=code) from None
            cleaned.append(v)
        out[code] = cleaned if kind == "multivaluelist" else cleaned[0]
    return out


def check(session: Session, *, service_code, description, lon=None, lat=None,
          crs: str | None = None, address=None, enterprise=None, attributes: dict | None = None,
          first_name=None, last_name=None, email=None, phone=None, media_url=None,
          received_at: dt.datetime | None = None, external_id=None, category=None,
          urgent: bool | None = None, now: dt.datetime | None = None) -> Intake:
    """Check a complaint as it arrived and resolve its service, enterprise and point. Raises
    the first ValidationError (naming its field: service_code, description, lon, lat,
    address, enterprise, attribute, first_name, last_name, email, phone, media_url,
    received_at, external_id)."""
    from gis.lookup import parse_point

    now = now or dt.datetime.now(dt.timezone.utc)
    code = _text("service_code", service_code, 32, required=True)
    svc = service(session, code)
    if svc is None or not svc["active"]:
        raise ValidationError("service_code", f"no service {code}", "no_such_service",
                              service=code)
    intake = Intake(service=svc, received_at=now,
                    description=_text("description", description, MAX_TEXT, required=True))
    if received_at is not None:
        dates.require_aware(received_at, "received_at")
        if received_at > now + _SKEW:
            raise ValidationError("received_at", "in the future", "in_future")
        intake.received_at = received_at
    intake.first_name = _text("first_name", first_name, 100)
    intake.last_name = _text("last_name", last_name, 100)
    intake.email = _text("email", email, 200)
    if intake.email and not _EMAIL.fullmatch(intake.email):
        raise ValidationError("email", "not an e-mail address", "pattern")
    intake.phone = _text("phone", _fold(phone) if phone else None, 40)
    if intake.phone and not _PHONE.fullmatch(intake.phone):
        raise ValidationError("phone", "digits, spaces, +, - and brackets", "phone_form")
    intake.media_url = _text("media_url", media_url, 2000)
    if intake.media_url and not _URL.fullmatch(intake.media_url):
        raise ValidationError("media_url", "an http:// or https:// address", "url_form")
    intake.external_id = _text("external_id", _fold(external_id) if external_id else None, 64)
    intake.category = _text("category", category, 100)
    intake.address = _text("address", address, 300)
    intake.attributes = _attributes(svc["attributes"] or [], attributes)
    intake.urgent = bool(svc["urgent"] or urgent)

    site = None
    if enterprise not in (None, ""):
        site = _enterprise_by_code(session, _fold(enterprise))
        if site is None:
            raise ValidationError("enterprise", f"there is no enterprise {enterprise}",
                                  "no_such_target", kind="enterprise", name=str(enterprise))
    elif intake.attributes.get("enterprise"):
        # The complainant's words: an enterprise when they name one, else kept as said.
        site = _enterprise_named(session, intake.attributes["enterprise"])
    if site is not None:
        intake.enterprise_id, intake.management_code = site.id, site.management_code

    given = [v for v in (lon, lat) if v is not None and str(v).strip() != ""]
    if given:
        intake.lon, intake.lat, _crs, _typed = parse_point(lon, lat, crs)
        intake.location_source = "point"
    elif site is not None:
        intake.lon, intake.lat, intake.location_source = site.lon, site.lat, "enterprise"
        intake.address = intake.address or site.address
    elif intake.address:
        found = _enterprise_at(session, intake.address)
        if found is not None:
            intake.lon, intake.lat, intake.location_source = found.lon, found.lat, "address"
            intake.enterprise_id = intake.enterprise_id or found.id
            intake.management_code = intake.management_code or found.management_code
        else:
            intake.notes.append("no_location")
    else:
        raise ValidationError("lat", "give lat and long, an address or the enterprise",
                              "location_required")
    return intake


# --- storing and routing ----------------------------------------------------------------------

@dataclass
class Received:
    """What ``save`` did: the complaint's number and public reference, where it went and by
    when it is due; ``created`` False when its external_id was already there (nothing
    written)."""

    id: int
    number: str
    reference: str
    created: bool
    service_code: str | None
    service_name: str | None
    received_at: dt.datetime
    due_at: dt.datetime | None
    cell_code: str | None
    cell_name: str | None
    owner_name: str | None
    outside_grid: bool
    located: bool
    external_id: str | None = None
    # The urgent event raised for it (an urgent matter taken in live), its number.
    urgent_event: str | None = None


def reference_of(number: str, check_code: str | None) -> str:
    return f"{number}-{check_code}" if check_code else number


def _next_number(session: Session, year: int) -> str:
    # One numbering at a time: two complaints arriving at once must not take the same number.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('complaint_number'))"))
    prefix = f"{NUMBER_PREFIX}-{year}-"
    last = session.execute(text("""
        SELECT max(substring(number FROM '^TS-[0-9]{4}-([0-9]+)$')::int)
        FROM complaint WHERE number LIKE :p"""), {"p": prefix + "%"}).scalar()
    return f"{prefix}{(last or 0) + 1:06d}"


def new_check_code() -> str:
    return "".join(secrets.choice(CHECK_ALPHABET) for _ in range(CHECK_LENGTH))


# The routing rule (module docstring), for any set of complaints: the demo stamps its
# complaints with the same statement ``save`` uses for one.
ROUTE_SQL = """
WITH hit AS (
    SELECT DISTINCT ON (k.id) k.id, cv.cell_id, cv.id AS version_id, c.level
    FROM complaint k
    JOIN cell_version cv ON cv.valid @> k.received_at AND ST_Covers(cv.geom, k.geom)
    JOIN cell c ON c.id = cv.cell_id AND c.kind = 'territorial'
    WHERE k.id = ANY(CAST(:ids AS bigint[]))
    ORDER BY k.id, c.level DESC, c.code
), city AS (
    SELECT DISTINCT ON (k.id) k.id, cv.cell_id, cv.id AS version_id
    FROM complaint k
    JOIN cell_version cv ON cv.valid @> k.received_at
    JOIN cell c ON c.id = cv.cell_id AND c.parent_id IS NULL AND c.kind = 'territorial'
    WHERE k.id = ANY(CAST(:ids AS bigint[]))
    ORDER BY k.id, c.level, c.code
), routed AS (
    SELECT k.id, coalesce(h.cell_id, y.cell_id) AS cell_id,
           coalesce(h.version_id, y.version_id) AS version_id,
           coalesce(h.level, 0) < 3 AS outside,
           (gw_cell_owner(coalesce(h.cell_id, y.cell_id), k.received_at)).person_id AS owner
    FROM complaint k
    LEFT JOIN hit h ON h.id = k.id
    LEFT JOIN city y ON y.id = k.id
    WHERE k.id = ANY(CAST(:ids AS bigint[]))
)
UPDATE complaint k SET cell_id = r.cell_id, cell_version_id = r.version_id,
       assigned_cell_id = r.cell_id, outside_grid = r.outside, owner_id = r.owner,
       assignee_id = r.owner
FROM routed r WHERE r.id = k.id
"""


def route(session: Session, ids: list[int]) -> None:
    """Stamp the complaints ``ids`` with their cell, boundary version, owner and handler as
    things stood when each was received (``ROUTE_SQL``)."""
    if ids:
        session.execute(text(ROUTE_SQL), {"ids": list(ids)})


def _existing(session: Session, external_id: str) -> Received | None:
    row = session.execute(text(_RECEIVED_SQL + " WHERE k.external_id = :x"),
                          {"x": external_id}).one_or_none()
    return None if row is None else _received(row, created=False)


_RECEIVED_SQL = """
    SELECT k.id, k.number, k.check_code, k.service_code, s.name AS service_name, k.received_at,
           k.due_at, c.code AS cell_code, c.name AS cell_name, p.name AS owner_name,
           k.outside_grid, k.geom IS NOT NULL AS located, k.external_id
    FROM complaint k
    LEFT JOIN complaint_service s ON s.code = k.service_code
    LEFT JOIN cell c ON c.id = k.cell_id
    LEFT JOIN person p ON p.id = k.owner_id"""


def _received(row, *, created: bool) -> Received:
    return Received(id=row.id, number=row.number,
                    reference=reference_of(row.number, row.check_code), created=created,
                    service_code=row.service_code, service_name=row.service_name,
                    received_at=row.received_at, due_at=row.due_at, cell_code=row.cell_code,
                    cell_name=row.cell_name, owner_name=row.owner_name,
                    outside_grid=row.outside_grid, located=row.located,
                    external_id=row.external_id)


def save(session: Session, intake: Intake, *, source: str, username: str | None = None,
         zone: str = DEFAULT_ZONE) -> Received:
    """Number, store and route a checked complaint, with its first step (received). A
    complaint whose ``external_id`` is stored already is that one (``created`` False)."""
    if source not in COMPLAINT_SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if intake.external_id:
        found = _existing(session, intake.external_id)
        if found is not None:
            return found
    # Routed against one consistent boundary: wait for a boundary change being committed,
    # and arrive no later than the database's clock (gis/boundary_lock.py).
    received_at = min(intake.received_at, boundary_lock.for_stamping(session))
    year = received_at.astimezone(ZoneInfo(zone)).year
    number = _next_number(session, year)
    svc = intake.service
    complaint_id = session.execute(text("""
        INSERT INTO complaint (number, check_code, received_at, geom, location_source, text,
                               category, status, enterprise_id, service_code, source,
                               external_id, due_at, urgent, address, first_name, last_name,
                               email, phone, media_url, attributes, updated_at)
        VALUES (:number, :check, :at,
                CASE WHEN CAST(:lon AS float8) IS NOT NULL
                     THEN ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                :ls, :text, :category, 'received', :enterprise, :service, :source, :external,
                CAST(:at AS timestamptz) + make_interval(hours => :hours), :urgent, :address,
                :first, :last, :email, :phone, :media, CAST(:attrs AS jsonb), :at)
        ON CONFLICT (external_id) DO NOTHING
        RETURNING id"""), {
        "number": number, "check": new_check_code(), "at": received_at,
        "lon": intake.lon, "lat": intake.lat, "ls": intake.location_source,
        "text": intake.description, "category": intake.category or svc["name"],
        "enterprise": intake.enterprise_id, "service": svc["code"], "source": source,
        "external": intake.external_id, "hours": svc["response_hours"],
        "urgent": intake.urgent, "address": intake.address, "first": intake.first_name,
        "last": intake.last_name, "email": intake.email, "phone": intake.phone,
        "media": intake.media_url, "attrs": _json(intake.attributes)}).scalar()
    if complaint_id is None:  # the same hotline number, committed meanwhile
        return _existing(session, intake.external_id)
    route(session, [complaint_id])
    session.execute(text("""
        INSERT INTO complaint_step (complaint_id, status, at, username, person_id)
        SELECT id, 'received', received_at, :u, assignee_id FROM complaint WHERE id = :k"""),
        {"k": complaint_id, "u": username})
    row = session.execute(text(_RECEIVED_SQL + " WHERE k.id = :k"), {"k": complaint_id}).one()
    return _received(row, created=True)


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def receive(session: Session, *, source: str, username: str | None = None,
            zone: str = DEFAULT_ZONE, urgent_rules=None, **fields) -> Received:
    """Take a complaint in: ``check`` the fields, then ``save`` it (numbered, routed, its
    first step). The one entrance of every complaint, whatever brought it.

    ``urgent_rules`` (gis.urgent.Rules): given by the paths that take complaints in as they
    happen (the hotline's Open311 client, the public page, staff entry). An urgent one — its
    service is urgent (特种设备安全) or the hotline marked it so — with a place then also
    raises an urgent event, which alerts everyone responsible there at once. Imports of old
    records pass none: history raises no alarms."""
    intake = check(session, **fields)
    done = save(session, intake, source=source, username=username, zone=zone)
    if (urgent_rules is not None and done.created and intake.urgent
            and intake.lon is not None and intake.lat is not None):
        from gis import urgent

        event = urgent.raise_event(
            session, "hotline", intake.lon, intake.lat, intake.description[:2000],
            specialty=intake.service.get("specialty"), username=username,
            address=intake.address,
            complaint=done.number, at=done.received_at, rules=urgent_rules, zone=zone)
        done.urgent_event = event["number"]
    return done


# --- handling ---------------------------------------------------------------------------------

def target(session: Session, number: str) -> dict:
    """Where a complaint's permissions are judged: {"id", "status", "path" (the cell whose
    owner handles it now: handle_complaint), "paths" (that cell's and the arrival cell's:
    whoever reads either reads the complaint)}. NotFound when there is none."""
    row = session.execute(text("""
        SELECT id, status, cell_id, coalesce(assigned_cell_id, cell_id) AS handling_cell
        FROM complaint WHERE number = :n"""), {"n": number}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    path = cell_path(session, row.handling_cell)
    arrival = path if row.cell_id == row.handling_cell else cell_path(session, row.cell_id)
    return {"id": row.id, "status": row.status, "path": path, "paths": (path, arrival)}


def _step(session, complaint_id, status, at, username, person_id, note=None, reason=None):
    session.execute(text("""
        INSERT INTO complaint_step (complaint_id, status, at, username, person_id, note, reason)
        VALUES (:k, :s, coalesce(CAST(:at AS timestamptz), now()), :u, :p, :n, :r)"""),
        {"k": complaint_id, "s": status, "at": at, "u": username, "p": person_id, "n": note,
         "r": reason})


def advance(session: Session, number: str, status: str, *, username: str | None = None,
            note: str | None = None, at: dt.datetime | None = None) -> dict:
    """Move the complaint forward to ``status`` (a later one; steps may be skipped), with a
    step naming who, when and the note (which becomes its status notes). Closing sets
    ``closed_at``. ComplaintRefused for the same status, an earlier one, or a closed
    complaint."""
    if status not in STATUSES:
        raise ValidationError("status", "one of " + ", ".join(STATUSES), "choices",
                              choices=", ".join(STATUSES))
    note = _text("note", note, MAX_TEXT)
    row = session.execute(text("""
        SELECT id, status, received_at, assignee_id FROM complaint WHERE number = :n
        FOR UPDATE"""), {"n": number}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    if row.status == "closed":
        raise ComplaintRefused("closed", row.status, status)
    have, want = STATUSES.index(row.status), STATUSES.index(status)
    if want == have:
        raise ComplaintRefused("same", row.status, status)
    if want < have:
        raise ComplaintRefused("backwards", row.status, status)
    if at is not None:
        dates.require_aware(at, "at")
        if at < row.received_at:
            raise ValidationError("at", "before the complaint was received", "before",
                                  other="received_at")
    session.execute(text("""
        UPDATE complaint SET status = :s, updated_at = coalesce(CAST(:at AS timestamptz), now()),
               closed_at = CASE WHEN :s = 'closed' THEN coalesce(CAST(:at AS timestamptz), now())
                           END,
               status_notes = coalesce(:note, status_notes)
        WHERE id = :k"""), {"s": status, "at": at, "note": note, "k": row.id})
    _step(session, row.id, status, at, username, row.assignee_id, note)
    return {"id": row.id, "number": number, "status": status, "previous": row.status}


def reassign(session: Session, number: str, *, cell: str | None = None,
             person: str | None = None, reason: str | None, username: str | None = None,
             note: str | None = None, at: dt.datetime | None = None) -> dict:
    """Hand an open complaint (received or assigned) to the owner of another cell now: the
    cell ``cell`` (its owner, or the nearest above), or the person ``person`` (a person code)
    in the cell they own (``cell`` when they own several). ``reason`` is required (field
    "comment"). The complaint becomes assigned to them; its arrival stamp stays."""
    reason = _text("comment", reason, MAX_TEXT, required=True)
    note = _text("note", note, MAX_TEXT)
    if not cell and not person:
        raise ValidationError("cell", "give the cell (or the person) to hand it to", "required")
    row = session.execute(text("""
        SELECT id, status, assignee_id, assigned_cell_id FROM complaint WHERE number = :n
        FOR UPDATE"""), {"n": number}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    if row.status not in ("received", "assigned"):
        raise ComplaintRefused("not_reassignable", row.status)
    when = {"at": at}
    cell_id = None
    if cell:
        cell_id = session.execute(text("""
            SELECT id FROM cell WHERE code = :c AND retired_at IS NULL
              AND kind = 'territorial'"""), {"c": cell}).scalar()
        if cell_id is None:
            raise ValidationError("cell", f"there is no cell {cell}", "no_such_target",
                                  kind="cell", name=cell)
    if person:
        person_id = session.execute(text("SELECT id FROM person WHERE code = :p"),
                                    {"p": person}).scalar()
        if person_id is None:
            raise ValidationError("person", f"there is no person {person}", "no_such_target",
                                  kind="person", name=person)
        owned = session.execute(text("""
            SELECT r.cell_id FROM responsibility r JOIN cell c ON c.id = r.cell_id
            WHERE r.person_id = :p AND r.role = 'owner' AND c.kind = 'territorial'
              AND r.valid @> coalesce(CAST(:at AS timestamptz), now())
              AND (CAST(:cell AS bigint) IS NULL OR r.cell_id = :cell)
            ORDER BY c.level DESC, c.code LIMIT 1"""),
            {"p": person_id, "cell": cell_id, **when}).scalar()
        if owned is None:
            raise ValidationError("person", f"{person} owns no cell" + (
                f" {cell}" if cell else ""), "owns_no_cell", person=person)
        cell_id = owned
    else:
        person_id = session.execute(text("""
            SELECT (gw_cell_owner(:c, coalesce(CAST(:at AS timestamptz), now()))).person_id"""),
            {"c": cell_id, **when}).scalar()
        if person_id is None:
            raise ValidationError("cell", f"cell {cell} has no owner", "no_owner", cell=cell)
    if person_id == row.assignee_id and cell_id == row.assigned_cell_id:
        raise ComplaintRefused("same_handler", row.status)
    session.execute(text("""
        UPDATE complaint SET status = 'assigned', assignee_id = :p, assigned_cell_id = :c,
               updated_at = coalesce(CAST(:at AS timestamptz), now())
        WHERE id = :k"""), {"p": person_id, "c": cell_id, "k": row.id, **when})
    _step(session, row.id, "assigned", at, username, person_id, note, reason)
    code = session.execute(text("SELECT code FROM cell WHERE id = :c"), {"c": cell_id}).scalar()
    return {"id": row.id, "number": number, "status": "assigned", "previous": row.status,
            "cell": code, "person_id": person_id}


# --- reading ----------------------------------------------------------------------------------

_LIST_SQL = """
    SELECT k.id, k.number, k.check_code, k.received_at, k.due_at, k.closed_at, k.updated_at,
           k.status, k.status_notes, k.text, k.category, k.service_code, s.name AS service_name,
           k.source, k.external_id, k.outside_grid, k.urgent, k.address, k.media_url,
           k.location_source, ST_X(k.geom) AS lon, ST_Y(k.geom) AS lat, k.attributes,
           k.cell_id, c.code AS cell_code, c.name AS cell_name, c.level AS cell_level,
           k.cell_version_id, cv.valid_from AS version_from,
           k.assigned_cell_id, ac.code AS assigned_cell_code, ac.name AS assigned_cell_name,
           o.code AS owner_code, o.name AS owner_name,
           a.code AS assignee_code, a.name AS assignee_name,
           e.management_code, e.name AS enterprise,
           coalesce(k.status <> 'closed' AND k.due_at < CAST(:now AS timestamptz), false)
               AS overdue
    FROM complaint k
    LEFT JOIN complaint_service s ON s.code = k.service_code
    LEFT JOIN cell c ON c.id = k.cell_id
    LEFT JOIN cell_version cv ON cv.id = k.cell_version_id
    LEFT JOIN cell ac ON ac.id = k.assigned_cell_id
    LEFT JOIN person o ON o.id = k.owner_id
    LEFT JOIN person a ON a.id = k.assignee_id
    LEFT JOIN enterprise e ON e.id = k.enterprise_id"""

_VISIBLE = """(CAST(:cells AS bigint[]) IS NULL OR k.cell_id = ANY(CAST(:cells AS bigint[]))
               OR k.assigned_cell_id = ANY(CAST(:cells AS bigint[])))"""


def get(session: Session, number: str, *, now: dt.datetime | None = None) -> dict:
    """A complaint with its service, stamp (cell, version, owner), handler, due time,
    enterprise, steps (oldest first, each with who) and photo ids."""
    now = now or dt.datetime.now(dt.timezone.utc)
    row = session.execute(text(_LIST_SQL + " WHERE k.number = :n"),
                          {"n": number, "now": now}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    out = dict(row._mapping)
    out["reference"] = reference_of(out["number"], out["check_code"])
    out["open311_status"] = OPEN311_STATUS[out["status"]]
    out["steps"] = steps(session, out["id"])
    out["photos"] = list(session.execute(text(
        "SELECT id FROM photo WHERE complaint_id = :k ORDER BY id"), {"k": out["id"]}).scalars())
    out["attribute_rows"] = attribute_rows(session, out["service_code"], out["attributes"])
    return out


def attribute_rows(session: Session, service_code: str | None, values: dict) -> list[tuple]:
    """(what the service's definition calls it, the value as its list names it) of each
    attribute a complaint carries, in the definition's order; unknown codes last, as sent."""
    svc = service(session, service_code) if service_code else None
    definitions = {d["code"]: d for d in (svc or {}).get("attributes") or []}
    rows = []
    for code in sorted(values, key=lambda c: (definitions.get(c, {}).get("order", 99), c)):
        d = definitions.get(code, {})
        names = {str(v["key"]): v["name"] for v in d.get("values") or []}
        value = values[code]
        shown = "、".join(names.get(v, v) for v in value) if isinstance(value, list) \
            else names.get(value, value)
        rows.append((d.get("description") or code, shown))
    return rows


def contact(session: Session, number: str) -> dict:
    """The complainant's name, phone and e-mail (for whoever handles it; never in Open311
    reads or the public page)."""
    row = session.execute(text("""
        SELECT first_name, last_name, phone, email FROM complaint WHERE number = :n"""),
        {"n": number}).one_or_none()
    if row is None:
        raise NotFound("complaint", number)
    return dict(row._mapping)


def steps(session: Session, complaint_id: int) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT s.status, s.at, s.username, s.note, s.reason,
               coalesce(up.name, u.display_name, s.username) AS who,
               p.code AS person_code, p.name AS person_name
        FROM complaint_step s
        LEFT JOIN app_user u ON u.username = s.username
        LEFT JOIN person up ON up.id = u.person_id
        LEFT JOIN person p ON p.id = s.person_id
        WHERE s.complaint_id = :k ORDER BY s.at, s.id"""), {"k": complaint_id})]


def by_reference(session: Session, reference: str) -> dict | None:
    """The complaint a public reference names (number and check code, letters in any case;
    in the check code I, L and O read as 1, 1 and 0), or None."""
    number, _sep, check_code = _fold(reference).upper().rpartition("-")
    if not number or len(check_code) != CHECK_LENGTH:
        return None
    check_code = check_code.translate(str.maketrans("ILO", "110"))
    found = session.execute(text("""
        SELECT number FROM complaint WHERE number = :n AND check_code = :c"""),
        {"n": number, "c": check_code}).scalar()
    return None if found is None else get(session, found)


def search(session: Session, *, cells: list[int] | None, status: str | None = None,
           overdue: bool | None = None, service_code: str | None = None,
           start: dt.datetime | None = None, end: dt.datetime | None = None,
           numbers: list[str] | None = None, open311_status: tuple[str, ...] | None = None,
           services_in: list[str] | None = None, query: str | None = None,
           now: dt.datetime | None = None, order: str = "received",
           limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    """(total, one page) of the complaints arrived in, or handed to, ``cells`` (None: all),
    received in [start, end), with ``status`` (or Open311's open/closed), overdue or not, of
    a service, with one of ``numbers``, whose number, hotline number, text or enterprise
    contains ``query``. The work to do first when ``order`` is "overdue", else newest
    first."""
    now = now or dt.datetime.now(dt.timezone.utc)
    pattern = None
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    wanted = None
    if open311_status:
        wanted = [s for s, o in OPEN311_STATUS.items() if o in open311_status]
    # "overdue": the work to do first (overdue, soonest due first; then the rest still open;
    # then the closed, newest first).
    sort = ("x.overdue DESC, x.status = 'closed', "
            "CASE WHEN x.status <> 'closed' THEN x.due_at END, x.received_at DESC, x.id DESC"
            if order == "overdue" else "x.received_at DESC, x.id DESC")
    rows = session.execute(text(f"""
        SELECT count(*) OVER () AS total, x.* FROM ({_LIST_SQL} WHERE {_VISIBLE}) x
        WHERE (CAST(:status AS text) IS NULL OR x.status = :status)
          AND (CAST(:wanted AS text[]) IS NULL OR x.status = ANY(CAST(:wanted AS text[])))
          AND (CAST(:overdue AS boolean) IS NULL OR x.overdue = :overdue)
          AND (CAST(:service AS text) IS NULL OR x.service_code = :service)
          AND (CAST(:services AS text[]) IS NULL OR x.service_code = ANY(CAST(:services AS text[])))
          AND (CAST(:numbers AS text[]) IS NULL OR x.number = ANY(CAST(:numbers AS text[])))
          AND (CAST(:start AS timestamptz) IS NULL OR x.received_at >= :start)
          AND (CAST(:end AS timestamptz) IS NULL OR x.received_at < :end)
          AND (CAST(:pattern AS text) IS NULL OR x.number ILIKE :pattern
               OR x.external_id ILIKE :pattern OR x.text ILIKE :pattern
               OR x.enterprise ILIKE :pattern OR x.management_code ILIKE :pattern)
        ORDER BY {sort} LIMIT :limit OFFSET :offset"""), {
        "cells": cells, "status": status, "wanted": wanted, "overdue": overdue,
        "service": service_code, "services": services_in, "numbers": numbers,
        "start": start, "end": end, "pattern": pattern, "now": now, "limit": limit,
        "offset": offset}).all()
    total = rows[0].total if rows else 0
    out = []
    for r in rows:
        d = {k: v for k, v in r._mapping.items() if k != "total"}
        d["reference"] = reference_of(d["number"], d["check_code"])
        d["open311_status"] = OPEN311_STATUS[d["status"]]
        out.append(d)
    return total, out


def overdue_count(session: Session, *, cells: list[int] | None,
                  now: dt.datetime | None = None) -> int:
    return session.execute(text(f"""
        SELECT count(*) FROM complaint k
        WHERE {_VISIBLE} AND k.status <> 'closed' AND k.due_at < CAST(:now AS timestamptz)"""),
        {"cells": cells, "now": now or dt.datetime.now(dt.timezone.utc)}).scalar()


# --- the hotline's export ---------------------------------------------------------------------

# field -> accepted headers (the canonical English one first, then the Chinese one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "工单编号", "工单号", "热线编号", "受理编号"),
    "received_at": ("received_at", "受理时间", "来电时间", "登记时间"),
    "description": ("description", "诉求内容", "投诉内容", "反映内容"),
    "category": ("category", "诉求类别", "投诉类别", "诉求类型", "问题类别"),
    "service_code": ("service_code", "服务类型", "服务代码"),
    "lon": ("lon", "经度"),
    "lat": ("lat", "纬度"),
    "crs": ("crs", "坐标系"),
    "address": ("address", "地址", "事发地址", "投诉地址"),
    "enterprise": ("enterprise", "企业管理编码", "被投诉企业编码"),
    "enterprise_name": ("enterprise_name", "被投诉企业", "被投诉单位"),
    "name": ("name", "联系人", "诉求人", "姓名"),
    "phone": ("phone", "联系电话", "电话"),
    "urgent": ("urgent", "是否紧急", "紧急"),
}
REQUIRED = ("external_id", "received_at", "description")
URGENT_WORDS = {"是": True, "紧急": True, "yes": True, "true": True, "1": True,
                "否": False, "一般": False, "no": False, "false": False, "0": False}
CRS_WORDS = {"wgs84": "wgs84", "gps": "wgs84", "gcj02": "gcj02", "火星坐标": "gcj02",
             "高德": "gcj02", "腾讯": "gcj02"}


@dataclass
class ImportSummary:
    inserted: int = 0
    updated: int = 0  # a hotline number seen before is never changed: see import_hotline
    unchanged: int = 0
    refused: int = 0  # one bad row and nothing is written
    outside_grid: int = 0
    closed: int = 0  # history: taken in closed, as the previous system closed them
    complaints: list[Received] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"inserted {self.inserted}, unchanged {self.unchanged}; outside the grid "
                f"{self.outside_grid}" + (f"; closed {self.closed}" if self.closed else ""))


# History (``import_hotline(history=True)``, ``flask complaints import --history``): complaints
# of the years before, with how they were handled then. field -> accepted headers.
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("status", "办理状态", "工单状态", "状态"),
    "handled_at": ("handled_at", "处理时间", "办理时间", "答复时间"),
    "closed_at": ("closed_at", "办结时间", "结案时间", "关闭时间"),
    "note": ("note", "办理结果", "处理结果", "办结意见", "答复内容"),
}
# A status as hotline systems word it, folded (NFKC, lower case, no spaces) -> ours.
STATUS_WORDS = {"已受理": "received", "受理": "received", "待处理": "received",
                "received": "received", "已派单": "assigned", "已分派": "assigned",
                "处理中": "assigned", "assigned": "assigned", "已处理": "handled",
                "已答复": "handled", "已反馈": "handled", "handled": "handled",
                "已办结": "closed", "办结": "closed", "已结案": "closed", "已关闭": "closed",
                "closed": "closed"}


@dataclass
class Past:
    """How a complaint of the years before was handled: the status it reached, when it was
    handled and closed, and the answer given (the last step's note)."""

    status: str
    handled_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    note: str | None = None


def _row_past(values: dict, received_at: dt.datetime, *, zone: str,
              now: dt.datetime) -> Past:
    """A history row's handling, checked: times in order (received, handled, closed) and not
    in the future; a status without its time, or a time the status has not reached, refused.
    No status: closed when a closing time is given, handled when a handling time is."""
    moments = {}
    for name in ("handled_at", "closed_at"):
        written = _fold(values.get(name))
        moments[name] = dates.parse_written_datetime(written, zone, name) if written else None
        if moments[name] is not None:
            if moments[name] > now + _SKEW:
                raise ValidationError(name, "in the future", "in_future")
            if moments[name] < received_at:
                raise ValidationError(name, "before the complaint was received", "before",
                                      other="received_at")
    handled_at, closed_at = moments["handled_at"], moments["closed_at"]
    if handled_at and closed_at and closed_at < handled_at:
        raise ValidationError("closed_at", "before it was handled", "before",
                              other="handled_at")
    word = re.sub(r"\s+", "", _fold(values.get("status"))).lower()
    if word and word not in STATUS_WORDS:
        raise ValidationError("status", "已受理, 已派单, 已处理 or 已办结", "choices",
                              choices="已受理, 已派单, 已处理, 已办结")
    status = STATUS_WORDS[word] if word else (
        "closed" if closed_at else "handled" if handled_at else "received")
    if status == "closed" and closed_at is None:
        raise ValidationError("closed_at", "required for a closed complaint", "required")
    if status == "handled" and handled_at is None:
        raise ValidationError("handled_at", "required for a handled complaint", "required")
    if closed_at is not None and status != "closed":
        raise ValidationError("closed_at", "given, yet the complaint is not closed",
                              "not_closed")
    if handled_at is not None and status not in ("handled", "closed"):
        raise ValidationError("handled_at", "given, yet the complaint is not handled",
                              "not_handled")
    return Past(status, handled_at, closed_at, _text("note", values.get("note"), MAX_TEXT))


def _bring_past(session: Session, number: str, received_at: dt.datetime, past: Past,
                username: str | None) -> None:
    """The steps a complaint of the years before went through, each dated when it happened
    (the answer given is the last one's note)."""
    steps = [("assigned", received_at)] if past.status == "assigned" else []
    if past.handled_at is not None:
        steps.append(("handled", past.handled_at))
    if past.closed_at is not None:
        steps.append(("closed", past.closed_at))
    for i, (status, at) in enumerate(steps):
        advance(session, number, status, username=username, at=at,
                note=past.note if i == len(steps) - 1 else None)


def _service_for(session: Session, values: dict, cache: dict) -> tuple[str, str | None]:
    """(service code, a note) for a row: the service code given, else the category matched
    against the services' codes, names and groups, else "other" (said in a note)."""
    if "services" not in cache:
        cache["services"] = services(session)
    known = cache["services"]
    given = _fold(values.get("service_code"))
    if given:
        return given, None  # check() refuses an unknown one
    words = re.sub(r"\s+", "", _fold(values.get("category"))).lower()
    if not words:
        return "other", None
    for key in ("code", "name", "group_name"):
        for s in known:
            if words == re.sub(r"\s+", "", _fold(s[key])).lower():
                return s["code"], None
    return "other", f"category {values.get('category')!r} is no service: filed under other"


def _row_intake(session: Session, values: dict, *, zone: str, now: dt.datetime,
                cache: dict) -> tuple[Intake, str | None]:
    when = _fold(values.get("received_at"))
    if not when:
        raise ValidationError("received_at", "required", "required")
    received_at = dates.parse_written_datetime(when, zone, "received_at")
    code, note = _service_for(session, values, cache)
    urgent = None
    if _fold(values.get("urgent")):
        word = _fold(values.get("urgent")).lower()
        if word not in URGENT_WORDS:
            raise ValidationError("urgent", "是 or 否", "choices", choices="是, 否")
        urgent = URGENT_WORDS[word]
    crs = None
    if _fold(values.get("crs")):
        crs = CRS_WORDS.get(_fold(values.get("crs")).lower())
        if crs is None:
            raise ValidationError("crs", "one of wgs84, gcj02", "choices",
                                  choices="wgs84, gcj02")
    attributes = {}
    if _fold(values.get("enterprise_name")) and not _fold(values.get("enterprise")):
        svc = service(session, code)
        if svc and any(a["code"] == "enterprise" for a in svc["attributes"] or []):
            attributes["enterprise"] = _fold(values["enterprise_name"])
    external = _fold(values.get("external_id"))
    if not external:
        raise ValidationError("external_id", "required", "required")
    intake = check(session, service_code=code, description=values.get("description"),
                   lon=values.get("lon") or None, lat=values.get("lat") or None, crs=crs,
                   address=values.get("address"), enterprise=values.get("enterprise") or None,
                   attributes=attributes, last_name=values.get("name"),
                   phone=values.get("phone"), received_at=received_at, external_id=external,
                   category=values.get("category"), urgent=urgent, now=now)
    return intake, note


def import_hotline(session: Session, source, *, zone: str = DEFAULT_ZONE,
                   username: str | None = None, limits: Limits | None = None,
                   now: dt.datetime | None = None, history: bool = False) -> ImportSummary:
    """``flask complaints import`` and the upload page: the 12365 hotline's export (a path to
    XLSX or CSV in UTF-8 or GBK, or a list of {header: value} rows; Chinese or English
    headers, ``COLUMNS``), checked whole, then each new row taken in by ``save`` in the
    caller's transaction. Raises ImportRefused listing every bad row (row N: field: reason)
    before anything is written. A hotline number (工单编号) already stored is left as it is
    (``unchanged``): from its arrival the complaint is handled here, and the hotline's later
    exports do not overwrite its handling.

    ``history``: the complaints of the years before, with how they were handled then
    (``HISTORY_COLUMNS``: 办理状态, 处理时间, 办结时间, 办理结果); each is routed as it stood when
    it came in and then moved on by steps dated when they happened (``_bring_past``), so it
    shows closed when it was closed (and overdue where it was)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if isinstance(source, (str, Path)):
        frame = tables.read_table(source, limits)
        name, records = str(source), list(zip(frame.index, frame.to_dict("records")))
    else:
        name, records = "rows", [(i, dict(r)) for i, r in enumerate(source, start=2)]
    headers = list(dict.fromkeys(h for _row, rec in records for h in rec))
    mapping = tables.map_columns(headers, COLUMNS | HISTORY_COLUMNS if history else COLUMNS,
                                 REQUIRED, name)
    problems: list[RowProblem] = []
    todo: list[tuple[int, Intake | Received, str | None]] = []
    past: dict[int, Past] = {}
    seen: dict[str, int] = {}
    cache: dict = {}
    for rowno, rec in records:
        values = {f: rec.get(col) for col, f in mapping.items()}
        external = _fold(values.get("external_id"))[:64]
        where = f"row {rowno}" + (f" ({external})" if external else "")
        try:
            if external in seen:
                raise ValidationError("external_id", f"{external} repeats row {seen[external]}",
                                      "repeats_row", row=seen[external])
            if external:
                seen[external] = rowno
                found = _existing(session, external)
                if found is not None:
                    todo.append((rowno, found, None))
                    continue
            intake, note = _row_intake(session, values, zone=zone, now=now, cache=cache)
            if history:
                past[rowno] = _row_past(values, intake.received_at, zone=zone, now=now)
        except ValidationError as exc:
            problems.append(RowProblem(where, str(exc), rowno, exc))
            continue
        todo.append((rowno, intake, note))
    if problems:
        raise ImportRefused(name, problems)
    if not todo:
        raise ValidationError("file", "no complaints in the file", "no_complaints")
    summary = ImportSummary()
    for rowno, item, note in todo:
        if isinstance(item, Received):
            summary.unchanged += 1
            summary.complaints.append(item)
            continue
        done = save(session, item, source="import", username=username, zone=zone)
        if rowno in past and past[rowno].status != "received":
            _bring_past(session, done.number, done.received_at, past[rowno], username)
            summary.closed += int(past[rowno].status == "closed")
        summary.inserted += 1
        summary.complaints.append(done)
        summary.outside_grid += int(done.outside_grid)
        if note:
            summary.notes.append(f"row {rowno} ({done.external_id}): {note}")
        if not done.located:
            summary.notes.append(f"row {rowno} ({done.external_id}): no place found for its "
                                 "address: routed to the city")
    return summary

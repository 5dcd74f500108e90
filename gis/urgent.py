"""Urgent events (应急处置): an accident involving special equipment, a product harming people,
a hotline call marked urgent. Raised at a place by the hotline, an inspector or a leader, an
event alerts at once everyone responsible for that place at that moment, then is timed to
acknowledgement (确认接收), arrival on site (到场, with the distance from the phone to the
event) and closure (处置完毕), and escalates while nobody acknowledges.

Who is alerted (level 1) is the point lookup's answer (gis/sql/lookup.sql ``gw_lookup``) at
the moment the event is raised, from the dated boundaries and responsibilities:

| role               | who                                                                |
|--------------------|--------------------------------------------------------------------|
| owner              | the owner of the level-3 cell (or, without one, the first owner up: |
|                    | 属地兜底)                                                           |
| professional_owner | the owner of the professional grid of the event's specialty that    |
|                    | covers the point (the deepest one; its own fallback as above)       |
| station_chief      | the chief of the station whose second-level grid holds the cell     |
| township_leader    | the leader(s) of the township the point lies in                     |

and nobody else. A person holding two of these is alerted once, under the first.

The escalation ladder: an event still unacknowledged (status ``raised``) ``ack_minutes``
after its last alerting goes up one level. Each level up is the next place up the cell's path
(its second-level grid, then the city) where someone not yet alerted answers: that place's
owner and station chief, and the people whose accounts hold a leader or grid-manager role at
that place (``app_user.person_id``). A place with nobody new is passed over, so in a city
whose station chiefs own their grids the second level is the city: its owner (the mayor, 属地
责任) and its leaders and grid managers. At the top it stays there, unacknowledged, and red on
every list. An event outside every cell alerts the city at level 1 (never lost). In a
province's deployment (docs/province.md) the ladder goes on from the city to the province, and
an event outside every city alerts the province.

Channels: every person gets a ``web`` alert (pushed to the open pages of the accounts that
are that person, app/urgent.py; ``failure`` says "no account" when there is none), and with a
message channel (gis/messaging.py) an ``sms`` alert, sent by a background job after the web
alert went out: the gateway's answer is kept on the alert (``delivered_at`` or ``failure``).

Every change NOTIFYs ``gridwatch_urgent`` in the caller's transaction (delivered when it
commits), so every server process pushes it to its open pages. Functions run in the caller's
transaction; the adapters authorize (gis/policy.py ``raise_urgent``, ``handle_urgent``) and
audit.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import boundary_lock, dates, jobs, messaging
from gis.errors import GridWatchError
from gis.fieldwork import NotFound
from gis.models import SPECIALTIES, URGENT_KINDS, URGENT_STATUSES
from gis.users import cell_path
from gis.validation import ValidationError, clean_text

CHANNEL = "gridwatch_urgent"
OPEN = ("raised", "acknowledged", "on_site")
ROLES = ("owner", "professional_owner", "station_chief", "township_leader")
# Roles of the people a level above the place alerts (besides its owner and chief).
LADDER_ACCOUNT_ROLES = ("leader", "grid_manager")
# The specialty an event of a kind concerns unless one is given.
KIND_SPECIALTY = {"special_equipment": "special_equipment"}
MAX_TEXT = 4000
MAX_ADDRESS = 300
NUMBER = re.compile(r"YJ-[0-9]{4}-[0-9]{4,6}")
# Failures of a web alert (said in words by the pages).
NO_ACCOUNT = "no account"
NO_MOBILE = "no mobile number"
# The note of the "alerted" step of an event no cell covers.
OUTSIDE = "outside"
# A mobile number inside a phone field ("139…", "0317-…/139…").
MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
# Text messages are in the bureau's language.
KIND_WORDS = {"special_equipment": "特种设备事故", "product_harm": "产品伤害",
              "hotline": "热线紧急诉求"}


@dataclass(frozen=True)
class Rules:
    """The settings events follow (app/settings.py URGENT_*, SMS_*)."""

    ack_minutes: float = 10.0
    messages: bool = False  # a message channel is configured (SMS_GATEWAY is not "none")

    @classmethod
    def from_settings(cls, settings: dict) -> "Rules":
        return cls(ack_minutes=float(settings.get("URGENT_ACK_MINUTES", 10)),
                   messages=(settings.get("SMS_GATEWAY") or "none").lower() != "none")

    @property
    def ack(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.ack_minutes)


class UrgentRefused(GridWatchError):
    """A step the event is past (``reason``: "closed")."""

    def __init__(self, reason: str, number: str, status: str):
        super().__init__(f"refused ({reason}): urgent event {number} is {status}")
        self.reason = reason
        self.number = number
        self.status = status


def db_now(session: Session) -> dt.datetime:
    return session.execute(text("SELECT now()")).scalar()


def _text(name: str, value, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    return clean_text(name, value, limit, required=required)


def _notify(session: Session, event_id: int, step: str) -> None:
    session.execute(text("SELECT pg_notify(:c, :p)"), {
        "c": CHANNEL, "p": json.dumps({"event": event_id, "step": step})})


def _step(session: Session, event_id: int, step: str, at: dt.datetime, *,
          username: str | None = None, level: int | None = None, note: str | None = None,
          lon: float | None = None, lat: float | None = None) -> None:
    session.execute(text("""
        INSERT INTO urgent_step (event_id, step, at, username, level, note, location)
        VALUES (:e, :s, :at, :u, :l, :n,
                CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END)"""),
        {"e": event_id, "s": step, "at": at, "u": username, "l": level, "n": note,
         "x": lon, "y": lat})
    _notify(session, event_id, step)


# --- who answers for a place ------------------------------------------------------------------

def locate(session: Session, lon: float, lat: float, at: dt.datetime | None = None) -> dict:
    """The point lookup's answer at ``at`` (default now) for a WGS84 point, with ``cell_id``,
    ``path`` (city → cell ids, as gis/policy.py judges) and ``outside`` (no cell covers it;
    then the path is the city's, where such events are judged and alerted). Waits for a
    boundary change being committed, so the event is stamped against one consistent boundary
    (gis/boundary_lock.py)."""
    boundary_lock.for_stamping(session)
    answer = session.execute(text(
        "SELECT gw_lookup(:x, :y, coalesce(CAST(:at AS timestamptz), now()))"),
        {"x": lon, "y": lat, "at": at}).scalar() or {}
    if answer.get("outside") or not answer.get("cell"):
        from gis.people import city_path

        return {"outside": True, "cell_id": None, "cell_version_id": None,
                "path": city_path(session), "answer": {}}
    cell = session.execute(text("SELECT id FROM cell WHERE code = :c"),
                           {"c": answer["cell"]["code"]}).scalar()
    return {"outside": False, "cell_id": cell,
            "cell_version_id": (answer["cell"].get("version") or {}).get("id"),
            "path": cell_path(session, cell), "answer": answer}


def responsible(session: Session, answer: dict, specialty: str | None) -> list[tuple[int, str]]:
    """(person id, role) of everyone the lookup ``answer`` names as responsible for the
    place, in ROLES order, each person once (the table in the module's docstring)."""
    codes: list[tuple[str, str]] = []
    responsibilities = answer.get("responsibilities") or {}
    for p in responsibilities.get("department") or []:
        if p.get("role") == "owner" and p.get("code"):
            codes.append((p["code"], "owner"))
    if specialty:
        grids = [g for g in answer.get("professional") or []
                 if g.get("specialty") == specialty and (g.get("owner") or {}).get("code")]
        if grids:
            deepest = max(grids, key=lambda g: (g.get("level") or 0))
            codes.append((deepest["owner"]["code"], "professional_owner"))
    for p in responsibilities.get("department") or []:
        if p.get("role") == "station_chief" and p.get("code"):
            codes.append((p["code"], "station_chief"))
    for p in responsibilities.get("government") or []:
        if p.get("role") == "township_leader" and p.get("code"):
            codes.append((p["code"], "township_leader"))
    ids = dict(session.execute(text("SELECT code, id FROM person WHERE code = ANY(:c)"),
                               {"c": [c for c, _r in codes]}).all())
    seen, people = set(), []
    for code, role in codes:
        pid = ids.get(code)
        if pid is not None and pid not in seen:
            seen.add(pid)
            people.append((pid, role))
    return people


def place_people(session: Session, place_id: int, at: dt.datetime) -> list[tuple[int, str]]:
    """(person id, role) of a rung of the escalation ladder: the place's owner and station
    chief at ``at``, and the people of active accounts with a leader or grid-manager role held
    at that very place."""
    rows = session.execute(text("""
        SELECT person_id, role, 1 AS o FROM responsibility
        WHERE cell_id = :c AND role IN ('owner', 'station_chief')
          AND valid @> CAST(:at AS timestamptz)
        UNION ALL
        SELECT u.person_id, r.role, 2 FROM user_role r JOIN app_user u ON u.id = r.user_id
        WHERE r.cell_id = :c AND r.role = ANY(:roles) AND u.active AND u.person_id IS NOT NULL
        ORDER BY 3, 2, 1"""), {"c": place_id, "at": at,
                               "roles": list(LADDER_ACCOUNT_ROLES)}).all()
    seen, people = set(), []
    for pid, role, _o in rows:
        if pid not in seen:
            seen.add(pid)
            people.append((pid, role))
    return people


def ladder(session: Session, event: dict) -> list[int]:
    """The places an event escalates to, nearest first: up its cell's path (the cell itself
    is level 1's), ending at the root (the city, or the province above it). Nothing above the
    root (an event outside every cell starts there)."""
    if event["cell_id"] is None:
        return []
    return list(reversed(cell_path(session, event["cell_id"])[:-1]))


# --- raising -----------------------------------------------------------------------------------

def _next_number(session: Session, year: int) -> str:
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('urgent_event_number'))"))
    last = session.execute(text("""
        SELECT max(substring(number FROM '^YJ-[0-9]{4}-([0-9]+)$')::int)
        FROM urgent_event WHERE number LIKE :p"""), {"p": f"YJ-{year}-%"}).scalar()
    return f"YJ-{year}-{(last or 0) + 1:04d}"


def check_kind(kind, specialty) -> tuple[str, str | None]:
    """(kind, specialty) as stored: the kind one of URGENT_KINDS; the specialty one of the
    professional grids' or none (then the kind's own, if it has one)."""
    if kind not in URGENT_KINDS:
        raise ValidationError("event_type", "one of " + ", ".join(URGENT_KINDS), "choices",
                              choices=", ".join(URGENT_KINDS))
    specialty = (specialty or "").strip() or KIND_SPECIALTY.get(kind)
    if specialty is not None and specialty not in SPECIALTIES:
        raise ValidationError("specialty", "one of " + ", ".join(SPECIALTIES), "choices",
                              choices=", ".join(SPECIALTIES))
    return kind, specialty


def raise_event(session: Session, kind: str, lon: float, lat: float, description: str,
                specialty: str | None = None, username: str | None = None, *,
                address: str | None = None, complaint: str | None = None,
                at: dt.datetime | None = None, located: dict | None = None,
                rules: Rules = Rules(), zone: str = "UTC") -> dict:
    """Raise an urgent event at a WGS84 point (lon/lat, EPSG:4326) and alert everyone
    responsible there at ``at`` (default the database's now). ``located``: ``locate``'s answer
    when the caller has it already (it authorized on its path). ``complaint``: the number of
    the complaint it came from. Queues the escalation check for ``rules.ack_minutes`` later
    and, with a message channel, the text messages.

    Returns {"id", "number", "cell_code", "outside", "alerted": [{person_id, role, channel}]}.
    """
    kind, specialty = check_kind(kind, specialty)
    description = _text("description", description, required=True)
    address = _text("address", address, limit=MAX_ADDRESS)
    complaint_id = None
    if complaint:
        complaint_id = session.execute(text("SELECT id FROM complaint WHERE number = :n"),
                                       {"n": str(complaint).strip()}).scalar()
        if complaint_id is None:
            raise ValidationError("complaint", f"there is no complaint {complaint}",
                                  "no_such_target", kind="complaint", name=str(complaint))
    at = at or db_now(session)
    dates.require_aware(at, "at")
    place = located if located is not None else locate(session, lon, lat, at)
    number = _next_number(session, dates.local(at, zone).year)
    event_id = session.execute(text("""
        INSERT INTO urgent_event (number, kind, specialty, description, geom, address,
                                  raised_at, raised_by, cell_id, cell_version_id, complaint_id)
        VALUES (:n, :k, :s, :d, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :a, :at, :u, :c, :v,
                :cp)
        RETURNING id"""), {"n": number, "k": kind, "s": specialty, "d": description,
                           "x": lon, "y": lat, "a": address, "at": at, "u": username,
                           "c": place["cell_id"], "v": place["cell_version_id"],
                           "cp": complaint_id}).scalar_one()
    _step(session, event_id, "raised", at, username=username, level=1, lon=lon, lat=lat)
    if place["outside"]:
        city = place["path"][-1] if place["path"] else None
        people = place_people(session, city, at) if city else []
    else:
        people = responsible(session, place["answer"], specialty)
    alerted = _alert(session, event_id, people, 1, at, rules)
    # The note says where the alerts went when it is not the place's own people.
    _step(session, event_id, "alerted", at, level=1,
          note=OUTSIDE if place["outside"] else None)
    jobs.enqueue(session, "urgent_escalate", {"event": event_id}, username=username,
                 run_after=at + rules.ack)
    cell_code = place["answer"].get("cell", {}).get("code") if not place["outside"] else None
    return {"id": event_id, "number": number, "cell_code": cell_code,
            "outside": place["outside"], "alerted": alerted}


def _alert(session: Session, event_id: int, people: list[tuple[int, str]], level: int,
           at: dt.datetime, rules: Rules) -> list[dict]:
    """One web alert per person (failed "no account" for a person no active account is),
    and with a message channel one text message each, queued (a person without a mobile
    number: failed at once)."""
    alerted = []
    for pid, role in people:
        person = session.execute(text("""
            SELECT p.phone, EXISTS (SELECT 1 FROM app_user u WHERE u.person_id = p.id
                                    AND u.active) AS has_account
            FROM person p WHERE p.id = :p"""), {"p": pid}).one()
        session.execute(text("""
            INSERT INTO urgent_alert (event_id, person_id, role, level, channel, sent_at,
                                      failure)
            VALUES (:e, :p, :r, :l, 'web', :at, :f)"""),
            {"e": event_id, "p": pid, "r": role, "l": level, "at": at,
             "f": None if person.has_account else NO_ACCOUNT})
        alerted.append({"person_id": pid, "role": role, "channel": "web",
                        "failure": None if person.has_account else NO_ACCOUNT})
        if not rules.messages:
            continue
        mobile = MOBILE.search(person.phone or "")
        alert_id = session.execute(text("""
            INSERT INTO urgent_alert (event_id, person_id, role, level, channel, sent_at,
                                      failure)
            VALUES (:e, :p, :r, :l, 'sms', :at, :f) RETURNING id"""),
            {"e": event_id, "p": pid, "r": role, "l": level, "at": at,
             "f": None if mobile else NO_MOBILE}).scalar_one()
        alerted.append({"person_id": pid, "role": role, "channel": "sms",
                        "failure": None if mobile else NO_MOBILE})
        if mobile:
            # One job a message: a retried job resends only its own.
            jobs.enqueue(session, "urgent_messages", {"alert": alert_id})
    return alerted


def message_text(event: dict) -> str:
    """The text message of an event (Chinese, the bureau's language)."""
    where = event.get("address") or event.get("cell_name") or \
        f"{event['lon']:.5f},{event['lat']:.5f}"
    description = event["description"]
    if len(description) > 60:
        description = description[:59] + "…"
    return (f"【应急事件{event['number']}】{KIND_WORDS.get(event['kind'], event['kind'])}："
            f"{description}。地点：{where}。请立即确认接收并赶赴现场。")


def run_message_job(session: Session, payload: dict, settings: dict) -> dict:
    """Send one queued text message (the job ``urgent_messages``) and keep the gateway's
    answer on its alert. A message already answered is not sent again."""
    row = session.execute(text("""
        SELECT a.id, a.event_id, a.delivered_at, a.failure, p.phone
        FROM urgent_alert a JOIN person p ON p.id = a.person_id
        WHERE a.id = :a AND a.channel = 'sms' FOR UPDATE OF a"""),
        {"a": payload["alert"]}).one_or_none()
    if row is None or row.delivered_at is not None or row.failure is not None:
        return {"alert": payload["alert"], "sent": False}
    event = _event_row(session, "e.id = :k", row.event_id)
    try:
        sent = messaging.channel(settings).send(MOBILE.search(row.phone or "").group(0),
                                                message_text(event))
    except (ValueError, AttributeError) as exc:  # misconfigured; or the number went away
        sent = messaging.Sent(False, failure=str(exc)[:messaging.MAX_REASON])
    session.execute(text("""
        UPDATE urgent_alert SET delivered_at = CASE WHEN :ok THEN now() END,
               failure = CAST(:f AS text) WHERE id = :a"""),
        {"ok": sent.ok, "f": sent.failure, "a": row.id})
    _notify(session, row.event_id, "message")
    return {"alert": row.id, "sent": sent.ok, "failure": sent.failure,
            "message_id": sent.message_id}


# --- handling --------------------------------------------------------------------------------

EVENT_COLUMNS = """
    e.id, e.number, e.kind, e.specialty, e.description, e.address, ST_X(e.geom) AS lon,
    ST_Y(e.geom) AS lat, e.raised_at, e.raised_by, e.cell_id, e.complaint_id, e.status,
    e.level, e.acknowledged_at, e.acknowledged_by, e.on_site_at, e.on_site_by,
    e.on_site_distance_m, e.closed_at, e.closed_by, e.outcome, c.code AS cell_code,
    c.name AS cell_name, k.number AS complaint_number"""


def _event_row(session: Session, where: str, key, *, lock: bool = False) -> dict:
    row = session.execute(text(f"""
        SELECT {EVENT_COLUMNS} FROM urgent_event e
        LEFT JOIN cell c ON c.id = e.cell_id
        LEFT JOIN complaint k ON k.id = e.complaint_id
        WHERE {where}{' FOR UPDATE OF e' if lock else ''}"""), {"k": key}).one_or_none()
    if row is None:
        raise NotFound("urgent", key)
    return dict(row._mapping)


def event_target(session: Session, number: str) -> dict:
    """{"id", "number", "path", "alerted": person ids alerted} of an event; NotFound when
    there is none. The path is its cell's (the city's for one outside every cell)."""
    event = _event_row(session, "e.number = :k", number)
    if event["cell_id"] is None:
        from gis.people import city_path

        path = city_path(session)
    else:
        path = cell_path(session, event["cell_id"])
    alerted = set(session.execute(text(
        "SELECT DISTINCT person_id FROM urgent_alert WHERE event_id = :e"),
        {"e": event["id"]}).scalars())
    return {"id": event["id"], "number": event["number"], "path": path, "alerted": alerted}


def _open_event(session: Session, number: str) -> dict:
    event = _event_row(session, "e.number = :k", number, lock=True)
    if event["status"] == "closed":
        raise UrgentRefused("closed", number, event["status"])
    return event


def _acknowledge(session: Session, event: dict, username: str | None, at: dt.datetime) -> bool:
    """Record this user's acknowledgement (once per user); the first one stops the
    escalation. True when something was recorded."""
    done = session.execute(text("""
        SELECT 1 FROM urgent_step WHERE event_id = :e AND step = 'acknowledged'
          AND username IS NOT DISTINCT FROM :u"""), {"e": event["id"], "u": username}).scalar()
    if done:
        return False
    session.execute(text("""
        UPDATE urgent_event SET acknowledged_at = coalesce(acknowledged_at, :at),
               acknowledged_by = coalesce(acknowledged_by, :u),
               status = CASE WHEN status = 'raised' THEN 'acknowledged' ELSE status END
        WHERE id = :e"""), {"e": event["id"], "at": at, "u": username})
    _step(session, event["id"], "acknowledged", at, username=username, level=event["level"])
    return True


def acknowledge(session: Session, number: str, username: str | None,
                at: dt.datetime | None = None) -> dict:
    """确认接收: the event is acknowledged (the first acknowledgement stops its escalation;
    each further user's is a step too, a user's second changes nothing). Refused when closed.
    Returns {"number", "status", "changed"}."""
    event = _open_event(session, number)
    changed = _acknowledge(session, event, username, at or db_now(session))
    return {"number": number, "status": _status(session, event["id"]), "changed": changed}


def on_site(session: Session, number: str, username: str | None, lon: float | None = None,
            lat: float | None = None, at: dt.datetime | None = None) -> dict:
    """到场: someone is at the event, with the phone's WGS84 location when it gave one (the
    distance to the event, metres, is kept). Acknowledges it for them too. The first arrival
    dates the event's ``on_site_at``. Returns {"number", "status", "distance_m"}."""
    event = _open_event(session, number)
    at = at or db_now(session)
    _acknowledge(session, event, username, at)
    distance = None
    if lon is not None and lat is not None:
        distance = session.execute(text("""
            SELECT ST_DistanceSphere(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
            FROM urgent_event WHERE id = :e"""), {"e": event["id"], "x": lon, "y": lat}).scalar()
    session.execute(text("""
        UPDATE urgent_event SET on_site_at = coalesce(on_site_at, :at),
               on_site_by = coalesce(on_site_by, :u),
               on_site_distance_m = CASE WHEN on_site_at IS NULL THEN :d
                                         ELSE on_site_distance_m END,
               status = 'on_site'
        WHERE id = :e"""), {"e": event["id"], "at": at, "u": username, "d": distance})
    _step(session, event["id"], "on_site", at, username=username, level=event["level"],
          lon=lon, lat=lat, note=None if distance is not None else "no location")
    return {"number": number, "status": "on_site",
            "distance_m": None if distance is None else round(distance, 1)}


def close(session: Session, number: str, username: str | None, outcome: str,
          at: dt.datetime | None = None) -> dict:
    """处置完毕: the event is closed with its outcome in words. Refused when closed."""
    outcome = _text("outcome", outcome, required=True)
    event = _open_event(session, number)
    at = at or db_now(session)
    session.execute(text("""
        UPDATE urgent_event SET status = 'closed', closed_at = :at, closed_by = :u,
               outcome = :o WHERE id = :e"""),
        {"e": event["id"], "at": at, "u": username, "o": outcome})
    _step(session, event["id"], "closed", at, username=username, level=event["level"],
          note=outcome)
    return {"number": number, "status": "closed"}


def _status(session: Session, event_id: int) -> str:
    return session.execute(text("SELECT status FROM urgent_event WHERE id = :e"),
                           {"e": event_id}).scalar()


# --- escalation ------------------------------------------------------------------------------

def escalate(session: Session, now: dt.datetime | None = None, rules: Rules = Rules()
             ) -> list[dict]:
    """Every event still unacknowledged ``rules.ack_minutes`` after its last alerting goes up
    one level (the ladder in the module's docstring): the next place up with someone not yet
    alerted is alerted, an ``escalated`` step records it. Events another transaction holds
    (being acknowledged) are left alone. Returns [{"id", "number", "level", "place",
    "alerted"}] of the events escalated."""
    now = now or db_now(session)
    due = session.execute(text("""
        SELECT e.id FROM urgent_event e
        WHERE e.status = 'raised'
          AND coalesce((SELECT max(s.at) FROM urgent_step s
                        WHERE s.event_id = e.id AND s.step = 'escalated'), e.raised_at)
              + CAST(:ack AS interval) <= CAST(:now AS timestamptz)
        ORDER BY e.id
        FOR UPDATE OF e SKIP LOCKED"""),
        {"ack": f"{rules.ack_minutes * 60} seconds", "now": now}).scalars().all()
    done = []
    for event_id in due:
        event = _event_row(session, "e.id = :k", event_id)
        if event["status"] != "raised":
            continue
        escalated = _escalate_one(session, event, now, rules)
        if escalated is not None:
            done.append(escalated)
    return done


def _escalate_one(session: Session, event: dict, now: dt.datetime, rules: Rules
                  ) -> dict | None:
    already = set(session.execute(text(
        "SELECT person_id FROM urgent_alert WHERE event_id = :e"), {"e": event["id"]}).scalars())
    for place in ladder(session, event):
        people = [(p, r) for p, r in place_people(session, place, now) if p not in already]
        if not people:
            continue
        level = event["level"] + 1
        code = session.execute(text("SELECT code FROM cell WHERE id = :c"),
                               {"c": place}).scalar()
        session.execute(text("UPDATE urgent_event SET level = :l WHERE id = :e"),
                        {"l": level, "e": event["id"]})
        alerted = _alert(session, event["id"], people, level, now, rules)
        # The note is the place escalated to (its code).
        _step(session, event["id"], "escalated", now, level=level, note=code)
        return {"id": event["id"], "number": event["number"], "level": level, "place": code,
                "alerted": alerted}
    return None


def run_escalation_job(session: Session, payload: dict, settings: dict) -> dict:
    """The job ``urgent_escalate`` (queued when an event is raised, for when its
    acknowledgement time runs out): escalate what is due, audit each escalation, and queue
    the next check of each event escalated."""
    from gis import audit

    rules = Rules.from_settings(settings)
    now = db_now(session)
    escalated = escalate(session, now, rules)
    for e in escalated:
        audit.record(session, "urgent_escalated", target=f"urgent {e['number']}", via="job",
                     detail={"level": e["level"], "place": e["place"],
                             "alerted": len({a["person_id"] for a in e["alerted"]})})
        jobs.enqueue(session, "urgent_escalate", {"event": e["id"]}, run_after=now + rules.ack)
    return {"escalated": [e["number"] for e in escalated]}


# --- reading ---------------------------------------------------------------------------------

def get_event(session: Session, number: str) -> dict:
    """An event with its steps (timed from when it was raised; an arrival with the distance
    from the phone to the event) and its alerts (who, as what, at which level, how, delivered
    or why not). NotFound when there is none."""
    event = _event_row(session, "e.number = :k", number)
    event["steps"] = [dict(r._mapping) for r in session.execute(text("""
        SELECT s.step, s.at, s.username, s.level, s.note,
               ST_X(s.location) AS lon, ST_Y(s.location) AS lat,
               CASE WHEN s.step = 'on_site' AND s.location IS NOT NULL
                    THEN round(ST_DistanceSphere(s.location, e.geom)::numeric, 1)::float8
               END AS distance_m,
               extract(epoch FROM s.at - e.raised_at) AS seconds
        FROM urgent_step s JOIN urgent_event e ON e.id = s.event_id
        WHERE s.event_id = :e ORDER BY s.at, s.id"""), {"e": event["id"]})]
    event["alerts"] = [dict(r._mapping) for r in session.execute(text("""
        SELECT a.person_id, p.code AS person_code, p.name, p.phone, p.unit, a.role, a.level,
               a.channel, a.sent_at, a.delivered_at, a.failure,
               array(SELECT u.username FROM app_user u WHERE u.person_id = p.id AND u.active
                     ORDER BY u.username) AS usernames
        FROM urgent_alert a JOIN person p ON p.id = a.person_id
        WHERE a.event_id = :e ORDER BY a.level, a.id"""), {"e": event["id"]})]
    return event


def events(session: Session, *, cells: list[int] | None = None, person_id: int | None = None,
           status: str | None = "open", ids: list[int] | None = None, area: bool = True,
           limit: int = 200) -> list[dict]:
    """Events the reader sees, newest first: those alerting their person (``mine``), and with
    ``area`` those whose cell is in ``cells`` (gis.policy.visible_cells; None: all, events
    outside every cell too). ``status``: "open" (not closed), "closed", a status, or None.
    ``ids``: only these. Each with ``mine``, ``my_role`` and ``path``."""
    if status is not None and status not in ("open",) + URGENT_STATUSES:
        raise ValidationError("status", "one of open, " + ", ".join(URGENT_STATUSES),
                              "choices", choices="open, " + ", ".join(URGENT_STATUSES))
    rows = session.execute(text(f"""
        SELECT {EVENT_COLUMNS},
               mine.role AS my_role, mine.role IS NOT NULL AS mine,
               CASE WHEN e.cell_id IS NULL THEN NULL ELSE gw_cell_path(e.cell_id) END AS path
        FROM urgent_event e
        LEFT JOIN cell c ON c.id = e.cell_id
        LEFT JOIN complaint k ON k.id = e.complaint_id
        LEFT JOIN LATERAL (SELECT a.role FROM urgent_alert a
                           WHERE a.event_id = e.id AND a.person_id = CAST(:p AS bigint)
                             AND a.channel = 'web'
                           ORDER BY a.level, a.id LIMIT 1) mine ON true
        WHERE (CAST(:ids AS bigint[]) IS NULL OR e.id = ANY(CAST(:ids AS bigint[])))
          AND (CAST(:status AS text) IS NULL
               OR (:status = 'open' AND e.status <> 'closed') OR e.status = :status)
          AND (mine.role IS NOT NULL
               OR (:area AND (CAST(:cells AS bigint[]) IS NULL
                              OR e.cell_id = ANY(CAST(:cells AS bigint[])))))
        ORDER BY e.raised_at DESC, e.id DESC
        LIMIT :lim"""), {"p": person_id, "ids": ids, "status": status, "area": area,
                         "cells": cells, "lim": limit})
    out = []
    for r in rows:
        row = dict(r._mapping)
        row["path"] = tuple(row["path"] or ())
        out.append(row)
    return out


def mark_delivered(session: Session, event_ids: list[int], person_id: int) -> int:
    """The person's web alerts of these events reached an open page of theirs."""
    if not event_ids or person_id is None:
        return 0
    return session.execute(text("""
        UPDATE urgent_alert SET delivered_at = now()
        WHERE event_id = ANY(:e) AND person_id = :p AND channel = 'web'
          AND delivered_at IS NULL AND failure IS NULL"""),
        {"e": list(event_ids), "p": person_id}).rowcount


def person_of(session: Session, user_id: int) -> int | None:
    """The person an account is (app_user.person_id)."""
    return session.execute(text("SELECT person_id FROM app_user WHERE id = :u"),
                           {"u": user_id}).scalar()

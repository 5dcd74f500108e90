"""Urgent events (gis/urgent.py) on the web: the pages (/urgent, /urgent/new, /urgent/<number>),
the API (/api/v1/urgent), the push to open pages (/urgent/stream, Server-Sent Events) and
``flask urgent raise|escalate|list``.

The push: every change to an event NOTIFYs ``gridwatch_urgent`` when its transaction commits.
Each server process keeps one connection LISTENing (``Hub``, a thread started by the first open
page) and hands each notification to the streams it serves; each stream asks the database what
the change means for its reader (their person was alerted: the banner; in their area: the
wall's marker) and sends that. A stream first sends the open events as they are (``snapshot``),
so a page opened late, or reconnecting after a dropped line or its bounded lifetime, is whole
again without any "since when". Under a server without threads (gunicorn's sync workers) a
stream would hold a worker for as long as the page is open, so there it answers the snapshot at
once and the browser asks again a little later (``URGENT_STREAM_MODE``; docs/deployment.md).
"""
from __future__ import annotations

import io
import json
import logging
import math
import queue
import select
import struct
import threading
import time
import wave

import click
from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request, url_for)
from flask.cli import AppGroup
from flask_login import current_user

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import domain_message, error_json, form_step, not_found
from app.mappage import visible
from app.api import json_body
from gis import dates, policy, urgent
from gis.errors import GridWatchError
from gis.fieldwork import NotFound
from gis.lookup import parse_point
from gis.models import SPECIALTIES, URGENT_KINDS
from gis.validation import Field, ValidationError, validate

log = logging.getLogger("gridwatch.urgent")

bp = Blueprint("urgent", __name__, url_prefix="/urgent")
api = Blueprint("urgent_api", __name__, url_prefix="/api/v1/urgent")
urgent_cli = AppGroup("urgent", help="Urgent events (应急处置): raise, escalate, list.")

# lon and lat are read by gis.lookup.parse_point (numbers, or text as people type them).
RAISE = {"event_type": Field(choices=URGENT_KINDS),
         "crs": Field(choices=("wgs84", "gcj02"), required=False),
         "description": Field(max_length=urgent.MAX_TEXT),
         "specialty": Field(choices=SPECIALTIES + ("",), required=False),
         "address": Field(max_length=urgent.MAX_ADDRESS, required=False),
         "complaint": Field(max_length=40, required=False)}
ON_SITE = {"crs": Field(choices=("wgs84", "gcj02"), required=False)}
POINT = ("lon", "lat")
CLOSE = {"outcome": Field(max_length=urgent.MAX_TEXT)}
LIST = {"status": Field(choices=("open", "closed", "all") + urgent.OPEN, required=False,
                        default="open"),
        "limit": Field(kind="int", min=1, max=500, required=False, default=200)}


def _values(data, schema: dict) -> dict:
    """``validate`` with the point's lon and lat passed through as given."""
    if data is None or not hasattr(data, "keys"):
        raise ValidationError("body", "expected a JSON object", "expected_object")
    data = data.to_dict() if hasattr(data, "to_dict") else dict(data)
    point = {k: data.pop(k, None) for k in POINT}
    for k, v in point.items():
        if v is not None and not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise ValidationError(k, "expected a number", "expected_float")
        if isinstance(v, str) and len(v) > 40:
            raise ValidationError(k, "at most 40 characters", "max_length", n=40)
    return validate(data, schema) | point


def words() -> dict:
    """What the pages and the push script call kinds, statuses, steps, roles and channels."""
    from flask_babel import gettext as _

    return {
        "kinds": {"special_equipment": _("Special equipment accident"),
                  "product_harm": _("Product harming people"),
                  "hotline": _("Urgent hotline call")},
        "specialties": {"food": _("Food"), "special_equipment": _("Special equipment"),
                        "metrology": _("Civil metrology")},
        "statuses": {"raised": _("Waiting for acknowledgement"),
                     "acknowledged": _("Acknowledged"), "on_site": _("On site"),
                     "closed": _("Dealt with")},
        "steps": {"raised": _("Raised"), "alerted": _("Alerted"),
                  "escalated": _("Escalated"), "acknowledged": _("Acknowledged"),
                  "on_site": _("Arrived on site"), "closed": _("Dealt with")},
        "roles": {"owner": _("Cell owner"), "professional_owner": _("Professional grid owner"),
                  "station_chief": _("Station chief"), "township_leader": _("Township leader"),
                  "leader": _("Leader"), "grid_manager": _("Grid manager")},
        "channels": {"web": _("Open pages"), "sms": _("Text message")},
        "failures": {urgent.NO_ACCOUNT: _("has no account: nobody to push it to"),
                     urgent.NO_MOBILE: _("no mobile number on the roster")},
    }


def rules(app=None) -> urgent.Rules:
    return urgent.Rules.from_settings((app or current_app).config)


def audit_from_complaint(done) -> None:
    """The audit entry of an urgent event an urgent complaint raised (gis.complaints.receive)."""
    if done.urgent_event:
        record("urgent_raised", target=f"urgent {done.urgent_event}", event_type="hotline",
               place=done.cell_code, complaint=done.number)


# --- serving an event -------------------------------------------------------------------------

def event_json(e: dict, *, tz: str, grants, page_url: str) -> dict:
    """An event as the API and the push say it (times with the bureau's offset). ``page_url``
    has ``__N__`` where the number goes (the push builds it outside any request)."""
    out = {k: e[k] for k in ("number", "kind", "specialty", "description", "address", "status",
                             "level", "raised_by", "acknowledged_by", "on_site_by",
                             "closed_by", "outcome")}
    out["lon"], out["lat"] = round(e["lon"], 7), round(e["lat"], 7)
    for k in ("raised_at", "acknowledged_at", "on_site_at", "closed_at"):
        out[k] = dates.isoformat(e[k], tz)
    out["on_site_distance_m"] = None if e["on_site_distance_m"] is None else \
        round(e["on_site_distance_m"], 1)
    out["cell"] = {"code": e["cell_code"], "name": e["cell_name"]} if e["cell_code"] else None
    out["complaint"] = e["complaint_number"]
    if "mine" in e:
        out["mine"] = bool(e["mine"])
        out["my_role"] = e["my_role"]
        out["may_handle"] = bool(e["mine"]) or policy.can(grants, "handle_urgent", e["path"])
    out["url"] = page_url.replace("__N__", e["number"])
    return out


def _page_url() -> str:
    return url_for("urgent.page", number="__N__")


def _target(number: str) -> dict:
    try:
        return urgent.event_target(get_session(), number)
    except NotFound:
        not_found("urgent", number)


def _person() -> int | None:
    return urgent.person_of(get_session(), current_user.id)


def _may_read(target: dict) -> bool:
    return _person() in target["alerted"] or policy.can(current_user.grants, "view",
                                                         target["path"])


def _authorize_handling(number: str) -> dict:
    if not current_user.is_authenticated:
        abort(401)
    target = _target(number)
    if not policy.can_handle_urgent(current_user.grants, target["path"],
                                    _person() in target["alerted"]):
        abort(403)
    return target


def _point(values: dict, required: bool = True) -> tuple[float, float] | None:
    if not required and values.get("lon") in (None, "") and values.get("lat") in (None, ""):
        return None
    lon, lat, _crs, _typed = parse_point(values.get("lon"), values.get("lat"), values.get("crs"))
    return lon, lat


# --- the steps (one path for the pages and the API) ------------------------------------------

def _raise(values: dict) -> dict:
    db = get_session()
    lon, lat = _point(values)
    located = urgent.locate(db, lon, lat)
    authorize("raise_urgent", located["path"])
    raised = urgent.raise_event(
        db, values["event_type"], lon, lat, values["description"],
        values.get("specialty") or None, current_user.username, address=values.get("address"),
        complaint=values.get("complaint") or None, located=located, rules=rules(),
        zone=zone())
    record("urgent_raised", target=f"urgent {raised['number']}",
           event_type=values["event_type"], place=raised["cell_code"],
           alerted=len({a["person_id"] for a in raised["alerted"]}))
    return raised


def _acknowledge(number: str) -> dict:
    _authorize_handling(number)
    done = urgent.acknowledge(get_session(), number, current_user.username)
    if done["changed"]:
        record("urgent_acknowledged", target=f"urgent {number}")
    return done


def _on_site(number: str, values: dict) -> dict:
    _authorize_handling(number)
    point = _point(values, required=False)
    done = urgent.on_site(get_session(), number, current_user.username,
                          *(point or (None, None)))
    record("urgent_on_site", target=f"urgent {number}",
           distance_from_event_m=done["distance_m"])
    return done


def _close(number: str, values: dict) -> dict:
    _authorize_handling(number)
    done = urgent.close(get_session(), number, current_user.username, values["outcome"])
    record("urgent_closed", target=f"urgent {number}", outcome=values["outcome"])
    return done


def refusal(exc: urgent.UrgentRefused) -> str:
    from flask_babel import gettext as _

    return _("Urgent event %(number)s is closed; it takes no more steps.", number=exc.number)


# --- pages -----------------------------------------------------------------------------------

@bp.get("")
@login_required
def list_page():
    args = validate(request.args, LIST)
    status = None if args["status"] == "all" else args["status"]
    db = get_session()
    rows = urgent.events(db, cells=visible(), person_id=_person(), status=status,
                         limit=args["limit"])
    return render_template("urgent/list.html", rows=rows, args=args, words=words(),
                           now=urgent.db_now(db),
                           may_raise=policy.can_somewhere(current_user.grants, "raise_urgent"),
                           ack_minutes=current_app.config["URGENT_ACK_MINUTES"])


def _new_page(typed: dict, problems: list[str], status: int = 200):
    if not policy.can_somewhere(current_user.grants, "raise_urgent"):
        abort(403)
    return render_template("urgent/new.html", typed=typed, problems=problems, words=words(),
                           kinds=URGENT_KINDS, specialties=SPECIALTIES), status


@bp.get("/new")
@login_required
def new_form():
    return _new_page({k: request.args.get(k, "") for k in (*RAISE, *POINT)}, [])


@bp.post("/new")
@login_required
def new_event():
    db = get_session()
    try:
        raised = _raise(_values(request.form, RAISE))
    except GridWatchError as exc:
        db.rollback()
        return _new_page({k: request.form.get(k, "") for k in (*RAISE, *POINT)},
                         [domain_message(exc)], 400)
    db.commit()
    return redirect(url_for("urgent.page", number=raised["number"]))


@bp.get("/<number>")
@login_required
def page(number: str, problems: list[str] | None = None, status: int = 200):
    target = _target(number)
    if not _may_read(target):
        abort(403)
    event = urgent.get_event(get_session(), number)
    may_handle = policy.can_handle_urgent(current_user.grants, target["path"],
                                          _person() in target["alerted"])
    return render_template("urgent/event.html", event=event, may_handle=may_handle,
                           words=words(),
                           problems=problems or [], typed=request.form), status


def _form_step(number: str, step) -> Response:
    return form_step(step, refused=urgent.UrgentRefused, refusal=refusal,
                     again=lambda problems, status: page(number, problems, status),
                     done=url_for("urgent.page", number=number))


@bp.post("/<number>/acknowledge")
@login_required
def acknowledge_form(number: str):
    return _form_step(number, lambda: _acknowledge(number))


@bp.post("/<number>/on-site")
@login_required
def on_site_form(number: str):
    return _form_step(number, lambda: _on_site(number, _values(request.form, ON_SITE)))


@bp.post("/<number>/close")
@login_required
def close_form(number: str):
    return _form_step(number, lambda: _close(number, validate(request.form, CLOSE)))


# The alert's sound: two short tones, made here once (no file to ship, nothing from outside).
_SOUND: dict[str, bytes] = {}


def alert_sound() -> bytes:
    if "wav" not in _SOUND:
        rate, out = 16000, io.BytesIO()
        samples = []
        for freq in (880, 660, 880, 660):
            n = int(rate * 0.16)
            for i in range(n):
                fade = min(1.0, i / 160, (n - i) / 160)
                samples.append(int(12000 * fade * math.sin(2 * math.pi * freq * i / rate)))
            samples.extend([0] * int(rate * 0.05))
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        _SOUND["wav"] = out.getvalue()
    return _SOUND["wav"]


@bp.get("/alert.wav")
def sound():
    response = Response(alert_sound(), mimetype="audio/wav")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# --- the push -------------------------------------------------------------------------------

RESYNC = "resync"


class Hub:
    """This process's one LISTEN connection on ``gridwatch_urgent``, fanning notifications
    out to the streams it serves (a queue each). Started by the first stream; it reconnects
    after a lost database and then tells every stream to send its snapshot again (what
    happened meanwhile was not heard)."""

    def __init__(self, engine, retry_seconds: float = 2.0):
        self.engine = engine
        self.retry_seconds = retry_seconds
        self.listening = threading.Event()
        self.stop = threading.Event()
        self._subscribers: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self, wait: float = 5.0) -> queue.Queue:
        """A queue that receives every notification from now on (once LISTEN is up: this
        waits for it up to ``wait`` seconds)."""
        q: queue.Queue = queue.Queue(maxsize=500)
        with self._lock:
            self._subscribers.add(q)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gridwatch-urgent-hub",
                                                daemon=True)
                self._thread.start()
        self.listening.wait(wait)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers.discard(q)

    def _broadcast(self, message: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(message)
            except queue.Full:  # a stream this far behind starts again from a snapshot
                with q.mutex:
                    q.queue.clear()
                q.put_nowait(RESYNC)

    def _run(self) -> None:
        first = True
        while not self.stop.is_set():
            pooled = None
            try:
                pooled = self.engine.raw_connection()
                conn = pooled.dbapi_connection
                pooled.detach()  # never back to the pool: it LISTENs
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {urgent.CHANNEL}")
                self.listening.set()
                if not first:
                    self._broadcast(RESYNC)
                first = False
                while not self.stop.is_set():
                    if select.select([conn], [], [], 5.0)[0]:
                        conn.poll()
                        while conn.notifies:
                            self._broadcast(conn.notifies.pop(0).payload)
            except Exception:  # noqa: BLE001 - a lost database is retried, never fatal
                log.exception("urgent events: lost the LISTEN connection; retrying")
                self.listening.clear()
                self.stop.wait(self.retry_seconds)
            finally:
                if pooled is not None:
                    try:
                        pooled.close()
                    except Exception:  # noqa: BLE001 - already gone
                        pass


def hub(app) -> Hub:
    with _HUB_LOCK:
        if "gridwatch_urgent_hub" not in app.extensions:
            app.extensions["gridwatch_urgent_hub"] = Hub(app.extensions["gridwatch.engine"])
        return app.extensions["gridwatch_urgent_hub"]


_HUB_LOCK = threading.Lock()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _mode(app) -> str:
    mode = str(app.config.get("URGENT_STREAM_MODE") or "auto").lower()
    if mode == "auto":
        return "stream" if request.environ.get("wsgi.multithread") else "poll"
    return mode if mode in ("stream", "poll") else "stream"


@bp.get("/stream")
@login_required
def stream():
    """Server-Sent Events: ``snapshot`` (the open events concerning the reader: alerted to
    their person, and with ``?area=1`` those in their area, for the map wall), then one
    ``urgent`` per change, ``: keepalive`` comments while idle, until the bounded lifetime
    ends and the browser reconnects."""
    app = current_app._get_current_object()
    area = request.args.get("area") == "1"
    person = _person()
    cells = visible() if area else []
    grants = current_user.grants
    tz = zone()
    page_url = _page_url()
    mode = _mode(app)
    config = app.config
    sessions = app.extensions["gridwatch.sessions"]
    lifetime = float(config["URGENT_STREAM_SECONDS"])
    heartbeat = max(float(config["URGENT_HEARTBEAT_SECONDS"]), 1.0)
    retry = int(float(config["URGENT_POLL_SECONDS"]) * 1000) if mode == "poll" else 3000
    city: list = []

    def rows(ids=None) -> list[dict]:
        with sessions() as session:
            found = urgent.events(session, cells=cells, person_id=person, area=area,
                                  status="open" if ids is None else None, ids=ids)
            mine = [r["id"] for r in found if r["mine"]]
            if mine and urgent.mark_delivered(session, mine, person):
                session.commit()
            if not city:
                from gis.people import city_path

                city.append(city_path(session))
        out = []
        for r in found:
            r["path"] = r["path"] or city[0]
            out.append(event_json(r, tz=tz, grants=grants, page_url=page_url))
        return out

    def snapshot() -> str:
        return _sse("snapshot", {"events": rows(), "now": dates.isoformat(_utcnow(), tz),
                                 "person": person is not None})

    def generate():
        yield f"retry: {retry}\n\n"
        if mode == "poll":
            yield snapshot()
            return
        subscription = hub(app).subscribe()
        try:
            yield snapshot()
            deadline = time.monotonic() + lifetime
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    messages = [subscription.get(timeout=min(heartbeat, left))]
                except queue.Empty:
                    yield ": keepalive\n\n"
                    continue
                time.sleep(0.05)  # a burst of steps (raised, alerted) is one answer
                while not subscription.empty():
                    messages.append(subscription.get_nowait())
                if RESYNC in messages:
                    yield snapshot()
                    continue
                ids = sorted({json.loads(m)["event"] for m in messages})
                for event in rows(ids):
                    yield _sse("urgent", event)
        finally:
            hub(app).unsubscribe(subscription)

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _utcnow():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


# --- API -------------------------------------------------------------------------------------


def _detail_json(number: str) -> dict:
    event = urgent.get_event(get_session(), number)
    tz = zone()
    out = event_json(event, tz=tz, grants=current_user.grants, page_url=_page_url())
    out["steps"] = [{"step": s["step"], "at": dates.isoformat(s["at"], tz),
                     "minutes": round(s["seconds"] / 60, 1), "username": s["username"],
                     "level": s["level"], "note": s["note"], "distance_m": s["distance_m"]}
                    for s in event["steps"]]
    out["alerts"] = [{"person": a["person_code"], "name": a["name"], "role": a["role"],
                      "level": a["level"], "channel": a["channel"],
                      "sent_at": dates.isoformat(a["sent_at"], tz),
                      "delivered_at": dates.isoformat(a["delivered_at"], tz),
                      "failure": a["failure"]} for a in event["alerts"]]
    return out


def _api_step(number: str, step):
    try:
        step()
    except urgent.UrgentRefused as exc:
        get_session().rollback()
        return error_json(409, refusal(exc), field="status", code="refused",
                          current=exc.status)
    get_session().commit()
    return jsonify(_detail_json(number))


@api.post("")
@login_required
def api_raise():
    raised = _raise(_values(json_body(), RAISE))
    get_session().commit()
    body = _detail_json(raised["number"])
    return jsonify(body), 201, {"Location": body["url"]}


@api.get("")
@login_required
def api_list():
    args = validate(request.args, LIST)
    status = None if args["status"] == "all" else args["status"]
    found = urgent.events(get_session(), cells=visible(), person_id=_person(), status=status,
                          limit=args["limit"])
    from gis.people import city_path

    city = city_path(get_session())
    return jsonify(events=[event_json(dict(r, path=r["path"] or city), tz=zone(),
                                      grants=current_user.grants, page_url=_page_url())
                           for r in found])


@api.get("/<number>")
@login_required
def api_event(number: str):
    if not _may_read(_target(number)):
        abort(403)
    return jsonify(_detail_json(number))


@api.post("/<number>/acknowledge")
@login_required
def api_acknowledge(number: str):
    return _api_step(number, lambda: _acknowledge(number))


@api.post("/<number>/on-site")
@login_required
def api_on_site(number: str):
    body = request.get_json(silent=True)
    return _api_step(number, lambda: _on_site(number, _values(body or {}, ON_SITE)))


@api.post("/<number>/close")
@login_required
def api_close(number: str):
    return _api_step(number, lambda: _close(number, validate(json_body(), CLOSE)))


# --- CLI -------------------------------------------------------------------------------------

def _cli_session():
    return current_app.extensions["gridwatch.sessions"]()


@urgent_cli.command("raise")
@click.option("--type", "event_type", required=True, type=click.Choice(URGENT_KINDS),
              help="special_equipment, product_harm or hotline.")
@click.option("--lon", required=True, help="Longitude (WGS84 unless --crs gcj02).")
@click.option("--lat", required=True, help="Latitude.")
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True)
@click.option("--description", required=True, help="What happened, in words.")
@click.option("--specialty", type=click.Choice(SPECIALTIES),
              help="The professional grid concerned (default: the type's own, if any).")
@click.option("--address", help="Where, in words.")
@click.option("--complaint", help="The number of the complaint it came from.")
@click.option("--user", "username", help="Raise it as this user (checked and audited as them).")
def urgent_raise(event_type, lon, lat, crs, description, specialty, address, complaint,
                 username):
    """Raise an urgent event at a point and alert everyone responsible there now."""
    from gis import audit
    from gis.users import grants, user_id

    with _cli_session() as session:
        try:
            x, y, _crs, _typed = parse_point(lon, lat, crs)
            located = urgent.locate(session, x, y)
            if username:
                uid = user_id(session, username)
                if uid is None or not policy.can(grants(session, uid), "raise_urgent",
                                                 located["path"]):
                    raise click.ClickException(f"{username} may not raise an urgent event "
                                               "there")
            raised = urgent.raise_event(session, event_type, x, y, description, specialty,
                                        username or "cli", address=address,
                                        complaint=complaint, located=located,
                                        rules=rules(), zone=zone())
            audit.record(session, "urgent_raised", target=f"urgent {raised['number']}",
                         username=username or "cli", remote_addr="localhost", via="cli",
                         detail={"event_type": event_type, "place": raised["cell_code"],
                                 "alerted": len({a["person_id"] for a in raised["alerted"]})})
            session.commit()
        except GridWatchError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{raised['number']}\t{raised['cell_code'] or '(outside every cell)'}\t"
               f"{len({a['person_id'] for a in raised['alerted']})} alerted")


@urgent_cli.command("escalate")
def urgent_escalate():
    """Escalate every event nobody acknowledged in URGENT_ACK_MINUTES (the job workers do
    this by themselves; for a cron job where no worker runs)."""
    from gis import audit

    with _cli_session() as session:
        escalated = urgent.escalate(session, rules=rules())
        for e in escalated:
            audit.record(session, "urgent_escalated", target=f"urgent {e['number']}",
                         username="cli", remote_addr="localhost", via="cli",
                         detail={"level": e["level"], "place": e["place"],
                                 "alerted": len({a["person_id"] for a in e["alerted"]})})
        session.commit()
    for e in escalated:
        click.echo(f"{e['number']}\tlevel {e['level']}\t{e['place']}")


@urgent_cli.command("list")
@click.option("--all", "every", is_flag=True, help="Closed events too.")
def urgent_list(every):
    """Events (open ones unless --all): number, status, level, raised, cell, description."""
    with _cli_session() as session:
        for e in urgent.events(session, cells=None, status=None if every else "open"):
            click.echo("\t".join(str(v) for v in (
                e["number"], e["status"], e["level"],
                dates.local(e["raised_at"], zone()).isoformat(timespec="seconds"),
                e["cell_code"] or "", e["description"].replace("\n", " ")[:80])))


def push_texts() -> dict:
    """What app/static/urgent.js needs: where to listen and post, and its words."""
    from flask_babel import gettext as _

    return {"stream": url_for("urgent.stream"), "sound": url_for("urgent.sound"),
            "api": url_for("urgent_api.api_event", number="__N__") + "/", "words": words(),
            "t": {"title": _("Urgent event"), "acknowledge": _("Acknowledge"),
                  "onSite": _("I'm on site"), "details": _("Details"), "dismiss": _("Hide"),
                  "raised": _("raised %(when)s", when="%(when)s"),
                  "minutesAgo": _("%(n)s min ago", n="%(n)s"), "justNow": _("just now"),
                  "level": _("level %(n)s", n="%(n)s"),
                  "acknowledgedBy": _("acknowledged by %(who)s", who="%(who)s"),
                  "onSiteBy": _("%(who)s is on site", who="%(who)s"),
                  "locating": _("Finding this device's location…"), "sending": _("Sending…"),
                  "done": _("Recorded"), "failed": _("Not recorded: "),
                  "offline": _("no connection"),
                  # The wall's marker: one character.
                  "mark": _("!")}}


def init_app(app) -> None:
    app.jinja_env.globals["urgent_texts"] = push_texts
    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.cli.add_command(urgent_cli)

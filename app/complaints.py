"""12365 complaints for the bureau's staff (gis/complaints.py): the list (place, status,
overdue in red, service, period), a complaint with its steps and its stamp (cell, boundary
version, owner at arrival, handler, due time) and the forms to move it on and to hand it to
another cell's owner (``handle_complaint`` at the cell that handles it now), a complaint typed
in by hand and the hotline's export uploaded (``intake_complaint``); ``flask complaints import
FILE``. Reading follows what the user may read of either cell (arrival or handling)."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import (Blueprint, Response, abort, current_app, redirect, render_template, request,
                   url_for)
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import domain_message, form_step, not_found
from app.mappage import visible
from app.ratelimit import rate_limited
from app.urgent import audit_from_complaint, rules as urgent_rules
from gis import complaints, policy, wall
from gis.errors import GridWatchError, ImportRefused
from gis.fieldwork import NotFound
from gis.models import COMPLAINT_STATUSES
from gis.validation import Field, ValidationError, validate

bp = Blueprint("complaints", __name__, url_prefix="/complaints")
complaints_cli = AppGroup("complaints", help="12365 complaints: the hotline's exports.")

PAGE_SIZE = 50
LIST_FILTERS = {"place": Field(max_length=32, required=False),
                "status": Field(choices=COMPLAINT_STATUSES + ("open",), required=False),
                "overdue": Field(kind="bool", required=False),
                "service": Field(max_length=32, required=False),
                "from": Field(kind="date", required=False),
                "to": Field(kind="date", required=False),
                "q": Field(max_length=100, required=False),
                "page": Field(kind="int", min=1, max=100000, required=False, default=1)}
STEP = {"status": Field(choices=COMPLAINT_STATUSES),
        "note": Field(max_length=complaints.MAX_TEXT, required=False)}
REASSIGN = {"cell": Field(max_length=32, required=False),
            "person": Field(max_length=32, required=False),
            "comment": Field(max_length=complaints.MAX_TEXT, required=False),
            "note": Field(max_length=complaints.MAX_TEXT, required=False)}
# A complaint typed in by staff (a call to the station, a letter): receive()'s fields.
ENTRY = {"service_code": Field(max_length=32), "description": Field(max_length=4000),
         "enterprise": Field(max_length=40, required=False),
         "lon": Field(max_length=40, required=False), "lat": Field(max_length=40, required=False),
         "crs": Field(choices=("wgs84", "gcj02"), required=False),
         "address": Field(max_length=300, required=False),
         "received_at": Field(kind="datetime", required=False),
         "external_id": Field(max_length=64, required=False),
         "last_name": Field(max_length=100, required=False),
         "phone": Field(max_length=40, required=False),
         "email": Field(max_length=200, required=False)}


def status_words() -> dict:
    return {"received": _("received"), "assigned": _("assigned"), "handled": _("handled"),
            "closed": _("closed")}


def source_words() -> dict:
    return {"hotline": _("12365 hotline"), "open311": _("Open311"), "public": _("public page"),
            "import": _("hotline file"), "staff": _("entered by staff")}


def refusal(exc: complaints.ComplaintRefused) -> str:
    """A refused step in words: where the complaint is."""
    words = status_words()
    status = words.get(exc.status, exc.status)
    if exc.reason == "closed":
        return _("The complaint is closed; it takes no more steps.")
    if exc.reason == "same":
        return _("The complaint is %(status)s already.", status=status)
    if exc.reason == "backwards":
        return _("The complaint is %(status)s: it does not go back to %(wanted)s.",
                 status=status, wanted=words.get(exc.wanted, exc.wanted))
    if exc.reason == "same_handler":
        return _("The complaint is with that person in that cell already.")
    return _("The complaint is %(status)s: only a received or assigned complaint is handed "
             "to someone else.", status=status)


def target(number: str) -> dict:
    try:
        return complaints.target(get_session(), number)
    except NotFound:
        not_found("complaint", number)


def may_view(found: dict) -> bool:
    return any(policy.can(current_user.grants, "view", p) for p in found["paths"])


# --- the list ---------------------------------------------------------------------------------

def _period(args: dict) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) of the local days from/to (either may be missing)."""
    tz = ZoneInfo(zone())
    start = dt.datetime.combine(args["from"], dt.time(), tzinfo=tz) if args["from"] else None
    end = (dt.datetime.combine(args["to"] + dt.timedelta(days=1), dt.time(), tzinfo=tz)
           if args["to"] else None)
    return start, end


@bp.get("")
@login_required
@rate_limited("bulk")
def complaint_list():
    args = validate(request.args, LIST_FILTERS)
    db = get_session()
    try:
        cells = wall.place_cells(db, visible(), args["place"])
    except LookupError:
        raise ValidationError("place", f"there is no cell {args['place']}", "no_such_target",
                              kind="cell", name=args["place"]) from None
    start, end = _period(args)
    status = args["status"]
    total, rows = complaints.search(
        db, cells=cells, status=None if status == "open" else status,
        open311_status=("open",) if status == "open" else None, overdue=args["overdue"],
        service_code=args["service"], start=start, end=end, query=args["q"],
        order="overdue", limit=PAGE_SIZE, offset=(args["page"] - 1) * PAGE_SIZE)
    return render_template(
        "complaints/list.html", rows=rows, total=total, args=args,
        statuses=status_words(), services=complaints.services(db, active_only=False),
        places=wall.places(db, visible()), pages=(total + PAGE_SIZE - 1) // PAGE_SIZE,
        overdue=complaints.overdue_count(db, cells=cells),
        may_intake=policy.can_somewhere(current_user.grants, "intake_complaint"))


# --- one complaint ----------------------------------------------------------------------------

@bp.get("/<number>")
@login_required
def page(number: str, problems: list[str] | None = None, status: int = 200):
    found = target(number)
    if not may_view(found):
        abort(403)
    db = get_session()
    complaint = complaints.get(db, number)
    may_handle = policy.can(current_user.grants, "handle_complaint", found["path"])
    may_intake = policy.can(current_user.grants, "intake_complaint")
    contact = complaints.contact(db, number) if may_handle or may_intake else None
    cells = [p for p in wall.places(db, None) if p["level"] == 3]
    return render_template("complaints/complaint.html", complaint=complaint,
                           statuses=status_words(), sources=source_words(), contact=contact,
                           may_handle=may_handle, problems=problems or [],
                           typed=request.form, cells=cells), status


def _moved(number: str, run) -> Response:
    return form_step(run, refused=complaints.ComplaintRefused, refusal=refusal,
                     again=lambda problems, status: page(number, problems, status),
                     done=url_for("complaints.page", number=number))


def advance(number: str, status: str, note: str | None) -> dict:
    """Authorize (handle_complaint where it is handled), move on and audit: the pages and the
    API's PATCH share it."""
    found = target(number)
    authorize("handle_complaint", found["path"])
    done = complaints.advance(get_session(), number, status, note=note,
                              username=current_user.username)
    record("complaint_status_changed", target=f"complaint {number}", status=status,
           previous=done["previous"], note=note or None)
    return done


@bp.post("/<number>/status")
@login_required
def change_status(number: str):
    def run():
        values = validate(request.form, STEP)
        advance(number, values["status"], values["note"])
    return _moved(number, run)


@bp.post("/<number>/reassign")
@login_required
def reassign(number: str):
    def run():
        found = target(number)
        authorize("handle_complaint", found["path"])
        values = validate(request.form, REASSIGN)
        done = complaints.reassign(get_session(), number, cell=values["cell"] or None,
                                   person=values["person"] or None, reason=values["comment"],
                                   note=values["note"], username=current_user.username)
        record("complaint_reassigned", target=f"complaint {number}", cell=done["cell"],
               person_id=done["person_id"], comment=values["comment"])
    return _moved(number, run)


@bp.get("/<number>/photos/<int:photo_id>")
@login_required
def photo(number: str, photo_id: int):
    from app.photos import CACHE_CONTROL, store

    found = target(number)
    if not may_view(found):
        abort(403)
    row = get_session().execute(text("""
        SELECT sha256, media_type FROM photo WHERE id = :p AND complaint_id = :k"""),
        {"p": photo_id, "k": found["id"]}).one_or_none()
    if row is None:
        not_found("photo", photo_id)
    kept = store().open(row.sha256)
    data = kept.read_bytes() if isinstance(kept, Path) else kept
    response = Response(data, mimetype=row.media_type)
    response.set_etag(row.sha256)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- taking complaints in ---------------------------------------------------------------------

def _may_intake() -> None:
    if not current_user.is_authenticated:
        abort(401)
    if not policy.can(current_user.grants, "intake_complaint"):
        abort(403)


def _new_page(status: int = 200, problems: list[str] | None = None):
    return render_template("complaints/new.html", services=complaints.services(get_session()),
                           typed=request.form, problems=problems or []), status


@bp.get("/new")
@login_required
def new_form():
    _may_intake()
    return _new_page()


@bp.post("/new")
@login_required
def new_complaint():
    _may_intake()
    db = get_session()
    try:
        values = validate(request.form, ENTRY, zone=zone())
        done = complaints.receive(db, source="staff", username=current_user.username,
                                  zone=zone(), urgent_rules=urgent_rules(), **values)
    except GridWatchError as exc:
        db.rollback()
        return _new_page(400, [domain_message(exc)])
    record("complaint_received", target=f"complaint {done.number}", channel="staff",
           service=done.service_code, cell=done.cell_code, outside_grid=done.outside_grid)
    audit_from_complaint(done)
    db.commit()
    return redirect(url_for("complaints.page", number=done.number))


def _import_page(status: int = 200, **context):
    context.setdefault("summary", None)
    context.setdefault("problems", [])
    return render_template("complaints/import.html", **context), status


@bp.get("/import")
@login_required
def import_form():
    _may_intake()
    return _import_page()


@bp.post("/import")
@login_required
def import_file():
    from app.people import problem_line
    from app.testing import _read_upload

    _may_intake()
    db = get_session()
    try:
        validate(request.form, {})
        name, data, kind = _read_upload()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"hotline.{kind}"
            path.write_bytes(data)
            summary = complaints.import_hotline(
                db, path, zone=zone(), username=current_user.username,
                limits=current_app.extensions["gridwatch_limits"])
    except ImportRefused as exc:
        db.rollback()
        return _import_page(400, problems=[problem_line(p) for p in exc.problems])
    except GridWatchError as exc:
        db.rollback()
        return _import_page(400, problems=[domain_message(exc)])
    record("complaints_imported", target=f"file {name}", inserted=summary.inserted,
           unchanged=summary.unchanged, outside_grid=summary.outside_grid)
    db.commit()
    return _import_page(summary=summary)


@complaints_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
@click.option("--history", is_flag=True, help="Complaints of the years before, with how they "
              "were handled (办理状态, 处理时间, 办结时间, 办理结果): each is moved on by steps "
              "dated when they happened; flagged 'imported' in the audit log.")
def complaints_import(file, history):
    """Import the 12365 hotline's export from XLSX or CSV (UTF-8 or GBK), Chinese or English
    headers (工单编号, 受理时间, 诉求内容, 诉求类别, 经度, 纬度, 地址, 企业管理编码, 被投诉企业,
    联系人, 联系电话, 是否紧急): one complaint a row, keyed by the hotline's number (the same
    number again changes nothing), each routed to the owner of its spot when it came in. One
    transaction; every bad row is named."""
    from app.cli import _run_import
    from gis.audit import IMPORTED

    _run_import("complaints", lambda session: complaints.import_hotline(
        session, file, zone=zone(), username="cli", history=history,
        limits=current_app.extensions["gridwatch_limits"].for_operator()),
        target=f"file {file}", flag=IMPORTED if history else None)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(complaints_cli)

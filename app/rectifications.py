"""Rectifications (整改 → 复查验收, gis/rectification.py): the JSON API under
``/api/v1/rectifications`` and the pages ``/rectifications`` (the list of the user's area) and
``/rectifications/<id>`` (one, with its steps and the forms to rectify or to verify).

Who may record a correction and who may check it is gis/policy.py's (``rectify``,
``verify_rectification``); that the checker is not who recorded the correction is the
domain's (a refusal, 409). Each write is audited in its transaction."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import domain_message, error_response
from app.mappage import visible
from app.ratelimit import rate_limited
from app.api import json_body
from gis import dates, policy, rectification
from gis.errors import GridWatchError
from gis.fieldwork import NotFound
from gis.users import cell_path
from gis.validation import Field, ValidationError, validate
from gis.wall import place_cells, places

api = Blueprint("rectifications_api", __name__, url_prefix="/api/v1/rectifications")
bp = Blueprint("rectifications", __name__)

PAGE_SIZE = 50
LIST = {"place": Field(required=False, max_length=32),
        "status": Field(required=False, choices=rectification.STATUSES),
        "late": Field(kind="bool", required=False, default=False),
        "from": Field(kind="date", required=False),
        "to": Field(kind="date", required=False),
        "page": Field(kind="int", required=False, min=1, max=10000, default=1),
        "limit": Field(kind="int", required=False, min=1, max=500, default=PAGE_SIZE)}
PAGE_LIST = {k: v for k, v in LIST.items() if k != "limit"}
RECTIFY = {"note": Field(max_length=2000, min_length=1)}
VERIFY = {"accept": Field(kind="bool"), "note": Field(required=False, max_length=2000)}

STATUS_LABELS = {"open": _l("to be rectified"), "rectified": _l("awaiting verification"),
                 "verified": _l("verified (closed)")}
STEP_LABELS = {"opened": _l("problem found"), "rectified": _l("correction recorded"),
               "verified": _l("verification passed"), "rejected": _l("sent back")}


def refusal_text(exc: rectification.StepRefused) -> str:
    """Why a step does not follow, in the user's language."""
    status = str(STATUS_LABELS.get(exc.status, exc.status))
    if exc.reason == "not_open":
        return _("Only a rectification still to be rectified can be recorded as corrected; "
                 "this one is %(status)s.", status=status)
    if exc.reason == "not_rectified":
        return _("Only a recorded correction can be verified or sent back; this rectification "
                 "is %(status)s.", status=status)
    if exc.reason == "same_person":
        return _("You recorded this correction: someone else must verify it.")
    return str(exc)


@api.errorhandler(rectification.StepRefused)
def _refused(exc: rectification.StepRefused):
    return error_response(409, refusal_text(exc))


# --- the shared steps -----------------------------------------------------------------------

def _person_id() -> int | None:
    """The roster person the account is (app_user.person_id)."""
    return get_session().execute(text("SELECT person_id FROM app_user WHERE id = :u"),
                                 {"u": current_user.id}).scalar()


def _absent(rid: int) -> None:
    # One answer for a number that does not exist and one outside the user's area.
    abort(404, description=_("No rectification %(id)s in your area: the number does not "
                             "exist, or the enterprise is outside the area you may see.",
                             id=rid))


def _place(rid: int) -> tuple[str, tuple[int, ...]]:
    """(the enterprise's code, the path of its cell now): where permissions are judged."""
    db = get_session()
    try:
        code, cell_id = rectification.place(db, rid)
    except NotFound:
        _absent(rid)
    return code, cell_path(db, cell_id)


def _readable(rid: int) -> dict:
    code, path = _place(rid)
    if not policy.can(current_user.grants, "view", path):
        _absent(rid)
    return rectification.get(get_session(), rid, today=dates.today(zone()), zone=zone())


def do_rectify(rid: int, note: str) -> None:
    """Authorize, record the correction, audit, commit (the API's and the form's one path)."""
    db = get_session()
    code, path = _place(rid)
    authorize("rectify", path)
    rectification.rectify(db, rid, username=current_user.username, person_id=_person_id(),
                          note=note)
    record("rectification_rectified", target=f"rectification {rid}", enterprise=code,
           note=note)
    db.commit()


def do_verify(rid: int, accept: bool, note: str | None) -> None:
    db = get_session()
    code, path = _place(rid)
    authorize("verify_rectification", path)
    rectification.verify(db, rid, username=current_user.username, person_id=_person_id(),
                         note=note, accept=accept, zone=zone())
    if accept:
        record("rectification_verified", target=f"rectification {rid}", enterprise=code,
               note=note)
    else:
        record("rectification_rejected", target=f"rectification {rid}", enterprise=code,
               note=note)
    db.commit()


def _filters() -> dict:
    # A filter form sends its empty fields too: an empty one is no filter.
    return {k: v for k, v in request.args.items() if v.strip()}


def _search(args: dict, limit: int | None):
    if args["from"] and args["to"] and args["to"] < args["from"]:
        raise ValidationError("to", "before from", "before", other="from")
    db = get_session()
    try:
        cells = place_cells(db, visible(), args["place"])
    except LookupError:
        raise ValidationError("place", f"there is no cell {args['place']}", "no_such_cell",
                              cell=args["place"]) from None
    return rectification.search(
        db, cells=cells, today=dates.today(zone()), zone=zone(), status=args["status"],
        late=args["late"], start=args["from"], end=args["to"], limit=limit,
        offset=(args["page"] - 1) * (limit or 0))


# --- the API --------------------------------------------------------------------------------

def _iso(when):
    return dates.isoformat(when, zone())


def _json(r: dict) -> dict:
    out = {"id": r["id"],
           "enterprise": {"code": r["management_code"], "name": r["enterprise"]},
           "cell": r["cell_code"], "problem": r["problem"], "item": r["item_code"],
           "deadline": r["deadline"].isoformat(), "status": r["status"], "late": r["late"],
           "days_late": r["days_late"], "opened_at": _iso(r["opened_at"]),
           "rectified_at": _iso(r["rectified_at"]), "rectified_by": r["rectified_by"],
           "verified_at": _iso(r["verified_at"]), "verified_by": r["verified_by"],
           "source": ({"inspection": r["inspection_id"]} if r["inspection_id"] is not None
                      else {"spot_check": r["spot_check_id"]}),
           "last_step": {"step": r["last_step"], "at": _iso(r["last_at"]),
                         "username": r["last_username"], "person": r["last_person"]}}
    if "steps" in r:
        out["steps"] = [{"step": s["step"], "at": _iso(s["at"]), "username": s["username"],
                         "person": s["person"], "note": s["note"]} for s in r["steps"]]
        out["photos"] = [{"id": p["id"], "url": url_for("photos.show", photo_id=p["id"]),
                          "of": "rectification" if p["of_rectification"] else "inspection"}
                         for p in r["photos"]]
    return out


@api.get("")
@login_required
@rate_limited("bulk")
def list_api():
    args = validate(_filters(), LIST)
    total, rows, counts = _search(args, args["limit"])
    return jsonify(total=total, counts=counts, page=args["page"],
                   rectifications=[_json(r) for r in rows])


@api.get("/<int:rid>")
@login_required
def show_api(rid: int):
    validate(request.args, {})
    return jsonify(_json(_readable(rid)))


@api.post("/<int:rid>/rectify")
@login_required
def rectify_api(rid: int):
    body = validate(json_body(), RECTIFY)
    do_rectify(rid, body["note"])
    return jsonify(_json(_readable(rid)))


@api.post("/<int:rid>/verify")
@login_required
def verify_api(rid: int):
    body = validate(json_body(), VERIFY)
    do_verify(rid, body["accept"], body["note"])
    return jsonify(_json(_readable(rid)))


# --- the pages ------------------------------------------------------------------------------

@bp.get("/rectifications")
@login_required
@rate_limited("bulk")
def list_page():
    args = validate(_filters(), PAGE_LIST)
    total, rows, counts = _search(args, PAGE_SIZE)
    kept = {k: v for k, v in request.args.items() if k in PAGE_LIST and k != "page" and v}
    return render_template("rectifications/list.html", rows=rows, total=total, counts=counts,
                           args=args, kept=kept, places=places(get_session(), visible()),
                           statuses=STATUS_LABELS, steps=STEP_LABELS,
                           pages=(total + PAGE_SIZE - 1) // PAGE_SIZE)


def _detail_page(rid: int, status: int = 200, problem: str | None = None,
                 form: str | None = None):
    r = _readable(rid)
    _code, path = _place(rid)
    grants = current_user.grants
    mine = rectification.recorded_by(r, current_user.username, _person_id())
    typed = request.form.get("note", "") if problem else ""
    return render_template(
        "rectifications/detail.html", r=r, statuses=STATUS_LABELS, steps=STEP_LABELS,
        may_rectify=r["status"] == "open" and policy.can(grants, "rectify", path),
        may_verify=(r["status"] == "rectified" and not mine
                    and policy.can(grants, "verify_rectification", path)),
        mine=mine, problem=problem, form=form, typed=typed), status


@bp.get("/rectifications/<int:rid>")
@login_required
def detail_page(rid: int):
    validate(request.args, {})
    return _detail_page(rid)


def _form_step(rid: int, form: str, work, done: str):
    """Run a form's step; on a refusal the page again with why and what was typed."""
    try:
        work()
    except rectification.StepRefused as exc:
        get_session().rollback()
        return _detail_page(rid, 409, refusal_text(exc), form)
    except GridWatchError as exc:
        get_session().rollback()
        return _detail_page(rid, 400, domain_message(exc), form)
    flash(done)
    return redirect(url_for("rectifications.detail_page", rid=rid))


@bp.post("/rectifications/<int:rid>/rectify")
@login_required
def rectify_form(rid: int):
    def work():
        form = validate(request.form, RECTIFY)
        do_rectify(rid, form["note"])

    return _form_step(rid, "rectify", work,
                      _("The correction is recorded; it now awaits verification by someone "
                        "else."))


@bp.post("/rectifications/<int:rid>/verify")
@login_required
def verify_form(rid: int):
    accept = request.form.get("accept") == "true"

    def work():
        form = validate(request.form, VERIFY)
        do_verify(rid, form["accept"], form["note"])

    return _form_step(rid, "verify", work,
                      _("Verified: the rectification is closed.") if accept else
                      _("Sent back: the rectification is open again."))


def init_app(app) -> None:
    app.register_blueprint(api)
    app.register_blueprint(bp)

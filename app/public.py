"""The public complaint page (no login, Chinese, phone first): the responsibility plate's QR
code opens ``<PUBLIC_BASE_URL>/public/complaints/new?enterprise=<management code>``, a form
filled with the enterprise (its name, its place: who answers for it is told), the matter, what
happened, an optional phone, name and photo. It goes through gis.complaints.receive like every
complaint (source "public") and answers with the reference ``<number>-<check code>``;
``/public/complaints/<reference>`` shows the complaint's status and steps, nothing personal.

Abuse: the form carries a CSRF token (the session cookie's); each client address may send
``PUBLIC_COMPLAINT_BURST`` complaints at once, refilled at ``PUBLIC_COMPLAINT_PER_HOUR``, and
read these pages ``PUBLIC_READ_BURST`` times, refilled at ``PUBLIC_READ_PER_MINUTE`` (buckets
in PostgreSQL: gis.ratelimit.take_client). A reference's six random check characters make a
status page unguessable from the numbers given out before and after it.
"""
from __future__ import annotations

import math

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import text

from app.auth import record, zone
from app.db import get_session
from app.errors import domain_message, error_response
from app.urgent import audit_from_complaint, rules as urgent_rules
from gis import complaints, photos
from gis.errors import GridWatchError
from gis.ratelimit import Rate, take_client
from gis.validation import Field, ValidationError, validate

bp = Blueprint("public", __name__, url_prefix="/public")

FORM = {"service_code": Field(max_length=32), "description": Field(max_length=2000),
        "phone": Field(max_length=40, required=False),
        "name": Field(max_length=100, required=False),
        "address": Field(max_length=300, required=False)}
QUERY = {"enterprise": Field(max_length=40, required=False)}


def public_url(path: str) -> str:
    """``path`` on the address the public reaches this server at (``PUBLIC_BASE_URL``, else
    the address this request came to): the plates' QR codes and the pages' links."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return base.rstrip("/") + path


def complaint_url(management_code: str) -> str:
    """The public complaint page of an enterprise, as a plate's QR code carries it."""
    from urllib.parse import quote

    return public_url("/public/complaints/new?enterprise=" + quote(management_code, safe=""))


def _limited(kind: str) -> object | None:
    """None when this client may go on, else the 429 answer."""
    config = current_app.config
    if kind == "complaint":
        rate = Rate(burst=int(config["PUBLIC_COMPLAINT_BURST"]),
                    per_minute=float(config["PUBLIC_COMPLAINT_PER_HOUR"]) / 60.0)
    else:
        rate = Rate(burst=int(config["PUBLIC_READ_BURST"]),
                    per_minute=float(config["PUBLIC_READ_PER_MINUTE"]))
    wait = take_client(get_session(), f"public_{kind}", request.remote_addr or "-", rate)
    if not wait:
        return None
    seconds = max(1, math.ceil(wait))
    response = current_app.make_response(error_response(429, _(
        "Too many attempts from this connection; try again in %(minutes)s minutes.",
        minutes=max(1, math.ceil(seconds / 60)))))
    response.headers["Retry-After"] = str(seconds)
    return response


def _enterprise(code: str | None) -> dict | None:
    """The enterprise of the page (its name, the cell it is in and who answers for it now:
    what its plate shows anyway), None without a code; 404 for a code that is no
    enterprise."""
    if not code:
        return None
    row = get_session().execute(text("""
        SELECT e.management_code, e.name, e.address, c.code AS cell_code, c.name AS cell_name,
               p.name AS owner_name
        FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        LEFT JOIN cell c ON c.id = ec.cell_id
        LEFT JOIN LATERAL gw_cell_owner(c.id, now()) o ON true
        LEFT JOIN person p ON p.id = o.person_id
        WHERE e.management_code = :c"""), {"c": code}).one_or_none()
    if row is None:
        from app.errors import not_found

        not_found("enterprise", code)
    return dict(row._mapping)


def _form(enterprise: dict | None, status: int = 200, problems: list[str] | None = None):
    return render_template("public/new.html", enterprise=enterprise, typed=request.form,
                           services=complaints.services(get_session()),
                           problems=problems or []), status


@bp.get("/complaints/new")
def new_form():
    args = validate(request.args, QUERY)
    refused = _limited("read")
    if refused is not None:
        return refused
    return _form(_enterprise(args["enterprise"]))


@bp.post("/complaints/new")
def new_complaint():
    args = validate(request.args, QUERY)
    enterprise = _enterprise(args["enterprise"])
    refused = _limited("complaint")
    if refused is not None:
        return refused
    db = get_session()
    try:
        values = validate({k: v for k, v in request.form.items() if k not in ("csrf_token",
                                                                              "lang")}, FORM)
        upload = request.files.get("photo")
        photo = None
        if upload is not None and upload.filename:
            limit = int(current_app.config["PHOTO_MAX_BYTES"])
            data = upload.stream.read(limit + 1)
            name = photos.clean_file_name(upload.filename)
            photo = (data, name, photos.check(data, limit, name))
        if enterprise is None and not values["address"]:
            raise ValidationError("address", "required: where it happened", "required")
        done = complaints.receive(
            db, source="public", zone=zone(), urgent_rules=urgent_rules(),
            service_code=values["service_code"],
            description=values["description"], phone=values["phone"],
            last_name=values["name"], address=values["address"],
            enterprise=enterprise["management_code"] if enterprise else None)
        if photo is not None:
            from app.photos import store

            data, name, checked = photo
            kept = photos.add_photo(db, store(), data, complaint_id=done.id, username=None,
                                    file_name=name, checked=checked,
                                    far_metres=current_app.config["FAR_FROM_SITE_METRES"])
            record("photo_added", target=f"complaint {done.number}", photo=kept["id"],
                   file_name=name, sha256=kept["sha256"])
    except photos.PhotoRefused as exc:
        db.rollback()
        return _form(enterprise, 400 if exc.code != "too_large" else 413, [_photo_problem(exc)])
    except GridWatchError as exc:
        db.rollback()
        return _form(enterprise, 400, [domain_message(exc)])
    record("complaint_received", target=f"complaint {done.number}", channel="public",
           service=done.service_code, cell=done.cell_code, outside_grid=done.outside_grid)
    audit_from_complaint(done)
    db.commit()
    return render_template("public/received.html", done=done, enterprise=enterprise,
                           status_url=public_url(f"/public/complaints/{done.reference}")), 201


def _photo_problem(exc: photos.PhotoRefused) -> str:
    if exc.code == "too_large":
        return _("The photo is too large; a photo may be at most %(limit)s MB.",
                 limit=round(exc.params["limit"] / (1024 * 1024)))
    if exc.code == "too_many_pixels":
        return _("The photo has too many pixels.")
    return _("The photo is not a JPEG, PNG or WebP image.")


@bp.get("/complaints/<reference>")
def status_page(reference: str):
    refused = _limited("read")
    if refused is not None:
        return refused
    found = complaints.by_reference(get_session(), reference)
    if found is None:
        return render_template("public/not_found.html", reference=reference[:60]), 404
    steps = [{"status": s["status"], "at": s["at"]} for s in found["steps"]]
    return render_template("public/status.html", complaint=found, steps=steps,
                           statuses={"received": _("received"), "assigned": _("assigned"),
                                     "handled": _("handled"), "closed": _("closed")})


def init_app(app) -> None:
    app.register_blueprint(bp)

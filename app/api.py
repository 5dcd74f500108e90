"""JSON API v1 for mobile terminals, scripts and the pages' fetch() calls.

Authentication: a session cookie (with X-CSRFToken on writes) or ``Authorization: Bearer``.
Every body is validated (unknown fields refused); every write is authorized by policy and
audited in the same transaction.
"""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, record, require, zone
from app.db import get_session
from app.errors import error_json, not_found
from app.ratelimit import rate_limited
from gis import dates, enterprises, fieldwork, policy, reference
from gis.errors import GridWatchError
from gis.models import COMPLAINT_STATUSES, GRADES
from gis.validation import Field, ValidationError, validate

bp = Blueprint("api", __name__, url_prefix="/api/v1")

UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
INSPECTION = {
    "enterprise": Field(max_length=40, min_length=1),
    # One of the two: the local day, or the moment (its day in the bureau's zone counts).
    "inspected_on": Field(kind="date", required=False),
    "inspected_at": Field(kind="datetime", required=False),
    "results": Field(kind="dict", max_length=200),
    "notes": Field(kind="dict", max_length=200, required=False),
    "problems": Field(required=False, max_length=2000),
    "rectification_deadline": Field(kind="date", required=False),
    "client_id": Field(required=False, max_length=36, pattern=UUID),
    "location": Field(kind="dict", max_length=4, required=False),
    # A username or a person code: who inspected together with the account's person.
    "second_inspector": Field(required=False, max_length=64, min_length=1),
}
COMPLAINT = {"status": Field(choices=COMPLAINT_STATUSES),
             "note": Field(required=False, max_length=4000)}
# The owner by person code ("person", as the roster numbers them) or by database id
# ("person_id", as before); "reason" and "backdate_reason" are one: why an owner change reaches
# further into the past than the grace window (admins).
OWNER = {"person": Field(required=False, max_length=32, min_length=1),
         "person_id": Field(kind="int", min=1, required=False),
         "valid_from": Field(kind="datetime", required=False),
         "reason": Field(required=False, max_length=1000),
         "backdate_reason": Field(required=False, max_length=1000),
         "comment": Field(required=False, max_length=1000)}
INTERVALS = {g: Field(kind="int", min=1, max=3650, required=False) for g in GRADES}
CHECKLIST_ITEM = {"code": Field(max_length=16, pattern=r"[A-Za-z0-9_-]+"),
                  "title": Field(max_length=200, min_length=1),
                  "category": Field(required=False, max_length=100)}
SEARCH = {"q": Field(max_length=100, min_length=1), "limit": Field(kind="int", min=1, max=100,
                                                                      required=False,
                                                                      default=20)}


def json_body() -> dict:
    """The request's JSON object; a 400 naming the body otherwise."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object (Content-Type: application/json)",
                              "expected_object")
    return body


def _or_404(fn, *args):
    try:
        return fn(*args)
    except fieldwork.NotFound as exc:
        not_found(exc.kind, exc.name)


@bp.get("/me")
@login_required
def me():
    return jsonify(username=current_user.username, display_name=current_user.display_name,
                   roles=[{"role": g.role, "place": g.place} for g in current_user.grants],
                   via=current_user.via)


@bp.get("/enterprises")
@login_required
@rate_limited("enterprise")
def search_enterprises():
    args = validate(request.args, SEARCH)
    db = get_session()
    # Only what the user may see, and how many more match outside their area (counts only).
    return jsonify(enterprises.search(db, args["q"], args["limit"],
                                      cells=policy.visible_cells(db, current_user.grants)))


@bp.post("/inspections")
@login_required
def create_inspection():
    body = validate(json_body(), INSPECTION, zone=zone())
    if body["inspected_on"] is None:
        if body["inspected_at"] is None:
            raise ValidationError("inspected_on", "required (or inspected_at)", "required")
        body["inspected_on"] = dates.local(body["inspected_at"], zone()).date()
    location = fieldwork.parse_location(body["location"])
    client_id = uuid.UUID(body["client_id"]) if body["client_id"] else None
    db = get_session()
    enterprise_id, path = _or_404(fieldwork.enterprise_target, db, body["enterprise"])
    authorize("record_inspection", path)
    person_id = db.execute(text("SELECT person_id FROM app_user WHERE id = :u"),
                           {"u": current_user.id}).scalar()
    second = (_or_404(fieldwork.person_of, db, body["second_inspector"])
              if body["second_inspector"] else None)
    try:
        done = fieldwork.record_inspection(
            db, enterprise_id, inspector_person_id=person_id, inspected_on=body["inspected_on"],
            results=body["results"], problems=body["problems"],
            rectification_deadline=body["rectification_deadline"], client_id=client_id,
            location=location, notes=body["notes"], second_inspector_id=second,
            username=current_user.username,
            far_metres=current_app.config["FAR_FROM_SITE_METRES"])
    except fieldwork.ClientIdReused:
        db.rollback()
        abort(409, description=_("This client_id was already used for another enterprise's "
                                 "inspection."))
    answer = dict(id=done.id, distance_m=done.distance_m, far_from_site=done.far_from_site,
                  rectifications=list(done.rectifications))
    if not done.created:
        db.rollback()
        return jsonify(answer), 200
    record("inspection_recorded", target=f"enterprise {body['enterprise']}",
           inspection=done.id, inspected_on=body["inspected_on"],
           problems=len(done.rectifications), distance_m=(
               round(done.distance_m) if done.distance_m is not None else None),
           far_from_site=done.far_from_site)
    db.commit()
    return jsonify(answer), 201


@bp.patch("/complaints/<number>")
@login_required
def update_complaint(number: str):
    """Move a complaint on, as its page does (gis.complaints.advance: forward only, a step
    each). The status it is at already: 200 with ``unchanged``; an earlier one: 409."""
    from app.complaints import advance, refusal
    from gis.complaints import ComplaintRefused

    body = validate(json_body(), COMPLAINT)
    db = get_session()
    try:
        advance(number, body["status"], body["note"])
    except ComplaintRefused as exc:
        db.rollback()
        if exc.reason == "same":
            return jsonify(number=number, status=body["status"], unchanged=True)
        return error_json(409, refusal(exc), field="status", code="refused",
                          current=exc.status)
    db.commit()
    return jsonify(number=number, status=body["status"])


@bp.put("/cells/<code>/owner")
@login_required
def set_owner(code: str):
    from app.people import assign, audit_assign
    from gis import people

    body = validate(json_body(), OWNER, zone=zone())
    if (body["person"] is None) == (body["person_id"] is None):
        raise ValidationError("person", "give person (a person code) or person_id",
                              "person_or_id")
    db = get_session()
    _or_404(fieldwork.cell_target, db, code)
    if body["person"] is not None:
        pid, person = _or_404(people.person_id, db, body["person"]), body["person"]
    else:
        pid = body["person_id"]
        person = db.execute(text("SELECT code FROM person WHERE id = :p"), {"p": pid}).scalar()
        if person is None:
            not_found("person", pid)
    reason = body["reason"] or body["backdate_reason"]
    tgt = _or_404(people.target, db, "owner", code)
    changed, flag = assign(tgt, pid, body["valid_from"], reason, body["comment"])
    if not changed:
        db.rollback()
        return jsonify(cell=code, person=person, person_id=pid, unchanged=True)
    audit_assign(tgt, person, pid, body["valid_from"], reason, body["comment"], flag)
    db.commit()
    return jsonify(cell=code, person=person, person_id=pid)


@bp.put("/reference/grade-intervals")
@require("admin")
def put_grade_intervals():
    body = validate(json_body(), INTERVALS)
    changes = {g: d for g, d in body.items() if d is not None}
    if not changes:
        raise ValidationError("body", "give at least one of A, B, C, D", "at_least_one",
                              choices="A, B, C, D")
    db = get_session()
    reference.set_grade_intervals(db, changes)
    record("grade_intervals_set", target="grade_interval", **changes)
    db.commit()
    return jsonify(reference.grade_intervals(db))


@bp.post("/reference/checklist-items")
@require("admin")
def post_checklist_item():
    body = validate(json_body(), CHECKLIST_ITEM)
    db = get_session()
    item_id = reference.add_checklist_item(db, body["code"], body["title"], body["category"])
    record("checklist_item_added", target=f"checklist_item {body['code']}", title=body["title"])
    db.commit()
    return jsonify(id=item_id, code=body["code"]), 201


def sniff_table(head: bytes) -> str | None:
    """'xlsx', 'csv' or None, judged by content, not by the file's name. Any text is 'csv': its
    encoding is judged line by line while reading, and a refusal names the line (a Latin-1
    file is text in the wrong encoding, not the wrong type of file)."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if b"[Content_Types].xml" in head or b"xl/" in head else None
    if b"\x00" in head:
        return None
    return "csv"


def _background(data: bytes, kind: str) -> bool:
    config = current_app.config
    return len(data) > config["IMPORT_BACKGROUND_BYTES"] or (
        kind == "csv" and data.count(b"\n") > config["IMPORT_BACKGROUND_ROWS"])


@bp.post("/imports/enterprises")
@require("admin")
def import_enterprises():
    from gis.audit import imported_if_past
    from gis.enterprises import import_enterprises as run_import

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("file", "required (multipart/form-data)", "required")
    unknown = sorted(set(request.form) - {"crs", "skip_invalid", "valid_from", "csrf_token",
                                          "lang"})
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    # When the enterprises came under supervision (unless a row's 纳入监管日期 says): a date
    # in the past brings history in, flagged "imported" (docs/history-import.md).
    valid_from = validate(request.form, {"valid_from": Field(kind="datetime", required=False)},
                          ignore=("crs", "skip_invalid", "csrf_token", "lang"),
                          zone=zone())["valid_from"]
    data = upload.read()
    kind = sniff_table(data[:8192])
    if kind is None:
        abort(415, description=_("The file is not a CSV or XLSX file."))
    db = get_session()
    crs = request.form.get("crs") or None
    skip_invalid = request.form.get("skip_invalid") == "true"
    if _background(data, kind):
        from app.jobs import status_url
        from gis import jobs

        job_id = jobs.enqueue(db, "enterprise_import", {
            "kind": kind, "crs": crs, "skip_invalid": skip_invalid,
            "valid_from": valid_from.isoformat() if valid_from else None, "zone": zone(),
            "via": getattr(g, "via", "web")}, file=data, file_name=upload.filename,
            user_id=current_user.id, username=current_user.username,
            remote_addr=request.remote_addr)
        db.commit()
        return jsonify(job=job_id, status="queued", status_url=status_url(job_id)), 202
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload.{kind}"
        path.write_bytes(data)
        try:
            summary = run_import(db, path, crs=crs, skip_invalid=skip_invalid,
                                 valid_from=valid_from, zone=zone(),
                                 limits=current_app.extensions["gridwatch_limits"])
        except GridWatchError:
            db.rollback()
            raise
        except ValueError as exc:  # CRS
            db.rollback()
            raise ValidationError("crs", str(exc), "crs") from None
    record("enterprises_imported", target=upload.filename[:100], inserted=summary.inserted,
           updated=summary.updated, unchanged=summary.unchanged, refused=summary.refused,
           flag=imported_if_past(summary.dated_from),
           **({"valid_from": valid_from} if valid_from else {}))
    db.commit()
    return jsonify(inserted=summary.inserted, updated=summary.updated,
                   unchanged=summary.unchanged, refused=summary.refused,
                   problems=[str(p) for p in summary.problems]), 201

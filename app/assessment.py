"""The quantified assessment (量化考核) and responsibility letters (责任状), gis/assessment.py.

Pages: ``/assessment`` (ranked table by person, cell, station grid, city or township for a
period and place, each score's computation, XLSX), ``/letters`` (per person or place),
``/letters/new`` (record one, with its scanned file), ``/letters/<id>`` (the letter, its file
and the assessment of its place and period against its targets), ``/letters/<id>/file``.
API: ``GET /api/v1/assessment?level=&from=&to=&place=[&format=xlsx]``, ``GET`` and ``POST
/api/v1/letters``, ``GET /api/v1/letters/<id>``; the rules' weights and targets and the
warnings' thresholds: ``PUT /api/v1/reference/assessment-rules/<code>`` and
``/api/v1/reference/warning-rules/<code>`` (admins, from the reference page).

Who: leaders, grid managers and admins read within the places they lead or manage
(gis/policy.py ``read_assessment``, ``assessment_cells``); admins, and grid managers at or
above the place, record letters (``record_letter``). Every write is audited.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, jsonify, redirect,
                   render_template, request, url_for)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, record, require, zone
from app.db import get_session
from app.errors import domain_message, error_response, not_found
from app.ratelimit import rate_limited
from app.api import json_body
from gis import assessment, dates, policy, quality_warnings
from gis.errors import GridWatchError
from gis.people import STAFF_SQL
from gis.photos import clean_file_name
from gis.tree import has_province, top_level
from gis.validation import Field, ValidationError, validate
from gis.wall import place_cells, places

bp = Blueprint("assessment", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ARGS = {"from": Field(kind="date"), "to": Field(kind="date"),
        "place": Field(required=False, max_length=32),
        "format": Field(required=False, choices=("json", "xlsx"), default="json")}
PAGE_ARGS = {"from": Field(kind="date", required=False), "to": Field(kind="date", required=False),
             "place": Field(required=False, max_length=32)}
LETTER_FILTER = {"person": Field(required=False, max_length=32),
                 "place": Field(required=False, max_length=32)}
LETTER = {"person": Field(max_length=32, min_length=1), "place": Field(max_length=32,
                                                                       min_length=1),
          "from": Field(kind="date"), "to": Field(kind="date"),
          "signed_on": Field(kind="date", required=False),
          "note": Field(required=False, max_length=2000),
          "targets": Field(kind="dict", required=False, max_length=20)}
RULE = {"weight": Field(kind="float", required=False),
        "rule_target": Field(kind="float", required=False),
        "active": Field(kind="bool", required=False)}
WARNING_RULE = {"threshold": Field(kind="float", required=False),
                "active": Field(kind="bool", required=False)}


def _level_labels() -> dict:
    """The units one may rank by; in a province's deployment (docs/province.md) its cities
    side by side, and the province as one."""
    labels = {"person": _("Cell owners"), "cell": _("Level-3 cells"),
              "station": _("Second-level grids"), "township": _("Townships"),
              "city": _("The city")}
    if has_province(get_session()):
        labels.update(city=_("Cities"), province=_("The province"))
    return labels


# --- the assessment ------------------------------------------------------------------------

def _may(action: str) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if not policy.can_somewhere(current_user.grants, action):
        abort(403)


def _cells(place: str | None) -> list[int] | None:
    """The cells the user may assess, narrowed to ``place``'s subtree; 404 for no such
    place."""
    db = get_session()
    allowed = policy.assessment_cells(db, current_user.grants)
    try:
        return place_cells(db, allowed, place)
    except LookupError:
        not_found("cell", place)


def _level(value: str | None, default: str | None = None) -> str:
    value = (value or "").strip() or default
    if value not in assessment.KINDS:
        raise ValidationError("assessment_level", "one of " + ", ".join(assessment.KINDS),
                              "choices", choices=", ".join(assessment.KINDS))
    return value


def _default_level() -> str:
    """The page opens on the cells; for a provincial reader, on the cities side by side."""
    db = get_session()
    return "city" if top_level(db, policy.assessment_cells(db, current_user.grants)) == 0 \
        else "cell"


def _query(schema: dict) -> tuple[str, dict]:
    data = {k: v for k, v in request.args.items() if v.strip() and k != "level"}
    return _level(request.args.get("level"), None if schema is ARGS else _default_level()), \
        validate(data, schema)


@bp.get("/api/v1/assessment")
@login_required
@rate_limited("bulk")
def assessment_api():
    _may("read_assessment")
    level, args = _query(ARGS)
    result = assessment.assess(get_session(), level, args["from"], args["to"], zone=zone(),
                               cells=_cells(args["place"]))
    if args["format"] == "xlsx":
        place = f"-{args['place']}" if args["place"] else ""
        name = f"assessment-{level}{place}-{args['from']:%Y%m%d}-{args['to']:%Y%m%d}.xlsx"
        return Response(assessment.xlsx(result), mimetype=XLSX,
                        headers={"Content-Disposition": f"attachment; filename={name}"})
    return jsonify({**assessment.as_json(result), "place": args["place"]})


@bp.get("/assessment")
@login_required
@rate_limited("bulk")
def assessment_page():
    _may("read_assessment")
    level, args = _query(PAGE_ARGS)
    today = dates.today(zone())
    end = args["to"] or today
    start = args["from"] or end.replace(month=1, day=1)
    args.update({"from": start, "to": end, "level": level})
    db = get_session()
    result = assessment.assess(db, level, start, end, zone=zone(), today=today,
                               cells=_cells(args["place"]))
    return render_template(
        "assessment/ranking.html", result=result, args=args, levels=_level_labels(),
        places=places(db, policy.assessment_cells(db, current_user.grants)),
        xlsx_args={"level": level, "from": start.isoformat(), "to": end.isoformat(),
                   **({"place": args["place"]} if args["place"] else {})},
        may_record=policy.can_somewhere(current_user.grants, "record_letter"))


# --- letters -------------------------------------------------------------------------------

def _letter_or_404(letter_id: int) -> dict:
    found = assessment.letter(get_session(), letter_id)
    if found is None:
        not_found("letter", letter_id)
    authorize("read_assessment", found["path"])
    return found


def _letter_json(letter: dict, comparison: dict | None = None) -> dict:
    out = {"id": letter["id"], "person": {"code": letter["person_code"],
                                          "name": letter["person_name"]},
           "place": letter["cell_code"], "place_name": letter["cell_name"],
           "from": letter["period_from"].isoformat(), "to": letter["period_to"].isoformat(),
           "signed_on": letter["signed_on"].isoformat() if letter["signed_on"] else None,
           "targets": letter["targets"], "note": letter["note"],
           "file": ({"name": letter["file_name"], "type": letter["file_type"],
                     "sha256": letter["file_sha256"],
                     "url": url_for("assessment.letter_file", letter_id=letter["id"])}
                    if letter["file_sha256"] else None),
           "recorded_by": letter["username"],
           "url": url_for("assessment.letter_page", letter_id=letter["id"])}
    if comparison is not None:
        out["assessed_to"] = (comparison["assessed_to"].isoformat()
                              if comparison["assessed_to"] else None)
        out["score"] = (round(comparison["unit"]["score"], 2)
                        if comparison["unit"] and comparison["unit"]["score"] is not None
                        else None)
        out["comparison"] = [{"rule": r["code"], "target": r["target"],
                              "numerator": r["numerator"], "denominator": r["denominator"],
                              "measure": None if r["measure"] is None
                              else round(r["measure"], 4), "met": r["met"]}
                             for r in comparison["rows"]]
    return out


def _letters(args: dict) -> list[dict]:
    db = get_session()
    return assessment.letters(db, cells=policy.assessment_cells(db, current_user.grants),
                              person=args["person"], place=args["place"])


@bp.get("/api/v1/letters")
@login_required
def letters_api():
    _may("read_assessment")
    args = validate({k: v for k, v in request.args.items() if v.strip()}, LETTER_FILTER)
    return jsonify(letters=[_letter_json(x) for x in _letters(args)])


@bp.get("/api/v1/letters/<int:letter_id>")
@login_required
def letter_api(letter_id: int):
    letter = _letter_or_404(letter_id)
    return jsonify(_letter_json(letter, assessment.compare(get_session(), letter,
                                                           zone=zone())))


@bp.get("/letters")
@login_required
def letters_page():
    _may("read_assessment")
    args = validate({k: v for k, v in request.args.items() if v.strip()}, LETTER_FILTER)
    db = get_session()
    return render_template("assessment/letters.html", letters=_letters(args), args=args,
                           places=places(db, policy.assessment_cells(db, current_user.grants)),
                           may_record=policy.can_somewhere(current_user.grants,
                                                           "record_letter"))


@bp.get("/letters/<int:letter_id>")
@login_required
def letter_page(letter_id: int):
    letter = _letter_or_404(letter_id)
    comparison = assessment.compare(get_session(), letter, zone=zone())
    return render_template("assessment/letter.html", letter=letter, comparison=comparison,
                           level=assessment.kind_of_cell(letter["cell_level"]))


@bp.get("/letters/<int:letter_id>/file")
@login_required
def letter_file(letter_id: int):
    letter = _letter_or_404(letter_id)
    if not letter["file_sha256"]:
        not_found("letter", letter_id)
    from app.photos import store

    try:
        kept = store().open(letter["file_sha256"])
    except KeyError:
        current_app.logger.error("letter %s: %s is not in the store", letter_id,
                                 letter["file_sha256"])
        not_found("letter", letter_id)
    data = kept.read_bytes() if isinstance(kept, Path) else kept
    response = Response(data, mimetype=letter["file_type"])
    # Images open in the page; a PDF is downloaded (its scripts never run in our origin).
    disposition = "inline" if letter["file_type"].startswith("image/") else "attachment"
    ext = assessment.LETTER_TYPES.get(letter["file_type"], "bin")
    response.headers["Content-Disposition"] = f"{disposition}; filename=letter-{letter_id}.{ext}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _signers() -> list[dict]:
    """The staff who may sign a letter: the bureau's and governments' people on the roster
    today."""
    rows = get_session().execute(text(f"""
        SELECT p.code, p.name, p.unit FROM person p
        WHERE {STAFF_SQL} AND (p.active_to IS NULL OR p.active_to >= CAST(:today AS date))
        ORDER BY p.code"""), {"today": dates.today(zone())}).all()
    return [dict(r._mapping) for r in rows]


def _letter_places() -> list[dict]:
    db = get_session()
    return [p for p in places(db, policy.visible_cells(db, current_user.grants))
            if policy.can(current_user.grants, "record_letter", p["path"])]


def _save_letter(values: dict, targets: dict, upload) -> dict:
    """Authorize, keep and audit a letter; the transaction is the caller's to commit."""
    db = get_session()
    place = values["place"]
    path = ()
    if place:
        row = db.execute(text("SELECT gw_cell_path(id) FROM cell WHERE code = :c"),
                         {"c": place}).scalar()
        path = tuple(row or ())
    if path:
        authorize("record_letter", path)
    elif not policy.can_somewhere(current_user.grants, "record_letter"):
        abort(403)
    data, name = None, None
    if upload is not None and (upload.filename or ""):
        limit = int(current_app.config["LETTER_MAX_BYTES"])
        data = upload.stream.read(limit + 1)
        name = clean_file_name(upload.filename)
        if not data:
            data = None
    from app.photos import store

    letter = assessment.record_letter(
        db, store(), person=values["person"], place=place, start=values["from"],
        end=values["to"], signed_on=values["signed_on"], targets=targets, data=data,
        file_name=name, note=values["note"], username=current_user.username,
        max_bytes=int(current_app.config["LETTER_MAX_BYTES"]))
    names = {r["code"]: r["name"] for r in assessment.rules(db)}
    record("letter_recorded", target=f"letter {letter['id']}", person=letter["person_code"],
           cell=letter["cell_code"], period_from=letter["period_from"],
           period_to=letter["period_to"], signed_on=letter["signed_on"],
           targets={names.get(k, k): v for k, v in letter["targets"].items()},
           file_name=letter["file_name"], sha256=letter["file_sha256"])
    return letter


def _form_targets(form) -> dict:
    codes = [r["code"] for r in assessment.rules(get_session())]
    return {code: form.get(f"target_{code}", "") for code in codes}


def _refused_file(exc: assessment.LetterFileRefused) -> tuple[int, str]:
    name = exc.file_name or _("the file")
    if exc.code == "too_large":
        return 413, _("%(file)s is %(size)s MB; a letter's file may be at most %(limit)s MB.",
                      file=name, size=_megabytes(exc.params["size"]),
                      limit=_megabytes(exc.params["limit"]))
    if exc.code == "damaged":
        return 415, _("%(file)s cannot be read as an image: the file is damaged or "
                      "incomplete.", file=name)
    return 415, _("%(file)s is not a PDF, JPEG or PNG file.", file=name)


def _megabytes(n: int) -> str:
    return format_decimal(round(n / (1024 * 1024), 1))


@bp.errorhandler(assessment.LetterFileRefused)
def _file_refused(exc: assessment.LetterFileRefused):
    get_session().rollback()
    status, message = _refused_file(exc)
    return error_response(status, message, field="file")


@bp.post("/api/v1/letters")
@login_required
def create_letter_api():
    _may("record_letter")
    if request.mimetype == "application/json":
        body = validate(request.get_json(silent=True) if isinstance(
            request.get_json(silent=True), dict) else {}, LETTER)
        upload, targets = None, body["targets"] or {}
    else:
        form = {k: v for k, v in request.form.items() if not k.startswith("target_")}
        if "targets" in form:
            try:
                form["targets"] = json.loads(form["targets"])
            except ValueError:
                raise ValidationError("targets", "expected an object", "expected_object") \
                    from None
        unknown = sorted(set(request.files) - {"file"})
        if unknown:
            raise ValidationError(unknown[0], "unknown field", "unknown_field")
        body = validate(form, LETTER)
        upload = request.files.get("file")
        targets = body["targets"] or _form_targets(request.form)
    letter = _save_letter(body, targets, upload)
    get_session().commit()
    return jsonify(_letter_json(letter)), 201


@bp.route("/letters/new", methods=["GET", "POST"])
@login_required
def new_letter():
    _may("record_letter")
    problem, typed, status = None, {}, 200
    if request.method == "POST":
        typed = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            body = validate({k: v for k, v in request.form.items()
                             if not k.startswith("target_") and v.strip()}, LETTER)
            letter = _save_letter(body, _form_targets(request.form),
                                  request.files.get("file"))
            get_session().commit()
            return redirect(url_for("assessment.letter_page", letter_id=letter["id"]))
        except assessment.LetterFileRefused as exc:
            get_session().rollback()
            status, problem = _refused_file(exc)
        except GridWatchError as exc:
            get_session().rollback()
            status, problem = 400, domain_message(exc)
    today = dates.today(zone())
    return render_template(
        "assessment/new_letter.html", signers=_signers(), places=_letter_places(),
        rules=assessment.rules(get_session()), problem=problem, typed=typed,
        defaults={"from": today.replace(month=1, day=1).isoformat(),
                  "to": today.replace(month=12, day=31).isoformat(),
                  "signed_on": today.isoformat()}), status


# --- reference data ------------------------------------------------------------------------


@bp.put("/api/v1/reference/assessment-rules/<code>")
@require("admin")
def put_rule(code: str):
    body = validate(json_body(), RULE)
    if all(v is None for v in body.values()):
        raise ValidationError("body", "give at least one of weight, rule_target, active",
                              "at_least_one", choices="weight, rule_target, active")
    db = get_session()
    try:
        before, after = assessment.set_rule(db, code, weight=body["weight"],
                                            target=body["rule_target"], active=body["active"])
    except LookupError:
        not_found("assessment_rule", code)
    record("assessment_rule_set", target=f"assessment_rule {code}", weight=after["weight"],
           rule_target=after["rule_target"], active=after["active"],
           before={"weight": before["weight"], "rule_target": before["rule_target"],
                   "active": before["active"]})
    db.commit()
    return jsonify(code=code, **after)


@bp.put("/api/v1/reference/warning-rules/<code>")
@require("admin")
def put_warning_rule(code: str):
    body = validate(json_body(), WARNING_RULE)
    if all(v is None for v in body.values()):
        raise ValidationError("body", "give at least one of threshold, active", "at_least_one",
                              choices="threshold, active")
    db = get_session()
    try:
        before, after = quality_warnings.set_warning_rule(db, code,
                                                          threshold=body["threshold"],
                                                          active=body["active"])
    except LookupError:
        not_found("warning_rule", code)
    record("warning_rule_set", target=f"warning_rule {code}", threshold=after["threshold"],
           active=after["active"],
           before={"threshold": before["threshold"], "active": before["active"]})
    db.commit()
    return jsonify(code=code, **after)


def reference_data(db) -> dict:
    """What the reference page shows of the assessment and the warnings."""
    return {"assessment_rules": assessment.rules(db),
            "warning_rules": quality_warnings.warning_rules(db),
            "warning_bounds": quality_warnings.BOUNDS}


def init_app(app) -> None:
    app.register_blueprint(bp)

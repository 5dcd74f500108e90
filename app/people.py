"""People and their responsibilities: the people pages (``/people``), a cell's owner page
(``/cells/<code>/owner``) and the JSON API under ``/api/v1/people``. Each view parses the
request, asks gis/policy.py (through app.auth), calls gis/people.py, audits and renders."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect,
                   render_template, request, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text
from werkzeug.exceptions import Forbidden

from app.auth import authorize_dated, login_required, record, require, zone
from app.db import get_session
from app.errors import domain_message, field_message, not_found, problem_text
from app.mappage import visible
from app.ratelimit import rate_limited
from app.api import json_body
from gis import dates, people, policy
from gis.errors import GridWatchError, ImportRefused
from gis.fieldwork import NotFound, cell_target
from gis.validation import Field, ValidationError, validate

bp = Blueprint("people", __name__)
api = Blueprint("people_api", __name__, url_prefix="/api/v1")

PAGE_SIZE = 50
LIST = {"q": Field(required=False, max_length=100),
        "side": Field(required=False, choices=people.SIDES, default="staff"),
        "gap": Field(required=False, choices=people.GAPS),
        "page": Field(kind="int", required=False, min=1, max=10000, default=1)}
SEARCH = {"q": Field(required=False, max_length=100),
          "side": Field(required=False, choices=people.SIDES, default="staff"),
          "limit": Field(kind="int", required=False, min=1, max=200, default=20)}
# A person as a form or JSON gives it (gis.people.clean_person checks the values).
PERSON = {"code": Field(required=False, max_length=32),
          "name": Field(max_length=100, min_length=1),
          "unit": Field(required=False, max_length=200),
          "position": Field(required=False, max_length=100),
          "phone": Field(required=False, max_length=40),
          "office_phone": Field(required=False, max_length=40),
          "active_from": Field(kind="date", required=False),
          "active_to": Field(kind="date", required=False)}
PERSON_EDIT = {**PERSON, "code": Field(max_length=32, min_length=1),
               "name": Field(required=False, max_length=100, min_length=1)}
ASSIGN = {"role": Field(choices=tuple(people.ROLES)),
          "target": Field(max_length=40, min_length=1),
          "valid_from": Field(kind="datetime", required=False),
          "reason": Field(required=False, max_length=1000),
          "comment": Field(required=False, max_length=1000)}
CELL_OWNER = {"person": Field(max_length=32, min_length=1),
              "valid_from": Field(kind="datetime", required=False),
              "reason": Field(required=False, max_length=1000),
              "comment": Field(required=False, max_length=1000)}
HANDOVER = {"successor": Field(max_length=32, min_length=1),
            "valid_from": Field(kind="datetime", required=False),
            "reason": Field(required=False, max_length=1000),
            "comment": Field(max_length=1000, min_length=1)}
ACCOUNT = {"username": Field(max_length=64, min_length=1)}
EXPORT = {"format": Field(required=False, choices=("csv", "xlsx"), default="xlsx")}
PLATES = {"format": Field(required=False, choices=("html", "csv"), default="html")}


def _grace() -> dt.timedelta:
    return dt.timedelta(hours=current_app.config["BACKDATE_GRACE_HOURS"])


def _admin() -> bool:
    return policy.has_role(current_user.grants, "admin")


def _me() -> str:
    return current_user.username


def _cells():
    """What the reader may read: principals of enterprises outside it stay hidden."""
    return visible()


def _person_or_404(code: str) -> dict:
    person = people.get_person(get_session(), code, _cells())
    if person is None:
        not_found("person", code)
    return person


def _pid(code: str) -> int:
    try:
        return people.person_id(get_session(), code)
    except NotFound:
        not_found("person", code)


def _target(role: str, code: str) -> people.Target:
    try:
        return people.target(get_session(), role, code)
    except NotFound as exc:
        not_found(exc.kind, exc.name)


def may_edit(person: dict) -> bool:
    places = people.responsibility_places(get_session(), person["id"])
    return policy.can_edit_person(current_user.grants, places)


def assign(tgt: people.Target, pid: int, valid_from, reason: str | None,
           comment: str | None) -> tuple[bool, str | None]:
    """Authorize (gis.policy.dated_change, as every dated write) and assign; returns (changed,
    the audit flag). Nothing is audited when nothing changed."""
    flag = authorize_dated("edit_owner", tgt.path, valid_from, reason, inside=tgt.inside)
    changed = people.assign(get_session(), tgt, pid, valid_from, comment=comment,
                            created_by=_me(), zone=zone())
    return changed, flag


def audit_assign(tgt: people.Target, code: str, pid: int, valid_from, reason, comment,
                 flag) -> None:
    if tgt.role == "owner":
        record("cell_owner_set", target=f"cell {tgt.code}", flag=flag, person=code,
               person_id=pid, valid_from=valid_from, backdate_reason=reason, comment=comment)
    else:
        record("responsibility_assigned", target=f"{tgt.kind} {tgt.code}", flag=flag,
               person=code, responsibility=tgt.role, valid_from=valid_from,
               backdate_reason=reason,
               comment=comment)


# --- the list ----------------------------------------------------------------------------------

@bp.get("/people")
@login_required
@rate_limited("bulk")
def people_list():
    args = validate(request.args, LIST)
    db = get_session()
    admin = policy.has_role(current_user.grants, "admin")
    total, rows = people.search(db, args["q"], side=args["side"], gap=args["gap"],
                                cells=_cells(), limit=PAGE_SIZE,
                                offset=(args["page"] - 1) * PAGE_SIZE, accounts=admin,
                                zone=zone())
    manager = policy.can(current_user.grants, "manage_people")
    counts = people.gap_counts(db, _cells(), accounts=admin, zone=zone())
    return render_template("people/list.html", rows=rows, total=total, args=args,
                           pages=(total + PAGE_SIZE - 1) // PAGE_SIZE, counts=counts,
                           manager=manager, admin=admin)


@bp.get("/people/gaps")
@login_required
def gaps():
    admin = policy.has_role(current_user.grants, "admin")
    return render_template("people/gaps.html",
                           gaps=people.gaps(get_session(), _cells(), accounts=admin,
                                            zone=zone()))


# --- one person --------------------------------------------------------------------------------

@bp.get("/people/<code>")
@login_required
@rate_limited("enterprise")
def person_page(code: str):
    validate(request.args, {})
    person = _person_or_404(code)
    return render_template("people/person.html", p=person, may_edit=may_edit(person),
                           manager=policy.can(current_user.grants, "manage_people"),
                           admin=policy.has_role(current_user.grants, "admin"),
                           roles=people.ROLES, problem=None, typed={})


def _form_page(person: dict | None, status: int = 200, problem: str | None = None,
               field: str | None = None):
    typed = {k: v for k, v in request.form.items() if k != "csrf_token"} if problem else {}
    return render_template("people/form.html", p=person, typed=typed, problem=problem,
                           field=field), status


@bp.get("/people/new")
@require("manage_people")
def new_person():
    return _form_page(None)


@bp.post("/people")
@require("manage_people")
def create_person():
    db = get_session()
    try:
        form = validate(request.form, PERSON)
        created = people.create_person(db, people.clean_person(form))
    except GridWatchError as exc:
        db.rollback()
        return _form_page(None, 400, domain_message(exc), getattr(exc, "field", None))
    record("person_created", target=f"person {created['code']}", person_name=form["name"])
    db.commit()
    flash(_("%(name)s added to the roster.", name=form["name"]))
    return redirect(url_for("people.person_page", code=created["code"]))


@bp.get("/people/<code>/edit")
@login_required
def edit_person(code: str):
    person = _person_or_404(code)
    if not may_edit(person):
        abort(403)
    return _form_page(person)


@bp.post("/people/<code>/edit")
@login_required
def update_person(code: str):
    person = _person_or_404(code)
    if not may_edit(person):
        abort(403)
    db = get_session()
    try:
        form = validate(request.form, PERSON_EDIT)
        values = people.clean_person({k: v for k, v in form.items()
                                      if k in request.form or v is not None})
        changed = people.update_person(db, person["id"], values)
    except GridWatchError as exc:
        db.rollback()
        return _form_page(person, 400, domain_message(exc), getattr(exc, "field", None))
    if changed:
        record("person_updated", target=f"person {values.get('code') or code}",
               previous_code=code if values.get("code") != code else None,
               fields=sorted(k for k in values if values[k] != person.get(k)))
        db.commit()
        flash(_("Saved."))
    return redirect(url_for("people.person_page", code=values.get("code") or code))


def _too_far_back(exc: Forbidden) -> str | None:
    """The reason of a refusal for a date further back than the user may date a change
    (app.auth.authorize_dated says it), to show on the form; None for any other refusal."""
    return exc.description if exc.description != Forbidden.description else None


def _person_refused(person: dict, exc: GridWatchError | Forbidden, form: str):
    """The person's page again, 400 (403 for a date too far back), the reason on the form
    that was refused."""
    get_session().rollback()
    if isinstance(exc, Forbidden):
        return _page_with(person, form, "valid_from", _too_far_back(exc), 403)
    return _page_with(person, form, getattr(exc, "field", None), domain_message(exc), 400)


def _page_with(person: dict, form: str, field: str | None, message: str, status: int):
    typed = {k: v for k, v in request.form.items() if k != "csrf_token"}
    fresh = people.get_person(get_session(), person["code"], _cells()) or person
    return render_template("people/person.html", p=fresh, may_edit=may_edit(fresh),
                           manager=policy.can(current_user.grants, "manage_people"),
                           admin=policy.has_role(current_user.grants, "admin"),
                           roles=people.ROLES, typed=typed,
                           problem={"form": form, "field": field, "message": message}), status


@bp.post("/people/<code>/responsibilities")
@login_required
def assign_responsibility(code: str):
    person = _person_or_404(code)
    db = get_session()
    try:
        form = validate(request.form, ASSIGN, zone=zone())
        tgt = people.target(db, form["role"], form["target"])
        changed, flag = assign(tgt, person["id"], form["valid_from"], form["reason"],
                               form["comment"])
    except NotFound as exc:
        return _person_refused(person, ValidationError(
            "target", str(exc), "no_such_target", kind=exc.kind, name=exc.name), "assign")
    except GridWatchError as exc:
        return _person_refused(person, exc, "assign")
    except Forbidden as exc:
        if not _too_far_back(exc):
            raise
        return _person_refused(person, exc, "assign")
    if changed:
        audit_assign(tgt, code, person["id"], form["valid_from"], form["reason"],
                     form["comment"], flag)
        db.commit()
        flash(_("%(name)s answers for %(target)s from %(when)s.", name=person["name"],
                target=tgt.code, when=_when(form["valid_from"])))
    else:
        flash(_("Nothing changed: %(name)s answers for it already.", name=person["name"]))
    return redirect(url_for("people.person_page", code=code))


def _when(valid_from) -> str:
    from flask_babel import format_datetime

    return format_datetime(dates.local(valid_from, zone()), "short") if valid_from \
        else _("now")


@bp.post("/people/<code>/accounts")
@require("admin")
def link_account(code: str):
    person = _person_or_404(code)
    db = get_session()
    try:
        form = validate(request.form, ACCOUNT)
        changed = people.link_account(db, form["username"].strip().lower(), code)
    except GridWatchError as exc:
        return _person_refused(person, exc, "account")
    if changed:
        record("account_linked", target=f"user {form['username']}", person=code)
        db.commit()
    return redirect(url_for("people.person_page", code=code))


@bp.post("/people/<code>/accounts/remove")
@require("admin")
def unlink_account(code: str):
    person = _person_or_404(code)
    db = get_session()
    form = validate(request.form, ACCOUNT)
    if form["username"] not in person["accounts"]:
        abort(404)
    people.link_account(db, form["username"], None)
    record("account_unlinked", target=f"user {form['username']}", person=code)
    db.commit()
    return redirect(url_for("people.person_page", code=code))


# --- handover ----------------------------------------------------------------------------------

def handover_plan(from_code: str, to_code: str, valid_from, reason: str | None
                  ) -> tuple[people.HandoverPlan, str | None]:
    """The plan, authorized target by target as each assignment would be; the audit flag."""
    db = get_session()
    from_id, to_id = _pid(from_code), people.person_id(db, to_code)
    plan = people.plan_handover(db, from_id, to_id, valid_from or people.db_now(db))
    flag = None
    for tgt, _until in plan.targets:
        flag = authorize_dated("edit_owner", tgt.path, valid_from, reason,
                               inside=tgt.inside) or flag
    return plan, flag


@bp.get("/people/<code>/handover")
@login_required
def handover_form(code: str):
    person = _person_or_404(code)
    if not policy.can(current_user.grants, "manage_people"):
        abort(403)
    return render_template("people/handover.html", p=person, problem=None, typed={})


@bp.post("/people/<code>/handover")
@login_required
def handover(code: str):
    person = _person_or_404(code)
    if not policy.can(current_user.grants, "manage_people"):
        abort(403)
    db = get_session()
    try:
        form = validate(request.form, HANDOVER, zone=zone())
        plan, flag = handover_plan(code, form["successor"], form["valid_from"],
                                   form["reason"])
        result = people.hand_over(db, plan, form["comment"], username=_me(), zone=zone())
    except NotFound as exc:
        return _handover_refused(person, ValidationError("successor", str(exc),
                                                         "no_such_person", person=exc.name))
    except GridWatchError as exc:
        return _handover_refused(person, exc)
    except Forbidden as exc:
        if not _too_far_back(exc):
            raise
        get_session().rollback()
        return render_template("people/handover.html", p=person, typed=_typed(),
                               problem={"field": "valid_from",
                                        "message": _too_far_back(exc)}), 403
    record("handover", target=f"handover {result['id']}", flag=flag, person=code,
           successor=form["successor"], valid_from=plan.valid_from, backdate_reason=form["reason"],
           comment=form["comment"], moved=len(result["moved"]), plates=len(result["plates"]))
    db.commit()
    return redirect(url_for("people.handover_page", handover_id=result["id"]))


def _typed() -> dict:
    """What the refused form held, to show it again (no CSRF token, no password)."""
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


def _handover_refused(person: dict, exc: GridWatchError):
    get_session().rollback()
    return render_template("people/handover.html", p=person, typed=_typed(),
                           problem={"field": getattr(exc, "field", None),
                                    "message": domain_message(exc)}), 400


@bp.get("/people/handovers/<int:handover_id>")
@login_required
def handover_page(handover_id: int):
    args = validate(request.args, PLATES)
    h = people.get_handover(get_session(), handover_id)
    if h is None or _person_hidden(h["from_code"]):
        not_found("handover", handover_id)
    if args["format"] == "csv":
        return _plates_csv(h)
    return render_template("people/handover_done.html", h=h)


def _person_hidden(code: str) -> bool:
    return people.get_person(get_session(), code, _cells()) is None


def _plates_csv(h: dict) -> Response:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Enterprise management code"), _("Enterprise"), _("Enterprise address"),
                     _("Cell"), _("Named as")])
    for plate in h["summary"].get("plates", []):
        writer.writerow([plate["management_code"], plate["name"], plate["address"] or "",
                         plate["cell_code"] or "",
                         _(", ").join(role_label(r) for r in plate["roles"])])
    return Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f"attachment; filename=plates-{h['id']}.csv"})


def role_label(role: str) -> str:
    """A responsibility's role in words (the texts are msgids: Babel finds them below)."""
    words = {"owner": _("Cell owner"), "station_chief": _("Station chief"),
             "township_leader": _("Township leader"), "principal": _("Enterprise principal")}
    return words.get(role, role)


# --- roster files ------------------------------------------------------------------------------

@bp.get("/people/import")
@require("admin")
def import_form():
    return render_template("people/import.html", summary=None, problems=[])


def problem_line(p) -> str:
    """A refused row in the reader's language: "第 3 行：姓名：必填"."""
    error = getattr(p, "error", None)
    if error is None:
        return str(p)
    reason = field_message(error.field, problem_text(error.code, error.params, error.message))
    if p.where == "header":
        return _("Header: %(problem)s", problem=reason)
    return _("Row %(row)s: %(problem)s", row=p.row, problem=reason)


@bp.post("/people/import")
@require("admin")
def import_roster():
    upload = request.files.get("file")
    db = get_session()
    try:
        form = validate(request.form, {"skip_invalid": Field(kind="bool", required=False,
                                                             default=False),
                                       "reason": Field(required=False, max_length=1000)})
        if upload is None or not upload.filename:
            raise ValidationError("file", "required", "required")
        data = upload.read()
        from app.api import sniff_table

        kind = sniff_table(data[:8192])
        if kind is None:
            raise ValidationError("file", "not a CSV or XLSX file", "binary")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"roster.{kind}"
            path.write_bytes(data)
            summary = people.import_roster(
                db, path, zone=zone(), grants=current_user.grants, grace=_grace(),
                reason=form["reason"], skip_invalid=form["skip_invalid"], username=_me(),
                limits=current_app.extensions["gridwatch_limits"])
    except ImportRefused as exc:
        db.rollback()
        return render_template("people/import.html", summary=None,
                               problems=[problem_line(p) for p in exc.problems],
                               typed=request.form), 400
    except GridWatchError as exc:
        db.rollback()
        return render_template("people/import.html", summary=None,
                               problems=[domain_message(exc)], typed=request.form), 400
    record("people_imported", target=f"file {upload.filename[:100]}", flag=summary.flag,
           inserted=summary.inserted, updated=summary.updated, unchanged=summary.unchanged,
           refused=summary.refused, linked=summary.linked, assigned=summary.assigned,
           reason=form["reason"])
    db.commit()
    return render_template("people/import.html", summary=summary,
                           problems=[problem_line(p) for p in summary.problems])


@bp.get("/people/export")
@require("manage_people")
@rate_limited("bulk")
def export_roster():
    args = validate(request.args, EXPORT)
    chinese = str(get_locale()).startswith("zh")
    data, _n = people.export_roster(get_session(), args["format"], zone(), chinese=chinese)
    mimetype = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                if args["format"] == "xlsx" else "text/csv")
    day = dates.today(zone()).isoformat()
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=roster-{day}.{args['format']}"})


# --- a cell's owner ----------------------------------------------------------------------------

def _cell_or_404(code: str) -> tuple[int, tuple[int, ...]]:
    try:
        return cell_target(get_session(), code)
    except NotFound:
        not_found("cell", code)


def _owner_page(code: str, status: int = 200, problem: dict | None = None):
    db = get_session()
    cell_id, path = _cell_or_404(code)
    if not policy.can(current_user.grants, "view", path):
        not_found("cell", code)
    cell = db.execute(text("SELECT code, name, level, kind FROM cell WHERE id = :c"),
                      {"c": cell_id}).one()
    typed = {k: v for k, v in request.form.items() if k != "csrf_token"} if problem else {}
    return render_template(
        "people/cell_owner.html", cell=cell, owner=people.owner_now(db, cell_id),
        owners=people.cell_owners(db, cell_id),
        may_assign=policy.can(current_user.grants, "edit_owner", path),
        problem=problem, typed=typed), status


@bp.get("/cells/<code>/owner")
@login_required
def cell_owner(code: str):
    validate(request.args, {})
    return _owner_page(code)


@bp.post("/cells/<code>/owner")
@login_required
def set_cell_owner(code: str):
    db = get_session()
    _cell_or_404(code)
    try:
        form = validate(request.form, CELL_OWNER, zone=zone())
        pid = people.person_id(db, form["person"])
        tgt = people.target(db, "owner", code)
        changed, flag = assign(tgt, pid, form["valid_from"], form["reason"], form["comment"])
    except NotFound as exc:
        db.rollback()
        return _owner_page(code, 400, {"field": "person", "message": domain_message(
            ValidationError("person", str(exc), "no_such_person", person=exc.name))})
    except GridWatchError as exc:
        db.rollback()
        return _owner_page(code, 400, {"field": getattr(exc, "field", None),
                                       "message": domain_message(exc)})
    except Forbidden as exc:
        if not _too_far_back(exc):
            raise
        db.rollback()
        return _owner_page(code, 403, {"field": "valid_from", "message": _too_far_back(exc)})
    if changed:
        audit_assign(tgt, form["person"], pid, form["valid_from"], form["reason"],
                     form["comment"], flag)
        db.commit()
        flash(_("%(person)s owns %(cell)s from %(when)s.", person=form["person"], cell=code,
                when=_when(form["valid_from"])))
    else:
        flash(_("Nothing changed: %(person)s owns %(cell)s already.", person=form["person"],
                cell=code))
    return redirect(url_for("people.cell_owner", code=code))


@bp.get("/cells/<code>/owners")
@login_required
def grid_owners(code: str):
    """A grid's cells with who answers for each now, and a way to assign each (the grid
    editor links here)."""
    validate(request.args, {})
    db = get_session()
    cell_id, path = _cell_or_404(code)
    if not policy.can(current_user.grants, "view", path):
        not_found("cell", code)
    rows = people.grid_owners(db, cell_id)
    for r in rows:
        r["may_assign"] = policy.can(current_user.grants, "edit_owner",
                                     path if r["id"] == cell_id else path + (r["id"],))
    return render_template("people/grid_owners.html", code=code, rows=rows)


def owner_link(code: str, path: tuple[int, ...]) -> str | None:
    """The owner page's address for whoever may assign the cell's owner (the map's card and
    the grid editor link to it); None for others."""
    if not policy.can(current_user.grants, "edit_owner", path):
        return None
    return url_for("people.cell_owner", code=code)


# --- the JSON API ------------------------------------------------------------------------------

def person_json(p: dict) -> dict:
    """A person as the API gives them (dates ISO, with the bureau's offset)."""
    def duty(d: dict) -> dict:
        return {"role": d["role"], "responsibility": d["kind"],
                "cell": d["cell_code"], "enterprise": d["management_code"],
                "township": d["township_code"],
                "name": d["cell_name"] or d["enterprise_name"] or d["township_name"],
                "valid_from": dates.isoformat(d["valid_from"], zone()),
                "valid_to": dates.isoformat(d["valid_to"], zone()),
                "comment": d["comment"], "handover": d["handover_id"]}

    return {"code": p["code"], "name": p["name"], "unit": p["unit"],
            "position": p["position"], "phone": p["phone"], "office_phone": p["office_phone"],
            "active_from": p["active_from"].isoformat() if p["active_from"] else None,
            "active_to": p["active_to"].isoformat() if p["active_to"] else None,
            # Which account is which person: for admins (docs/security.md, "People").
            "accounts": p["accounts"] if _admin() else [],
            "current": [duty(d) for d in p["current"]],
            "scheduled": [duty(d) for d in p["scheduled"]],
            "past": [duty(d) for d in p["past"]]}


def list_json(r: dict) -> dict:
    return {"code": r["code"], "name": r["name"], "unit": r["unit"], "position": r["position"],
            "phone": r["phone"], "usernames": r["usernames"], "cells": r["cells"],
            "roles": r["roles"]}  # usernames: empty unless the reader is an admin


@api.get("/people")
@login_required
@rate_limited("bulk")
def api_people():
    args = validate(request.args, SEARCH)
    total, rows = people.search(get_session(), args["q"], side=args["side"], cells=_cells(),
                                limit=args["limit"], accounts=_admin(), zone=zone())
    return jsonify(total=total, people=[list_json(r) for r in rows])


@api.post("/people")
@require("manage_people")
def api_create_person():
    body = validate(json_body(), PERSON)
    db = get_session()
    created = people.create_person(db, people.clean_person(body))
    record("person_created", target=f"person {created['code']}", person_name=body["name"])
    db.commit()
    return jsonify(person_json(people.get_person(db, created["code"]))), 201


@api.get("/people/<code>")
@login_required
@rate_limited("enterprise")
def api_person(code: str):
    validate(request.args, {})
    return jsonify(person_json(_person_or_404(code)))


@api.put("/people/<code>")
@login_required
def api_update_person(code: str):
    person = _person_or_404(code)
    if not may_edit(person):
        abort(403)
    body = validate(json_body(), {k: Field(kind=f.kind, required=False,
                                             max_length=f.max_length)
                                    for k, f in PERSON.items()})
    db = get_session()
    values = people.clean_person({k: v for k, v in body.items() if k in json_body()})
    if people.update_person(db, person["id"], values):
        record("person_updated", target=f"person {values.get('code') or code}",
               previous_code=code if values.get("code", code) != code else None,
               fields=sorted(values))
        db.commit()
    return jsonify(person_json(people.get_person(db, values.get("code") or code)))


@api.post("/people/<code>/responsibilities")
@login_required
def api_assign(code: str):
    person = _person_or_404(code)
    body = validate(json_body(), ASSIGN, zone=zone())
    tgt = _target(body["role"], body["target"])
    changed, flag = assign(tgt, person["id"], body["valid_from"], body["reason"],
                           body["comment"])
    if changed:
        audit_assign(tgt, code, person["id"], body["valid_from"], body["reason"],
                     body["comment"], flag)
        get_session().commit()
    return jsonify(person=code, role=tgt.role, target=tgt.code, unchanged=not changed)


@api.post("/people/<code>/handover")
@login_required
def api_handover(code: str):
    _person_or_404(code)
    if not policy.can(current_user.grants, "manage_people"):
        abort(403)
    body = validate(json_body(), HANDOVER, zone=zone())
    db = get_session()
    try:
        plan, flag = handover_plan(code, body["successor"], body["valid_from"],
                                   body["reason"])
    except NotFound as exc:
        not_found(exc.kind, exc.name)
    result = people.hand_over(db, plan, body["comment"], username=_me(), zone=zone())
    record("handover", target=f"handover {result['id']}", flag=flag, person=code,
           successor=body["successor"], valid_from=plan.valid_from, backdate_reason=body["reason"],
           comment=body["comment"], moved=len(result["moved"]), plates=len(result["plates"]))
    db.commit()
    return jsonify(handover=result["id"], valid_from=dates.isoformat(plan.valid_from, zone()),
                   moved=result["moved"], plates=result["plates"], later=result["later"]), 201


@api.get("/roster/gaps")
@login_required
def api_gaps():
    admin = policy.has_role(current_user.grants, "admin")
    found = people.gaps(get_session(), _cells(), accounts=admin, zone=zone())
    found["today"] = found["today"].isoformat()
    return jsonify(found)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.jinja_env.globals["responsibility_label"] = role_label
    app.jinja_env.filters["responsibility_label"] = role_label

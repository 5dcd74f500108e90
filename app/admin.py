"""Administration: users and their roles, the audit log, reference data."""
from __future__ import annotations

import datetime as dt

from babel.lists import format_list
from flask import (Blueprint, abort, current_app, flash, redirect, render_template,
                   request, url_for)
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.auth import forget_tokens, record, require, zone
from app.db import get_session
from app.errors import domain_message
from app.i18n import ROLE_LABELS
from gis import audit, dates, people, users
from gis import reference as reference_data
from gis.errors import GridWatchError
from gis.models import ROLES
from gis.validation import Field, validate

bp = Blueprint("admin", __name__, url_prefix="/admin")

NEW_USER = {"username": Field(max_length=64, min_length=2),
            "password": Field(max_length=200, min_length=1),
            "display_name": Field(required=False, max_length=100),
            "role": Field(choices=ROLES),
            "place": Field(required=False, max_length=32),
            # The code (人员编号) of the person the account is (gis/people.py).
            "person": Field(required=False, max_length=32)}
ROLE = {"role": Field(choices=ROLES), "place": Field(required=False, max_length=32)}
PASSWORD = {"password": Field(max_length=200, min_length=1)}
AUDIT_FILTER = {"username": Field(required=False, max_length=64),
                "action": Field(required=False, max_length=64),
                "q": Field(required=False, max_length=100),
                "since": Field(kind="date", required=False),
                "until": Field(kind="date", required=False),
                "flagged": Field(kind="bool", required=False, default=False),
                "flag": Field(required=False, choices=("",) + audit.FLAGS),
                "page": Field(kind="int", required=False, min=1, max=10000, default=1)}
PAGE_SIZE = 50


# --- the users page ---------------------------------------------------------------------------

def _users_page(status: int = 200, problem: dict | None = None, add_username: str = ""):
    """The users page; after a refused form, ``problem`` says which form, which field and why,
    and the form shows again with what was typed (never a password)."""
    typed = {k: v for k, v in request.form.items() if k not in ("password", "csrf_token")} \
        if problem else {}
    return render_template("admin/users.html", users=users.list_users(
        get_session(), current_app.permanent_session_lifetime), roles=ROLES,
        problem=problem, typed=typed, add_username=add_username,
        counts=people.gap_counts(get_session(), zone=zone())), status


def _refused(form: str, exc: GridWatchError, **page):
    """Nothing was written: the page again, status 400, the reason in the user's language."""
    get_session().rollback()
    return _users_page(400, {"form": form, "field": getattr(exc, "field", None),
                             "message": domain_message(exc)}, **page)


@bp.get("/users")
@require("admin")
def user_list():
    return _users_page()


@bp.post("/users")
@require("admin")
def user_create():
    db = get_session()
    try:
        form = validate(request.form, NEW_USER)
        users.create_user(db, form["username"], form["password"], role=form["role"],
                          place=form["place"] or None, display_name=form["display_name"],
                          person_id=people.account_person_id(db, form["person"]),
                          granted_by=_me())
    except GridWatchError as exc:
        return _refused("new-user", exc)
    record("user_created", target=f"user {form['username']}", role=form["role"],
           place=form["place"], person=form["person"])
    db.commit()
    flash(_("User %(name)s created.", name=form["username"]))
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/roles")
@require("admin")
def role_add(username: str):
    db = get_session()
    try:
        form = validate(request.form, ROLE)
        users.add_role(db, username, form["role"], form["place"] or None, granted_by=_me())
    except GridWatchError as exc:
        return _refused("add-role", exc, add_username=username)
    record("role_added", target=f"user {username}", role=form["role"], place=form["place"])
    db.commit()
    forget_tokens()
    flash(_("Role added to %(name)s.", name=username))
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/roles/remove")
@require("admin")
def role_remove(username: str):
    db = get_session()
    try:
        form = validate(request.form, ROLE)
        removed = users.remove_role(db, username, form["role"], form["place"] or None)
    except GridWatchError as exc:
        return _refused("users", exc)
    if not removed:
        abort(404)
    record("role_removed", target=f"user {username}", role=form["role"], place=form["place"])
    db.commit()
    forget_tokens()
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/password")
@require("admin")
def password_reset(username: str):
    db = get_session()
    try:
        form = validate(request.form, PASSWORD)
        # Every session of the user ends (a copied cookie with them); an admin resetting
        # their own password stays logged in here.
        users.set_password(db, username, form["password"],
                           keep_sid=_my_sid() if username == _me() else None)
    except GridWatchError as exc:
        return _refused(f"password:{username}", exc)
    record("password_reset", target=f"user {username}")
    db.commit()
    flash(_("Password of %(name)s reset.", name=username))
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/unlock")
@require("admin")
def unlock(username: str):
    """Forget the failed logins typed for this name (from every computer), so its user can
    log in again at once; a computer that tried many names stays waiting."""
    db = get_session()
    try:
        users.user_id(db, username)
    except GridWatchError as exc:
        return _refused("users", exc)
    users.clear_throttle(db, username)
    record("user_unlocked", target=f"user {username}")
    db.commit()
    flash(_("%(name)s can log in again now.", name=username))
    return redirect(url_for("admin.user_list"))


# --- the audit log ----------------------------------------------------------------------------

# Audit actions are stable English codes in the database; people read these labels. Every
# action the code records has one (tests/test_audit_log.py finds them in the source).
ACTION_LABELS = {
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "logout": _l("Logged out"),
    "password_changed": _l("Own password changed"),
    "password_change_refused": _l("Own password change refused"),
    "session_ended": _l("Session ended"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "language_set": _l("Language changed"),
    "inspection_recorded": _l("Inspection recorded"),
    "complaint_updated": _l("Complaint updated"),
    "cell_owner_set": _l("Cell owner changed"),
    "grid_changed": _l("Cell boundaries changed"),
    "grid_change_reverted": _l("Boundary change reverted"),
    "grade_intervals_set": _l("Inspection intervals changed"),
    "checklist_item_added": _l("Checklist item added"),
    "enterprises_imported": _l("Enterprises imported"),
    "cells_imported": _l("Cells imported"),
    "user_created": _l("User created"),
    "role_added": _l("Role added"),
    "role_removed": _l("Role removed"),
    "password_reset": _l("Password reset"),
    "user_unlocked": _l("Failed logins cleared"),
    "person_created": _l("Person added"),
    "person_updated": _l("Person changed"),
    "responsibility_assigned": _l("Responsibility assigned"),
    "handover": _l("Handover"),
    "people_imported": _l("Roster imported"),
    "account_linked": _l("Account linked to a person"),
    "account_unlinked": _l("Account unlinked from its person"),
    "draw_made": _l("Random draw made"),
    "testing_imported": _l("Testing results imported"),
    "inspections_imported": _l("Inspections of the previous system imported"),
    "testing_recorded": _l("Testing result recorded"),
    "case_opened": _l("Case opened"),
    "case_status_changed": _l("Case moved on"),
    "rectification_rectified": _l("Correction recorded"),
    "rectification_verified": _l("Rectification verified"),
    "rectification_rejected": _l("Rectification sent back"),
    "photo_added": _l("Photo added"),
    "complaint_received": _l("Complaint received"),
    "complaint_status_changed": _l("Complaint moved on"),
    "complaint_reassigned": _l("Complaint handed to another cell"),
    "complaints_imported": _l("Hotline complaints imported"),
    "urgent_raised": _l("Urgent event raised"),
    "urgent_acknowledged": _l("Urgent event acknowledged"),
    "urgent_on_site": _l("Arrived at an urgent event"),
    "urgent_closed": _l("Urgent event closed"),
    "urgent_escalated": _l("Urgent event escalated"),
    "plates_pdf_queued": _l("Plates PDF queued"),
    "gap_report_queued": _l("Gap report XLSX queued in the background"),
    "statistics_queued": _l("Statistics queued in the background"),
    "letter_recorded": _l("Responsibility letter recorded"),
    "assessment_rule_set": _l("Assessment rule changed"),
    "warning_rule_set": _l("Warning threshold changed"),
}
VIA_LABELS = {"web": _l("web"), "api": _l("API"), "cli": _l("command line"),
              "job": _l("background job")}
# An entry's flag (gis/audit.py FLAGS), as the log marks it and its filter offers it.
FLAG_LABELS = {"backdated": _l("backdated"), "imported": _l("imported")}

# What an entry is about: its target is "<kind> <name>" (or a file name, shown as it is).
TARGET_KINDS = {
    "user": _l("User"),
    "unknown name": _l("Unknown username"),
    "token": _l("API token"),
    "session": _l("Session"),
    "enterprise": _l("Enterprise"),
    "complaint": _l("Complaint"),
    "cell": _l("Cell"),
    "grid": _l("Grid"),
    "change": _l("Change"),
    "checklist_item": _l("Checklist item"),
    "grade_interval": _l("Inspection intervals"),
    "person": _l("Person"),
    "handover": _l("Handover"),
    "township": _l("Township"),
    "file": _l("File"),
    "draw": _l("Random draw"),
    "case": _l("Case"),
    "report": _l("Testing report"),
    "inspection": _l("Inspection"),
    "rectification": _l("Rectification"),
    "urgent": _l("Urgent event"),
    "letter": _l("Responsibility letter"),
    "assessment_rule": _l("Assessment rule"),
    "warning_rule": _l("Warning rule"),
}

# The details each action records, by the key it records them under.
DETAIL_LABELS = {
    "reason": _l("Why"),
    "backdate_reason": _l("Reason for a date in the past"),
    "comment": _l("Why"),
    "name": _l("Token name"),
    "lang": _l("Language"),
    "role": _l("Role"),
    "place": _l("Place"),
    "inspection": _l("Inspection number"),
    "inspected_on": _l("Inspection date"),
    "status": _l("Status"),
    "person_id": _l("Person"),
    "valid_from": _l("Takes effect on"),
    "A": _l("Grade A interval (days)"),
    "B": _l("Grade B interval (days)"),
    "C": _l("Grade C interval (days)"),
    "D": _l("Grade D interval (days)"),
    "title": _l("Title"),
    "inserted": _l("Added"),
    "updated": _l("Changed"),
    "unchanged": _l("Unchanged"),
    "refused": _l("Refused"),
    "job": _l("Background job"),
    "period": _l("Period"),
    "gap_kinds": _l("Kinds of gap"),
    "change": _l("Change number"),
    "cells": _l("Cells"),
    "person": _l("Person"),
    "person_name": _l("Name"),
    "previous_code": _l("Previous code"),
    "fields": _l("Fields changed"),
    "successor": _l("Handed over to"),
    "responsibility": _l("Responsibility"),
    "moved": _l("Responsibilities handed over"),
    "plates": _l("Plates to reprint"),
    "linked": _l("Accounts linked"),
    "assigned": _l("Cells assigned"),
    "enterprises": _l("Enterprises drawn"),
    "seed": _l("Random seed"),
    "failed": _l("Failed batches"),
    "rectifications": _l("Rectifications opened"),
    "result": _l("Result"),
    "source": _l("Opened from"),
    "source_ref": _l("Source number"),
    "previous": _l("Previous status"),
    "enterprise": _l("Enterprise"),
    "note": _l("Note"),
    "photo": _l("Photo number"),
    "file_name": _l("File name"),
    "sha256": _l("Content hash (SHA-256)"),
    "problems": _l("Problems found"),
    "distance_m": _l("Distance from the enterprise (m)"),
    "far_from_site": _l("Far from the site"),
    "complaint": _l("Complaint number"),
    "channel": _l("Came in by"),
    "service": _l("Matter"),
    "cell": _l("Cell"),
    "outside_grid": _l("Outside the grid"),
    "event_type": _l("Type of event"),
    "alerted": _l("People alerted"),
    "level": _l("Level"),
    "outcome": _l("Outcome"),
    "distance_from_event_m": _l("Distance from the event (m)"),
    "plate_count": _l("Plates in the PDF"),
    "size": _l("Paper size"),
    "since": _l("Changed since"),
    "period_from": _l("Period from"),
    "period_to": _l("Period to"),
    "signed_on": _l("Signed on"),
    "targets": _l("Targets"),
    "weight": _l("Weight"),
    "rule_target": _l("Target value"),
    "active": _l("In use"),
    "threshold": _l("Threshold"),
    "before": _l("Before the change"),
}
# A key whose meaning depends on the action: the command line's --reason is why a change is
# dated in the past.
ACTION_DETAIL_LABELS = {("cells_imported", "reason"): _l("Reason for a date in the past"),
                        ("people_imported", "reason"): _l("Reason for a date in the past"),
                        ("grid_changed", "reason"): _l("Reason for a date in the past"),
                        ("enterprises_imported", "valid_from"): _l("Under supervision from")}
# Numbers that name a record, shown as they are (no thousands separator).
ID_KEYS = {"inspection", "change", "job", "photo"}
# Values that are codes, said in words.
VALUE_LABELS = {
    "reason": {"bad_credentials": _l("wrong username or password"),
               "throttled": _l("too many attempts: waiting")},
    "lang": {"zh_Hans_CN": _l("Chinese"), "en": _l("English")},
    "status": {"open": _l("open"), "assigned": _l("assigned"), "closed": _l("closed"),
               "received": _l("received"), "handled": _l("handled"),
               "investigating": _l("under investigation"), "decided": _l("decided")},
    "previous": {"open": _l("open"), "investigating": _l("under investigation"),
                 "decided": _l("decided"), "received": _l("received"),
                 "assigned": _l("assigned"), "handled": _l("handled")},
    "channel": {"hotline": _l("12365 hotline"), "open311": _l("Open311"),
                "public": _l("public page"), "import": _l("hotline file"),
                "staff": _l("entered by staff")},
    "result": {"pass": _l("passed"), "fail": _l("failed")},
    "source": {"rectification": _l("Rectification"), "spot_check": _l("Failed batch"),
               "complaint": _l("Complaint")},
    "role": ROLE_LABELS,
    "event_type": {"special_equipment": _l("Special equipment accident"),
                   "product_harm": _l("Product harming people"),
                   "hotline": _l("Urgent hotline call")},
    # A responsibility's role (the people pages say them the same way).
    "responsibility": {"owner": _l("Cell owner"), "station_chief": _l("Station chief"),
                       "township_leader": _l("Township leader"),
                       "principal": _l("Enterprise principal")},
}
DATE_TIME_KEYS = {"valid_from", "since"}
DATE_KEYS = {"inspected_on", "period_from", "period_to", "signed_on"}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def via_label(via: str) -> str:
    return str(VIA_LABELS.get(via, via))


def flag_label(flag: str) -> str:
    return str(FLAG_LABELS.get(flag, flag))


def target_parts(target: str | None) -> tuple[str | None, str]:
    """(kind in words or None, the rest as recorded): "user li" -> ("用户", "li")."""
    if not target:
        return None, ""
    for kind, label in TARGET_KINDS.items():
        if target == kind:
            return str(label), ""
        if target.startswith(kind + " "):
            return str(label), target[len(kind) + 1:]
    return None, target


def detail_fields(detail: dict | None, people: dict[int, str] | None = None,
                  action: str | None = None) -> list[dict]:
    """An entry's details as labelled fields for people: ``label``, ``text`` and ``data``
    (True when the text is data as recorded, to be left untranslated). Empty values are left
    out; codes are said in words, dates in the bureau's zone, lists as lists."""
    fields = []
    for key, value in (detail or {}).items():
        if value is None or value == "" or value == []:
            continue
        text, data = _value_text(key, value, people or {})
        label = ACTION_DETAIL_LABELS.get((action, key)) or DETAIL_LABELS.get(key, key)
        fields.append({"label": str(label), "text": text, "data": data})
    return fields


def _value_text(key: str, value, people: dict[int, str]) -> tuple[str, bool]:
    words = VALUE_LABELS.get(key, {})
    if isinstance(value, bool):
        return (_("Yes") if value else _("No")), False
    if isinstance(value, str) and value in words:
        return str(words[value]), False
    if key == "person_id" and isinstance(value, int):
        return (_("%(name)s (#%(id)s)", name=people[value], id=value) if value in people
                else f"#{value}"), True
    if isinstance(value, int) and key in ID_KEYS:
        return str(value), True
    if isinstance(value, (int, float)):
        return format_decimal(value), False
    if isinstance(value, str) and key in DATE_TIME_KEYS | DATE_KEYS:
        shown = _when_text(value, key in DATE_KEYS)
        if shown is not None:
            return shown, False
    if isinstance(value, list):
        return format_list([_value_text(key, v, people)[0] for v in value],
                           locale=get_locale()), True
    if isinstance(value, dict):
        return format_list([_("%(field)s: %(problem)s", field=f["label"], problem=f["text"])
                            for f in detail_fields(value, people)], locale=get_locale()), True
    return str(value), True


def _when_text(value: str, date_only: bool) -> str | None:
    """A recorded date or date-time (ISO, as json.dumps wrote it) in the bureau's zone."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if date_only or len(value) == 10:
        return format_date(when.date())
    return format_datetime(dates.local(when, zone()))


@bp.get("/audit")
@require("admin")
def audit_log():
    args = validate(request.args, AUDIT_FILTER)
    db = get_session()
    # From the start of the first day to the end of the last, in the bureau's zone.
    since = dates.parse_datetime(args["since"], zone(), "since") if args["since"] else None
    until = dates.as_of(args["until"], zone(), "until") if args["until"] else None
    entries = audit.entries(db, username=args["username"] or None,
                            action=args["action"] or None, contains=args["q"] or None,
                            since=since, until=until, flagged=args["flagged"],
                            flag=args["flag"] or None, limit=PAGE_SIZE + 1,
                            offset=(args["page"] - 1) * PAGE_SIZE)
    more, entries = len(entries) > PAGE_SIZE, entries[:PAGE_SIZE]
    people = audit.person_names(db, [e["detail"].get("person_id") for e in entries
                                     if isinstance(e["detail"], dict)])
    return render_template("admin/audit.html", entries=entries, people=people, more=more,
                           args=args,
                           actions=sorted(set(audit.actions(db)) | set(ACTION_LABELS),
                                          key=action_label))


@bp.get("/reference")
@require("admin")
def reference():
    db = get_session()
    from app.assessment import reference_data as assessment_reference

    return render_template("admin/reference.html", intervals=reference_data.grade_intervals(db),
                           checklist=reference_data.checklist(db), **assessment_reference(db))


def _me() -> str:
    from flask_login import current_user

    return current_user.username


def _my_sid() -> str | None:
    from flask_login import current_user

    return current_user.sid


@bp.context_processor
def _audit_helpers() -> dict:
    return {"action_label": action_label, "via_label": via_label, "target_parts": target_parts,
            "detail_fields": detail_fields, "flag_label": flag_label,
            "flag_labels": FLAG_LABELS}

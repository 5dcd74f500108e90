"""Administration: users and their roles, the audit log, reference data."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _

from app.auth import forget_tokens, record, require
from app.db import get_session
from gis import audit, users
from gis import reference as reference_data
from gis.models import ROLES
from gis.validation import Field, validate

bp = Blueprint("admin", __name__, url_prefix="/admin")

NEW_USER = {"username": Field(max_length=64, min_length=2),
            "password": Field(max_length=200, min_length=1),
            "display_name": Field(required=False, max_length=100),
            "role": Field(choices=ROLES),
            "place": Field(required=False, max_length=32)}
ROLE = {"role": Field(choices=ROLES), "place": Field(required=False, max_length=32)}
PASSWORD = {"password": Field(max_length=200, min_length=1)}
AUDIT_FILTER = {"username": Field(required=False, max_length=64),
                "action": Field(required=False, max_length=64),
                "q": Field(required=False, max_length=100),
                "since": Field(kind="date", required=False),
                "until": Field(kind="date", required=False),
                "flagged": Field(kind="bool", required=False, default=False),
                "page": Field(kind="int", required=False, min=1, max=10000, default=1)}
PAGE_SIZE = 50


@bp.get("/users")
@require("admin")
def user_list():
    return render_template("admin/users.html", users=users.list_users(
        get_session(), current_app.permanent_session_lifetime), roles=ROLES)


@bp.post("/users")
@require("admin")
def user_create():
    form = validate(request.form, NEW_USER)
    db = get_session()
    users.create_user(db, form["username"], form["password"], role=form["role"],
                      place=form["place"] or None, display_name=form["display_name"],
                      granted_by=_me())
    record("user_created", target=f"user {form['username']}", role=form["role"],
           place=form["place"])
    db.commit()
    flash(_("User %(name)s created.", name=form["username"]))
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/roles")
@require("admin")
def role_add(username: str):
    form = validate(request.form, ROLE)
    db = get_session()
    users.add_role(db, username, form["role"], form["place"] or None, granted_by=_me())
    record("role_added", target=f"user {username}", role=form["role"], place=form["place"])
    db.commit()
    forget_tokens()
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/roles/remove")
@require("admin")
def role_remove(username: str):
    form = validate(request.form, ROLE)
    db = get_session()
    if not users.remove_role(db, username, form["role"], form["place"] or None):
        abort(404)
    record("role_removed", target=f"user {username}", role=form["role"], place=form["place"])
    db.commit()
    forget_tokens()
    return redirect(url_for("admin.user_list"))


@bp.post("/users/<username>/password")
@require("admin")
def password_reset(username: str):
    form = validate(request.form, PASSWORD)
    db = get_session()
    # Every session of the user ends (a copied cookie with them); an admin resetting their
    # own password stays logged in here.
    users.set_password(db, username, form["password"],
                       keep_sid=_my_sid() if username == _me() else None)
    record("password_reset", target=f"user {username}")
    db.commit()
    flash(_("Password of %(name)s reset.", name=username))
    return redirect(url_for("admin.user_list"))


@bp.get("/audit")
@require("admin")
def audit_log():
    import datetime as dt

    args = validate(request.args, AUDIT_FILTER)
    db = get_session()
    until = args["until"] + dt.timedelta(days=1) if args["until"] else None
    entries = audit.entries(db, username=args["username"] or None,
                            action=args["action"] or None, contains=args["q"] or None,
                            since=args["since"], until=until, flagged=args["flagged"],
                            limit=PAGE_SIZE + 1,
                            offset=(args["page"] - 1) * PAGE_SIZE)
    return render_template("admin/audit.html", entries=entries[:PAGE_SIZE],
                           more=len(entries) > PAGE_SIZE, args=args,
                           actions=audit.actions(db))


@bp.get("/reference")
@require("admin")
def reference():
    db = get_session()
    return render_template("admin/reference.html", intervals=reference_data.grade_intervals(db),
                           checklist=reference_data.checklist(db))


def _me() -> str:
    from flask_login import current_user

    return current_user.username


def _my_sid() -> str | None:
    from flask_login import current_user

    return current_user.sid

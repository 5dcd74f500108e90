"""Log in, log out, and one's own account: language and API tokens."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, abort, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth import forget_tokens, lockout_settings, login_required, record
from app.db import get_session
from gis import policy, users
from gis.validation import Field, validate

bp = Blueprint("auth", __name__)

LOGIN_FORM = {"username": Field(max_length=64, min_length=1),
              "password": Field(max_length=200, min_length=1),
              "next": Field(required=False, max_length=500)}
TOKEN_FORM = {"name": Field(max_length=100, min_length=1)}
LANGUAGE_FORM = {"lang": Field(choices=("zh_Hans_CN", "en"))}


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    form = validate(request.form, LOGIN_FORM)
    db = get_session()
    max_failures, lockout = lockout_settings()
    result = users.login(db, form["username"].lower(), form["password"],
                         max_failures=max_failures, lockout=lockout)
    if result.identity is None:
        record("login_failed", target=form["username"][:64], reason=result.reason)
        db.commit()
        if result.reason == "locked":
            message = _("Too many failed attempts: this account is locked until %(when)s.",
                        when=format_datetime(result.locked_until, "short"))
            status = 429
        else:
            message = _("Wrong username or password.")
            status = 401
        return render_template("auth/login.html", error=message, next=form["next"] or "",
                               username=form["username"]), status
    lang = session.get("lang")
    session.clear()  # a fresh session on login: no session fixation
    login_user(result.identity)
    # The user's saved choice wins; else keep the language they picked before logging in.
    if result.identity.locale or lang:
        session["lang"] = result.identity.locale or lang
    g._login_user = result.identity
    record("login")
    db.commit()
    return redirect(_safe_next(form["next"]))


@bp.post("/logout")
@login_required
def logout():
    record("logout")
    get_session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html",
                           tokens=users.tokens(get_session(), current_user.id))


@bp.post("/account/tokens")
@login_required
def create_token():
    form = validate(request.form, TOKEN_FORM)
    db = get_session()
    token_id, token = users.create_token(db, current_user.username, form["name"])
    record("token_created", target=f"token {token_id}", name=form["name"])
    db.commit()
    # Shown once, on this response only; only its hash is kept.
    return render_template("auth/account.html", new_token=token,
                           tokens=users.tokens(db, current_user.id))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    db = get_session()
    # An admin may revoke anyone's token (a lost phone); others only their own.
    is_admin = policy.has_role(current_user.grants, "admin")
    if not users.revoke_token(db, token_id, owner_id=None if is_admin else current_user.id):
        abort(404)
    record("token_revoked", target=f"token {token_id}")
    db.commit()
    forget_tokens()
    flash(_("Token revoked."))
    return redirect(url_for("auth.account"))


@bp.post("/account/language")
@login_required
def language():
    form = validate(request.form, LANGUAGE_FORM)
    db = get_session()
    users.set_locale(db, current_user.id, form["lang"])
    record("language_set", lang=form["lang"])
    db.commit()
    session["lang"] = form["lang"]
    return redirect(url_for("auth.account"))

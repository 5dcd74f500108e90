"""Log in, log out, and one's own account: language and API tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth import forget_tokens, login_required, record, throttle_rules
from app.db import get_session
from gis import people, policy, users
from gis.validation import Field, ValidationError, validate

bp = Blueprint("auth", __name__)

LOGIN_FORM = {"username": Field(max_length=64, min_length=1),
              "password": Field(max_length=200, min_length=1),
              "next": Field(required=False, max_length=500)}
PASSWORD_FORM = {"current_password": Field(max_length=200, min_length=1),
                 "new_password": Field(max_length=200, min_length=1),
                 "new_password_again": Field(max_length=200, min_length=1)}
TOKEN_FORM = {"name": Field(max_length=100, min_length=1)}
LANGUAGE_FORM = {"lang": Field(choices=("zh_Hans_CN", "en"))}


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool. No control
    # characters (a line break cannot go into a Location header) and no backslash (browsers
    # read "/\\host" as "//host").
    if target and target.startswith("/") and not target.startswith("//") \
            and not any(c < " " or c in "\x7f\\" for c in target) \
            and not urlsplit(target).netloc:
        return target
    return url_for("main.index")


def _refuse_nul(form: dict) -> None:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
    for name, value in form.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(name, "not in the expected form", "pattern")


def _audit_name(username: str, known: bool) -> str:
    """What a failed login leaves in the audit log: the name if it is a user's, else a keyed
    hash, so a password typed into the name field is never shown to admins, while repeated
    tries of one name still look alike."""
    if known:
        return f"user {username}"
    key = current_app.secret_key
    digest = hmac.new(key.encode() if isinstance(key, str) else key, username.lower().encode(),
                      hashlib.sha256).hexdigest()
    return f"unknown name {digest[:16]}"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method in ("GET", "HEAD"):
        return render_template("auth/login.html", next=request.args.get("next", ""))
    form = validate(request.form, LOGIN_FORM)
    _refuse_nul(form)
    db = get_session()
    username = form["username"].lower()
    result = users.login(db, username, form["password"], client=request.remote_addr or "",
                         rules=throttle_rules())
    if result.identity is None:
        record("login_failed", target=_audit_name(username, result.known),
               reason=result.reason)
        db.commit()
        headers = {}
        if result.reason == "throttled":
            seconds = max(1, math.ceil((result.retry_after - dt.datetime.now(
                dt.timezone.utc)).total_seconds()))
            message = _("Too many failed attempts: try again after %(when)s.",
                        when=format_datetime(result.retry_after, "medium"))
            status = 429
            headers["Retry-After"] = str(seconds)
        else:
            message = _("Wrong username or password.")
            status = 401
        return render_template("auth/login.html", error=message, next=form["next"] or "",
                               username=form["username"]), status, headers
    lang = session.get("lang")
    session.clear()  # a fresh session on login: no session fixation
    result.identity.sid = users.start_session(
        db, result.identity.id, remote_addr=request.remote_addr,
        user_agent=request.headers.get("User-Agent"))
    login_user(result.identity)
    # The user's saved choice wins; else keep the language they picked before logging in.
    if result.identity.locale or lang:
        session["lang"] = result.identity.locale or lang
    g._login_user = result.identity
    record("login")
    db.commit()
    if not form["next"] and result.identity.roles == ["inspector"]:
        # An inspector's day starts with their work list (the overview is one tap away).
        return redirect(url_for("work.page"))
    return redirect(_safe_next(form["next"]))


@bp.post("/logout")
@login_required
def logout():
    db = get_session()
    if current_user.sid:
        users.end_sessions(db, current_user.id, "logout", sid=current_user.sid)
    record("logout")
    db.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def _account_page(status: int = 200, **extra):
    db = get_session()
    return render_template(
        "auth/account.html", person=people.account_person(db, current_user.id),
        tokens=users.tokens(db, current_user.id),
        sessions=users.sessions(db, current_user.id, current_app.permanent_session_lifetime,
                                current_user.sid), **extra), status


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password():
    form = validate(request.form, PASSWORD_FORM)
    _refuse_nul(form)
    if form["new_password"] != form["new_password_again"]:
        return _account_page(400, password_error=_("The two new passwords differ."))
    if users.check_password_strength(form["new_password"]):
        return _account_page(400, password_error=_(
            "The new password needs at least %(n)s characters, mixing letters with digits or "
            "symbols.", n=users.MIN_PASSWORD))
    db = get_session()
    refused = users.change_own_password(
        db, current_user.id, form["current_password"], form["new_password"],
        sid=current_user.sid, client=request.remote_addr or "", rules=throttle_rules())
    if refused:
        record("password_change_refused", target=f"user {current_user.username}",
               reason=refused)
        db.commit()
        message = (_("Too many attempts; try again later.") if refused == "throttled"
                   else _("The current password is wrong."))
        return _account_page(429 if refused == "throttled" else 400, password_error=message)
    record("password_changed", target=f"user {current_user.username}")
    db.commit()
    flash(_("Password changed. Your other sessions have been ended."))
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    db = get_session()
    if not users.end_sessions(db, current_user.id, "ended_by_user", session_id=session_id):
        abort(404)
    record("session_ended", target=f"session {session_id}")
    db.commit()
    flash(_("Session ended."))
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens")
@login_required
def create_token():
    form = validate(request.form, TOKEN_FORM)
    db = get_session()
    token_id, token = users.create_token(db, current_user.username, form["name"])
    record("token_created", target=f"token {token_id}", name=form["name"])
    db.commit()
    # Shown once, on this response only; only its hash is kept.
    return _account_page(new_token=token)


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

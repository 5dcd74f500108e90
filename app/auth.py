"""Authentication (sessions and bearer tokens), CSRF, and the permission decorator.

Every permission decision goes through ``authorize`` (and the ``require`` decorator built on
it), which asks ``gis.policy.can``. Views never test roles themselves.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import OrderedDict
from typing import Callable

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from app.db import get_session
from app.errors import wants_json
from gis import audit as audit_log
from gis import policy, users
from gis.validation import ValidationError

login_manager = LoginManager()
csrf = CSRFProtect()

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Where a bearer token is accepted; everywhere else only a logged-in session.
TOKEN_PATHS = ("/api/", "/tiles/", "/open311/")


def init_app(app: Flask) -> None:
    # CSRF is checked in before_request below, so token-authenticated API calls (no cookie,
    # so no CSRF risk) are exempt without exempting whole views.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    app.session_interface = SessionInterface()
    app.extensions["gridwatch_token_cache"] = TokenCache(app.config["API_TOKEN_CACHE_SECONDS"])
    app.before_request(_authenticate_and_check_csrf)
    users.dummy_hash()  # now, not on the first unknown name (whose answer it would slow)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions, with the signing serializer built once per key rather than
    twice per request (~5 % of a point lookup's Python time, bench/lookup.py)."""

    _cached: tuple = (None, None)

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._cached[0] != keys:
            self._cached = (keys, super().get_signing_serializer(app))
        return self._cached[1]


class TokenCache:
    """This process's memory of API tokens it verified in the last few seconds, keyed by the
    token's hash (the same digest the database keeps).

    Checking a token is a database round trip that costs about as much as the point lookup it
    guards (bench/lookup.py). Remembering the answer briefly trades that for a bounded delay:
    a token revoked, a user deactivated or a role changed elsewhere (another worker, the CLI)
    is still honoured here for at most ``seconds``. Changes made through this process forget
    everything at once (``clear``). ``seconds = 0`` turns the memory off.
    """

    def __init__(self, seconds: float, size: int = 1024,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = float(seconds)
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, users.Identity]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> users.Identity | None:
        if self.seconds <= 0:
            return None
        key = users.hash_token(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, ident: users.Identity) -> None:
        if self.seconds <= 0:
            return
        key = users.hash_token(token)
        with self._lock:
            self._entries[key] = (self.clock() + self.seconds, ident)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget_tokens() -> None:
    """After a change to users, roles or tokens: this process re-checks every token."""
    current_app.extensions["gridwatch_token_cache"].clear()


@login_manager.user_loader
def _load_user(user_id: str):
    # "<user id>:<session id>": the session must still be live on the server, so logging
    # out, a password reset or a role removal ends a copied cookie too.
    uid, _sep, sid = user_id.partition(":")
    if not uid.isdigit() or not sid:
        return None
    db = get_session(write=True)  # it may touch last_seen_at, on a GET too
    ident = users.session_identity(db, int(uid), sid, current_app.permanent_session_lifetime)
    if ident is not None and ident.session_touched:
        db.commit()  # last_seen_at, at most once a minute
    return ident


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():  # as the error pages decide (/api/, /open311/, /tiles/)
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _authenticate_and_check_csrf():
    token = bearer_token(request.headers.get("Authorization"))
    if token is None and request.path.startswith("/open311/"):
        # Open311 clients send the token as the form's (or query's) api_key.
        token = request.values.get("api_key") or None
    g.via = "web"
    if token is not None:
        if not request.path.startswith(TOKEN_PATHS):
            # Tokens are for the API: a leaked one must not reach the account page (and
            # mint more tokens) or the admin pages.
            abort(401, description=gettext("API tokens are accepted only by the API."))
        cache = current_app.extensions["gridwatch_token_cache"]
        ident = cache.get(token)
        if ident is None:
            ident = users.token_identity(get_session(write=True), token)
            if ident is None:
                abort(401)
            if ident.token_touched:
                # last_used_at (at most once a minute). Otherwise nothing was written, and
                # the view goes on with the same connection: no COMMIT, no second checkout.
                get_session(write=True).commit()
            cache.put(token, ident)
        # Straight onto g, not login_user(): a token call must not start a cookie session.
        g._login_user = ident
        g.via = "api"
        return None
    if request.method in WRITE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    return None


def authorize(action: str, path: tuple[int, ...] = (), *, inside: bool = False) -> None:
    """Abort 401 when nobody is logged in, 403 when policy does not allow ``action`` on the
    target whose cell path is ``path`` (``inside``: on the cells inside it)."""
    if not current_user.is_authenticated:
        abort(401)
    if not policy.can(current_user.grants, action, path, inside=inside):
        abort(403)


def require(action: str, target: Callable[..., tuple[int, ...]] | None = None):
    """Decorator: log-in required, then ``authorize(action, target(**view_kwargs))``."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            path = target(**kwargs) if target else _city_path()
            authorize(action, path)
            return view(*args, **kwargs)

        wrapped.required_action = action
        return wrapped

    return decorate


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapped


def _city_path() -> tuple[int, ...]:
    """Deployment-wide targets (reference data, the whole map) sit at the root: the city, or
    the province above several (gis/tree.py)."""
    from gis.tree import root_path

    return root_path(get_session())


def record(action: str, target: str | None = None, *, flag: str | None = None,
           **detail) -> None:
    """Audit a write in the request's transaction (commit it with the write); ``flag`` marks
    an entry reviewers must see (e.g. "backdated")."""
    ident = current_user if current_user.is_authenticated else None
    audit_log.record(
        get_session(), action, target=target, detail=detail,
        user_id=ident.id if ident else None, username=ident.username if ident else None,
        remote_addr=request.remote_addr, via=getattr(g, "via", "web"), flag=flag)


def throttle_rules() -> users.ThrottleRules:
    config = current_app.config
    return users.ThrottleRules(
        max_failures=config["LOGIN_MAX_FAILURES"],
        client_max_failures=config["LOGIN_CLIENT_MAX_FAILURES"],
        lockout=dt.timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"]))


def zone(app: Flask | None = None) -> str:
    """The bureau's time zone: dates typed without one are local time there (``app``: for
    callers outside a request, such as the lookup's fast path)."""
    return (app or current_app).config["BABEL_DEFAULT_TIMEZONE"]


def authorize_dated(action: str, path: tuple[int, ...], valid_from, reason: str | None, *,
                    inside: bool = False) -> str | None:
    """Authorize a change taking effect at ``valid_from``; returns the audit flag to record
    ("backdated") or None. Shared by every dated write of the web layer."""
    now = dt.datetime.now(dt.timezone.utc)
    grace = dt.timedelta(hours=current_app.config["BACKDATE_GRACE_HOURS"])
    decision = policy.dated_change(current_user.grants, action, path, valid_from, now, grace,
                                   reason, inside=inside)
    if decision.allowed:
        return decision.flag
    if decision.needs_reason:
        raise ValidationError("backdate_reason", "required for a change dated this far back",
                              "backdate_reason")
    if decision.flag:
        abort(403, description=gettext(
            "A change may be dated at most %(hours)s hours in the past; ask an administrator "
            "to record an older one, with a reason.",
            hours=current_app.config["BACKDATE_GRACE_HOURS"]))
    abort(403)

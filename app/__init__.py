"""GridWatch Flask application factory (the thin adapter over ``gis/`` and ``layers/``)."""
from __future__ import annotations

import json
import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=os.path.join(os.path.dirname(__file__), "..", "templates"),
    )
    app.config.from_object("app.settings")
    app.config.from_pyfile("gridwatch.cfg", silent=True)
    app.config.from_prefixed_env("GRIDWATCH", loads=_loads)
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if test_config:
        app.config.update(test_config)
    if _serving():
        _check_secret_key(app.config)

    from app import (account, admin, api, auth, cli, db, enterprise, errors, i18n, lookup,
                     main, mapwall, redraw, security)
    from app import ratelimit
    from gis.limits import Limits

    app.extensions["gridwatch_limits"] = Limits.from_config(app.config)

    _server_timing(app)  # first, so the timing includes authentication
    _vendor_urls(app)
    security.init_app(app)
    db.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    ratelimit.init_app(app)
    cli.init_app(app)
    from app import draws, jobs, people, work

    work.init_app(app)
    draws.init_app(app)
    jobs.init_app(app)
    people.init_app(app)
    from app import plans, rectifications

    rectifications.init_app(app)
    plans.init_app(app)
    from app import gaps

    gaps.init_app(app)
    from app import inspections_read, photos

    photos.init_app(app)
    app.register_blueprint(inspections_read.bp)
    from app import cases, testing

    cases.init_app(app)
    testing.init_app(app)
    from app import urgent

    urgent.init_app(app)
    from app import plates

    plates.init_app(app)
    from app import statistics

    statistics.init_app(app)
    from app import complaints, open311, public

    complaints.init_app(app)
    open311.init_app(app)
    public.init_app(app)
    from app import assessment, quality_warnings

    assessment.init_app(app)
    quality_warnings.init_app(app)
    from app import history

    history.init_app(app)
    from app import openapi

    openapi.init_app(app)
    for blueprint in (main.bp, account.bp, admin.bp, api.bp, mapwall.bp, lookup.bp, redraw.bp,
                      enterprise.bp):
        app.register_blueprint(blueprint)
    app.wsgi_app = lookup.FastLookup(app)
    if app.config["PROXY_FIX_X_FOR"]:
        # Outermost, so everything inside (the fast path included) sees the client's address.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_FIX_X_FOR"]))
    return app


DEVELOPMENT = ("development", "dev")
DEVELOPMENT_KEY = "dev-only-change-me"
MIN_SECRET_KEY_BYTES = 32


def _serving() -> bool:
    """False for a management command (``flask --app app users list``, ``db upgrade``…): it
    signs no cookie, so it needs no key, and an operator's shell should not need the servers'
    secret. ``flask run``, gunicorn and any app made outside the ``flask`` command serve."""
    import sys

    program = sys.argv[0] if sys.argv else ""
    flask_cli = os.path.basename(program) == "flask" or program.endswith(
        os.path.join("flask", "__main__.py"))
    return not flask_cli or "run" in sys.argv[1:]


def _check_secret_key(config) -> None:
    """Refuse to start on a key anyone could know or guess: the published default, an empty
    or a short one (whoever has the key can forge any user's session cookie). Only an
    explicit ENV = "development" (or "dev") allows the default or a short key."""
    key = config.get("SECRET_KEY")
    if not isinstance(key, (str, bytes)):
        raise RuntimeError("GRIDWATCH_SECRET_KEY must be text (quote it if it looks like a "
                           "number)")
    raw = key.encode() if isinstance(key, str) else key
    if not raw.strip():
        raise RuntimeError("set GRIDWATCH_SECRET_KEY: the secret key is empty")
    if str(config.get("ENV") or "").strip().lower() in DEVELOPMENT:
        return
    if key == DEVELOPMENT_KEY:
        raise RuntimeError("set GRIDWATCH_SECRET_KEY: the default key is for development only "
                           "(GRIDWATCH_ENV=development)")
    if len(raw) < MIN_SECRET_KEY_BYTES:
        raise RuntimeError(f"GRIDWATCH_SECRET_KEY has {len(raw)} bytes; at least "
                           f"{MIN_SECRET_KEY_BYTES} random ones are needed, e.g. "
                           "python3 -c 'import secrets; print(secrets.token_hex(32))'")


def _server_timing(app: Flask) -> None:
    """Every response says how long the app spent on it (``Server-Timing: app;dur=ms``), so
    benches and browsers' dev tools see server time apart from the network."""
    import time

    from flask import g

    @app.before_request
    def _start():
        g.request_started = time.perf_counter()

    @app.after_request
    def _stop(response):
        started = g.get("request_started")
        if started is not None:
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.3f}"
        return response


def _vendor_urls(app: Flask) -> None:
    from flask import url_for

    from app.assets import vendor_file

    app.jinja_env.globals["vendor_url"] = lambda package, inner: url_for(
        "static", filename=vendor_file(package, inner))


def _loads(value: str):
    # Numbers and lists come as JSON; anything else stays the string it was.
    try:
        return json.loads(value)
    except ValueError:
        return value

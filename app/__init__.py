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
    if app.config["ENV"] == "production" and app.config["SECRET_KEY"] == "dev-only-change-me":
        raise RuntimeError("set GRIDWATCH_SECRET_KEY: the default key is for development only")

    from app import (account, admin, api, auth, cli, db, errors, gridedit, i18n, lookup, main,
                     mapwall)
    from app import ratelimit
    from gis.limits import Limits

    app.extensions["gridwatch_limits"] = Limits.from_config(app.config)

    _server_timing(app)  # first, so the timing includes authentication
    _vendor_urls(app)
    db.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    ratelimit.init_app(app)
    cli.init_app(app)
    from app import jobs

    jobs.init_app(app)
    for blueprint in (main.bp, account.bp, admin.bp, api.bp, mapwall.bp, lookup.bp, gridedit.bp):
        app.register_blueprint(blueprint)
    app.wsgi_app = lookup.FastLookup(app)
    return app


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

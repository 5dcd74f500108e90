"""Database wiring for the Flask app: one engine per app, one session per request on ``g``."""
from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from gis.datacache import READ_ONLY, SESSION_KEY, DataCache
from gis.db import make_engine, make_session_factory, read_connection


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["gridwatch.engine"] = engine
    app.extensions["gridwatch.sessions"] = make_session_factory(engine)
    app.extensions["gridwatch.reader"] = lambda: read_connection(engine)
    megabytes = app.config["MAP_CACHE_MB"]
    app.extensions["gridwatch.datacache"] = DataCache(int(megabytes * 2**20)) if megabytes \
        else None
    app.teardown_appcontext(close_session)


def get_engine():
    return current_app.extensions["gridwatch.engine"]


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["gridwatch.sessions"]()
        # What only changes when the data does comes from here (gis/datacache.py); a GET
        # writes nothing, so the data's versions are read once for the whole request.
        g.db_session.info[SESSION_KEY] = current_app.extensions["gridwatch.datacache"]
        g.db_session.info[READ_ONLY] = has_request_context() and request.method in (
            "GET", "HEAD")
    return g.db_session


def reader(app: Flask | None = None) -> AbstractContextManager:
    """``with reader() as conn``: a DBAPI connection for one quick read (see
    gis.db.read_connection); tests point it at their own transaction. ``app`` for callers
    outside a request (the WSGI fast path)."""
    return (app or current_app).extensions["gridwatch.reader"]()


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()

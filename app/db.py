"""Database wiring for the Flask app: one engine per app (and one per read replica), one
session per request on ``g``; what a request does when the database is away for a moment.

Reads on replicas (``DATABASE_REPLICA_URLS``): a GET or HEAD is served by a streaming
replication standby, writes and everything a GET writes by the way (session and token
``last_seen``, read limits: ``get_session(write=True)``) by the primary. After a write the
primary's WAL position (``pg_current_wal_lsn()``) is kept in the user's session (and sent as
the ``GridWatch-Write-LSN`` header, which an API client may send back); that user's reads go
to a standby only once it has replayed that far, so nobody misses their own write.

The database away (a restart, a failover, a cut connection): a GET or HEAD is run again after
``DATABASE_RETRY_DELAYS`` (the client sees nothing but the wait); a write, or a read still
failing, answers 503 with ``Retry-After`` and a message in the user's language, never 500.
A write is not run again here: the client that got 503 knows nothing was acknowledged and
sends it again (inspections carry their ``client_id``, so a resend never makes two).
"""
from __future__ import annotations

import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context, request, session
from sqlalchemy.orm import Session, sessionmaker

from gis.datacache import READ_ONLY, SESSION_KEY, DataCache
from gis.db import (current_wal_lsn, lsn_value, make_engine, make_session_factory,
                    read_connection, replayed_up_to, unavailable, valid_lsn)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Where a user's last write is kept: the session cookie's key, and the header that carries it
# to (and back from) API clients.
LSN_KEY = "gw_write_lsn"
LSN_HEADER = "GridWatch-Write-LSN"


@dataclass
class Replica:
    engine: object
    sessions: sessionmaker
    name: str


def init_app(app: Flask) -> None:
    pre_ping = _pre_ping(app.config["DATABASE_PRE_PING"])
    engine = make_engine(app.config["DATABASE_URL"], pre_ping=pre_ping)
    app.extensions["gridwatch.engine"] = engine
    app.extensions["gridwatch.sessions"] = make_session_factory(engine)
    app.extensions["gridwatch.reader"] = lambda: read_connection(engine)
    replicas = []
    for i, url in enumerate(_urls(app.config["DATABASE_REPLICA_URLS"])):
        replica_engine = make_engine(url, pre_ping=pre_ping)
        replicas.append(Replica(replica_engine, make_session_factory(replica_engine),
                                f"replica{i + 1}"))
    app.extensions["gridwatch.replicas"] = replicas
    megabytes = app.config["MAP_CACHE_MB"]
    app.extensions["gridwatch.datacache"] = DataCache(int(megabytes * 2**20)) if megabytes \
        else None
    app.teardown_appcontext(close_session)
    _retry_when_unavailable(app)
    if replicas:
        app.after_request(_remember_write_position)


def _pre_ping(value):
    """DATABASE_PRE_PING: "writes" (the default), True or False, for gis.db.make_engine."""
    if isinstance(value, str) and value.strip().lower() == "writes":
        # A write must not meet a connection the database dropped: it could only answer 503.
        # A read that does is simply run again (below), so reads skip the round trip.
        return lambda: has_request_context() and request.method not in SAFE_METHODS
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on", "always")
    return bool(value)


def _urls(value) -> list[str]:
    # A list, or one string of URLs separated by commas or spaces (an environment variable).
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [str(u) for u in value or [] if str(u).strip()]


def get_engine():
    return current_app.extensions["gridwatch.engine"]


def get_session(*, write: bool = False) -> Session:
    """The request's session: on a read replica for a GET or HEAD when replicas are set and
    the user's own writes have reached it, else on the primary. ``write``: the primary
    whatever the request (for what a GET writes by the way)."""
    replica = None if write else _read_replica()
    key = "db_session" if replica is None else "db_replica_session"
    if key not in g:
        factory = (current_app.extensions["gridwatch.sessions"] if replica is None
                   else replica.sessions)
        db = factory()
        # What only changes when the data does comes from here (gis/datacache.py); a GET
        # writes nothing, so the data's versions are read once for the whole request.
        db.info[SESSION_KEY] = current_app.extensions["gridwatch.datacache"]
        db.info[READ_ONLY] = has_request_context() and request.method in ("GET", "HEAD")
        setattr(g, key, db)
    return g.get(key)


def reader(app: Flask | None = None) -> AbstractContextManager:
    """``with reader() as conn``: a DBAPI connection for one quick read (see
    gis.db.read_connection); tests point it at their own transaction. ``app`` for callers
    outside a request (the WSGI fast path, which reads the primary)."""
    if app is None:
        replica = _read_replica()
        if replica is not None:
            return read_connection(replica.engine)
    return (app or current_app).extensions["gridwatch.reader"]()


def close_session(_exc=None) -> None:
    for key in ("db_session", "db_replica_session"):
        db = g.pop(key, None)
        if db is not None:
            try:
                db.close()
            except Exception:  # noqa: BLE001 - a dead connection is discarded by the pool
                current_app.logger.warning("closing a session failed", exc_info=True)


# --------------------------------------------------------------------------------------------
# Read replicas
# --------------------------------------------------------------------------------------------

def _read_replica() -> Replica | None:
    """This request's replica, chosen at its first read, or None for the primary."""
    if not has_request_context():
        return None
    if "gw_replica" in g:
        return g.gw_replica
    replica = None
    replicas = current_app.extensions.get("gridwatch.replicas")
    if replicas and request.method in SAFE_METHODS and not g.get("gw_primary_only"):
        replica = random.choice(replicas)
        seen = _last_write_position()
        if seen is not None and not _caught_up(replica, seen):
            replica = None
    g.gw_replica = replica
    return replica


def _last_write_position() -> str | None:
    """The WAL position of this user's last write: the session's, or the header's (an API
    client), whichever is later."""
    positions = [p for p in (session.get(LSN_KEY), request.headers.get(LSN_HEADER))
                 if valid_lsn(p)]
    return max(positions, key=lsn_value) if positions else None


def _caught_up(replica: Replica, lsn: str) -> bool:
    try:
        with read_connection(replica.engine) as conn:
            return replayed_up_to(conn, lsn)
    except Exception as exc:  # noqa: BLE001 - a replica away: read the primary
        if not unavailable(exc):
            raise
        current_app.logger.warning("read replica %s unavailable: %s", replica.name, exc)
        return False


def _remember_write_position(response):
    """After a write (any method but GET, HEAD, OPTIONS that did not crash): the primary's WAL
    position, so that this user's next reads wait for it on the replicas."""
    if request.method in SAFE_METHODS or response.status_code >= 500:
        return response
    try:
        with current_app.extensions["gridwatch.reader"]() as conn:
            lsn = current_wal_lsn(conn)
    except Exception as exc:  # noqa: BLE001 - then the next reads may go to the primary
        if not unavailable(exc):
            raise
        current_app.logger.warning("could not read the primary's WAL position: %s", exc)
        return response
    response.headers[LSN_HEADER] = lsn
    if g.get("via") == "web":  # a browser's session; token clients keep the header
        session[LSN_KEY] = lsn
    return response


# --------------------------------------------------------------------------------------------
# The database away for a moment
# --------------------------------------------------------------------------------------------

class _RunAgain(Exception):
    """Raised by the error handler to have the whole request dispatched once more."""


def _retry_when_unavailable(app: Flask) -> None:
    import psycopg2
    from sqlalchemy import exc as sa_exc

    from app.errors import error_response

    delays = [float(d) for d in app.config["DATABASE_RETRY_DELAYS"]]
    retry_after = max(1, int(app.config["DATABASE_RETRY_AFTER_SECONDS"]))
    dispatch = app.full_dispatch_request

    def full_dispatch_request():
        # Before-request hooks, the view and the error handlers all run again: a GET writes
        # nothing a second run could double (what it writes by the way is idempotent).
        while True:
            try:
                return dispatch()
            except _RunAgain:
                attempt = g.get("gw_db_attempts", 0)
                g.gw_db_attempts = attempt + 1
                close_session()
                _forget_connections(app)
                g.pop("gw_replica", None)
                g.gw_primary_only = True  # a replica away, or a write on one: the primary
                time.sleep(delays[attempt])

    app.full_dispatch_request = full_dispatch_request

    def _database_error(exc: Exception):
        on_replica = g.get("gw_replica") is not None
        if not (unavailable(exc) or (on_replica and _read_only_refusal(exc))):
            app.logger.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500)
        attempt = g.get("gw_db_attempts", 0)
        if request.method in SAFE_METHODS and attempt < len(delays):
            app.logger.warning("database unavailable on %s %s (%s); running it again",
                               request.method, request.path, _first_line(exc))
            raise _RunAgain() from exc
        app.logger.warning("database unavailable on %s %s (%s); answered 503",
                           request.method, request.path, _first_line(exc))
        _forget_connections(app)
        if "_login_user" not in g:
            # The error page must not try to load the user from the database that is away.
            from app.auth import login_manager

            g._login_user = login_manager.anonymous_user()
        response = error_response(503, unavailable_message(request.method, retry_after),
                                  code="database_unavailable")
        response = app.make_response(response)
        response.headers["Retry-After"] = str(retry_after)
        return response

    for cls in (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
                psycopg2.Error):
        app.register_error_handler(cls, _database_error)


def _forget_connections(app: Flask) -> None:
    """The database went away: every pooled connection of this process is as dead as the
    one that failed (a restart cut them all), so the pools start afresh instead of handing
    them out one by one to the next requests. Connections checked out elsewhere are left to
    their requests (close=False)."""
    for engine in [app.extensions["gridwatch.engine"]] + [
            r.engine for r in app.extensions.get("gridwatch.replicas", [])]:
        engine.dispose(close=False)


def unavailable_message(method: str, seconds: int) -> str:
    from flask_babel import gettext as _

    if method in SAFE_METHODS:
        return _("The database is unavailable for a moment. Try again in %(seconds)s "
                 "seconds.", seconds=seconds)
    return _("The database is unavailable for a moment; nothing was saved. Send it again in "
             "%(seconds)s seconds.", seconds=seconds)


def _read_only_refusal(exc: Exception) -> bool:
    # SQLSTATE 25006: a GET that writes (a view not using get_session(write=True)) ran on a
    # standby; run again on the primary.
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "pgcode", None) == "25006"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else exc.__class__.__name__

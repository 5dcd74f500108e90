"""Database engine and session helpers, shared by the Flask app, the CLI, tests and benches.

Nothing here reads configuration: callers pass the URL in (the Flask factory reads it).
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Callable

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "postgresql+psycopg2://gridwatch:gridwatch@127.0.0.1:5432/gridwatch"


class DatabaseError(RuntimeError):
    """The database is missing, unreachable or lacks PostGIS."""


def normalise_url(url: str) -> str:
    # Heroku-style and libpq URLs say postgres:// or postgresql://; SQLAlchemy wants a driver.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


# A pooled connection idle longer than this is pinged before use (see make_engine).
PING_AFTER_IDLE_SECONDS = 10.0


def make_engine(url: str, *, pre_ping: bool | Callable[[], bool] = False,
                **kwargs) -> Engine:
    """An engine on ``url``. ``pre_ping`` True: every pooled connection is tested (``SELECT
    1``) as it is checked out and replaced when the database went away (SQLAlchemy's
    ``pool_pre_ping``), so after a database restart no request meets a dead connection. A
    callable: tested when it answers True at checkout (the app: during writes). Otherwise, and
    always, a connection idle for ``PING_AFTER_IDLE_SECONDS`` is tested."""
    engine = create_engine(normalise_url(url), future=True, pool_pre_ping=pre_ping is True,
                           **kwargs)
    ping_when = pre_ping if callable(pre_ping) else None

    @event.listens_for(engine, "connect")
    def _session_settings(dbapi_conn, record):
        # JIT compilation costs ~130 ms on our short spatial queries and buys nothing
        # (PERF-NOTES: incremental reassignment 240 ms with JIT, 65-110 ms without).
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()
        record.info["last_used"] = time.monotonic()

    # Pinging on every checkout is a round trip per request: 0.1-0.3 ms of a 1.4-1.7 ms
    # lookup on the demo city, 10 % of its throughput (docs/reliability.md). A connection
    # that served a request seconds ago is alive; one idle for longer may have been cut (a
    # database restart, a firewall), so it is asked first and, if dead, the pool replaces it
    # before anyone sees an error. ``ping_when`` adds the checkouts that should not risk it.
    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        if pre_ping is True:
            return  # pool_pre_ping tests every checkout already
        idle = time.monotonic() - record.info.get("last_used", 0.0)
        if idle < PING_AFTER_IDLE_SECONDS and not (ping_when and ping_when()):
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc

    @event.listens_for(engine, "checkin")
    def _remember_use(_dbapi_conn, record):
        record.info["last_used"] = time.monotonic()

    return engine


# SQLSTATE classes and codes that mean "the database is not there right now" rather than "this
# statement is wrong": 08 connection exceptions, 57P01-57P03 shutting down / crashed /
# starting up, 53300 too many connections; 40001 and 40P01 (serialization failure, deadlock)
# mean "run it again". psycopg2 gives no code when the socket itself died.
UNAVAILABLE_CODES = ("57P01", "57P02", "57P03", "53300", "40001", "40P01")


def unavailable(exc: BaseException) -> bool:
    """Did this error come from the database being unreachable, restarting or overloaded
    (worth retrying in a moment), not from the statement itself? Takes SQLAlchemy's
    wrappers (OperationalError, DisconnectionError, pool TimeoutError…) and psycopg2's own
    errors (raised on the raw connections of ``read_connection``)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return False
    if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return False
    code = getattr(exc, "pgcode", None)
    return code is None or code.startswith("08") or code in UNAVAILABLE_CODES


def current_wal_lsn(conn) -> str:
    """The primary's WAL position now (``pg_current_wal_lsn()``, e.g. ``'0/3000148'``): a
    write committed before this call is at or before it. ``conn``: a DBAPI connection."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        return cur.fetchone()[0]


_LSN = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")


def valid_lsn(value) -> bool:
    """A WAL position as PostgreSQL writes it (``'16/B374D848'``)?"""
    return isinstance(value, str) and _LSN.fullmatch(value) is not None


def lsn_value(lsn: str) -> int:
    """A WAL position as a number, to compare two (``'0/3000148'`` < ``'1/0'``)."""
    high, _sep, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def replayed_up_to(conn, lsn: str) -> bool:
    """Has this standby replayed the WAL up to ``lsn``? False on a server that is no standby
    (``pg_last_wal_replay_lsn()`` is NULL there) or for an LSN that does not parse."""
    if not valid_lsn(lsn):
        return False
    with conn.cursor() as cur:
        cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
        caught_up = cur.fetchone()[0]
    if not conn.autocommit:
        conn.rollback()
    return bool(caught_up)


@contextmanager
def read_connection(engine: Engine):
    """A pooled DBAPI connection in autocommit, for one-statement reads on hot paths.

    No ORM session and no BEGIN/ROLLBACK round trips: on the point lookup this saved ~0.8 ms
    of a ~3 ms request (bench/lookup.py). The connection goes back to the pool out of
    autocommit, as sessions expect it.
    """
    pooled = engine.raw_connection()
    dbapi_conn = pooled.driver_connection
    try:
        dbapi_conn.autocommit = True
        yield dbapi_conn
    finally:
        try:
            if not dbapi_conn.closed:
                dbapi_conn.autocommit = False
        finally:
            pooled.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


def check_database(engine: Engine) -> str:
    """Return the PostGIS version, or raise DatabaseError saying what is missing."""
    try:
        with engine.connect() as conn:
            version = conn.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
    except Exception as exc:  # noqa: BLE001 - any driver error means "no usable database"
        raise DatabaseError(
            f"cannot connect to the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0]}"
        ) from exc
    if version is None:
        raise DatabaseError(
            f"the database {engine.url.database!r} has no PostGIS extension "
            "(run: CREATE EXTENSION postgis; CREATE EXTENSION btree_gist;)"
        )
    return version


@contextmanager
def transaction(session_factory: sessionmaker[Session]):
    """One unit of work: commit on success, roll back everything on any error."""
    session = session_factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def reset_database(url: str) -> None:
    """Create the database if missing and empty it: schema ``public`` dropped and recreated
    with PostGIS and btree_gist. For tests and benches only — it destroys everything."""
    from sqlalchemy.engine import make_url

    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = create_engine(target, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    engine.dispose()

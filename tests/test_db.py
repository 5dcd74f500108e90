"""The connection pool: connections cut while idle are replaced before anyone sees an error;
the autocommit read path hands connections back as sessions expect them."""
import psycopg2.extensions
import pytest
from sqlalchemy import exc, text

from gis import db
from gis.db import make_engine, read_connection


@pytest.fixture
def pool(database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def _terminate(engine, pid: int) -> None:
    # From a connection outside the pool under test: a database restart, seen by one backend.
    with make_engine(str(engine.url.render_as_string(hide_password=False))).begin() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()


def test_a_connection_cut_while_idle_is_replaced_unseen(pool, monkeypatch):
    first = _backend_pid(pool)
    _terminate(pool, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle "long enough"
    assert _backend_pid(pool) != first


def test_a_connection_used_moments_ago_is_not_pinged(pool, monkeypatch):
    # The other side of the trade: without the ping the dead connection is used as it is,
    # and the pool learns from the error (so the ping above is what hid it).
    first = _backend_pid(pool)
    _terminate(pool, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(exc.OperationalError):
        _backend_pid(pool)
    assert _backend_pid(pool) != first


def test_read_connection_is_autocommit_and_returns_it_transactional(pool):
    with read_connection(pool) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        # No BEGIN was sent and nothing is left open to roll back.
        assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with pool.connect() as again:
        assert again.connection.driver_connection.autocommit is False
        assert again.execute(text("SELECT pg_backend_pid()")).scalar() == pid

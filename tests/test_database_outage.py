"""The database away for a moment (a restart, a failover): reads are run again unseen, writes
answer 503 with Retry-After in the user's language, never 500 (app/db.py). The real restart
under load is bench/faults.py (docs/reliability.md)."""
import psycopg2
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from gis.db import lsn_value, unavailable, valid_lsn
from tests.factories import login, small_world


def _gone() -> sa_exc.OperationalError:
    # What SQLAlchemy raises when the server went away under a pooled connection.
    return sa_exc.OperationalError(
        "SELECT 1", {}, psycopg2.OperationalError("server closed the connection unexpectedly"),
        connection_invalidated=True)


@pytest.fixture
def flaky(app, monkeypatch):
    """Routes that fail with ``raise_`` for their first ``failures`` calls (None: always)."""
    monkeypatch.setattr("app.db.time.sleep", lambda seconds: None)
    state = {"calls": 0, "failures": 1, "raise_": _gone}

    def view():
        from flask import request

        state["calls"] += 1
        if state["failures"] is None or state["calls"] <= state["failures"]:
            raise state["raise_"]()
        return {"ok": True, "method": request.method}

    app.add_url_rule("/api/v1/test-flaky", "test_flaky", view, methods=["GET", "POST"])
    app.add_url_rule("/test-flaky-page", "test_flaky_page", view)
    return state


def test_a_read_meeting_a_lost_connection_is_run_again_unseen(client, flaky):
    answer = client.get("/api/v1/test-flaky")
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "method": "GET"}
    assert flaky["calls"] == 2


def test_a_read_still_failing_after_the_retries_is_a_503_with_retry_after(app, client, flaky):
    flaky["failures"] = None
    answer = client.get("/api/v1/test-flaky")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(app.config["DATABASE_RETRY_AFTER_SECONDS"])
    assert flaky["calls"] == 1 + len(app.config["DATABASE_RETRY_DELAYS"])
    error = answer.get_json()["error"]
    assert error["code"] == "database_unavailable" and error["status"] == 503
    assert "数据库" in error["message"]  # Chinese by default


def test_a_write_is_never_run_twice_and_answers_503_in_the_users_language(client, flaky):
    answer = client.post("/api/v1/test-flaky", json={}, headers={"Accept-Language": "en"})
    assert answer.status_code == 503 and flaky["calls"] == 1
    assert int(answer.headers["Retry-After"]) >= 1
    flaky["failures"] = None
    message = client.post("/api/v1/test-flaky?lang=en", json={}).get_json()["error"]["message"]
    assert "nothing was saved" in message
    chinese = client.post("/api/v1/test-flaky?lang=zh_Hans_CN", json={}).get_json()
    assert "未保存" in chinese["error"]["message"]


def test_a_page_gets_the_503_page_not_the_crash_page(client, flaky):
    flaky["failures"] = None
    answer = client.get("/test-flaky-page")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "数据库" in answer.get_data(as_text=True)


def test_an_error_of_the_statement_itself_stays_a_500_and_is_not_retried(client, flaky):
    flaky["raise_"] = lambda: sa_exc.IntegrityError(
        "INSERT", {}, psycopg2.IntegrityError("duplicate key"))
    assert client.get("/api/v1/test-flaky").status_code == 500
    assert flaky["calls"] == 1


def test_a_logged_in_read_survives_a_lost_connection(client, session, flaky):
    small_world(session)
    login(client, "s1-leader")
    assert client.get("/api/v1/test-flaky").status_code == 200


@pytest.fixture
def raw(database_url):
    url = make_url(database_url).set(drivername="postgresql")
    conn = psycopg2.connect(url.render_as_string(hide_password=False))
    yield conn
    conn.close()


def test_which_real_errors_mean_the_database_is_away(raw):
    with raw.cursor() as cur:
        cur.execute("SET statement_timeout = 1")
        with pytest.raises(psycopg2.Error) as timeout:
            cur.execute("SELECT pg_sleep(0.2)")
    raw.rollback()
    assert not unavailable(timeout.value)  # a statement too slow: not the database away
    with raw.cursor() as cur:
        with pytest.raises(psycopg2.Error) as bad:
            cur.execute("SELECT 1/0")
    raw.rollback()
    assert not unavailable(bad.value)
    with raw.cursor() as cur:
        with pytest.raises(psycopg2.Error) as terminated:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert unavailable(terminated.value)  # what a restart does to every connection
    with pytest.raises(psycopg2.Error) as refused:
        psycopg2.connect(host="127.0.0.1", port=1, connect_timeout=2)
    assert unavailable(refused.value)
    assert unavailable(_gone())
    assert unavailable(sa_exc.TimeoutError("QueuePool limit reached"))


def test_wal_positions_compare_as_numbers():
    assert valid_lsn("0/3000148") and valid_lsn("16/B374D848")
    assert not valid_lsn("0/3000148; DROP TABLE x") and not valid_lsn(None)
    assert lsn_value("0/FFFFFFFF") < lsn_value("1/0") < lsn_value("1/10")


def test_connections_are_tested_before_writes_not_before_reads(app):
    from app.db import _pre_ping

    when = _pre_ping("writes")
    for method, tested in (("GET", False), ("HEAD", False), ("POST", True), ("PUT", True),
                           ("PATCH", True), ("DELETE", True)):
        with app.test_request_context("/api/v1/lookup", method=method):
            assert when() is tested
    assert when() is False  # outside a request (the CLI, job workers): only idle ones
    assert _pre_ping(True) is True and _pre_ping("true") is True and _pre_ping(False) is False

"""Real PostgreSQL, not the shared server: a throwaway primary with the demo city and a hot
standby streaming from it (bench/pgcluster.py: initdb into temporary folders, loopback ports).

- Reads go to the standby, writes to the primary, and a user's own fresh writes are read from
  the primary until the standby has replayed them (DATABASE_REPLICA_URLS, app/db.py).
- ``db backup`` / ``db restore`` round-trip the demo city exactly (gis/backup.py).

Skipped when PostgreSQL's server binaries are missing; under CI=true that fails the run.
"""
from __future__ import annotations

import os
import time

import psycopg2
import pytest

from tests.conftest import TEST_SECRET_KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clusters():
    from bench.pgcluster import Cluster, bin_dir
    from gis.db import make_engine, make_session_factory, transaction
    from gis.demo.build import load_demo
    from gis.migrate import upgrade

    if bin_dir() is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    primary = Cluster.create()
    standby = None
    try:
        url = primary.create_database("gridwatch")
        upgrade(url)
        engine = make_engine(url)
        with transaction(make_session_factory(engine)) as session:
            load_demo(session, seed=2009, n_enterprises=200)
        engine.dispose()
        standby = primary.standby()
        yield primary, standby, url
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


def _query(url: str, sql: str, *args):
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0] if cur.description else None
    finally:
        conn.close()


def _wait_for_replay(primary_url: str, standby_url: str, timeout: float = 20) -> None:
    lsn = _query(primary_url, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + timeout
    while not _query(standby_url, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn):
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.05)


def _app(primary_url: str, standby_url: str):
    from app import create_app

    return create_app({"TESTING": True, "DATABASE_URL": primary_url,
                       "DATABASE_REPLICA_URLS": standby_url, "SECRET_KEY": TEST_SECRET_KEY,
                       "WTF_CSRF_ENABLED": False, "JOB_WORKER_THREADS": 0,
                       "DATABASE_RETRY_DELAYS": [0.05, 0.2]})


def test_reads_go_to_the_standby_and_a_users_own_writes_wait_for_it(clusters):
    primary, standby, url = clusters
    standby_url = url.replace(f":{primary.port}/", f":{standby.port}/")
    app = _app(url, standby_url)
    writer, other = app.test_client(), app.test_client()
    for client in (writer, other):
        assert client.post("/login", data={"username": "admin",
                                           "password": "demo-admin-2026"}).status_code == 302
    _wait_for_replay(url, standby_url)
    _query(standby_url, "SELECT pg_wal_replay_pause()")
    try:
        created = writer.post("/api/v1/people", json={"name": "复制测试员", "unit": "测试"})
        assert created.status_code == 201, created.get_data(as_text=True)
        code = created.get_json()["code"]
        assert created.headers["GridWatch-Write-LSN"]
        # The writer reads their own write at once: the standby is behind it, so the primary.
        assert writer.get(f"/api/v1/people/{code}").status_code == 200
        # Someone else reads the standby, which has not replayed it yet (replay is paused);
        # their session's last_seen and read limits are written on the primary meanwhile.
        assert other.get(f"/api/v1/people/{code}").status_code == 404
        assert other.get("/api/v1/people?q=复制测试员").status_code == 200
        # An API client sends the position back in the header: the primary too.
        assert other.get(f"/api/v1/people/{code}", headers={
            "GridWatch-Write-LSN": created.headers["GridWatch-Write-LSN"]}).status_code == 200
    finally:
        _query(standby_url, "SELECT pg_wal_replay_resume()")
    _wait_for_replay(url, standby_url)
    assert other.get(f"/api/v1/people/{code}").status_code == 200
    # The standby away: reads fall back to the primary, unseen.
    standby.stop("immediate")
    try:
        assert other.get(f"/api/v1/people/{code}").status_code == 200
        assert other.get("/api/v1/cells.geojson").status_code == 200
    finally:
        standby.start()
    for engine in [app.extensions["gridwatch.engine"]] + [
            r.engine for r in app.extensions["gridwatch.replicas"]]:
        engine.dispose()


def test_backup_and_restore_round_trip_the_demo_city_exactly(clusters, tmp_path):
    from app import create_app
    from gis.backup import fingerprint

    primary, _standby, url = clusters
    scratch = primary.create_database("gridwatch_restored")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": TEST_SECRET_KEY})
    dump = tmp_path / "gridwatch.dump"
    env = {"GRIDWATCH_PG_BIN": str(primary.bindir)}
    done = app.test_cli_runner().invoke(args=["db", "backup", str(dump)], env=env)
    assert done.exit_code == 0, done.output
    target = create_app({"DATABASE_URL": scratch, "SECRET_KEY": TEST_SECRET_KEY})
    for _ in range(2):  # into the empty database, then over what the first restore wrote
        done = target.test_cli_runner().invoke(args=["db", "restore", "--yes", str(dump)],
                                               env=env)
        assert done.exit_code == 0, done.output
    original, restored = psycopg2.connect(url), psycopg2.connect(scratch)
    try:
        before, after = fingerprint(original), fingerprint(restored)
        assert before == after
        assert before["cell_version"][0] > 53 and before["enterprise"][0] == 200
        assert before["audit_log"][0] > 0 and before["inspection"][0] > 0
        # The database's own rules came back too: the audit log is still append-only.
        with restored.cursor() as cur, pytest.raises(psycopg2.Error):
            cur.execute("DELETE FROM audit_log")
    finally:
        original.close()
        restored.close()
    for a in (app, target):
        a.extensions["gridwatch.engine"].dispose()

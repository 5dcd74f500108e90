"""A complaint taken in while a boundary commit runs is stamped against one boundary version
that covers its arrival, in either order (docs/reliability.md, "A complaint during a boundary
commit"; issue 18).

Two sessions on real connections: the commit and the intake each hold their transaction open
while the other one arrives, and the test waits until the second is seen waiting for a lock
(or done) before letting the first commit, so the interleaving is the same on every run. Both
need committed rows, which the rolled-back test transaction cannot give, so the module has its
own database (``<test database>_boundary``).
"""
import datetime as dt
import threading
import time

import pytest
import shapely
from sqlalchemy import text

from gis import complaints, redraw
from gis.db import make_engine, make_session_factory
from tests.conftest import migrated_database
from tests.factories import small_world

UTC = dt.timezone.utc
# S1-01 until the edge between S1-01 and S1-02 moves west from 116.05 to 116.04.
MOVED_SPOT = {"lon": "116.045", "lat": "38.45"}


def box(*b):
    return shapely.MultiPolygon([shapely.box(*b)])


EDGE_WEST = {"S1-01": box(116.0, 38.4, 116.04, 38.5), "S1-02": box(116.04, 38.4, 116.1, 38.5)}
EDGE_BACK = {"S1-01": box(116.0, 38.4, 116.05, 38.5), "S1-02": box(116.05, 38.4, 116.1, 38.5)}


@pytest.fixture(scope="module")
def race_engine(database_url):
    engine = make_engine(migrated_database("_boundary"))
    Session = make_session_factory(engine)
    with Session() as s:
        small_world(s, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
        s.commit()
    yield engine
    engine.dispose()


def _take(session):
    return complaints.receive(session, source="staff", service_code="quality",
                              description="电线绝缘层破损", username="tester", **MOVED_SPOT)


def _commit_edge(session, edges):
    return redraw.commit(session, redraw.Proposal("S1", dict(edges)), username="s1-manager",
                         comment="move the edge")


def _wait_until_blocked_or_done(engine, thread: threading.Thread, seconds: float = 20.0):
    """Until another backend of this database waits for a lock, or ``thread`` has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return
        with engine.connect() as conn:
            waiting = conn.execute(text("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'""")).scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second session neither waited nor finished")


def _in_thread(fn):
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _stamp(engine, number):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT c.code AS cell, k.received_at, v.valid_from, v.valid_to,
                   v.valid @> k.received_at AS covers, v.valid_to IS NULL AS live
            FROM complaint k JOIN cell c ON c.id = k.cell_id
            JOIN cell_version v ON v.id = k.cell_version_id
            WHERE k.number = :n"""), {"n": number}).one()


def _restore_edge(engine):
    Session = make_session_factory(engine)
    with Session() as s:
        current = s.execute(text("""
            SELECT ST_XMax(geom) FROM cell_current WHERE code = 'S1-01'""")).scalar()
        if round(current, 6) != 116.05:
            _commit_edge(s, EDGE_BACK)
            s.commit()


def test_a_complaint_taken_in_while_a_commit_is_open_waits_and_gets_the_new_boundary(
        race_engine):
    """Commit first: the boundary commit has written its versions and not committed; a
    complaint arrives in the area that moves. It is stamped with a version that covers its
    arrival: the new one (S1-02), since it arrived after the commit's moment."""
    _restore_edge(race_engine)
    Session = make_session_factory(race_engine)
    with Session() as committer:
        _commit_edge(committer, EDGE_WEST)  # versions written, transaction still open
        thread, out = _in_thread(lambda: _take_and_commit(Session))
        _wait_until_blocked_or_done(race_engine, thread)
        committer.commit()
    thread.join(timeout=60)
    assert "error" not in out, out.get("error")
    stamp = _stamp(race_engine, out["value"].number)
    assert stamp.covers, (f"stamped with a version valid {stamp.valid_from}..{stamp.valid_to}, "
                          f"received at {stamp.received_at}")
    assert (stamp.cell, stamp.live) == ("S1-02", True)


def test_a_commit_started_before_a_complaint_it_then_waits_for_dates_itself_after_it(
        race_engine):
    """Intake first: the commit's transaction has begun, then a complaint is taken in and
    stamped (old boundaries: S1-01) and its transaction stays open while the commit runs. The
    commit must not date its boundaries before that complaint's arrival: the old version it
    closes still covers the complaint."""
    _restore_edge(race_engine)
    Session = make_session_factory(race_engine)
    with Session() as committer:
        committer.execute(text("SELECT 1"))  # the commit's transaction begins here
        time.sleep(0.05)
        with Session() as intake:
            taken = _take(intake)  # stamped, not committed
            thread, out = _in_thread(lambda: _commit_edge(committer, EDGE_WEST))
            _wait_until_blocked_or_done(race_engine, thread)
            intake.commit()
        thread.join(timeout=60)
        assert "error" not in out, out.get("error")
        committer.commit()
    stamp = _stamp(race_engine, taken.number)
    assert stamp.covers, (f"stamped with a version valid {stamp.valid_from}..{stamp.valid_to}, "
                          f"received at {stamp.received_at}")
    assert stamp.cell == "S1-01"


def _take_and_commit(Session):
    with Session() as s:
        done = _take(s)
        s.commit()
        return done

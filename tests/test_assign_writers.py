"""One answer per enterprise at every moment, kept without a per-row constraint.

enterprise_cell has no exclusion constraint and no foreign keys (docs/assignment.md, "One
answer at a time"): gw_assign is the only writer and takes one lock, and statement-level
triggers check the references. These tests try what those guard against: writers at the same
time, rows naming nothing, deleted enterprises; and the same for the grade history.

Concurrent writers need committed rows, which the rolled-back test transaction cannot give
them, so the concurrency test has its own database (``<test database>_writers``).
"""
import threading

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gis.db import make_engine, make_session_factory
from gis.errors import ImportRefused
from tests.conftest import migrated_database
from tests.factories import add_cells, add_enterprises, two_cell_city

OVERLAPS = """
    SELECT count(*) FROM enterprise_cell a JOIN enterprise_cell b
      ON a.enterprise_id = b.enterprise_id AND a.id < b.id AND a.valid && b.valid"""
OPEN_ROWS = """
    SELECT count(*) FROM enterprise e
    WHERE (SELECT count(*) FROM enterprise_cell ec
           WHERE ec.enterprise_id = e.id AND ec.valid_to IS NULL) <> 1"""


def test_a_row_naming_no_enterprise_or_cell_is_refused(session):
    two_cell_city(session)
    add_enterprises(session, ("E1", 116.02, 38.45))
    with pytest.raises(DBAPIError, match="does not exist"):
        with session.begin_nested():
            session.execute(text("INSERT INTO enterprise_cell (enterprise_id, cell_id) "
                                 "VALUES (999999, NULL)"))
    with pytest.raises(DBAPIError, match="does not exist"):
        with session.begin_nested():
            session.execute(text(
                "INSERT INTO enterprise_cell (enterprise_id, cell_id, valid_from, valid_to) "
                "SELECT id, 999999, '2000-01-01', '2001-01-01' FROM enterprise"))


def test_a_row_keeps_its_enterprise_and_cell(session):
    two_cell_city(session)
    add_enterprises(session, ("E1", 116.02, 38.45))
    with pytest.raises(DBAPIError, match="is history"):
        with session.begin_nested():
            session.execute(text("UPDATE enterprise_cell SET cell_id = NULL"))


def test_deleting_an_enterprise_deletes_its_history_and_a_used_cell_stays(session):
    two_cell_city(session)
    add_enterprises(session, ("E1", 116.02, 38.45), ("E2", 116.08, 38.45))
    session.execute(text("DELETE FROM enterprise WHERE management_code = 'E1'"))
    left = session.execute(text("""
        SELECT e.management_code FROM enterprise_cell ec
        JOIN enterprise e ON e.id = ec.enterprise_id
        UNION ALL SELECT e.management_code FROM enterprise_grade g
        JOIN enterprise e ON e.id = g.enterprise_id""")).scalars().all()
    assert left == ["E2", "E2"]
    assert session.execute(text("SELECT count(*) FROM enterprise_cell")).scalar() == 1
    assert session.execute(text("SELECT count(*) FROM enterprise_grade")).scalar() == 1
    with pytest.raises(DBAPIError, match="history stays"):
        with session.begin_nested():
            session.execute(text("DELETE FROM cell_version"))
            session.execute(text("DELETE FROM cell WHERE level = 3"))


def test_grade_periods_never_overlap_and_name_an_enterprise(session):
    two_cell_city(session)
    add_enterprises(session, ("E1", 116.02, 38.45))
    with pytest.raises(DBAPIError, match="ix_enterprise_grade_current"):
        with session.begin_nested():
            session.execute(text("INSERT INTO enterprise_grade (enterprise_id, grade) "
                                 "SELECT id, 'A' FROM enterprise"))
    with pytest.raises(DBAPIError, match="overlap"):
        with session.begin_nested():
            session.execute(text("""
                INSERT INTO enterprise_grade (enterprise_id, grade, valid_from, valid_to)
                SELECT id, 'A', valid_from + interval '1 second', valid_from + interval '1 day'
                FROM enterprise"""))
    with pytest.raises(DBAPIError, match="does not exist"):
        with session.begin_nested():
            session.execute(text("INSERT INTO enterprise_grade (enterprise_id, grade) "
                                 "VALUES (999999, 'A')"))
    # Closing the open period and opening the next is the normal change.
    session.execute(text("UPDATE enterprise_grade SET valid_to = valid_from + interval '1 day' "
                         "WHERE valid_to IS NULL"))
    session.execute(text("INSERT INTO enterprise_grade (enterprise_id, grade, valid_from) "
                         "SELECT id, 'C', valid_from + interval '1 day' FROM enterprise"))


@pytest.fixture(scope="module")
def writers_engine(database_url):
    engine = make_engine(migrated_database("_writers"))
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE cell_piece, enterprise_cell, enterprise_grade, enterprise, "
                          "cell_version, cell RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


def test_concurrent_writers_never_leave_two_answers(writers_engine):
    """Four sessions at once: two move enterprises back and forth across the cells' shared
    edge, two move the edge itself (close both boundaries, add new ones). Every transaction
    must commit (the lock makes them wait, not fail), and afterwards every enterprise has
    exactly one open row and no two rows of one enterprise overlap in time."""
    Session = make_session_factory(writers_engine)
    with Session() as s:
        two_cell_city(s)
        add_enterprises(s, *[(f"W{i}", 116.03 + i * 0.002, 38.45) for i in range(20)])
        s.commit()

    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def move_enterprises(sign: float):
        try:
            start.wait()
            for _ in range(12):
                with Session() as s:
                    s.execute(text("UPDATE enterprise SET geom = ST_Translate(geom, :dx, 0)"),
                              {"dx": sign * 0.004})
                    s.commit()
                    sign = -sign
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def move_edge(xs: tuple[float, ...]):
        try:
            start.wait()
            for x in xs * 3:
                # A boundary is dated by its transaction's start: one that began before the
                # other writer's committed version is refused ("starts on or after"), as a
                # second manager would be, and tries again (never lost, never two answers).
                for attempt in range(5):
                    try:
                        with Session() as s:
                            add_cells(s, ("C-S-01", 3, shapely.box(116.0, 38.4, x, 38.5), "C-S"),
                                      ("C-S-02", 3, shapely.box(x, 38.4, 116.1, 38.5), "C-S"))
                            s.commit()
                        break
                    except ImportRefused as exc:
                        if "starts on or after" not in str(exc.problems) or attempt == 4:
                            raise
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=move_enterprises, args=(1.0,)),
               threading.Thread(target=move_enterprises, args=(-1.0,)),
               threading.Thread(target=move_edge, args=((116.04, 116.06),)),
               threading.Thread(target=move_edge, args=((116.05, 116.045),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    with writers_engine.connect() as conn:
        assert conn.execute(text(OVERLAPS)).scalar() == 0
        assert conn.execute(text(OPEN_ROWS)).scalar() == 0
        # And the open answers are the rule's answers for today's boundaries.
        wrong = conn.execute(text("""
            SELECT count(*) FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            LEFT JOIN cell c ON c.id = ec.cell_id
            WHERE c.code IS DISTINCT FROM (
                SELECT c2.code FROM cell_current c2
                WHERE c2.level = 3 AND ST_Covers(c2.geom, e.geom)
                ORDER BY c2.code LIMIT 1)""")).scalar()
        assert wrong == 0

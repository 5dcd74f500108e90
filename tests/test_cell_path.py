"""A cell's path up the tree has one home (gis.users.cell_path over gw_cell_path): by id and by
code give the same answer, and neither knows a cell that does not exist."""
from sqlalchemy import text

from gis.users import cell_path
from tests.factories import small_world


def test_by_id_and_by_code_agree(session):
    small_world(session)
    ids = dict(session.execute(text("SELECT code, id FROM cell")).all())
    expected = (ids["C"], ids["S1"], ids["S1-02"])
    assert cell_path(session, ids["S1-02"]) == expected
    assert cell_path(session, code="S1-02") == expected
    assert cell_path(session, code="C") == (ids["C"],)
    # A retired cell keeps its place: its history is judged there.
    session.execute(text("UPDATE cell SET retired_at = now() WHERE code = 'S1-02'"))
    assert cell_path(session, code="S1-02") == expected


def test_nothing_has_no_path(session):
    small_world(session)
    assert cell_path(session, None) == ()
    assert cell_path(session, code="NOPE") == ()
    assert cell_path(session, -1) == ()

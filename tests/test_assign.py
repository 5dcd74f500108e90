"""Enterprises land in the right cell by themselves, on and off edges, and history is kept."""
import datetime as dt

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gis.assign import assign_all, current_assignment
from gis.enterprises import outside_cells
from tests.factories import EAST, WEST, add_cells, add_enterprises, cell_of, two_cell_city

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
JUN = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def test_interior_point_goes_to_its_cell(session):
    two_cell_city(session)
    add_enterprises(session, ("E1", 116.02, 38.45), ("E2", 116.08, 38.45))
    assert cell_of(session, "E1") == ("C-S-01", False)
    assert cell_of(session, "E2") == ("C-S-02", False)


def test_point_on_shared_edge_goes_to_lower_code_and_is_marked(session):
    two_cell_city(session)
    add_enterprises(session, ("EDGE", 116.05, 38.45))
    assert cell_of(session, "EDGE") == ("C-S-01", True)


def test_point_on_outer_boundary_is_covered_not_dropped(session):
    two_cell_city(session)
    add_enterprises(session, ("RIM", 116.0, 38.45))
    assert cell_of(session, "RIM") == ("C-S-01", False)


def test_point_outside_every_cell_is_listed(session):
    two_cell_city(session)
    add_enterprises(session, ("FAR", 117.5, 38.45))
    assert cell_of(session, "FAR") == (None, False)
    assert [r["management_code"] for r in outside_cells(session)] == ["FAR"]


def test_point_in_level2_but_no_level3_goes_to_level2(session):
    add_cells(session, ("C", 1, shapely.box(116, 38.4, 116.2, 38.5), None),
              ("C-S", 2, shapely.box(116, 38.4, 116.2, 38.5), "C"),
              ("C-S-01", 3, WEST, "C-S"))
    add_enterprises(session, ("GAP", 116.15, 38.45))
    assert cell_of(session, "GAP") == ("C-S", False)


def test_enterprises_loaded_before_cells_are_assigned_when_cells_arrive(session):
    add_enterprises(session, ("EARLY", 116.02, 38.45), valid_from=JAN)
    assert cell_of(session, "EARLY", JAN) == (None, False)
    two_cell_city(session, valid_from=JUN)
    assert cell_of(session, "EARLY", JAN) == (None, False)
    assert cell_of(session, "EARLY") == ("C-S-01", False)


def test_moving_an_enterprise_reassigns_it(session):
    two_cell_city(session, valid_from=JAN)
    add_enterprises(session, ("MOVER", 116.02, 38.45), valid_from=JAN)
    add_enterprises(session, ("MOVER", 116.08, 38.45))
    assert cell_of(session, "MOVER") == ("C-S-02", False)
    assert cell_of(session, "MOVER", JUN) == ("C-S-01", False)


def test_redraw_moves_enterprises_and_keeps_history(session):
    two_cell_city(session, valid_from=JAN)
    add_enterprises(session, ("E1", 116.04, 38.45), ("E2", 116.06, 38.45), valid_from=JAN)
    # Move the shared edge west to 116.03: E1 changes cell from June on.
    add_cells(session, ("C-S-01", 3, shapely.box(116.0, 38.4, 116.03, 38.5), "C-S"),
              ("C-S-02", 3, shapely.box(116.03, 38.4, 116.1, 38.5), "C-S"), valid_from=JUN)
    before = JUN - dt.timedelta(days=1)
    assert cell_of(session, "E1", before) == ("C-S-01", False)
    assert cell_of(session, "E1", JUN) == ("C-S-02", False)
    assert cell_of(session, "E2", JUN) == ("C-S-02", False)
    versions = session.execute(text("""
        SELECT count(*) FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        WHERE c.code = 'C-S-01'""")).scalar()
    assert versions == 2
    # E2 never changed cell: one row, not two.
    rows = session.execute(text("""
        SELECT count(*) FROM enterprise_cell ec JOIN enterprise e ON e.id = ec.enterprise_id
        WHERE e.management_code = 'E2'""")).scalar()
    assert rows == 1


def test_boundary_versions_cannot_be_rewritten(session):
    two_cell_city(session)
    with pytest.raises(DBAPIError, match="is history"):
        session.execute(text("""
            UPDATE cell_version SET geom = ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326))
            WHERE cell_id = (SELECT id FROM cell WHERE code = 'C-S-01')"""))


def test_two_versions_of_one_cell_cannot_overlap_in_time(session):
    two_cell_city(session, valid_from=JAN)
    with pytest.raises(DBAPIError, match="cell_version_no_overlap"):
        session.execute(text("""
            INSERT INTO cell_version (cell_id, geom, valid_from)
            SELECT id, ST_Multi(ST_MakeEnvelope(116, 38.4, 116.05, 38.5, 4326)), :at
            FROM cell WHERE code = 'C-S-01'"""), {"at": JUN})


def test_full_reassignment_changes_nothing_when_triggers_kept_up(session):
    two_cell_city(session)
    rng = np.random.default_rng(7)
    pts = rng.uniform([115.98, 38.38], [116.12, 38.52], size=(300, 2))
    add_enterprises(session, *[(f"R{i}", x, y) for i, (x, y) in enumerate(pts)])
    before = current_assignment(session)
    assert assign_all(session) == 0
    assert current_assignment(session) == before


def test_assignment_agrees_with_geopandas_sjoin_off_edges(session):
    import geopandas as gpd

    two_cell_city(session)
    rng = np.random.default_rng(11)
    pts = rng.uniform([115.99, 38.39], [116.11, 38.51], size=(500, 2))
    add_enterprises(session, *[(f"P{i}", x, y) for i, (x, y) in enumerate(pts)])
    points = gpd.GeoDataFrame({"code": [f"P{i}" for i in range(len(pts))]},
                              geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=4326)
    cells = gpd.GeoDataFrame({"cell": ["C-S-01", "C-S-02"]}, geometry=[WEST, EAST], crs=4326)
    joined = gpd.sjoin(points, cells, how="left", predicate="within")
    expected = {r.code: (r.cell if isinstance(r.cell, str) else None)
                for r in joined.itertuples()}
    ours = {code: cell for code, (cell, _edge) in current_assignment(session).items()}
    # Outside both level-3 cells but inside the city square: the level-2 grid takes it.
    for code, cell in ours.items():
        if cell == "C-S":
            assert expected[code] is None
            ours[code] = None
    assert ours == expected


def test_bulk_batches_follow_the_same_rule(session):
    """More than 2,000 enterprises at once take the cells-outer bulk path (two passes): the
    answer must be the per-point rule's, on edges, on the rim, in a level-2 gap and outside."""
    add_cells(session, ("C", 1, shapely.box(116, 38.4, 116.2, 38.5), None),
              ("C-S", 2, shapely.box(116, 38.4, 116.2, 38.5), "C"),
              ("C-S-01", 3, WEST, "C-S"), ("C-S-02", 3, EAST, "C-S"))
    rng = np.random.default_rng(3)
    pts = [tuple(p) for p in rng.uniform([115.98, 38.39], [116.22, 38.51], size=(2000, 2))]
    pts += [(116.05, y) for y in np.linspace(38.4, 38.5, 41)]      # shared edge and its ends
    pts += [(116.0, y) for y in np.linspace(38.41, 38.49, 20)]     # outer rim of C-S-01
    pts += [(x, 38.5) for x in np.linspace(116.06, 116.09, 20)]    # outer rim of C-S-02
    pts += [(116.1, 38.45), (116.15, 38.45), (116.2, 38.45), (116.3, 38.45)]
    codes = [f"B{i}" for i in range(len(pts))]
    add_enterprises(session, *[(c, x, y) for c, (x, y) in zip(codes, pts)])

    def rule(x, y):
        level3 = [code for code, box in (("C-S-01", WEST), ("C-S-02", EAST))
                  if box.covers(shapely.Point(x, y))]
        if level3:
            return (level3[0], len(level3) > 1)
        return ("C-S", False) if 116 <= x <= 116.2 and 38.4 <= y <= 38.5 else (None, False)

    assert current_assignment(session) == {c: rule(x, y) for c, (x, y) in zip(codes, pts)}
    assert assign_all(session) == 0

"""The demo city has the pilot city's shape, and every enterprise sits in a level-3 cell."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis.demo.build import load_demo


@pytest.fixture
def demo(session):
    counts = load_demo(session, today=dt.date(2026, 11, 28))
    return counts


def test_demo_has_the_pilot_citys_numbers(demo):
    assert demo["townships"] == 20
    assert demo["villages"] == 639
    assert demo["stations"] == 10
    assert demo["level-2 grids"] == 13
    assert demo["level-3 cells"] == 53
    assert demo["enterprises"] == 1203
    assert demo["inspections"] == 2124
    assert demo["problems found"] == 239


def test_every_demo_enterprise_is_in_a_level3_territorial_cell(demo, session):
    levels = session.execute(text("""
        SELECT c.level, c.kind, count(*) FROM enterprise_cell ec JOIN cell c ON c.id = ec.cell_id
        WHERE ec.valid_to IS NULL GROUP BY 1, 2""")).all()
    assert levels == [(3, "territorial", 1203)]


def test_demo_grid_nests_and_covers_the_city(demo, session):
    # Level-3 territorial cells partition the city: union area equals the city, no overlaps.
    row = session.execute(text("""
        WITH l3 AS (SELECT cv.geom FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
                    WHERE c.level = 3 AND c.kind = 'territorial' AND cv.valid_to IS NULL),
             city AS (SELECT cv.geom FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
                      WHERE c.level = 1)
        SELECT abs(ST_Area((SELECT ST_Union(geom) FROM l3)::geography)
                   - ST_Area((SELECT geom FROM city)::geography)) AS gap_m2,
               (SELECT sum(ST_Area(geom::geography)) FROM l3)
                 - ST_Area((SELECT ST_Union(geom) FROM l3)::geography) AS overlap_m2
    """)).one()
    assert row.gap_m2 < 1.0
    assert row.overlap_m2 < 1.0


def test_demo_grades_inspections_and_spot_checks_are_realistic(demo, session):
    grades = dict(session.execute(text(
        "SELECT grade, count(*) FROM enterprise GROUP BY grade")).all())
    assert set(grades) == {"A", "B", "C", "D"}
    assert grades["B"] > grades["A"] and grades["B"] > grades["D"]
    batches, passed = session.execute(text("""
        SELECT sum(batches), sum(passed) FROM spot_check
        WHERE kind = 'spot_check' AND level = 'city'""")).one()
    assert batches == 1870 and round(passed / batches, 3) == 0.863
    # Periodic supervisory testing is there too, as its own programme.
    batches, passed = session.execute(text(
        "SELECT sum(batches), sum(passed) FROM spot_check WHERE kind = 'periodic'")).one()
    assert batches == 312 and round(passed / batches, 3) == 0.965
    this_year, last_year = session.execute(text("""
        SELECT count(*) FILTER (WHERE opened_on > DATE '2026-11-28' - 365),
               count(*) FILTER (WHERE opened_on <= DATE '2026-11-28' - 365)
        FROM enforcement_case""")).one()
    assert (this_year, last_year) == (404, 462)
    no_inspector = session.execute(text(
        "SELECT count(*) FROM inspection WHERE inspector_id IS NULL")).scalar()
    assert no_inspector == 0


def test_demo_owner_history_answers_past_dates(demo, session):
    changed = session.execute(text("""
        SELECT c.id, min(r.valid_to) FROM responsibility r JOIN cell c ON c.id = r.cell_id
        WHERE r.role = 'owner' AND r.valid_to IS NOT NULL GROUP BY c.id LIMIT 1""")).one()
    before = session.execute(text("SELECT (gw_cell_owner(:c, :t - interval '1 day')).person_id"),
                             {"c": changed[0], "t": changed[1]}).scalar()
    after = session.execute(text("SELECT (gw_cell_owner(:c, :t)).person_id"),
                            {"c": changed[0], "t": changed[1]}).scalar()
    assert before and after and before != after


def test_cell_without_owner_falls_to_its_station(demo, session):
    row = session.execute(text("""
        SELECT c.id, c.parent_id FROM cell c WHERE c.level = 3 AND NOT EXISTS (
            SELECT 1 FROM responsibility r WHERE r.cell_id = c.id AND r.role = 'owner')
        ORDER BY c.code LIMIT 1""")).one()
    owner = session.execute(text("SELECT * FROM gw_cell_owner(:c, now())"),
                            {"c": row.id}).one()
    assert owner.from_cell_id == row.parent_id and owner.person_id is not None

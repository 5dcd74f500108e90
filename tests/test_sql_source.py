"""Every SQL rule has one home, gis/sql/*.sql, and the migrated database holds exactly it: the
drift test for functions and triggers, as test_migrations' is for tables."""
import re
from pathlib import Path

from gis import sqlsource


def test_the_migrated_database_holds_exactly_what_gis_sql_defines(connection):
    migrated = sqlsource.definitions(connection)
    sqlsource.load_current(connection)  # rolled back with the test's transaction
    from_files = sqlsource.definitions(connection)
    assert sorted(migrated) == sorted(from_files), "objects differ: a migration is missing"
    changed = sorted(k for k in migrated if migrated[k] != from_files[k])
    assert changed == [], (f"{changed} differ between gis/sql/ and the migrated database: "
                           "add a migration that loads the files (docs/sql.md)")


def test_every_function_and_trigger_is_defined_in_one_file_only():
    seen = {}
    for name in sqlsource.FILES:
        text = (sqlsource.SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
        for obj in re.findall(
                r"CREATE (?:OR REPLACE )?(?:FUNCTION|TRIGGER|VIEW) (?:public\.)?(\w+)", text):
            assert obj not in seen, f"{obj} in {name}.sql and {seen[obj]}.sql"
            seen[obj] = name
    assert len(seen) >= 20
    assert set(p.stem for p in sqlsource.SQL_DIR.glob("*.sql")) == set(sqlsource.FILES)


def test_no_migration_builds_sql_by_string_replacement():
    versions = Path(__file__).resolve().parents[1] / "migrations" / "versions"
    for path in versions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert ".replace(" not in source and "importlib" not in source, path.name


def test_loading_tolerates_any_order_and_replaces_everything(connection):
    # A stale function (a renamed one, say) does not survive a load.
    connection.exec_driver_sql("CREATE FUNCTION gw_stale() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    sqlsource.load_current(connection)
    assert "function gw_stale()" not in sqlsource.definitions(connection)


def test_views_are_ours_to_replace_and_the_drift_test_sees_them(connection):
    # cell_current is compared like a function; PostGIS's own views are not ours.
    defs = sqlsource.definitions(connection)
    assert "view cell_current" in defs
    assert not any(k in defs for k in ("view geometry_columns", "view geography_columns"))
    # A view changed in the database (its text differs from gis/sql/) shows as drift...
    connection.exec_driver_sql(
        "CREATE OR REPLACE VIEW cell_current AS SELECT c.id, c.code, c.name, c.level, c.kind, "
        "c.specialty, c.parent_id, c.station_id, c.retired_at, cv.id AS version_id, cv.geom, "
        "cv.valid_from FROM cell c JOIN cell_version cv ON cv.cell_id = c.id")
    assert sqlsource.definitions(connection)["view cell_current"] != defs["view cell_current"]
    # ...and a load restores it and drops a stale view, even one depending on ours.
    connection.exec_driver_sql("CREATE VIEW gw_stale_view AS SELECT id FROM cell_current")
    sqlsource.load_current(connection)
    after = sqlsource.definitions(connection)
    assert after["view cell_current"] == defs["view cell_current"]
    assert "view gw_stale_view" not in after


def test_cell_current_is_each_live_cell_with_its_open_version(session):
    import datetime as dt

    import shapely
    from sqlalchemy import text

    from gis import redraw
    from tests.factories import small_world

    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    merge = redraw.Proposal("S1", {"S1-01": shapely.MultiPolygon(
        [shapely.box(116.0, 38.4, 116.1, 38.5)])}, retire={"S1-02"})
    redraw.commit(session, merge, username="u", comment="merge", confirm_warnings=True)
    rows = session.execute(text("""
        SELECT cc.code, cc.version_id = cv.id AND cc.geom = cv.geom
               AND cc.valid_from = cv.valid_from
        FROM cell_current cc JOIN cell_version cv ON cv.cell_id = cc.id AND cv.valid_to IS NULL
        ORDER BY cc.code""")).all()
    # The retired cell is gone, the redrawn one shows its new version, each cell once.
    assert [tuple(r) for r in rows] == [(c, True) for c in ("C", "S1", "S1-01", "S2", "S2-01")]
    assert session.execute(text("SELECT count(*) FROM cell_version WHERE cell_id = "
                                "(SELECT id FROM cell WHERE code = 'S1-01')")).scalar() == 2

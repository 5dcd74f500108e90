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
        for obj in re.findall(r"CREATE (?:OR REPLACE )?(?:FUNCTION|TRIGGER) (?:public\.)?(\w+)",
                              text):
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

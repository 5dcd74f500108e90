"""Models and migrations stay equal; migrations go down and up again cleanly, and upgrade the
first release's schema with data in it."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers

from gis.migrate import include_object
from gis.models import Base


def test_models_and_migrations_do_not_drift(connection):
    context = MigrationContext.configure(connection, opts={
        "include_object": include_object, "compare_type": True,
        "render_item": alembic_helpers.render_item})
    assert compare_metadata(context, Base.metadata) == []


def test_migrations_downgrade_to_base_and_upgrade_again(connection):
    from alembic import command

    from gis.migrate import alembic_config

    cfg = alembic_config("postgresql://unused", connection=connection)
    command.downgrade(cfg, "base")
    tables = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')").scalar()
    assert tables == 0
    # The first release's schema with data in it, then every migration since.
    command.upgrade(cfg, "0001")
    connection.exec_driver_sql(FIRST_RELEASE_DATA)
    command.upgrade(cfg, "head")
    assert connection.exec_driver_sql(
        "SELECT count(*) FROM grade_interval").scalar() == 4
    _first_release_data_is_all_there(connection)


# A city, a station's grid, one level-3 cell with an owner, an enterprise in it with an
# inspection, and a complaint, as the first release (revision 0001) stored them.
SQUARE = "ST_GeomFromText('MULTIPOLYGON(((116.0 38.4,116.2 38.4,116.2 38.6,116.0 38.6," \
         "116.0 38.4)))', 4326)"
FIRST_RELEASE_DATA = f"""
INSERT INTO township (id, code, name, geom) VALUES (1, '130984100000', '老镇', {SQUARE});
INSERT INTO station (id, code, name, phone) VALUES (1, 'OLD-Z01', '老所', '0317-1234567');
INSERT INTO person (id, name, phone, unit, role)
    VALUES (1, '老责任人', '13800000000', '老所', '网格责任人');
INSERT INTO cell (id, code, name, level, parent_id, station_id) VALUES
    (1, 'OLD', '老城', 1, NULL, NULL), (2, 'OLD-Z01', '老二级', 2, 1, 1),
    (3, 'OLD-Z01-01', '老网格', 3, 2, 1);
INSERT INTO cell_version (cell_id, geom, comment, created_by, valid_from)
    SELECT id, {SQUARE}, 'first release', 'migration-test', '2025-01-01' FROM cell;
INSERT INTO enterprise (id, management_code, name, grade, geom, valid_from) VALUES
    (1, 'OLD-0001', '老企业', 'B', ST_SetSRID(ST_MakePoint(116.1, 38.5), 4326), '2025-01-01');
INSERT INTO enterprise_cell (enterprise_id, cell_id, valid_from) VALUES (1, 3, '2025-01-01');
INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
    VALUES (1, 'department', 'owner', 3, '2025-01-01');
INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, problems_found)
    VALUES (1, 1, '2025-03-01', 0);
INSERT INTO complaint (number, received_at, geom, text, cell_id, owner_id) VALUES
    ('OLD-C1', '2025-04-01', ST_SetSRID(ST_MakePoint(116.1, 38.5), 4326), '老投诉', 3, 1);
"""


def _first_release_data_is_all_there(connection):
    import datetime as dt
    import json

    from gis.lookup import lookup

    one = connection.exec_driver_sql
    assert one("SELECT count(*) FROM inspection WHERE enterprise_id = 1").scalar() == 1
    assert one("SELECT number FROM complaint").scalar() == "OLD-C1"
    assert one("SELECT count(*) FROM cell_version WHERE valid_to IS NULL").scalar() == 3
    answer = json.loads(lookup(connection.connection.driver_connection, 116.1, 38.5, None))
    assert answer["cell"]["code"] == "OLD-Z01-01"
    assert answer["owner"]["name"] == "老责任人"
    # Asked about a day of the first release's time, the answer is the same cell.
    then = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    at = json.loads(lookup(connection.connection.driver_connection, 116.1, 38.5, then))
    assert at["cell"]["code"] == "OLD-Z01-01"

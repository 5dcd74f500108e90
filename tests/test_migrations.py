"""Models and migrations stay equal; migrations go down and up again cleanly."""
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
    command.upgrade(cfg, "head")
    assert connection.exec_driver_sql(
        "SELECT count(*) FROM grade_interval").scalar() == 4

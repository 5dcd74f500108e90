"""the data's version per table (data_change, data_version and the statement-level triggers of
gis/sql/dataversion.sql), under which the map wall caches what only changes when the data does

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30

Every statement writing a table the wall reads adds a row to data_change; a table's version is
its rows there plus data_version.base (gw_data_versions), folded now and then by
gw_data_compact. Kept in PostgreSQL so that every process of the app sees a change when it is
committed (gis/datacache.py).
"""
from pathlib import Path

from alembic import op
import sqlalchemy as sa

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "data_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tbl", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_change")),
    )
    op.create_table(
        "data_version",
        sa.Column("tbl", sa.String(length=63), nullable=False),
        sa.Column("base", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tbl", name=op.f("pk_data_version")),
    )
    load_file(op.get_bind(), FROZEN / "0028.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0029.sql")
    op.drop_table("data_version")
    op.drop_table("data_change")

"""speed at province scale: boundary versions cut into pieces (cell_piece) that the assignment
and the lookup probe; one answer per enterprise kept by a single writer instead of a GiST
exclusion constraint and foreign keys

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30

gw_assign takes every level through the same indexed pass over pieces (before, levels above 3
went point by point over every cell with no index), and only one transaction at a time runs it
(an advisory lock). The exclusion constraint ``enterprise_cell_no_overlap`` goes: with the
unique index on the open row and the single writer it guaranteed nothing more, and keeping it
was most of the time of writing a full assignment (docs/assignment.md). Its index also served
"the row of enterprise X at moment T": a btree on (enterprise_id, valid_from) does that now.
enterprise_cell's two foreign keys become statement-level checks for the same reason (one
anti-join per statement instead of a locking lookup per row).
"""
from pathlib import Path

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

VALID_RANGE = "tstzrange(valid_from, valid_to, '[)')"


def upgrade():
    op.create_table(
        "cell_piece",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid", postgresql.TSTZRANGE(), sa.Computed(VALID_RANGE, persisted=True),
                  nullable=True),
        sa.ForeignKeyConstraint(["cell_id"], ["cell.id"], name=op.f("fk_cell_piece_cell_id_cell")),
        sa.ForeignKeyConstraint(["version_id"], ["cell_version.id"], ondelete="CASCADE",
                                name=op.f("fk_cell_piece_version_id_cell_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_piece")),
    )
    op.create_index(op.f("ix_cell_piece_version_id"), "cell_piece", ["version_id"])
    load_file(op.get_bind(), FROZEN / "0026.sql")
    op.execute("""
        INSERT INTO cell_piece (version_id, cell_id, valid_from, valid_to, geom)
        SELECT v.id, v.cell_id, v.valid_from, v.valid_to, gw_cell_pieces(v.geom)
        FROM cell_version v
    """)
    op.create_index("idx_cell_piece_geom", "cell_piece", ["geom"], postgresql_using="gist")
    op.execute("ANALYZE cell_piece")

    op.execute("ALTER TABLE enterprise_cell DROP CONSTRAINT enterprise_cell_no_overlap")
    op.drop_constraint(op.f("fk_enterprise_cell_cell_id_cell"), "enterprise_cell",
                       type_="foreignkey")
    op.drop_constraint(op.f("fk_enterprise_cell_enterprise_id_enterprise"), "enterprise_cell",
                       type_="foreignkey")
    op.create_index("ix_enterprise_cell_enterprise_id_valid_from", "enterprise_cell",
                    ["enterprise_id", "valid_from"])


def downgrade():
    op.drop_index("ix_enterprise_cell_enterprise_id_valid_from", table_name="enterprise_cell")
    load_file(op.get_bind(), FROZEN / "0018.sql")
    op.create_foreign_key(op.f("fk_enterprise_cell_cell_id_cell"), "enterprise_cell", "cell",
                          ["cell_id"], ["id"])
    op.create_foreign_key(op.f("fk_enterprise_cell_enterprise_id_enterprise"), "enterprise_cell",
                          "enterprise", ["enterprise_id"], ["id"], ondelete="CASCADE")
    op.execute("ALTER TABLE enterprise_cell ADD CONSTRAINT enterprise_cell_no_overlap "
               "EXCLUDE USING gist (enterprise_id WITH =, valid WITH &&)")
    op.drop_table("cell_piece")

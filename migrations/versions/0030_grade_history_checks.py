"""speed of imports: an enterprise's grade periods checked once per statement (gis/sql/grades.sql)
instead of by a foreign key and a GiST exclusion constraint row by row

Revision ID: 0030
Revises: 0026
Create Date: 2026-11-30

Importing 100,000 new enterprises spent ~15 s writing their first grade periods, almost all
of it in the per-row checks (bench/enterprise_import.py); the statement-level checks say the
same in ~0.3 s. Two open periods of one enterprise stay impossible by a unique index.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0030"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE enterprise_grade DROP CONSTRAINT enterprise_grade_no_overlap")
    op.drop_constraint(op.f("fk_enterprise_grade_enterprise_id_enterprise"), "enterprise_grade",
                       type_="foreignkey")
    op.create_index("ix_enterprise_grade_current", "enterprise_grade", ["enterprise_id"],
                    unique=True, postgresql_where="valid_to IS NULL")
    op.create_index("ix_enterprise_grade_enterprise_id_valid_from", "enterprise_grade",
                    ["enterprise_id", "valid_from"])
    load_file(op.get_bind(), FROZEN / "0030.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0026.sql")
    op.drop_index("ix_enterprise_grade_enterprise_id_valid_from", table_name="enterprise_grade")
    op.drop_index("ix_enterprise_grade_current", table_name="enterprise_grade")
    op.create_foreign_key(op.f("fk_enterprise_grade_enterprise_id_enterprise"),
                          "enterprise_grade", "enterprise", ["enterprise_id"], ["id"],
                          ondelete="CASCADE")
    op.execute("ALTER TABLE enterprise_grade ADD CONSTRAINT enterprise_grade_no_overlap "
               "EXCLUDE USING gist (enterprise_id WITH =, valid WITH &&)")

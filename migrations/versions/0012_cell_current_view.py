"""cell_current: every live cell with its current boundary, one view instead of the join
``cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL`` written out in every query

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

gis/sql/cells.sql defines the view; gis/sqlsource.py now drops and recreates views as it does
functions, and the drift test (tests/test_sql_source.py) compares them too. No function changes.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0012.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0011.sql")

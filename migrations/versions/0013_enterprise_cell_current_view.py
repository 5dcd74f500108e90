"""enterprise_cell_current: each enterprise's cell now, one view instead of
``enterprise_cell ec ... AND ec.valid_to IS NULL`` written out in every query

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29

gis/sql/assignment.sql defines the view beside the rule that fills the table. No function
changes.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0013.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0012.sql")

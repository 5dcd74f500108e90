"""new enterprises' answers are written without comparing with earlier rows (they have none):
gw_assign(..., p_fresh => true) from the insert trigger (issue 17, enterprise import)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-30
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0033.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0032.sql")

"""a boundary commit assigns its enterprises once: both triggers on cell_version bring the
pieces up to date first (gw_sync_pieces), so a statement that closes old versions and adds new
ones at the same moment is assigned from the new boundaries by the first trigger and the second
finds nothing to change

Revision ID: 0031
Revises: 0028
Create Date: 2026-11-30

Before, closing the two versions of a one-edge redraw moved every enterprise of both cells to
their parent, and adding the new versions moved them back: two passes and ~400 tuple writes
for 40 moved enterprises (bench/redraw.py).
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0031"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0031.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0028.sql")

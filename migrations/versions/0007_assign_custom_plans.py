"""gw_assign: plan each statement for the values at hand

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

PL/pgSQL switches a statement to a generic plan after 5 runs on a connection. In the generic
plan of gw_assign's point-by-point INSERT INTO gw_wanted the planner cannot see p_at, takes
``cv.valid @> $1`` for selective and BitmapAnds the cells' GiST index with the exclusion
constraint's index on (cell_id, valid), which matches every version: ~0.8 ms per enterprise at
10,000 cells instead of a few µs. bench/redraw.py: a one-edge redraw at 1M x 10k goes from
~45 ms on a new connection to 150-650 ms on a warm one; with custom plans it stays 30-50 ms.
The temp tables gw_assign recreates every transaction invalidate its plans anyway, so
planning each call costs next to nothing extra.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0007.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0005.sql")

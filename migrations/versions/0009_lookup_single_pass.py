"""Point lookup: one probe for the covering cells, one walk up the tree, true nearest enterprises

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

``gw_lookup`` asked the cell-version index three times per point (the hit, the edge
candidates, the professional grids) and walked up the tree three times (ancestors, station,
owner), each walk a separate PL/pgSQL call; bench/lookup.py measured 1.05 ms of database time
per lookup on 10,000 cells. ``gw_answer`` does one probe and one walk, and joins the people in
the same statements (0.65 ms). The answers are the same document, key for key.

It also fixes the nearest enterprises. They were the five nearest in *degrees* (the GiST
``<->`` on EPSG:4326), listed in that order with their distance in metres: at 38°N a degree of
longitude is 0.79 of a degree of latitude, so on the bench data 43 % of lookups listed a wrong
five and 57 % a list not sorted by the distance it showed. Now the five nearest in metres on
the sphere, exactly: the twelve nearest in degrees, ranked in metres, unless something beyond
them could be nearer (then every enterprise within the fifth's distance is ranked). The nearest
cell of a point outside every cell is found the same way. Enterprise distances are
great-circle metres (``ST_DistanceSphere``, a twentieth of the spheroid's cost); they differ
from the spheroid by under 0.5 %.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0009.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0008.sql")

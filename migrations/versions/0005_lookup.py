"""Point lookup in one round trip: whose cell is this spot, on any date

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

``gw_lookup(lon, lat, at)`` answers the inspector's question as one JSON document: the deepest
territorial cell covering the point at ``at`` (the same rule as assignment: ST_Covers, lowest
code on a shared edge), its ancestors and station, township and village, the people answering
for it then (owner with the 属地兜底 fallback, station chief, township leader), the professional
grids there and the nearest enterprises. PL/pgSQL caches the plans of its statements per
connection, so a pooled connection gets prepared-statement speed without client-side PREPARE.

``gw_cell_path(cell)`` gives the ids from the city down to a cell, for permission checks.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0005.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0004.sql")

"""the point lookup probes the boundary pieces (cell_piece) instead of whole outlines, reads
people by date comparisons, and writes its answer as json text

Revision ID: 0029
Revises: 0030
Create Date: 2026-11-30

On the demo city's detailed outlines (up to 543 vertices, stored out of line) testing a point
against every covering version was the largest part of ``gw_lookup``. It now reads the pieces
of at most 128 vertices that 0026 cuts, by the assignment's rule: a point strictly inside a
piece is in that cell, one on a piece's boundary is decided by the whole version. The people
queries compare ``valid_from``/``valid_to`` instead of ``valid @> at``, which in a cached
generic plan picked the exclusion constraint's GiST index and read every owner of the city.
The answer is built as json, not jsonb (no parse, sort and re-encode at every step); the
document's content is the same, its keys in the order written, "on_edge" (or "outside") first
for gis/lookup.py. bench/lookup.py times it (bench/README.md, "Lookup").
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0029"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0029.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0030.sql")

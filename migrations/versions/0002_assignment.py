"""Automatic assignment of enterprises to cells, reference data defaults

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The database keeps ``enterprise_cell`` right by itself: statement-level triggers on
``enterprise`` and ``cell_version`` call ``gw_assign(at, ids)``. Nobody ever runs a manual
"assign" step, and every write path (CLI import, web edit, psql) gets the same rule.

The rule (documented in docs/assignment.md, implemented once here):
  * an enterprise belongs to the deepest *territorial* cell whose boundary version, valid at the
    moment in question, covers its point (ST_Covers: a point on a boundary is covered);
  * when several cells of that level cover it (it lies on a shared edge), the cell with the
    lowest code wins and ``on_edge`` is recorded;
  * an enterprise outside every cell gets a row with ``cell_id`` NULL: listed, never dropped.

Query shapes follow ../shared/PERF-NOTES.md and bench/assignment.py: for a bulk pass the loop
runs over cells (outer) probing the points' GiST index, so each polygon's prepared form is
reused; for a batch that is small in absolute terms or as a share of all enterprises it runs over
points probing the cells' index. Only rows whose answer changed are written.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0002.sql")
    # The pilot city's practice; A is the lowest risk, so the longest interval.
    op.execute(
        "INSERT INTO grade_interval (grade, interval_days) VALUES "
        "('A', 365), ('B', 180), ('C', 120), ('D', 90) ON CONFLICT DO NOTHING"
    )


def downgrade():
    op.execute("DELETE FROM grade_interval")
    load_file(op.get_bind(), FROZEN / "0001.sql")

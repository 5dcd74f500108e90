"""Point lookup: plans that stay fast when cached

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

bench/lookup.py measured gw_lookup at 5.5 ms of database time on 10,000 cells, ~27x the plain
ST_Covers query; 0.64 ms after this migration. Two causes, both fixed without changing any
answer (the same trap as 0007's gw_assign):

* ``gw_cell_owner``, ``gw_cell_path`` and ``gw_person_json`` were SQL functions that cannot be
  inlined (recursive CTE, FROM clause), so PostgreSQL planned their query on every call, with
  the parameters unknown. ``gw_cell_owner``'s plan then hash-joined *every* current owner
  (10,000 rows from the GiST exclusion index) to find one. As PL/pgSQL they keep their plans
  per connection, and the owner walk is one index probe per level.
* PL/pgSQL's cached (generic) plans estimate ``cv.valid @> p_at`` at 0.5 % of the rows, so
  the planner ANDed the ``cell_version_no_overlap`` GiST index (every current version) with
  the geometry index. Written as ``valid_from <= p_at AND (valid_to IS NULL OR valid_to >
  p_at)`` (the same '[)' range) it filters the few geometry-index hits instead.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0008.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0007.sql")

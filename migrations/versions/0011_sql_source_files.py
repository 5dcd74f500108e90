"""SQL rules as source files: every function and trigger from gis/sql/*.sql

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

Until 0009 each migration carried its functions as Python strings, later ones building today's
``gw_lookup`` by string replacement on an older migration's text. Now the rules live once, in
gis/sql/ (cells, owners, assignment, lookup, audit), and every revision that defines or changes
them loads a frozen copy of what they were then (migrations/frozen/): this one gis/sql/ as of
today, the ones before what they defined, so no revision ever changes meaning. The definitions
are those 0009 left, except that gw_assign's tuning constants (a small batch: 2,000 ids; the
share of all enterprises below which a batch goes point by point: 1/20) are parameters with
those defaults instead of numbers substituted into its text.

The next change to a file in gis/sql/ comes with a migration of its own (docs/sql.md).
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0011.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0009.sql")

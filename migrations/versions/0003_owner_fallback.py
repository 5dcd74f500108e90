"""Owner of a cell at a moment, falling back to the parent's owner (属地兜底)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A cell without its own owner at a moment is answered for by its parent's owner, then the
grandparent's: "who was responsible for this place then" always has an answer when the city
has one. Kept in SQL so lookups, maps and reports share one definition.
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0003.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0002.sql")

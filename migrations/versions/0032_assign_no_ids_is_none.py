"""a boundary version with no enterprise near it assigns nobody: the triggers passed NULL
(every enterprise: a full reassignment) when no enterprise lay in the new or closed versions'
pieces

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-30
"""
from pathlib import Path

from alembic import op

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade():
    load_file(op.get_bind(), FROZEN / "0032.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0031.sql")

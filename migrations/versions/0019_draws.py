"""double-random draws (双随机一公开): the record that lets anyone re-run a draw

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "draw",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.String(length=20), nullable=False),
        sa.Column("generator", sa.String(length=32), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enterprises", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("roster", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pairs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("seed ~ '^[0-9]{1,20}$'", name=op.f("ck_draw_seed_digits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draw")),
    )


def downgrade():
    op.drop_table("draw")

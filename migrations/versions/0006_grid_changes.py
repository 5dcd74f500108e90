"""grid changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "grid_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("reverts", sa.BigInteger(), nullable=True),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "length(trim(comment)) > 0", name=op.f("ck_grid_change_comment_required")
        ),
        sa.ForeignKeyConstraint(
            ["reverts"], ["grid_change.id"], name=op.f("fk_grid_change_reverts_grid_change")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_change")),
    )
    op.add_column("cell_version", sa.Column("change_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_cell_version_change_id"), "cell_version", ["change_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_cell_version_change_id_grid_change"),
        "cell_version",
        "grid_change",
        ["change_id"],
        ["id"],
    )


def downgrade():
    op.drop_constraint(
        op.f("fk_cell_version_change_id_grid_change"), "cell_version", type_="foreignkey"
    )
    op.drop_index(op.f("ix_cell_version_change_id"), table_name="cell_version")
    op.drop_column("cell_version", "change_id")
    op.drop_table("grid_change")

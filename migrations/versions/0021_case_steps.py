"""enforcement cases' steps: who moved a case to which status, when, with what note and result

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01

Existing cases get the steps their status implies (opened on their day; closed on theirs), so
every case has a history from its first day.
"""
from alembic import op
import sqlalchemy as sa

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'investigating', 'decided', 'closed')",
                           name=op.f("ck_case_step_status_known")),
        sa.ForeignKeyConstraint(["case_id"], ["enforcement_case.id"],
                                name=op.f("fk_case_step_case_id_enforcement_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_step")),
    )
    op.create_index(op.f("ix_case_step_case_id"), "case_step", ["case_id"])
    op.execute("""
        INSERT INTO case_step (case_id, status, at, note)
        SELECT id, 'open', opened_on::timestamptz, cause FROM enforcement_case
        UNION ALL
        SELECT id, 'closed', closed_on::timestamptz, NULL FROM enforcement_case
        WHERE status = 'closed' AND closed_on IS NOT NULL""")


def downgrade():
    op.drop_table("case_step")

"""delayed background jobs: ``job.run_after``, the earliest moment a worker may claim a job
(an urgent event's escalation check is queued for when its acknowledgement time runs out);
the audit log's ``via`` may say "job" (an escalation is written by the job workers, as nobody)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01

Existing jobs have none: they may run at once, as before.
"""
from alembic import op
import sqlalchemy as sa

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("job", sa.Column("run_after", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_audit_log_via_known"), "audit_log")
    op.create_check_constraint(op.f("ck_audit_log_via_known"), "audit_log",
                               "via IN ('web', 'api', 'cli', 'job')")


def downgrade():
    # The audit log is append-only: entries written by jobs stay, and so does "job" in ``via``.
    op.drop_column("job", "run_after")

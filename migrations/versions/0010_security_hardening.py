"""Security hardening: server-side sessions, login throttling, a job queue, audit flags

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

- ``user_session``: logout, password changes and role removals end sessions on the server (a
  signed cookie alone stayed valid for its whole lifetime).
- ``login_throttle`` replaces the per-account lock-out (``app_user.failed_logins`` and
  ``locked_until``), with which anyone could lock out any account by typing its name.
- ``job``: big imports run in the background, on a queue kept in PostgreSQL.
- Cell and management codes get one format (gis/codes.py), enforced by CHECK constraints.
- ``audit_log.flag``: entries a reviewer must see (changes dated in the past).
- ``read_bucket``: per-user rate limits on bulk reads, shared by every worker.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # Frozen copies of gis/codes.py's formats as of this revision.
    op.create_check_constraint(
        op.f("ck_cell_code_format"), "cell", "code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$'"
    )
    op.create_check_constraint(
        op.f("ck_enterprise_code_format"),
        "enterprise",
        "management_code ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,39}$'",
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "last_failure_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("file", sa.LargeBinary(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_job_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_job_user_id_app_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index(
        "ix_job_queued", "job", ["id"], unique=False, postgresql_where=sa.text("status = 'queued'")
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("sid_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_why", sa.String(length=32), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_user_session_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("sid_hash", name=op.f("uq_user_session_sid_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"], unique=False)
    op.create_table(
        "read_bucket",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_read_bucket_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_read_bucket")),
    )
    op.drop_column("app_user", "failed_logins")
    op.drop_column("app_user", "locked_until")
    op.add_column("audit_log", sa.Column("flag", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_audit_log_flag"), "audit_log", ["flag"], unique=False)


def downgrade():
    op.drop_constraint(op.f("ck_enterprise_code_format"), "enterprise", type_="check")
    op.drop_constraint(op.f("ck_cell_code_format"), "cell", type_="check")
    op.drop_index(op.f("ix_audit_log_flag"), table_name="audit_log")
    op.drop_column("audit_log", "flag")
    op.add_column(
        "app_user",
        sa.Column(
            "locked_until", postgresql.TIMESTAMP(timezone=True), autoincrement=False, nullable=True
        ),
    )
    op.add_column(
        "app_user",
        sa.Column(
            "failed_logins",
            sa.INTEGER(),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=False,
        ),
    )
    op.drop_table("read_bucket")
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_index("ix_job_queued", table_name="job", postgresql_where=sa.text("status = 'queued'"))
    op.drop_table("job")
    op.drop_table("login_throttle")

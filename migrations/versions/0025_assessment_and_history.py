"""accountability and statistics: the assessment's rules (weights, targets), responsibility
letters, quality-warning rules and thresholds, inspections' numbers in a previous system (so
history imports are idempotent), and a job's progress

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30

The rules start as the pilot city's assessment and warnings describe them; admins change the
weights, targets and thresholds as reference data.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

RULES = [
    ("inspections_done", "巡查完成率", 30, 1.0, "完成巡查次数 ÷ 按等级应巡查次数"),
    ("rectified_on_time", "问题按期整改率", 25, 0.95, "期限内整改的问题 ÷ 到期的问题"),
    ("complaints_on_time", "投诉按期办结率", 25, 0.95, "按期办结的投诉 ÷ 到期的投诉"),
    ("spot_check_pass", "监督抽查合格率", 20, 0.9, "合格批次 ÷ 抽查批次（不含定期监督检验）"),
]
WARNINGS = [
    ("failed_twice", "连续两次抽检不合格", 2, "同一企业最近连续不合格的批次数达到阈值"),
    ("cell_overdue_rate", "网格逾期率过高", 0.2, "网格内逾期未巡查企业占比超过阈值"),
    ("complaint_hotspot", "投诉热点", 0.9, "投诉热点分析（Gi*）置信度达到阈值的区域"),
    ("behind_plan", "巡查进度滞后", 0.5, "本月计划完成比例低于阈值的巡查人员"),
]


def upgrade():
    op.add_column("inspection", sa.Column("external_id", sa.String(length=64), nullable=True))
    op.create_unique_constraint(op.f("uq_inspection_external_id"), "inspection", ["external_id"])
    op.add_column("job", sa.Column("progress", sa.SmallInteger(), nullable=True))
    rule = op.create_table(
        "assessment_rule",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_assessment_rule_weight_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_rule")),
        sa.UniqueConstraint("code", name=op.f("uq_assessment_rule_code")),
    )
    op.bulk_insert(rule, [{"code": c, "name": n, "weight": w, "target": t, "description": d,
                           "sort_order": i} for i, (c, n, w, t, d) in enumerate(RULES, 1)])
    op.create_table(
        "responsibility_letter",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_type", sa.String(length=32), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("period_to >= period_from",
                           name=op.f("ck_responsibility_letter_period_ordered")),
        sa.CheckConstraint("file_sha256 IS NULL OR file_sha256 ~ '^[0-9a-f]{64}$'",
                           name=op.f("ck_responsibility_letter_sha256_hex")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_responsibility_letter_person_id_person")),
        sa.ForeignKeyConstraint(["cell_id"], ["cell.id"],
                                name=op.f("fk_responsibility_letter_cell_id_cell")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility_letter")),
    )
    op.create_index(op.f("ix_responsibility_letter_person_id"), "responsibility_letter",
                    ["person_id"])
    op.create_index(op.f("ix_responsibility_letter_cell_id"), "responsibility_letter",
                    ["cell_id"])
    warning = op.create_table(
        "warning_rule",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_rule")),
        sa.UniqueConstraint("code", name=op.f("uq_warning_rule_code")),
    )
    op.bulk_insert(warning, [{"code": c, "name": n, "threshold": t, "description": d}
                             for c, n, t, d in WARNINGS])


def downgrade():
    op.drop_table("warning_rule")
    op.drop_table("responsibility_letter")
    op.drop_table("assessment_rule")
    op.drop_column("job", "progress")
    op.drop_constraint(op.f("uq_inspection_external_id"), "inspection")
    op.drop_column("inspection", "external_id")

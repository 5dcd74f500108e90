"""enterprise details: products, staff, key equipment and the dated grade history

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-30

The enterprise page shows them. Every existing enterprise's history starts with its current
grade, from the day it came under supervision: nothing older is known.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def _enterprise_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"],
                                   name=op.f(f"fk_{table}_enterprise_id_enterprise"),
                                   ondelete="CASCADE")


def upgrade():
    op.create_table(
        "enterprise_grade",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid", postgresql.TSTZRANGE(),
                  sa.Computed("tstzrange(valid_from, valid_to, '[)')", persisted=True),
                  nullable=False),
        postgresql.ExcludeConstraint((sa.column("enterprise_id"), "="), (sa.column("valid"), "&&"),
                                     using="gist", name="enterprise_grade_no_overlap"),
        sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D')",
                           name=op.f("ck_enterprise_grade_grade_a_to_d")),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from",
                           name=op.f("ck_enterprise_grade_period_not_empty")),
        _enterprise_fk("enterprise_grade"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_grade")),
    )
    op.execute("""
        INSERT INTO enterprise_grade (enterprise_id, grade, valid_from)
        SELECT id, grade, valid_from FROM enterprise""")

    op.create_table(
        "enterprise_product",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("standard", sa.String(length=100), nullable=True),
        sa.Column("licence", sa.String(length=60), nullable=True),
        _enterprise_fk("enterprise_product"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_product")),
    )
    op.create_index(op.f("ix_enterprise_product_enterprise_id"), "enterprise_product",
                    ["enterprise_id"], unique=False)

    op.create_table(
        "enterprise_staff",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("certificate", sa.String(length=100), nullable=True),
        _enterprise_fk("enterprise_staff"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_staff")),
    )
    op.create_index(op.f("ix_enterprise_staff_enterprise_id"), "enterprise_staff",
                    ["enterprise_id"], unique=False)

    op.create_table(
        "enterprise_equipment",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column("registration", sa.String(length=60), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_enterprise_equipment_quantity_positive")),
        _enterprise_fk("enterprise_equipment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_equipment")),
    )
    op.create_index(op.f("ix_enterprise_equipment_enterprise_id"), "enterprise_equipment",
                    ["enterprise_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_enterprise_equipment_enterprise_id"),
                  table_name="enterprise_equipment")
    op.drop_table("enterprise_equipment")
    op.drop_index(op.f("ix_enterprise_staff_enterprise_id"), table_name="enterprise_staff")
    op.drop_table("enterprise_staff")
    op.drop_index(op.f("ix_enterprise_product_enterprise_id"), table_name="enterprise_product")
    op.drop_table("enterprise_product")
    op.drop_table("enterprise_grade")

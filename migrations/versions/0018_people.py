"""people: the roster (person codes, positions, phones, active dates), who assigned each
responsibility and why, handovers; answers name a person's code

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01

Every existing person gets the code "P" + their id (the bureau renumbers them by importing its
roster with the same people under their own codes, or on the person's page). The column
``person.role`` held a job title and becomes ``position``. gis/sql/owners.sql and lookup.sql
add the person's ``code`` to every person in an answer.
"""
from pathlib import Path

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from gis.sqlsource import load_file

FROZEN = Path(__file__).resolve().parents[1] / "frozen"

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("person", "role", new_column_name="position")
    op.add_column("person", sa.Column("code", sa.String(length=32), nullable=True))
    op.execute("UPDATE person SET code = 'P' || id")
    op.alter_column("person", "code", nullable=False)
    op.add_column("person", sa.Column("office_phone", sa.String(length=40), nullable=True))
    op.add_column("person", sa.Column("active_from", sa.Date(), nullable=True))
    op.add_column("person", sa.Column("active_to", sa.Date(), nullable=True))
    op.add_column("person", sa.Column("created_at", sa.DateTime(timezone=True),
                                      server_default=sa.text("now()"), nullable=False))
    op.add_column("person", sa.Column("updated_at", sa.DateTime(timezone=True),
                                      server_default=sa.text("now()"), nullable=False))
    op.create_unique_constraint(op.f("uq_person_code"), "person", ["code"])
    op.create_check_constraint(op.f("ck_person_code_format"), "person",
                               "code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$'")
    op.create_check_constraint(
        op.f("ck_person_active_period"), "person",
        "active_to IS NULL OR active_from IS NULL OR active_to >= active_from")

    op.create_table(
        "handover",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_person_id", sa.BigInteger(), nullable=False),
        sa.Column("to_person_id", sa.BigInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("length(trim(comment)) > 0",
                           name=op.f("ck_handover_comment_required")),
        sa.CheckConstraint("from_person_id <> to_person_id", name=op.f("ck_handover_two_people")),
        sa.ForeignKeyConstraint(["from_person_id"], ["person.id"],
                                name=op.f("fk_handover_from_person_id_person")),
        sa.ForeignKeyConstraint(["to_person_id"], ["person.id"],
                                name=op.f("fk_handover_to_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover")),
    )
    op.create_index(op.f("ix_handover_from_person_id"), "handover", ["from_person_id"])
    op.create_index(op.f("ix_handover_to_person_id"), "handover", ["to_person_id"])

    op.add_column("responsibility", sa.Column("comment", sa.Text(), nullable=True))
    op.add_column("responsibility", sa.Column("created_by", sa.String(length=64), nullable=True))
    op.add_column("responsibility", sa.Column("created_at", sa.DateTime(timezone=True),
                                              server_default=sa.text("now()"), nullable=False))
    op.add_column("responsibility", sa.Column("handover_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_responsibility_handover_id_handover"), "responsibility",
                          "handover", ["handover_id"], ["id"])
    op.create_index(op.f("ix_responsibility_handover_id"), "responsibility", ["handover_id"])
    op.create_index(op.f("ix_app_user_person_id"), "app_user", ["person_id"])

    load_file(op.get_bind(), FROZEN / "0018.sql")


def downgrade():
    load_file(op.get_bind(), FROZEN / "0013.sql")
    op.drop_index(op.f("ix_app_user_person_id"), table_name="app_user")
    op.drop_index(op.f("ix_responsibility_handover_id"), table_name="responsibility")
    op.drop_constraint(op.f("fk_responsibility_handover_id_handover"), "responsibility",
                       type_="foreignkey")
    for column in ("handover_id", "created_at", "created_by", "comment"):
        op.drop_column("responsibility", column)
    op.drop_index(op.f("ix_handover_to_person_id"), table_name="handover")
    op.drop_index(op.f("ix_handover_from_person_id"), table_name="handover")
    op.drop_table("handover")
    op.drop_constraint(op.f("ck_person_active_period"), "person", type_="check")
    op.drop_constraint(op.f("ck_person_code_format"), "person", type_="check")
    op.drop_constraint(op.f("uq_person_code"), "person", type_="unique")
    for column in ("updated_at", "created_at", "active_to", "active_from", "office_phone",
                   "code"):
        op.drop_column("person", column)
    op.alter_column("person", "position", new_column_name="role")

"""a province in one deployment: an optional level-0 cell above several cities

Revision ID: 0027
Revises: 0029
Create Date: 2026-12-10

A deployment of one city keeps its tree as it was (the city is the root). A province's
deployment has one level-0 cell, the province, whose children are its cities (level 1); roles
granted at the province read every city, roles granted in a city read that city
(docs/province.md).
"""
from alembic import op

revision = "0027"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint(op.f("ck_cell_level_1_to_3"), "cell", type_="check")
    op.drop_constraint(op.f("ck_cell_specialty_iff_professional"), "cell", type_="check")
    op.drop_constraint(op.f("ck_cell_parent_iff_not_city"), "cell", type_="check")
    op.create_check_constraint(op.f("ck_cell_level_0_to_3"), "cell", "level BETWEEN 0 AND 3")
    op.create_check_constraint(
        op.f("ck_cell_specialty_iff_professional"), "cell",
        "(kind = 'professional') = (specialty IS NOT NULL) OR level <= 1")
    op.create_check_constraint(
        op.f("ck_cell_parent_unless_root"), "cell",
        "level = 0 AND kind = 'territorial' AND parent_id IS NULL "
        "OR level = 1 OR level > 1 AND parent_id IS NOT NULL")
    op.execute("CREATE UNIQUE INDEX uq_cell_one_province ON cell ((true)) "
               "WHERE level = 0 AND retired_at IS NULL")


def downgrade():
    # A province's tree does not fit the one-city schema: its cells must go first.
    op.execute("DROP INDEX uq_cell_one_province")
    op.drop_constraint(op.f("ck_cell_parent_unless_root"), "cell", type_="check")
    op.drop_constraint(op.f("ck_cell_specialty_iff_professional"), "cell", type_="check")
    op.drop_constraint(op.f("ck_cell_level_0_to_3"), "cell", type_="check")
    op.create_check_constraint(op.f("ck_cell_level_1_to_3"), "cell", "level BETWEEN 1 AND 3")
    op.create_check_constraint(
        op.f("ck_cell_specialty_iff_professional"), "cell",
        "(kind = 'professional') = (specialty IS NOT NULL) OR level = 1")
    op.create_check_constraint(op.f("ck_cell_parent_iff_not_city"), "cell",
                               "(level = 1) = (parent_id IS NULL)")

"""spot_check.kind: supervision sampling (监督抽查) apart from periodic supervisory testing
(定期监督检验)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

The two programmes are reported apart and never pooled into one pass rate; the table could not
tell them apart (the wall summed every row, the overview guessed from ``level``). Existing rows
were recorded as what the table was documented to hold, supervision sampling. The column has no
default: whoever records a test says which programme it belongs to.
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("spot_check", sa.Column("kind", sa.String(length=16), nullable=True))
    op.execute("UPDATE spot_check SET kind = 'spot_check'")
    op.alter_column("spot_check", "kind", nullable=False)
    op.create_check_constraint(op.f("ck_spot_check_kind_known"), "spot_check",
                               "kind IN ('spot_check', 'periodic')")


def downgrade():
    op.drop_constraint(op.f("ck_spot_check_kind_known"), "spot_check", type_="check")
    op.drop_column("spot_check", "kind")

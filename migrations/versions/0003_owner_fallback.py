"""Owner of a cell at a moment, falling back to the parent's owner (属地兜底)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A cell without its own owner at a moment is answered for by its parent's owner, then the
grandparent's: "who was responsible for this place then" always has an answer when the city
has one. Kept in SQL so lookups, maps and reports share one definition.
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(r"""
CREATE OR REPLACE FUNCTION gw_cell_owner(p_cell bigint, p_at timestamptz,
                                         OUT person_id bigint, OUT from_cell_id bigint)
LANGUAGE sql STABLE AS $fn$
    WITH RECURSIVE up(cell_id, parent_id, depth) AS (
        SELECT id, parent_id, 0 FROM cell WHERE id = p_cell
        UNION ALL
        SELECT c.id, c.parent_id, up.depth + 1 FROM cell c JOIN up ON c.id = up.parent_id
    )
    SELECT r.person_id, up.cell_id
    FROM up JOIN responsibility r ON r.cell_id = up.cell_id AND r.role = 'owner'
         AND r.valid @> p_at
    ORDER BY up.depth
    LIMIT 1
$fn$;
""")


def downgrade():
    op.execute("DROP FUNCTION IF EXISTS gw_cell_owner(bigint, timestamptz)")

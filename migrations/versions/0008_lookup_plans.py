"""Point lookup: plans that stay fast when cached

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

bench/lookup.py measured gw_lookup at 5.5 ms of database time on 10,000 cells, ~27x the plain
ST_Covers query; 0.64 ms after this migration. Two causes, both fixed without changing any
answer (the same trap as 0007's gw_assign):

* ``gw_cell_owner``, ``gw_cell_path`` and ``gw_person_json`` were SQL functions that cannot be
  inlined (recursive CTE, FROM clause), so PostgreSQL planned their query on every call, with
  the parameters unknown. ``gw_cell_owner``'s plan then hash-joined *every* current owner
  (10,000 rows from the GiST exclusion index) to find one. As PL/pgSQL they keep their plans
  per connection, and the owner walk is one index probe per level.
* PL/pgSQL's cached (generic) plans estimate ``cv.valid @> p_at`` at 0.5 % of the rows, so
  the planner ANDed the ``cell_version_no_overlap`` GiST index (every current version) with
  the geometry index. Written as ``valid_from <= p_at AND (valid_to IS NULL OR valid_to >
  p_at)`` (the same '[)' range) it filters the few geometry-index hits instead.
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

HERE = Path(__file__).resolve().parent


def _migration(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELPERS = r"""
CREATE OR REPLACE FUNCTION gw_cell_owner(p_cell bigint, p_at timestamptz,
                                         OUT person_id bigint, OUT from_cell_id bigint)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    c bigint := p_cell;
BEGIN
    -- Up from the cell: the first owner valid at p_at answers (属地兜底). 10 levels at most
    -- (there are 3) guard against a cycle.
    FOR depth IN 1..10 LOOP
        EXIT WHEN c IS NULL;
        SELECT r.person_id INTO person_id FROM responsibility r
        WHERE r.cell_id = c AND r.role = 'owner' AND r.valid @> p_at
        LIMIT 1;
        IF FOUND THEN
            from_cell_id := c;
            RETURN;
        END IF;
        SELECT cell.parent_id INTO c FROM cell WHERE cell.id = c;
    END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION gw_cell_path(p_cell bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    path bigint[] := '{}';
    c bigint := p_cell;
    parent bigint;
BEGIN
    -- Up from the cell to the city, prepending: the answer starts at the city.
    FOR depth IN 1..10 LOOP
        EXIT WHEN c IS NULL;
        SELECT cell.parent_id INTO parent FROM cell WHERE cell.id = c;
        EXIT WHEN NOT FOUND;
        path := c || path;
        c := parent;
    END LOOP;
    RETURN path;
END
$fn$;

CREATE OR REPLACE FUNCTION gw_person_json(p_person bigint, p_role text, p_kind text,
                                          p_extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p record;
BEGIN
    SELECT name, phone, unit INTO p FROM person WHERE id = p_person;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('role', p_role, 'responsibility', p_kind, 'name', p.name,
                              'phone', p.phone, 'unit', p.unit) || p_extra;
END
$fn$;
"""

# gw_lookup / gw_cell_answer as in 0005, with the range test the cached plans get right.
VALID_AT = "cv.valid @> p_at"
VALID_AT_PLANNABLE = "cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)"


def upgrade():
    op.execute(HELPERS)
    lookup = _migration("0005_lookup").LOOKUP
    assert lookup.count(VALID_AT) == 5
    op.execute(lookup.replace(VALID_AT, VALID_AT_PLANNABLE))


def downgrade():
    _migration("0003_owner_fallback").upgrade()
    old = _migration("0005_lookup")
    op.execute(old.PERSON_JSON)
    op.execute(old.CELL_PATH)
    op.execute(old.LOOKUP)

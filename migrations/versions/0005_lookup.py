"""Point lookup in one round trip: whose cell is this spot, on any date

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

``gw_lookup(lon, lat, at)`` answers the inspector's question as one JSON document: the deepest
territorial cell covering the point at ``at`` (the same rule as assignment: ST_Covers, lowest
code on a shared edge), its ancestors and station, township and village, the people answering
for it then (owner with the 属地兜底 fallback, station chief, township leader), the professional
grids there and the nearest enterprises. PL/pgSQL caches the plans of its statements per
connection, so a pooled connection gets prepared-statement speed without client-side PREPARE.

``gw_cell_path(cell)`` gives the ids from the city down to a cell, for permission checks.
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PERSON_JSON = """
    CREATE OR REPLACE FUNCTION gw_person_json(p_person bigint, p_role text, p_kind text,
                                              p_extra jsonb DEFAULT '{}')
    RETURNS jsonb LANGUAGE sql STABLE AS $fn$
        SELECT CASE WHEN p.id IS NULL THEN NULL ELSE
            jsonb_build_object('role', p_role, 'responsibility', p_kind, 'name', p.name,
                               'phone', p.phone, 'unit', p.unit) || p_extra END
        FROM (SELECT 1) one LEFT JOIN person p ON p.id = p_person
    $fn$;
"""

CELL_PATH = """
    CREATE OR REPLACE FUNCTION gw_cell_path(p_cell bigint) RETURNS bigint[]
    LANGUAGE sql STABLE AS $fn$
        WITH RECURSIVE up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM cell WHERE id = p_cell
            UNION ALL
            SELECT c.id, c.parent_id, up.depth + 1 FROM cell c JOIN up ON c.id = up.parent_id
        )
        SELECT coalesce(array_agg(id ORDER BY depth DESC), '{}') FROM up
    $fn$;
"""

LOOKUP = r"""
CREATE OR REPLACE FUNCTION gw_cell_answer(p_cell bigint, p_lon float8, p_lat float8,
                                          p_at timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
    hit record;
    candidates text[];
    result jsonb;
    owner record;
    station_cell bigint;
    town record;
BEGIN
    SELECT c.id, c.code, c.name, c.level, c.parent_id, cv.id AS version_id, cv.valid_from,
           cv.valid_to
    INTO hit
    FROM cell c LEFT JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid @> p_at
    WHERE c.id = p_cell;

    SELECT array_agg(c.code ORDER BY c.code) INTO candidates
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND c.level = hit.level AND cv.valid @> p_at
      AND ST_Covers(cv.geom, pt);
    SELECT * INTO owner FROM gw_cell_owner(hit.id, p_at);
    -- The station's grid: the level-2 ancestor (or the cell itself at level 2).
    SELECT a.id INTO station_cell FROM unnest(gw_cell_path(hit.id)) AS path(id)
    JOIN cell a ON a.id = path.id WHERE a.level = 2 LIMIT 1;
    SELECT t.id, t.code, t.name INTO town FROM township t WHERE ST_Covers(t.geom, pt)
    ORDER BY t.code LIMIT 1;

    result := jsonb_build_object(
        'cell', jsonb_build_object(
            'code', hit.code, 'name', hit.name, 'level', hit.level,
            'version', jsonb_build_object('id', hit.version_id, 'valid_from', hit.valid_from,
                                          'valid_to', hit.valid_to)),
        'on_edge', coalesce(cardinality(candidates), 0) > 1,
        'edge_candidates', to_jsonb(candidates),
        'ancestors', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'code', a.code, 'name', a.name, 'level', a.level,
                       'station', CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object(
                           'code', s.code, 'name', s.name, 'phone', s.phone,
                           'address', s.address) END)
                   ORDER BY a.level DESC), '[]'::jsonb)
            FROM unnest(gw_cell_path(hit.parent_id)) AS path(id)
            JOIN cell a ON a.id = path.id LEFT JOIN station s ON s.id = a.station_id),
        'station', (
            SELECT jsonb_build_object('code', s.code, 'name', s.name, 'phone', s.phone,
                                      'address', s.address)
            FROM cell a JOIN station s ON s.id = a.station_id WHERE a.id = station_cell),
        'township', CASE WHEN town.id IS NULL THEN NULL ELSE
            jsonb_build_object('code', town.code, 'name', town.name) END,
        'village', (
            SELECT jsonb_build_object('code', v.code, 'name', v.name) FROM village v
            WHERE ST_Covers(v.geom, pt) ORDER BY v.code LIMIT 1),
        'responsibilities', jsonb_strip_nulls(jsonb_build_object(
            'department', (
                SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM (
                    SELECT gw_person_json(owner.person_id, 'owner', 'department',
                        jsonb_build_object(
                            'cell_code', (SELECT code FROM cell WHERE id = owner.from_cell_id),
                            'inherited', owner.from_cell_id IS DISTINCT FROM hit.id)) AS x
                    UNION ALL
                    SELECT gw_person_json(r.person_id, 'station_chief', 'department',
                        jsonb_build_object('cell_code', (SELECT code FROM cell WHERE id = r.cell_id)))
                    FROM responsibility r WHERE r.cell_id = station_cell
                      AND r.role = 'station_chief' AND r.valid @> p_at
                ) people WHERE x IS NOT NULL),
            'government', (
                SELECT coalesce(jsonb_agg(gw_person_json(r.person_id, 'township_leader',
                           'government', jsonb_build_object('township', town.name))), '[]'::jsonb)
                FROM responsibility r WHERE r.township_id = town.id
                  AND r.role = 'township_leader' AND r.valid @> p_at))),
        'professional', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'code', c.code, 'name', c.name, 'level', c.level,
                       'specialty', c.specialty,
                       'owner', (SELECT gw_person_json(o.person_id, 'owner', 'department')
                                 FROM gw_cell_owner(c.id, p_at) o))
                   ORDER BY c.specialty, c.level), '[]'::jsonb)
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'professional' AND c.level > 1 AND cv.valid @> p_at
              AND ST_Covers(cv.geom, pt)),
        'nearest_enterprises', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'management_code', n.management_code, 'name', n.name, 'grade', n.grade,
                       'distance_m', round(ST_Distance(n.geom::geography, pt::geography)::numeric,
                                           1))
                   ORDER BY n.d), '[]'::jsonb)
            FROM (SELECT e.management_code, e.name, e.grade, e.geom, e.geom <-> pt AS d
                  FROM enterprise e WHERE e.valid_from <= p_at
                  ORDER BY e.geom <-> pt LIMIT 5) n)
    );
    result := result || jsonb_build_object('owner', result #> '{responsibilities,department,0}');
    RETURN result;
END
$fn$;

CREATE OR REPLACE FUNCTION gw_lookup(p_lon float8, p_lat float8, p_at timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
    hit bigint;
    result jsonb;
BEGIN
    -- The deepest territorial cell; on a shared edge the lowest code (as in assignment).
    SELECT c.id INTO hit
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND cv.valid @> p_at AND ST_Covers(cv.geom, pt)
    ORDER BY c.level DESC, c.code
    LIMIT 1;
    IF hit IS NOT NULL THEN
        RETURN gw_cell_answer(hit, p_lon, p_lat, p_at);
    END IF;
    SELECT jsonb_build_object('outside', true, 'nearest_cell', jsonb_build_object(
               'code', c.code, 'name', c.name, 'level', c.level,
               'distance_m', round(ST_Distance(cv.geom::geography, pt::geography)::numeric, 1)))
    INTO result
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND cv.valid @> p_at
    ORDER BY cv.geom <-> pt, c.level DESC
    LIMIT 1;
    RETURN coalesce(result, jsonb_build_object('outside', true, 'nearest_cell', NULL));
END
$fn$;
"""


def upgrade():
    op.execute(PERSON_JSON)
    op.execute(CELL_PATH)
    op.execute(LOOKUP)


def downgrade():
    op.execute("DROP FUNCTION IF EXISTS gw_lookup(float8, float8, timestamptz)")
    op.execute("DROP FUNCTION IF EXISTS gw_cell_answer(bigint, float8, float8, timestamptz)")
    op.execute("DROP FUNCTION IF EXISTS gw_cell_path(bigint)")
    op.execute("DROP FUNCTION IF EXISTS gw_person_json(bigint, text, text, jsonb)")

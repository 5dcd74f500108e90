-- gis/sql/lookup.sql: the point lookup. Whose cell is this spot at a moment, with its people and
-- the nearest enterprises (the answer is specified in docs/lookup.md; bench/lookup.py times it).
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

CREATE OR REPLACE FUNCTION public.gw_box_around(pt geometry, metres double precision)
 RETURNS geometry
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT ST_Expand(pt, metres * 1.01 / (111195.08 * cos(radians(
                             least(abs(ST_Y(pt)) + metres / 111195.08, 89.9)))),
                     metres * 1.01 / 111195.08)
$function$;

CREATE OR REPLACE FUNCTION public.gw_cell_answer(p_cell bigint, p_lon double precision, p_lat double precision, p_at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $function$
    SELECT gw_answer(p_cell, ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326), p_at)
$function$;

CREATE OR REPLACE FUNCTION public.gw_answer(p_cell bigint, pt geometry, p_at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    m_per_deg constant float8 := 111195.08;
    c bigint;
    r record;
    hit record;
    hit_level smallint;
    terr_ids bigint[];
    terr_codes text[];
    terr_levels smallint[];
    candidates text[] := '{}';
    professional jsonb;
    version record;
    ancestors jsonb := '[]';
    owner_json jsonb;
    station_cell bigint;
    station_json jsonb;
    chief_json jsonb;
    department jsonb := '[]';
    town record;
    government jsonb;
    village_json jsonb;
    near_count bigint;
    far_deg float8;
    reach float8;
    nearest jsonb;
BEGIN
    -- Every cell covering the point at p_at, in one index probe: territorial ones deepest
    -- first, lowest code first on a shared edge (the assignment rule), and the professional
    -- grids with their owners.
    SELECT array_agg(c2.id ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           array_agg(c2.code ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           array_agg(c2.level ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           jsonb_agg(jsonb_build_object(
               'code', c2.code, 'name', c2.name, 'level', c2.level, 'specialty', c2.specialty,
               'owner', coalesce(
                   (SELECT jsonb_build_object('role', 'owner', 'responsibility', 'department',
                               'code', p.code, 'name', p.name, 'phone', p.phone,
                               'unit', p.unit)
                    FROM responsibility x JOIN person p ON p.id = x.person_id
                    WHERE x.cell_id = c2.id AND x.role = 'owner' AND x.valid @> p_at
                    LIMIT 1),
                   -- no owner of its own: the first one up (rare, so the general walk)
                   (SELECT gw_person_json(o.person_id, 'owner', 'department')
                    FROM gw_cell_owner(c2.parent_id, p_at) o)))
               ORDER BY c2.specialty, c2.level) FILTER (
               WHERE c2.kind = 'professional' AND c2.level > 1)
    INTO terr_ids, terr_codes, terr_levels, professional
    FROM cell_version cv JOIN cell c2 ON c2.id = cv.cell_id
    WHERE cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
      AND ST_Covers(cv.geom, pt);

    c := coalesce(p_cell, terr_ids[1]);
    IF c IS NULL THEN
        RETURN NULL;
    END IF;

    -- Up from the cell to the city, once: the cell, its ancestors with their stations, the
    -- station's (level-2) grid, and the owner: the first valid at p_at going up (属地兜底).
    FOR depth IN 1..10 LOOP
        EXIT WHEN c IS NULL;
        SELECT a.id, a.code, a.name, a.level, a.parent_id, a.station_id,
               CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object(
                   'code', s.code, 'name', s.name, 'phone', s.phone,
                   'address', s.address) END AS station
        INTO r FROM cell a LEFT JOIN station s ON s.id = a.station_id WHERE a.id = c;
        EXIT WHEN NOT FOUND;
        IF depth = 1 THEN
            hit := r;
        ELSE
            ancestors := ancestors || jsonb_build_array(jsonb_build_object(
                'code', r.code, 'name', r.name, 'level', r.level, 'station', r.station));
        END IF;
        IF r.level = 2 AND station_cell IS NULL THEN
            station_cell := r.id;
            station_json := r.station;
            SELECT jsonb_build_object('role', 'station_chief', 'responsibility', 'department',
                       'code', p.code, 'name', p.name, 'phone', p.phone, 'unit', p.unit,
                       'cell_code', r.code)
            INTO chief_json
            FROM responsibility x JOIN person p ON p.id = x.person_id
            WHERE x.cell_id = r.id AND x.role = 'station_chief' AND x.valid @> p_at
            LIMIT 1;
        END IF;
        IF owner_json IS NULL THEN
            SELECT jsonb_build_object('role', 'owner', 'responsibility', 'department',
                       'code', p.code, 'name', p.name, 'phone', p.phone, 'unit', p.unit,
                       'cell_code', r.code, 'inherited', depth > 1)
            INTO owner_json
            FROM responsibility x JOIN person p ON p.id = x.person_id
            WHERE x.cell_id = r.id AND x.role = 'owner' AND x.valid @> p_at
            LIMIT 1;
        END IF;
        c := r.parent_id;
    END LOOP;
    IF hit IS NULL THEN
        RETURN NULL;
    END IF;
    hit_level := hit.level;

    -- On a shared edge: every territorial cell at the hit's level that covers the point.
    FOR i IN 1..coalesce(cardinality(terr_ids), 0) LOOP
        IF terr_levels[i] = hit_level THEN
            candidates := candidates || terr_codes[i];
        END IF;
    END LOOP;
    IF cardinality(candidates) = 0 THEN
        candidates := NULL;  -- already in code order: the probe sorted by level, then code
    END IF;

    SELECT cv.id, cv.valid_from, cv.valid_to INTO version FROM cell_version cv
    WHERE cv.cell_id = hit.id AND cv.valid_from <= p_at
      AND (cv.valid_to IS NULL OR cv.valid_to > p_at);

    SELECT t.id, t.code, t.name INTO town FROM township t WHERE ST_Covers(t.geom, pt)
    ORDER BY t.code LIMIT 1;
    IF town.id IS NOT NULL THEN
        SELECT jsonb_agg(jsonb_build_object('role', 'township_leader',
                   'responsibility', 'government', 'code', p.code, 'name', p.name,
                   'phone', p.phone, 'unit', p.unit, 'township', town.name))
        INTO government
        FROM responsibility x JOIN person p ON p.id = x.person_id
        WHERE x.township_id = town.id AND x.role = 'township_leader' AND x.valid @> p_at;
    END IF;
    SELECT jsonb_build_object('code', v.code, 'name', v.name) INTO village_json FROM village v
    WHERE ST_Covers(v.geom, pt) ORDER BY v.code LIMIT 1;

    -- The five nearest in metres. The twelve nearest in degrees hold them when the fifth
    -- nearest of those, in metres, is nearer than anything beyond the twelfth can be: a
    -- point d degrees away is at least d * M * cos(latitude) metres away (a degree of
    -- longitude being the shortest). Otherwise that fifth distance bounds a box to rank.
    SELECT count(*), max(k.d), (array_agg(k.m ORDER BY k.m))[5],
           jsonb_agg(jsonb_build_object(
               'management_code', k.management_code, 'name', k.name, 'grade', k.grade,
               'distance_m', round(k.m::numeric, 1)) ORDER BY k.m, k.management_code)
    INTO near_count, far_deg, reach, nearest
    FROM (SELECT e.management_code, e.name, e.grade, e.geom <-> pt AS d,
                 ST_DistanceSphere(e.geom, pt) AS m
          FROM enterprise e WHERE e.valid_from <= p_at
          ORDER BY e.geom <-> pt LIMIT 12) k;
    IF near_count = 12 AND reach > 0.999 * far_deg * m_per_deg
                                * cos(radians(least(abs(ST_Y(pt)) + far_deg, 89.9))) THEN
        SELECT jsonb_agg(jsonb_build_object(
                   'management_code', n.management_code, 'name', n.name, 'grade', n.grade,
                   'distance_m', round(n.m::numeric, 1))
               ORDER BY n.m, n.management_code)
        INTO nearest
        FROM (SELECT e.management_code, e.name, e.grade, ST_DistanceSphere(e.geom, pt) AS m
              FROM enterprise e
              WHERE e.geom && gw_box_around(pt, reach)
                AND e.valid_from <= p_at
              ORDER BY 4, 1 LIMIT 5) n;
    ELSE
        nearest := jsonb_path_query_array(nearest, '$[0 to 4]');
    END IF;

    IF owner_json IS NOT NULL THEN
        department := department || jsonb_build_array(owner_json);
    END IF;
    IF chief_json IS NOT NULL THEN
        department := department || jsonb_build_array(chief_json);
    END IF;
    RETURN jsonb_build_object(
        'cell', jsonb_build_object(
            'code', hit.code, 'name', hit.name, 'level', hit.level,
            'version', jsonb_build_object('id', version.id, 'valid_from', version.valid_from,
                                          'valid_to', version.valid_to)),
        'on_edge', coalesce(cardinality(candidates), 0) > 1,
        'edge_candidates', to_jsonb(candidates),
        'ancestors', ancestors,
        'station', station_json,
        'township', CASE WHEN town.id IS NULL THEN NULL ELSE
            jsonb_build_object('code', town.code, 'name', town.name) END,
        'village', village_json,
        'responsibilities', jsonb_strip_nulls(jsonb_build_object(
            'department', department, 'government', coalesce(government, '[]'))),
        'professional', coalesce(professional, '[]'),
        'nearest_enterprises', coalesce(nearest, '[]'),
        'owner', jsonb_strip_nulls(department -> 0));
END
$function$;

CREATE OR REPLACE FUNCTION public.gw_lookup(p_lon double precision, p_lat double precision, p_at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
    result jsonb := gw_answer(NULL, pt, p_at);
    reach float8;
BEGIN
    IF result IS NOT NULL THEN
        RETURN result;
    END IF;
    -- Outside every cell (rare, so the exact spheroid distance): the nearest territorial
    -- cell in metres; the nearest in degrees bounds the box to rank.
    SELECT ST_Distance(cv.geom::geography, pt::geography) INTO reach
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND cv.valid_from <= p_at
      AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
    ORDER BY cv.geom <-> pt LIMIT 1;
    IF reach IS NULL THEN
        RETURN jsonb_build_object('outside', true, 'nearest_cell', NULL);
    END IF;
    SELECT jsonb_build_object('outside', true, 'nearest_cell', jsonb_build_object(
               'code', n.code, 'name', n.name, 'level', n.level,
               'distance_m', round(n.m::numeric, 1)))
    INTO result
    FROM (SELECT c.code, c.name, c.level, ST_Distance(cv.geom::geography, pt::geography) AS m
          FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
          WHERE c.kind = 'territorial' AND cv.valid_from <= p_at
            AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
            AND cv.geom && gw_box_around(pt, reach)
          ORDER BY 4, c.level DESC, c.code LIMIT 1) n;
    RETURN result;
END
$function$;


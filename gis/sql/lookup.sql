-- gis/sql/lookup.sql: the point lookup. Whose cell is this spot at a moment, with its people and
-- the nearest enterprises (the answer is specified in docs/lookup.md; bench/lookup.py times it).
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).
--
-- The answer is json, written as text as it is built: jsonb parsed, sorted and re-encoded every
-- part at each step, and gis/lookup.py sends the text on as it is.

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
 RETURNS json
 LANGUAGE sql
 STABLE
AS $function$
    SELECT gw_answer(p_cell, ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326), p_at)
$function$;

CREATE OR REPLACE FUNCTION public.gw_answer(p_cell bigint, pt geometry, p_at timestamp with time zone)
 RETURNS json
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    m_per_deg constant float8 := 111195.08;
    c bigint;
    r record;
    hit record;
    terr_ids bigint[];
    terr_codes text[];
    terr_levels smallint[];
    candidates text[] := '{}';
    professional json;
    version record;
    ancestors json[] := '{}';
    owner_json json;
    station_cell bigint;
    station_json json;
    chief_json json;
    department json;
    town record;
    village_json json;
    near_count bigint;
    far_deg float8;
    reach float8;
    nearest json[];
BEGIN
    -- Every cell covering the point at p_at, in one index probe: territorial ones deepest
    -- first, lowest code first on a shared edge (the assignment rule), and the professional
    -- grids with their owners.
    -- The probe reads the versions' pieces (cell_piece: at most 128 vertices, a tight box),
    -- not the versions, whose detailed outlines of hundreds of vertices are stored out of line
    -- and were most of the lookup's time. The rule is the assignment's (assignment.sql): a
    -- point strictly inside a piece is in that cell; one on a piece's boundary (a cut, the
    -- outline, a shared edge) is decided by the whole version, cutting having rounded the
    -- vertices it added. For a point ST_Contains is ST_ContainsProperly, and PostGIS answers
    -- it, like ST_Covers, by point-in-polygon (ST_ContainsProperly goes to GEOS: 5x the time).
    -- People are read by valid_from/valid_to comparisons, not "valid @> p_at": in a cached
    -- generic plan the range operator draws the planner to the exclusion constraint's GiST
    -- index on (role, valid), which reads every owner of the city to find one.
    SELECT array_agg(c2.id ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           array_agg(c2.code ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           array_agg(c2.level ORDER BY c2.level DESC, c2.code) FILTER (
               WHERE c2.kind = 'territorial'),
           json_agg(json_build_object(
               'code', c2.code, 'name', c2.name, 'level', c2.level, 'specialty', c2.specialty,
               'owner', coalesce(
                   (SELECT json_build_object('role', 'owner', 'responsibility', 'department',
                               'code', p.code, 'name', p.name, 'phone', p.phone,
                               'unit', p.unit)
                    FROM responsibility x JOIN person p ON p.id = x.person_id
                    WHERE x.cell_id = c2.id AND x.role = 'owner'
                      AND x.valid_from <= p_at AND (x.valid_to IS NULL OR x.valid_to > p_at)
                    LIMIT 1),
                   -- no owner of its own: the first one up (rare, so the general walk)
                   (SELECT gw_person_json(o.person_id, 'owner', 'department')::json
                    FROM gw_cell_owner(c2.parent_id, p_at) o)))
               ORDER BY c2.specialty, c2.level) FILTER (
               WHERE c2.kind = 'professional' AND c2.level > 1)
    INTO terr_ids, terr_codes, terr_levels, professional
    FROM (SELECT pc.version_id, pc.cell_id, bool_or(ST_Contains(pc.geom, pt)) AS inside
          FROM cell_piece pc
          WHERE pc.valid_from <= p_at AND (pc.valid_to IS NULL OR pc.valid_to > p_at)
            AND ST_Covers(pc.geom, pt)
          GROUP BY pc.version_id, pc.cell_id) h
    JOIN cell c2 ON c2.id = h.cell_id
    -- CASE, not OR: the version is read only for a point on a piece's boundary.
    WHERE CASE WHEN h.inside THEN true
               ELSE ST_Covers((SELECT cv.geom FROM cell_version cv WHERE cv.id = h.version_id),
                              pt) END;

    c := coalesce(p_cell, terr_ids[1]);
    IF c IS NULL THEN
        RETURN NULL;
    END IF;

    -- Up from the cell to the city, once: the cell, its ancestors with their stations, the
    -- station's (level-2) grid, and the owner: the first valid at p_at going up (属地兜底).
    FOR depth IN 1..10 LOOP
        EXIT WHEN c IS NULL;
        SELECT a.id, a.code, a.name, a.level, a.parent_id, a.station_id,
               CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object(
                   'code', s.code, 'name', s.name, 'phone', s.phone,
                   'address', s.address) END AS station
        INTO r FROM cell a LEFT JOIN station s ON s.id = a.station_id WHERE a.id = c;
        EXIT WHEN NOT FOUND;
        IF depth = 1 THEN
            hit := r;
        ELSE
            ancestors := ancestors || json_build_object(
                'code', r.code, 'name', r.name, 'level', r.level, 'station', r.station);
        END IF;
        IF r.level = 2 AND station_cell IS NULL THEN
            station_cell := r.id;
            station_json := r.station;
            SELECT json_build_object('role', 'station_chief', 'responsibility', 'department',
                       'code', p.code, 'name', p.name, 'phone', p.phone, 'unit', p.unit,
                       'cell_code', r.code)
            INTO chief_json
            FROM responsibility x JOIN person p ON p.id = x.person_id
            WHERE x.cell_id = r.id AND x.role = 'station_chief'
              AND x.valid_from <= p_at AND (x.valid_to IS NULL OR x.valid_to > p_at)
            LIMIT 1;
        END IF;
        IF owner_json IS NULL THEN
            SELECT json_build_object('role', 'owner', 'responsibility', 'department',
                       'code', p.code, 'name', p.name, 'phone', p.phone, 'unit', p.unit,
                       'cell_code', r.code, 'inherited', depth > 1)
            INTO owner_json
            FROM responsibility x JOIN person p ON p.id = x.person_id
            WHERE x.cell_id = r.id AND x.role = 'owner'
              AND x.valid_from <= p_at AND (x.valid_to IS NULL OR x.valid_to > p_at)
            LIMIT 1;
        END IF;
        c := r.parent_id;
    END LOOP;
    IF hit IS NULL THEN
        RETURN NULL;
    END IF;

    -- On a shared edge: every territorial cell at the hit's level that covers the point.
    FOR i IN 1..coalesce(cardinality(terr_ids), 0) LOOP
        IF terr_levels[i] = hit.level THEN
            candidates := candidates || terr_codes[i];
        END IF;
    END LOOP;
    IF cardinality(candidates) = 0 THEN
        candidates := NULL;  -- already in code order: the probe sorted by level, then code
    END IF;

    SELECT cv.id, cv.valid_from, cv.valid_to INTO version FROM cell_version cv
    WHERE cv.cell_id = hit.id AND cv.valid_from <= p_at
      AND (cv.valid_to IS NULL OR cv.valid_to > p_at);

    -- Township outlines (tens of vertices) and villages' stay whole: as small as a piece.
    SELECT t.code, t.name,
           (SELECT json_agg(json_build_object('role', 'township_leader',
                       'responsibility', 'government', 'code', p.code, 'name', p.name,
                       'phone', p.phone, 'unit', p.unit, 'township', t.name))
            FROM responsibility x JOIN person p ON p.id = x.person_id
            WHERE x.township_id = t.id AND x.role = 'township_leader'
              AND x.valid_from <= p_at AND (x.valid_to IS NULL OR x.valid_to > p_at))
               AS government
    INTO town FROM township t WHERE ST_Covers(t.geom, pt)
    ORDER BY t.code LIMIT 1;
    SELECT json_build_object('code', v.code, 'name', v.name) INTO village_json FROM village v
    WHERE ST_Covers(v.geom, pt) ORDER BY v.code LIMIT 1;

    -- The five nearest in metres. The twelve nearest in degrees hold them when the fifth
    -- nearest of those, in metres, is nearer than anything beyond the twelfth can be: a
    -- point d degrees away is at least d * M * cos(latitude) metres away (a degree of
    -- longitude being the shortest). Otherwise that fifth distance bounds a box to rank.
    SELECT count(*), max(k.d), (array_agg(k.m ORDER BY k.m))[5],
           (array_agg(json_build_object(
               'management_code', k.management_code, 'name', k.name, 'grade', k.grade,
               'distance_m', round(k.m::numeric, 1)) ORDER BY k.m, k.management_code))[1:5]
    INTO near_count, far_deg, reach, nearest
    FROM (SELECT e.management_code, e.name, e.grade, e.geom <-> pt AS d,
                 ST_DistanceSphere(e.geom, pt) AS m
          FROM enterprise e WHERE e.valid_from <= p_at
          ORDER BY e.geom <-> pt LIMIT 12) k;
    IF near_count = 12 AND reach > 0.999 * far_deg * m_per_deg
                                * cos(radians(least(abs(ST_Y(pt)) + far_deg, 89.9))) THEN
        SELECT array_agg(json_build_object(
                   'management_code', n.management_code, 'name', n.name, 'grade', n.grade,
                   'distance_m', round(n.m::numeric, 1))
               ORDER BY n.m, n.management_code)
        INTO nearest
        FROM (SELECT e.management_code, e.name, e.grade, ST_DistanceSphere(e.geom, pt) AS m
              FROM enterprise e
              WHERE e.geom && gw_box_around(pt, reach)
                AND e.valid_from <= p_at
              ORDER BY 4, 1 LIMIT 5) n;
    END IF;

    department := CASE WHEN owner_json IS NULL AND chief_json IS NULL THEN '[]'
                       WHEN chief_json IS NULL THEN json_build_array(owner_json)
                       WHEN owner_json IS NULL THEN json_build_array(chief_json)
                       ELSE json_build_array(owner_json, chief_json) END;
    -- "on_edge" first: gis/lookup.py reads it from the start of the text (EDGE_PREFIX).
    RETURN json_build_object(
        'on_edge', coalesce(cardinality(candidates), 0) > 1,
        'cell', json_build_object(
            'code', hit.code, 'name', hit.name, 'level', hit.level,
            'version', json_build_object('id', version.id, 'valid_from', version.valid_from,
                                         'valid_to', version.valid_to)),
        'edge_candidates', to_json(candidates),
        'ancestors', array_to_json(ancestors),
        'station', station_json,
        'township', CASE WHEN town.code IS NULL THEN NULL ELSE
            json_build_object('code', town.code, 'name', town.name) END,
        'village', village_json,
        'responsibilities', json_strip_nulls(json_build_object(
            'department', department, 'government', coalesce(town.government, '[]'))),
        'professional', coalesce(professional, '[]'),
        'nearest_enterprises', coalesce(array_to_json(nearest), '[]'),
        'owner', json_strip_nulls(coalesce(owner_json, chief_json)));
END
$function$;

CREATE OR REPLACE FUNCTION public.gw_lookup(p_lon double precision, p_lat double precision, p_at timestamp with time zone)
 RETURNS json
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
    result json := gw_answer(NULL, pt, p_at);
    reach float8;
BEGIN
    IF result IS NOT NULL THEN
        RETURN result;
    END IF;
    -- Outside every cell (rare, so the exact spheroid distance): the nearest territorial
    -- cell in metres; the nearest in degrees bounds the box to rank. "outside" first:
    -- gis/lookup.py reads it from the start of the text (OUTSIDE_PREFIX).
    SELECT ST_Distance(cv.geom::geography, pt::geography) INTO reach
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND cv.valid_from <= p_at
      AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
    ORDER BY cv.geom <-> pt LIMIT 1;
    IF reach IS NULL THEN
        RETURN json_build_object('outside', true, 'nearest_cell', NULL);
    END IF;
    SELECT json_build_object('outside', true, 'nearest_cell', json_build_object(
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

-- Frozen: every gw_* function and trigger as revision 0008 left them (gis/sqlsource.py dump).
-- Loaded by that revision's upgrade and the next one's downgrade. Never edit: today's rules
-- live in gis/sql/ (docs/sql.md).

CREATE OR REPLACE FUNCTION public.gw_assign(p_at timestamp with time zone, p_ids bigint[] DEFAULT NULL::bigint[])
 RETURNS integer
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
DECLARE
    n_changed integer;
    n_ids integer := coalesce(cardinality(p_ids), 0);
    n_scope bigint;
BEGIN
    -- Scratch tables live for the transaction; checking first keeps the log free of NOTICEs.
    IF to_regclass('pg_temp.gw_wanted') IS NULL THEN
        CREATE TEMP TABLE gw_wanted (
            enterprise_id bigint PRIMARY KEY, cell_id bigint, on_edge boolean NOT NULL
        ) ON COMMIT DROP;
        CREATE TEMP TABLE gw_scope (enterprise_id bigint PRIMARY KEY) ON COMMIT DROP;
        CREATE TEMP TABLE gw_changed (
            enterprise_id bigint PRIMARY KEY, cell_id bigint, on_edge boolean NOT NULL,
            old_id bigint, old_from timestamptz, until timestamptz
        ) ON COMMIT DROP;
    END IF;
    TRUNCATE gw_wanted, gw_changed;

    IF p_ids IS NOT NULL AND n_ids > 2000 THEN
        TRUNCATE gw_scope;
        INSERT INTO gw_scope
        SELECT DISTINCT e.id FROM enterprise e JOIN unnest(p_ids) AS u(id) ON e.id = u.id
        WHERE e.valid_from <= p_at;
        GET DIAGNOSTICS n_scope = ROW_COUNT;
        ANALYZE gw_scope;
    END IF;

    IF p_ids IS NOT NULL AND n_ids <= 2000 THEN
        -- Few enterprises: probe the cells' GiST index once per point.
        INSERT INTO gw_wanted
        SELECT DISTINCT ON (e.id) e.id, v.cell_id,
               coalesce(count(*) OVER (PARTITION BY e.id, v.level) > 1 AND v.cell_id IS NOT NULL,
                        false)
        FROM enterprise e
        LEFT JOIN LATERAL (
            SELECT cv.cell_id, c.level, c.code
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'territorial' AND cv.valid @> p_at AND ST_Covers(cv.geom, e.geom)
        ) v ON true
        WHERE e.id = ANY (p_ids) AND e.valid_from <= p_at
        ORDER BY e.id, v.level DESC NULLS LAST, v.code;
    ELSIF p_ids IS NOT NULL AND n_scope * 20 <
            (SELECT reltuples FROM pg_class WHERE oid = 'enterprise'::regclass) THEN
        -- A larger batch that is still a small share of all enterprises: point by point too,
        -- the ids from gw_scope (the cells-outer pass below reads every enterprise).
        INSERT INTO gw_wanted
        SELECT DISTINCT ON (e.id) e.id, v.cell_id,
               coalesce(count(*) OVER (PARTITION BY e.id, v.level) > 1 AND v.cell_id IS NOT NULL,
                        false)
        FROM gw_scope s
        JOIN enterprise e ON e.id = s.enterprise_id
        LEFT JOIN LATERAL (
            SELECT cv.cell_id, c.level, c.code
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'territorial' AND cv.valid @> p_at AND ST_Covers(cv.geom, e.geom)
        ) v ON true
        ORDER BY e.id, v.level DESC NULLS LAST, v.code;
    ELSE
        -- Pass 1, the bulk: level-3 cells outer, each probing the enterprises' GiST index once
        -- (so each polygon is prepared once for all its points). OFFSET 0 is what keeps the
        -- cells outer: it hides the cells' own index, so the planner cannot flatten the join
        -- and loop over points instead (a LATERAL subquery does not prevent that; measured
        -- by bench/assignment.py: 10x slower at 1M x 10k).
        INSERT INTO gw_wanted
        SELECT e.id, (array_agg(v.cell_id ORDER BY v.code))[1], count(*) > 1
        FROM (
            SELECT cv.cell_id, c.code, cv.geom
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'territorial' AND c.level = 3 AND cv.valid @> p_at
            OFFSET 0
        ) v
        JOIN enterprise e ON ST_Covers(v.geom, e.geom)
        WHERE e.valid_from <= p_at
          AND (p_ids IS NULL OR e.id IN (SELECT s.enterprise_id FROM gw_scope s))
        GROUP BY e.id;

        -- Pass 2, the few left (outside all level-3 cells): shallower cells, point by point.
        INSERT INTO gw_wanted
        SELECT DISTINCT ON (e.id) e.id, v.cell_id,
               coalesce(count(*) OVER (PARTITION BY e.id, v.level) > 1 AND v.cell_id IS NOT NULL,
                        false)
        FROM enterprise e
        LEFT JOIN LATERAL (
            SELECT cv.cell_id, c.level, c.code
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'territorial' AND c.level < 3 AND cv.valid @> p_at
              AND ST_Covers(cv.geom, e.geom)
        ) v ON true
        WHERE e.valid_from <= p_at
          AND (p_ids IS NULL OR e.id IN (SELECT s.enterprise_id FROM gw_scope s))
          AND NOT EXISTS (SELECT 1 FROM gw_wanted w WHERE w.enterprise_id = e.id)
        ORDER BY e.id, v.level DESC NULLS LAST, v.code;
    END IF;

    -- Compare with the rows valid at p_at; keep only what changed.
    INSERT INTO gw_changed
    SELECT w.enterprise_id, w.cell_id, w.on_edge, ec.id, ec.valid_from,
           CASE WHEN ec.id IS NOT NULL THEN ec.valid_to
                ELSE (SELECT min(f.valid_from) FROM enterprise_cell f
                      WHERE f.enterprise_id = w.enterprise_id AND f.valid_from > p_at) END
    FROM gw_wanted w
    LEFT JOIN enterprise_cell ec ON ec.enterprise_id = w.enterprise_id AND ec.valid @> p_at
    WHERE ec.id IS NULL OR ec.cell_id IS DISTINCT FROM w.cell_id OR ec.on_edge <> w.on_edge;
    GET DIAGNOSTICS n_changed = ROW_COUNT;
    IF n_changed = 0 THEN
        RETURN 0;
    END IF;

    -- A row that began at this very instant (same transaction) is replaced, not closed:
    -- closing it would leave an empty period.
    DELETE FROM enterprise_cell ec USING gw_changed c
    WHERE ec.id = c.old_id AND c.old_from = p_at;
    UPDATE enterprise_cell ec SET valid_to = p_at FROM gw_changed c
    WHERE ec.id = c.old_id AND c.old_from < p_at;

    -- Where the previous period ended at p_at with the same answer, extend it instead of
    -- starting a new row: history stays one row per real change.
    WITH merged AS (
        UPDATE enterprise_cell p SET valid_to = c.until
        FROM gw_changed c
        WHERE p.enterprise_id = c.enterprise_id AND p.valid_to = p_at
          AND p.cell_id IS NOT DISTINCT FROM c.cell_id AND p.on_edge = c.on_edge
        RETURNING p.enterprise_id
    )
    INSERT INTO enterprise_cell (enterprise_id, cell_id, on_edge, valid_from, valid_to)
    SELECT c.enterprise_id, c.cell_id, c.on_edge, p_at, c.until
    FROM gw_changed c
    WHERE NOT EXISTS (SELECT 1 FROM merged m WHERE m.enterprise_id = c.enterprise_id);

    RETURN n_changed;
END
$function$;

CREATE OR REPLACE FUNCTION public.gw_audit_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'check_violation';
END $function$;

CREATE OR REPLACE FUNCTION public.gw_cell_answer(p_cell bigint, p_lon double precision, p_lat double precision, p_at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
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
    FROM cell c LEFT JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
    WHERE c.id = p_cell;

    SELECT array_agg(c.code ORDER BY c.code) INTO candidates
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND c.level = hit.level AND cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
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
            WHERE c.kind = 'professional' AND c.level > 1 AND cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
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
$function$;

CREATE OR REPLACE FUNCTION public.gw_cell_owner(p_cell bigint, p_at timestamp with time zone, OUT person_id bigint, OUT from_cell_id bigint)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.gw_cell_path(p_cell bigint)
 RETURNS bigint[]
 LANGUAGE plpgsql
 STABLE
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.gw_cell_version_frozen()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NOT ST_Equals(NEW.geom, OLD.geom) OR NEW.cell_id <> OLD.cell_id
       OR NEW.valid_from <> OLD.valid_from THEN
        RAISE EXCEPTION 'cell_version % is history: close it (valid_to) and insert a new version',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_cell_version_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE t timestamptz;
BEGIN
    FOR t IN SELECT DISTINCT valid_from FROM new_rows LOOP
        PERFORM gw_assign(t, (
            SELECT array_agg(DISTINCT e.id)
            FROM new_rows v JOIN enterprise e ON e.geom && v.geom
            WHERE v.valid_from = t AND e.valid_from <= t));
    END LOOP;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_cell_version_updated()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE t timestamptz;
BEGIN
    FOR t IN
        SELECT DISTINCT n.valid_to FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.valid_to IS NOT NULL AND n.valid_to IS DISTINCT FROM o.valid_to
    LOOP
        PERFORM gw_assign(t, (
            SELECT array_agg(DISTINCT e.id)
            FROM new_rows v JOIN enterprise e ON e.geom && v.geom
            WHERE v.valid_to = t AND e.valid_from <= t));
    END LOOP;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_enterprise_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE t timestamptz;
BEGIN
    FOR t IN SELECT DISTINCT valid_from FROM new_rows LOOP
        PERFORM gw_assign(t, (SELECT array_agg(id) FROM new_rows WHERE valid_from = t));
    END LOOP;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_enterprise_updated()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE ids bigint[];
BEGIN
    SELECT array_agg(n.id) INTO ids
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE NOT ST_Equals(n.geom, o.geom) OR n.valid_from <> o.valid_from;
    IF ids IS NOT NULL THEN
        PERFORM gw_assign(greatest(now(), (SELECT max(valid_from) FROM new_rows)), ids);
    END IF;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_lookup(p_lon double precision, p_lat double precision, p_at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
    hit bigint;
    result jsonb;
BEGIN
    -- The deepest territorial cell; on a shared edge the lowest code (as in assignment).
    SELECT c.id INTO hit
    FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at) AND ST_Covers(cv.geom, pt)
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
    WHERE c.kind = 'territorial' AND cv.valid_from <= p_at AND (cv.valid_to IS NULL OR cv.valid_to > p_at)
    ORDER BY cv.geom <-> pt, c.level DESC
    LIMIT 1;
    RETURN coalesce(result, jsonb_build_object('outside', true, 'nearest_cell', NULL));
END
$function$;

CREATE OR REPLACE FUNCTION public.gw_person_json(p_person bigint, p_role text, p_kind text, p_extra jsonb DEFAULT '{}'::jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
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
$function$;

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_append_only();

CREATE TRIGGER cell_version_assign_insert AFTER INSERT ON public.cell_version REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_cell_version_inserted();

CREATE TRIGGER cell_version_assign_update AFTER UPDATE ON public.cell_version REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_cell_version_updated();

CREATE TRIGGER cell_version_frozen BEFORE UPDATE ON public.cell_version FOR EACH ROW EXECUTE FUNCTION gw_cell_version_frozen();

CREATE TRIGGER enterprise_assign_insert AFTER INSERT ON public.enterprise REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_inserted();

CREATE TRIGGER enterprise_assign_update AFTER UPDATE ON public.enterprise REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_updated();

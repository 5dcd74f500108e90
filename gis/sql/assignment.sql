-- gis/sql/assignment.sql: which cell each enterprise is in, kept right by the database itself:
-- statement-level triggers on enterprise and cell_version call gw_assign(at, ids), so every
-- write path (CLI import, web edit, psql) gets the same rule. The rule and why a point on a shared edge goes where it goes:
-- docs/assignment.md.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

-- The rule: an enterprise belongs to the deepest territorial cell whose boundary version, valid
-- at p_at, covers its point (ST_Covers: a point on a boundary is covered); when several cells of
-- that level cover it (a shared edge) the lowest code wins and on_edge is recorded; outside every
-- cell it gets a row with cell_id NULL (listed, never dropped). Only rows whose answer changed
-- are written.
--
-- Query shapes follow shared PERF-NOTES and bench/assignment.py: for a bulk pass the loop runs
-- over cells (outer) probing the points' GiST index, so each polygon's prepared form is reused;
-- for a batch small in absolute terms or as a share of all enterprises it runs over points
-- probing the cells' index. The tuning:
--   p_small_batch: below this many ids the point-outer plan is cheaper than scanning all cells;
--   p_bulk_share:  a batch smaller than 1/p_bulk_share of all enterprises is still assigned point
--                  by point (the cells-outer pass reads every enterprise whatever the batch;
--                  measured at 1M x 10k: 10k ids 0.5 s point by point vs 1.7 s cells-outer).
-- Custom plans (plan_cache_mode, migration 0007): in a generic plan the planner cannot see p_at
-- and probes every version by (cell_id, valid): ~0.8 ms an enterprise at 10,000 cells, not µs.
CREATE OR REPLACE FUNCTION public.gw_assign(p_at timestamp with time zone, p_ids bigint[] DEFAULT NULL::bigint[],
                                            p_small_batch integer DEFAULT 2000,
                                            p_bulk_share integer DEFAULT 20)
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

    IF p_ids IS NOT NULL AND n_ids > p_small_batch THEN
        TRUNCATE gw_scope;
        INSERT INTO gw_scope
        SELECT DISTINCT e.id FROM enterprise e JOIN unnest(p_ids) AS u(id) ON e.id = u.id
        WHERE e.valid_from <= p_at;
        GET DIAGNOSTICS n_scope = ROW_COUNT;
        ANALYZE gw_scope;
    END IF;

    IF p_ids IS NOT NULL AND n_ids <= p_small_batch THEN
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
    ELSIF p_ids IS NOT NULL AND n_scope * p_bulk_share <
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

CREATE TRIGGER enterprise_assign_insert AFTER INSERT ON public.enterprise REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_inserted();

CREATE TRIGGER enterprise_assign_update AFTER UPDATE ON public.enterprise REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_updated();

CREATE TRIGGER cell_version_assign_insert AFTER INSERT ON public.cell_version REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_cell_version_inserted();

CREATE TRIGGER cell_version_assign_update AFTER UPDATE ON public.cell_version REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_cell_version_updated();


-- Each enterprise's cell now: the assignment row nobody has closed yet (cell_id NULL: outside
-- every cell). One place for what "now" means; the cell at another moment is a dated query
-- (enterprise_cell.valid @> at). The partial unique index on enterprise_id WHERE valid_to IS
-- NULL serves it.
CREATE VIEW public.enterprise_cell_current AS
SELECT ec.enterprise_id, ec.cell_id, ec.on_edge, ec.valid_from
FROM enterprise_cell ec WHERE ec.valid_to IS NULL;

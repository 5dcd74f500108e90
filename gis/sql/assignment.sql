-- gis/sql/assignment.sql: which cell each enterprise is in, kept right by the database itself:
-- statement-level triggers on enterprise and cell_version call gw_assign(at, ids), so every
-- write path (CLI import, web edit, psql) gets the same rule. The rule and why a point on a shared edge goes where it goes:
-- docs/assignment.md.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

-- A boundary version cut into pieces of at most p_max_vertices vertices (ST_Subdivide), so an
-- index probe on a large detailed outline (a county of thousands of vertices) finds a small
-- piece with a tight box, and testing a point against it costs little. A version under the
-- limit is one piece with exactly its own coordinates. Cutting moves no original vertex but
-- adds vertices where a cut crosses an edge, rounded to the nearest double: which is why a
-- point on a piece's boundary is decided by the whole version, never by the piece (gw_assign,
-- gw_lookup).
CREATE OR REPLACE FUNCTION public.gw_cell_pieces(p_geom geometry, p_max_vertices integer DEFAULT 128)
 RETURNS SETOF geometry
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT ST_Subdivide(p_geom, p_max_vertices)
$function$;

-- The rule: an enterprise belongs to the deepest territorial cell whose boundary version, valid
-- at p_at, covers its point (ST_Covers: a point on a boundary is covered); when several cells of
-- that level cover it (a shared edge) the lowest code wins and on_edge is recorded; outside every
-- cell it gets a row with cell_id NULL (listed, never dropped). Only rows whose answer changed
-- are written.
--
-- How (bench/assignment.py measures each step; docs/assignment.md says why):
-- * Pieces decide the interior. A point strictly inside one piece of exactly one cell is
--   settled by that piece. Every other point (on a piece's boundary, several cells, no cell)
--   is decided again against the whole versions, point by point: exact on every edge.
-- * A bulk pass loops over the pieces of one level (outer), each probing the enterprises'
--   GiST index once, so each piece's prepared form is reused; deepest level first, then the
--   next level only for the enterprises still without a cell. When few are left (or the batch
--   is small in absolute terms or as a share of all enterprises) they go point by point,
--   probing the pieces' index.
--   p_small_batch: below this many enterprises, point by point is cheaper than a pass over
--                  every piece of a level;
--   p_bulk_share:  a batch smaller than 1/p_bulk_share of all enterprises is still assigned
--                  point by point (a pass reads every enterprise its pieces cover, whatever the
--                  batch).
--   p_fresh:       the caller vouches that no id has an enterprise_cell row yet (enterprises
--                  the insert trigger's statement just added): their answers are written
--                  without comparing with, closing or extending earlier rows.
-- * One writer at a time: the transaction-level advisory lock below serialises every call, so
--   two transactions never compute and write answers for the same enterprise at once. With
--   the partial unique index on the open row it is what keeps one answer per enterprise per
--   moment; it replaced a GiST exclusion constraint whose upkeep was most of the cost of
--   writing a full assignment (docs/assignment.md, "One answer at a time").
-- work_mem: a full pass groups one row per enterprise in a hash (1M enterprises: ~100 MB);
-- with the default 4 MB it spills to disk.
-- Custom plans (plan_cache_mode, migration 0007): in a generic plan the planner cannot see p_at
-- and probes every version by (cell_id, valid): ~0.8 ms an enterprise at 10,000 cells, not µs.
CREATE OR REPLACE FUNCTION public.gw_assign(p_at timestamp with time zone, p_ids bigint[] DEFAULT NULL::bigint[],
                                            p_small_batch integer DEFAULT 2000,
                                            p_bulk_share integer DEFAULT 20,
                                            p_fresh boolean DEFAULT false)
 RETURNS integer
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_custom_plan'
 SET work_mem TO '256MB'
AS $function$
DECLARE
    n_changed integer;
    n_left bigint;
    n_done bigint;
    scoped boolean := p_ids IS NOT NULL;
    bulk boolean := p_ids IS NULL;
    lvl integer;
BEGIN
    -- The key is 'gw_assign' as text, hashed once by hand: any constant shared by every caller.
    PERFORM pg_advisory_xact_lock(1937007723);

    -- Scratch tables live for the transaction; checking first keeps the log free of NOTICEs.
    IF to_regclass('pg_temp.gw_wanted') IS NULL THEN
        CREATE TEMP TABLE gw_wanted (
            enterprise_id bigint PRIMARY KEY, cell_id bigint, on_edge boolean NOT NULL,
            settled boolean NOT NULL
        ) ON COMMIT DROP;
        CREATE TEMP TABLE gw_left (id bigint PRIMARY KEY) ON COMMIT DROP;
        CREATE TEMP TABLE gw_changed (
            enterprise_id bigint PRIMARY KEY, cell_id bigint, on_edge boolean NOT NULL,
            old_id bigint, old_from timestamptz, until timestamptz
        ) ON COMMIT DROP;
    END IF;
    TRUNCATE gw_wanted, gw_left, gw_changed;

    IF scoped AND p_fresh THEN
        -- The insert trigger's ids: distinct, stored, starting at p_at (no join to check).
        INSERT INTO gw_left SELECT unnest(p_ids);
    ELSIF scoped THEN
        INSERT INTO gw_left
        SELECT DISTINCT e.id FROM enterprise e JOIN unnest(p_ids) AS u(id) ON e.id = u.id
        WHERE e.valid_from <= p_at;
    END IF;
    IF scoped THEN
        GET DIAGNOSTICS n_left = ROW_COUNT;
        bulk := n_left > p_small_batch AND n_left * p_bulk_share >=
                (SELECT reltuples FROM pg_class WHERE oid = 'enterprise'::regclass);
        IF bulk THEN
            ANALYZE gw_left;
        END IF;
    END IF;

    IF bulk THEN
        FOR lvl IN SELECT DISTINCT c.level FROM cell c WHERE c.kind = 'territorial'
                   ORDER BY c.level DESC LOOP
            -- OFFSET 0 keeps the pieces outer: it hides their own index, so the planner cannot
            -- flatten the join and loop over points instead (a LATERAL subquery does not
            -- prevent that; measured by bench/assignment.py: 10x slower at 1M x 10k).
            -- A point several cells cover is not settled here, so which of them the pass
            -- records does not matter (the exact pass below picks by code): plain min/max
            -- aggregates in a hash, no per-group sort. ContainsProperly is computed inside the
            -- fence, in pieces order, where each piece's prepared form is still cached.
            INSERT INTO gw_wanted
            SELECT m.id, min(m.cell_id), min(m.cell_id) <> max(m.cell_id),
                   min(m.cell_id) = max(m.cell_id) AND bool_or(m.proper)
            FROM (
                SELECT e.id, p.cell_id, ST_ContainsProperly(p.geom, e.geom) AS proper
                FROM (
                    SELECT pc.geom, pc.cell_id
                    FROM cell_piece pc JOIN cell c ON c.id = pc.cell_id
                    WHERE c.kind = 'territorial' AND c.level = lvl AND pc.valid @> p_at
                    OFFSET 0
                ) p
                JOIN enterprise e ON ST_Covers(p.geom, e.geom)
                WHERE e.valid_from <= p_at
                  AND (NOT scoped OR e.id IN (SELECT l.id FROM gw_left l))
                OFFSET 0
            ) m
            GROUP BY m.id;
            GET DIAGNOSTICS n_done = ROW_COUNT;

            IF scoped THEN
                DELETE FROM gw_left l USING gw_wanted w WHERE w.enterprise_id = l.id;
                GET DIAGNOSTICS n_done = ROW_COUNT;
                n_left := n_left - n_done;
            ELSIF n_done < (SELECT count(*) FROM enterprise e WHERE e.valid_from <= p_at) THEN
                -- What the deepest level left: the rest go on as a batch of their own.
                INSERT INTO gw_left
                SELECT e.id FROM enterprise e
                WHERE e.valid_from <= p_at
                  AND NOT EXISTS (SELECT 1 FROM gw_wanted w WHERE w.enterprise_id = e.id);
                GET DIAGNOSTICS n_left = ROW_COUNT;
                scoped := true;
                ANALYZE gw_left;
            ELSE
                n_left := 0;
            END IF;
            EXIT WHEN n_left <= p_small_batch;
        END LOOP;
    END IF;

    -- Point by point through the pieces' index: a small batch, or what the passes left.
    IF scoped THEN
        INSERT INTO gw_wanted
        SELECT l.id, v.cell_id, coalesce(v.n > 1, false), coalesce(v.n = 1 AND v.proper, false)
        FROM gw_left l
        JOIN enterprise e ON e.id = l.id
        LEFT JOIN LATERAL (
            SELECT h.cell_id, h.proper, count(*) OVER (PARTITION BY c.level) AS n
            FROM (
                SELECT pc.cell_id, bool_or(ST_ContainsProperly(pc.geom, e.geom)) AS proper
                FROM cell_piece pc
                WHERE ST_Covers(pc.geom, e.geom) AND pc.valid @> p_at
                GROUP BY pc.cell_id
            ) h
            JOIN cell c ON c.id = h.cell_id
            WHERE c.kind = 'territorial'
            ORDER BY c.level DESC, c.code
            LIMIT 1
        ) v ON true;
    END IF;

    -- Everything a piece did not settle, against the whole versions: exact on every edge.
    UPDATE gw_wanted w SET cell_id = v.cell_id, on_edge = coalesce(v.n > 1, false)
    FROM enterprise e
    LEFT JOIN LATERAL (
        SELECT cv.cell_id, count(*) OVER (PARTITION BY c.level) AS n
        FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        WHERE c.kind = 'territorial' AND cv.valid @> p_at AND ST_Covers(cv.geom, e.geom)
        ORDER BY c.level DESC, c.code
        LIMIT 1
    ) v ON true
    WHERE NOT w.settled AND e.id = w.enterprise_id;

    IF p_fresh THEN
        -- Enterprises with no row yet: every answer is new and open-ended, nothing to close,
        -- replace or extend (the comparison below would find exactly that, at ~4 µs a row).
        INSERT INTO enterprise_cell (enterprise_id, cell_id, on_edge, valid_from)
        SELECT w.enterprise_id, w.cell_id, w.on_edge, p_at FROM gw_wanted w;
        GET DIAGNOSTICS n_changed = ROW_COUNT;
        RETURN n_changed;
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
    -- New enterprises have no enterprise_cell row yet (a row's enterprise must exist): the
    -- fresh path writes their answers without comparing.
    FOR t IN SELECT DISTINCT valid_from FROM new_rows LOOP
        PERFORM gw_assign(t, (SELECT array_agg(id) FROM new_rows WHERE valid_from = t),
                          p_fresh => true);
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

-- The pieces of every version that begins or ends at one of p_times, as the versions are now:
-- a new version gets its pieces, a closed version's pieces close with it. Called by both
-- triggers on cell_version, so a statement that closes old versions and adds new ones at the
-- same moment leaves the pieces whole before either assigns.
CREATE OR REPLACE FUNCTION public.gw_sync_pieces(p_times timestamp with time zone[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF cardinality(p_times) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO cell_piece (version_id, cell_id, valid_from, valid_to, geom)
    SELECT v.id, v.cell_id, v.valid_from, v.valid_to, gw_cell_pieces(v.geom)
    FROM cell_version v
    WHERE v.valid_from = ANY (p_times)
      AND NOT EXISTS (SELECT 1 FROM cell_piece pc WHERE pc.version_id = v.id);
    UPDATE cell_piece pc SET valid_to = v.valid_to
    FROM cell_version v
    WHERE v.valid_to = ANY (p_times) AND pc.version_id = v.id
      AND pc.valid_to IS DISTINCT FROM v.valid_to;
END $function$;

-- A new boundary version: its pieces first (gw_assign and gw_lookup probe them), then the
-- enterprises in the boxes of those pieces, which are tighter than the whole outline's box.
CREATE OR REPLACE FUNCTION public.gw_cell_version_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE t timestamptz;
BEGIN
    -- Closing the old versions and adding the new ones in one statement assigns once (the
    -- second trigger finds nothing to change): whichever of the two triggers runs first brings
    -- all the pieces up to date.
    PERFORM gw_sync_pieces(ARRAY(SELECT DISTINCT valid_from FROM new_rows));
    FOR t IN SELECT DISTINCT valid_from FROM new_rows LOOP
        -- An empty list, not NULL (which would mean every enterprise), when none is near.
        PERFORM gw_assign(t, coalesce((
            SELECT array_agg(DISTINCT e.id)
            FROM new_rows v JOIN cell_piece pc ON pc.version_id = v.id
            JOIN enterprise e ON e.geom && pc.geom
            WHERE v.valid_from = t AND e.valid_from <= t), '{}'));
    END LOOP;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_cell_version_updated()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE t timestamptz;
BEGIN
    PERFORM gw_sync_pieces(ARRAY(
        SELECT DISTINCT n.valid_to FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.valid_to IS NOT NULL AND n.valid_to IS DISTINCT FROM o.valid_to));
    FOR t IN
        SELECT DISTINCT n.valid_to FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.valid_to IS NOT NULL AND n.valid_to IS DISTINCT FROM o.valid_to
    LOOP
        PERFORM gw_assign(t, coalesce((
            SELECT array_agg(DISTINCT e.id)
            FROM new_rows v JOIN cell_piece pc ON pc.version_id = v.id
            JOIN enterprise e ON e.geom && pc.geom
            WHERE v.valid_to = t AND e.valid_from <= t), '{}'));
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


-- enterprise_cell's references, kept by statements instead of foreign keys. A foreign key
-- checks (and locks) the enterprise and the cell once per written row: writing a full
-- assignment spent most of its time there (bench/assignment.py --variants, docs/assignment.md).
-- gw_assign is the only writer and takes both ids from joins, so one anti-join per statement
-- says the same; deleting an enterprise takes the writer's lock and removes its rows, as
-- ON DELETE CASCADE did; deleting a cell something was assigned to fails, as before.
CREATE OR REPLACE FUNCTION public.gw_enterprise_cell_references()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE bad record;
BEGIN
    SELECT n.enterprise_id, n.cell_id INTO bad FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM enterprise e WHERE e.id = n.enterprise_id)
       OR (n.cell_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cell c WHERE c.id = n.cell_id))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'enterprise_cell: enterprise % or cell % does not exist',
            bad.enterprise_id, bad.cell_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $function$;

-- A row is closed (valid_to), never rewritten: whose it is and which cell stay what they were,
-- so the references checked when it was written stay checked.
CREATE OR REPLACE FUNCTION public.gw_enterprise_cell_frozen()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'enterprise_cell % is history: its enterprise and cell stay', OLD.id
        USING ERRCODE = 'check_violation';
END $function$;

CREATE OR REPLACE FUNCTION public.gw_enterprise_deleted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1937007723);
    DELETE FROM enterprise_cell ec USING old_rows o WHERE ec.enterprise_id = o.id;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_cell_deleted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE used bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1937007723);
    SELECT ec.cell_id INTO used FROM enterprise_cell ec JOIN old_rows o ON o.id = ec.cell_id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cell % is named in enterprise_cell: its history stays', used
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $function$;

CREATE TRIGGER enterprise_cell_references AFTER INSERT ON public.enterprise_cell REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_cell_references();

CREATE TRIGGER enterprise_cell_frozen BEFORE UPDATE ON public.enterprise_cell FOR EACH ROW WHEN (((old.enterprise_id IS DISTINCT FROM new.enterprise_id) OR (old.cell_id IS DISTINCT FROM new.cell_id))) EXECUTE FUNCTION gw_enterprise_cell_frozen();

CREATE TRIGGER enterprise_cell_cascade AFTER DELETE ON public.enterprise REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_deleted();

CREATE TRIGGER cell_enterprise_cell_references AFTER DELETE ON public.cell REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_cell_deleted();

-- Frozen: gis/sql/ as revision 0033 loads it. Never edit: today's rules live in
-- gis/sql/ (docs/sql.md).

-- gis/sql/cells.sql: the cell tree and its versions. A cell's path from the city down, the
-- rule that a boundary version is closed, never rewritten (close and add: history is never
-- overwritten), and what "a cell now" means (cell_current).
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

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

CREATE TRIGGER cell_version_frozen BEFORE UPDATE ON public.cell_version FOR EACH ROW EXECUTE FUNCTION gw_cell_version_frozen();


-- Every live cell with its current boundary: the version nobody has closed yet (valid_to IS
-- NULL). A redraw closes a retired cell's version too, so these are exactly the live cells.
-- One place for what "now" means; a boundary at another moment is a dated query of its own
-- (gw_lookup's), and a write that locks the current version names cell_version itself.
CREATE VIEW public.cell_current AS
SELECT c.id, c.code, c.name, c.level, c.kind, c.specialty, c.parent_id, c.station_id,
       c.retired_at, cv.id AS version_id, cv.geom, cv.valid_from
FROM cell c JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL;

-- gis/sql/owners.sql: people in answers, and the owner of a cell at a moment, falling back to
-- the parent's owner (属地兜底): "who was responsible for this place then" always has an answer
-- when the city has one. A person written without a code (人员编号) gets "P" and their id; a
-- responsibility is closed (valid_to), never rewritten, so that answer never changes behind
-- anyone's back.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

CREATE OR REPLACE FUNCTION public.gw_person_json(p_person bigint, p_role text, p_kind text, p_extra jsonb DEFAULT '{}'::jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    p record;
BEGIN
    SELECT code, name, phone, unit INTO p FROM person WHERE id = p_person;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('role', p_role, 'responsibility', p_kind, 'code', p.code,
                              'name', p.name, 'phone', p.phone, 'unit', p.unit) || p_extra;
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

CREATE OR REPLACE FUNCTION public.gw_person_code()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.code IS NULL OR NEW.code = '' THEN
        NEW.code := 'P' || NEW.id;
    END IF;
    RETURN NEW;
END $function$;

CREATE TRIGGER person_code BEFORE INSERT ON public.person FOR EACH ROW EXECUTE FUNCTION gw_person_code();

CREATE OR REPLACE FUNCTION public.gw_responsibility_frozen()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.person_id <> OLD.person_id OR NEW.role <> OLD.role OR NEW.kind <> OLD.kind
       OR NEW.cell_id IS DISTINCT FROM OLD.cell_id
       OR NEW.enterprise_id IS DISTINCT FROM OLD.enterprise_id
       OR NEW.township_id IS DISTINCT FROM OLD.township_id
       OR NEW.valid_from <> OLD.valid_from THEN
        RAISE EXCEPTION 'responsibility % is history: close it (valid_to) and insert a new one',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $function$;

CREATE TRIGGER responsibility_frozen BEFORE UPDATE ON public.responsibility FOR EACH ROW EXECUTE FUNCTION gw_responsibility_frozen();

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

-- gis/sql/grades.sql: an enterprise's grade history (enterprise_grade): its periods never
-- overlap and each names an enterprise that exists; deleting an enterprise deletes them.
--
-- Checked once per statement over the rows it wrote, not once per row: a foreign key locks
-- the enterprise for every row and a GiST exclusion constraint searches and grows its index
-- for every row, and together they took ~15 s of an import of 100,000 new enterprises
-- (bench/enterprise_import.py), against ~0.3 s for these two joins. Two open periods of one
-- enterprise are refused by the unique index on the open row (gis/models.py), whatever the
-- timing; closed periods are written by statements that also write the enterprise's own row
-- (the upsert, the record page), whose row lock keeps two writers of one enterprise apart.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

CREATE OR REPLACE FUNCTION public.gw_enterprise_grade_checked()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE bad record;
BEGIN
    SELECT n.enterprise_id INTO bad FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM enterprise e WHERE e.id = n.enterprise_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'enterprise_grade: enterprise % does not exist', bad.enterprise_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT n.enterprise_id INTO bad FROM new_rows n
    JOIN enterprise_grade g ON g.enterprise_id = n.enterprise_id AND g.id <> n.id
     AND g.valid && n.valid
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'enterprise_grade: two grade periods of enterprise % overlap',
            bad.enterprise_id USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.gw_enterprise_grades_deleted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    DELETE FROM enterprise_grade g USING old_rows o WHERE g.enterprise_id = o.id;
    RETURN NULL;
END $function$;

CREATE TRIGGER enterprise_grade_checked_insert AFTER INSERT ON public.enterprise_grade REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_grade_checked();

CREATE TRIGGER enterprise_grade_checked_update AFTER UPDATE ON public.enterprise_grade REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_grade_checked();

CREATE TRIGGER enterprise_grades_cascade AFTER DELETE ON public.enterprise REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gw_enterprise_grades_deleted();

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

-- gis/sql/audit.sql: the audit log is append-only: no UPDATE, DELETE or TRUNCATE, whoever
-- asks.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

CREATE OR REPLACE FUNCTION public.gw_audit_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'check_violation';
END $function$;

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_append_only();


-- gis/sql/dataversion.sql: the version of each table the map wall reads, so that what only
-- changes when the data does (layers, tiles, figures, hot spots: gis/datacache.py) is computed
-- once per change, by every process of the app alike, and never served after a change.
--
-- Every statement that writes one of these tables adds one row to data_change (statement-level
-- triggers: an import of 100,000 rows adds one row, not 100,000). A table's version is its
-- data_version.base plus its rows in data_change, and the last of their ids: a reader sees a
-- transaction's rows exactly when it sees the transaction's data, so the version moves with
-- every commit that wrote the table and never before it, whatever the order transactions
-- commit in. Writers only insert (no row is locked, no writer waits for another), and
-- gw_data_compact folds the rows into data_version.base now and then, keeping the sums.
--
-- The single source of this SQL (gis/sqlsource.py loads it; docs/sql.md says how to change it).

CREATE OR REPLACE FUNCTION public.gw_data_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO data_change (tbl) VALUES (TG_TABLE_NAME);
    RETURN NULL;
END $function$;

-- Every table's version: (table, version, the last change's id). The id tells apart two states
-- with the same count, one of them left by a transaction that rolled back.
CREATE OR REPLACE FUNCTION public.gw_data_versions()
 RETURNS TABLE(tbl text, version bigint, last_change bigint)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT x.tbl, CAST(sum(x.n) AS bigint), max(x.last_change)
    FROM (SELECT v.tbl, v.base AS n, CAST(NULL AS bigint) AS last_change FROM data_version v
          UNION ALL
          SELECT c.tbl, count(*), max(c.id) FROM data_change c GROUP BY c.tbl) x
    GROUP BY x.tbl
$function$;

-- Folds data_change into data_version.base, one caller at a time (another returns at once):
-- every version stays what it was. Rows of transactions still running are not seen, so not
-- touched: they count when they commit. Returns the rows folded.
CREATE OR REPLACE FUNCTION public.gw_data_compact()
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
    folded bigint := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('gw_data_compact')) THEN
        RETURN 0;
    END IF;
    WITH gone AS (DELETE FROM data_change RETURNING tbl),
    per_table AS (SELECT tbl, count(*) AS n FROM gone GROUP BY tbl),
    kept AS (
        INSERT INTO data_version AS v (tbl, base) SELECT tbl, n FROM per_table
        ON CONFLICT (tbl) DO UPDATE SET base = v.base + EXCLUDED.base
        RETURNING 1)
    SELECT coalesce(sum(n), 0) INTO folded FROM per_table;
    RETURN folded;
END $function$;

CREATE TRIGGER person_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.person FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER township_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.township FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER station_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.station FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER cell_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.cell FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER cell_version_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.cell_version FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER responsibility_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.responsibility FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER enterprise_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.enterprise FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER enterprise_cell_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.enterprise_cell FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER grade_interval_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.grade_interval FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER inspection_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.inspection FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER rectification_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.rectification FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER complaint_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.complaint FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER spot_check_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.spot_check FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER enforcement_case_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.enforcement_case FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

CREATE TRIGGER warning_rule_data_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.warning_rule FOR EACH STATEMENT EXECUTE FUNCTION gw_data_changed();

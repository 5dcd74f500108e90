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

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

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

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


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

"""Where every SQL rule lives: the functions, triggers and views in gis/sql/*.sql, one file per
concern.

These files are the single source of truth for the database's logic (the assignment rule, the
owner fallback, the lookup, the audit log's append-only guard, the cell tree). A migration
that changes a rule loads a frozen copy of the files as they were then
(migrations/frozen/NNNN.sql, written by ``freeze``), so no revision ever changes meaning. A test
(tests/test_sql_source.py) loads the files into the migrated test database and fails if any
definition differs: editing a file without a migration fails CI, as a model without a
migration does. How to change a rule: docs/sql.md.

Loading drops every view of ours (every view in public that no extension owns: PostGIS's
geometry_columns stays), then every ``gw_*`` function (their triggers go with them), and creates
what the text defines, in one transaction with the caller: a file needs no DROP for a changed
signature or a view's changed columns, and nothing stale survives.
"""
from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
# Dependency order: later files call functions of earlier ones.
FILES = ("cells", "owners", "assignment", "grades", "lookup", "audit", "dataversion")

_OURS = """
    SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname LIKE 'gw\\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""

_VIEWS = """
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'v'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
"""


def _run(connection, sql: str) -> list[tuple]:
    """``sql`` to the driver as it is: no bind-parameter parsing and no %-formatting
    (PL/pgSQL is full of ``:=`` and ``RAISE '... %'``). In the caller's transaction."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


def current_source() -> str:
    """The text of gis/sql/*.sql, in dependency order."""
    return "\n".join((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8") for name in FILES)


def drop_all(connection) -> None:
    """Drop every view of ours, then every function (and, with CASCADE, the triggers that call
    them). Views first: one may call a function, and its text is what the source restores."""
    for (name,) in _run(connection, f"SELECT c.oid::regclass::text FROM pg_class c "
                                    f"WHERE c.oid IN ({_VIEWS})"):
        _run(connection, f"DROP VIEW IF EXISTS {name} CASCADE")
    for (signature,) in _run(
            connection,
            f"SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.oid IN ({_OURS})"):
        _run(connection, f"DROP FUNCTION IF EXISTS {signature} CASCADE")


def load(connection, source: str) -> None:
    """Replace every function, trigger and view of ours by those ``source`` defines.

    ``connection``: a SQLAlchemy connection (Alembic's ``op.get_bind()``)."""
    drop_all(connection)
    if not any(line.strip() and not line.lstrip().startswith("--")
               for line in source.splitlines()):
        return
    # As pg_dump does: SQL-language bodies are checked when called, not when created, so the
    # order of definitions in a file does not matter (a file may call what a later one defines).
    (previous,), = _run(connection, "SELECT current_setting('check_function_bodies')")
    _run(connection, "SELECT set_config('check_function_bodies', 'off', true)")
    _run(connection, source)
    _run(connection, f"SELECT set_config('check_function_bodies', '{previous}', true)")


def load_current(connection) -> None:
    load(connection, current_source())


def load_file(connection, path: str | Path) -> None:
    """A frozen copy (migrations/frozen/NNNN.sql): what a revision defined."""
    load(connection, Path(path).read_text(encoding="utf-8"))


FROZEN_DIR = SQL_DIR.parent.parent / "migrations" / "frozen"


def freeze(revision: str) -> Path:
    """Write gis/sql/ as it is now to migrations/frozen/<revision>.sql, for the migration that
    brings the database to it (``flask --app app db freeze-sql REVISION``)."""
    path = FROZEN_DIR / f"{revision}.sql"
    path.write_text(f"-- Frozen: gis/sql/ as revision {revision} loads it. Never edit: today's "
                    "rules live in\n-- gis/sql/ (docs/sql.md).\n\n" + current_source(),
                    encoding="utf-8")
    return path


def definitions(connection) -> dict[str, str]:
    """Every function, trigger and view of ours as PostgreSQL prints it back, keyed by
    signature ("function gw_x(bigint)", "trigger t on table", "view v"): what the drift test
    compares."""
    out = {}
    for name, body in _run(connection, f"""
            SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
            FROM pg_proc p WHERE p.oid IN ({_OURS})"""):
        out[name] = body
    for name, body in _run(connection, """
            SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text,
                   pg_get_triggerdef(t.oid)
            FROM pg_trigger t WHERE NOT t.tgisinternal"""):
        out[name] = body
    for name, body in _run(connection, f"""
            SELECT 'view ' || c.oid::regclass::text, pg_get_viewdef(c.oid, true)
            FROM pg_class c WHERE c.oid IN ({_VIEWS})"""):
        out[name] = body
    return out


def dump(connection) -> str:
    """Every function, trigger and view of ours as loadable text."""
    parts = []
    defs = definitions(connection)
    for key in sorted(k for k in defs if k.startswith("function ")):
        parts.append(defs[key].rstrip() + ";\n")
    for key in sorted(k for k in defs if k.startswith("trigger ")):
        parts.append(defs[key].rstrip() + ";\n")
    for key in sorted(k for k in defs if k.startswith("view ")):
        parts.append(f"CREATE VIEW {key[len('view '):]} AS\n{defs[key].rstrip().rstrip(';')};\n")
    return "\n".join(parts)
